"""harborlite replicas with a real Redis: manifests served from the cache and shared
through Redis, end to end (the in-process tests of the cache are in tests/cache/)."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import yaml

from harborlite.oci.mediatypes import OCI_MANIFEST
from tests.e2e.test_fast_path import access_line, registry_paused, request_id
from tests.harness import cleanup, start_harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout
from tests.support.processes import PostgresServer, RedisServer


def test_harborlite_with_redis_serves_from_its_cache(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as redis_server:
        server = start_harborlite(extra_env={"HARBORLITE_REDIS_URL": redis_server.url})
        try:
            server.create_project("synced")
            image = build_oci_layout(tmp_path / "layout", "v1", [1024], seed=7)
            skopeo_copy(
                f"oci:{tmp_path / 'layout'}:v1",
                f"docker://{server.host}/synced/app:v1",
                creds=server.admin,
            )
            token = server.token("repository:synced/app:pull", server.admin)
            headers = {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST}
            url = f"{server.url}/v2/synced/app/manifests/v1"
            for _ in range(3):
                answer = httpx.get(url, headers=headers, timeout=30)
                assert answer.status_code == 200
                assert answer.headers["docker-content-digest"] == image.manifest_digest
            rid = request_id()
            with registry_paused(server):  # from the cache: the registry is not asked
                answer = httpx.get(url, headers={**headers, "X-Request-Id": rid}, timeout=5)
            assert answer.status_code == 200
            assert answer.headers["docker-content-digest"] == image.manifest_digest
            assert "via=cache" in access_line(server, rid)
        finally:
            cleanup(server)


def test_two_replicas_share_manifests_through_redis(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """Replica A learns a manifest from the registry; replica B, sharing the database, the
    registry and Redis, answers it with the registry frozen (SIGSTOP): from Redis. A push
    through A then moves the tag for B at once."""
    with RedisServer(tmp_path / "redis") as redis_server:
        database = postgres.create_database("replicas")
        env = {"HARBORLITE_REDIS_URL": redis_server.url}
        first = start_harborlite(database, env)
        second = None
        try:
            config = yaml.safe_load((first.data_dir / "registry.yml").read_text())
            registry_url = f"http://{config['http']['addr']}"
            second_dir = tmp_path / "second"
            second_dir.mkdir()
            for name in ("token.key", "token.crt"):  # the key the registry trusts
                shutil.copy2(first.data_dir / name, second_dir / name)
            second = start_harborlite(
                database, {**env, "HARBORLITE_REGISTRY_URL": registry_url}, data_dir=second_dir
            )
            first.create_project("shared")
            layout = tmp_path / "layout"
            image = build_oci_layout(layout, "v1", [2048], seed=11)
            skopeo_copy(
                f"oci:{layout}:v1", f"docker://{first.host}/shared/app:v1", creds=first.admin
            )
            token = first.token("repository:shared/app:pull", first.admin)
            headers = {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST}
            learnt = httpx.get(f"{first.url}/v2/shared/app/manifests/v1", headers=headers)
            assert learnt.status_code == 200

            rids = {"v1": request_id(), image.manifest_digest: request_id()}
            with registry_paused(first):  # the registry of both replicas
                for reference, rid in rids.items():
                    answer = httpx.get(
                        f"{second.url}/v2/shared/app/manifests/{reference}",
                        headers={**headers, "X-Request-Id": rid},
                        timeout=10,
                    )
                    assert answer.status_code == 200
                    assert answer.content == learnt.content
                    assert answer.headers["docker-content-digest"] == image.manifest_digest
                    assert answer.headers["content-type"] == OCI_MANIFEST
            line = access_line(second, rids["v1"])
            assert "/v2/shared/app/manifests/v1 200" in line
            assert "via=redis" in line

            # the tag moves through the first replica: the second names the new digest at once
            moved = build_oci_layout(layout, "v1", [4096], seed=12)
            skopeo_copy(
                f"oci:{layout}:v1", f"docker://{first.host}/shared/app:v1", creds=first.admin
            )
            after = httpx.get(
                f"{second.url}/v2/shared/app/manifests/v1", headers=headers, timeout=10
            )
            assert after.status_code == 200
            assert after.headers["docker-content-digest"] == moved.manifest_digest
        finally:
            if second is not None:
                cleanup(second)
            cleanup(first)
