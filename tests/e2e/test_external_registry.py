"""harborlite in front of a registry it did not start (the docker-compose topology), with and
without read-write access to that registry's filesystem storage."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harborlite.auth.tokens import generate_key_pair
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout
from tests.support.processes import RegistryServer, TokenAuthConfig, free_port

ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def external_setup(
    tmp_path: Path, storage: str, registry_config: dict[str, object] | None = None
) -> tuple[RegistryServer, Harborlite, Path]:
    """A registry in token mode trusting a key made beforehand, and harborlite in front of it."""
    data = tmp_path / "harborlite"
    data.mkdir()
    generate_key_pair(data / "token.key", data / "token.crt", "harborlite-token-signer")
    port = free_port()
    registry = RegistryServer(
        tmp_path / "registry",
        token_auth=TokenAuthConfig.of_harborlite(f"http://127.0.0.1:{port}", data / "token.crt"),
        extra_config=registry_config,
    )
    env = {"HARBORLITE_PORT": str(port), "HARBORLITE_REGISTRY_URL": registry.url}
    if storage == "storage":
        env["HARBORLITE_REGISTRY_STORAGE"] = str(registry.storage_root)
    elif storage == "wrong-storage":  # a folder, but not the registry's
        (tmp_path / "elsewhere").mkdir()
        env["HARBORLITE_REGISTRY_STORAGE"] = str(tmp_path / "elsewhere")
    try:
        server = start_harborlite(extra_env=env, data_dir=data)
    except BaseException:
        registry.stop()
        raise
    return registry, server, data


@pytest.mark.parametrize("storage", ["storage", "http-only", "wrong-storage"])
def test_external_registry_push_pull_and_tag_delete(tmp_path: Path, storage: str) -> None:
    registry, server, _ = external_setup(tmp_path, storage)
    try:
        server.create_project("ext")
        layout = tmp_path / "layout"
        image = build_oci_layout(layout, "v1", [32 * 1024], seed=21)
        skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/ext/app:v1", creds=server.admin)
        token = server.token("repository:ext/app:pull", server.admin)
        auth = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        layer = image.layer_digests[0]
        blob = httpx.get(f"{server.url}/v2/ext/app/blobs/{layer}", headers=auth, timeout=30)
        direct = httpx.get(f"{registry.url}/v2/ext/app/blobs/{layer}", headers=auth, timeout=30)
        assert blob.status_code == direct.status_code == 200
        assert blob.content == direct.content
        assert blob.headers["docker-content-digest"] == layer
        lines = [x for x in server.log().splitlines() if f"GET /v2/ext/app/blobs/{layer} 200" in x]
        assert lines
        assert ("via=storage" in lines[-1]) == (storage == "storage")
        skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/ext/app:keep", creds=server.admin)

        deleted = server.api(
            "DELETE",
            f"/projects/ext/repositories/app/artifacts/{image.manifest_digest}/tags/v1",
            auth=server.admin,
        )
        assert deleted.status_code == 200
        # the registry itself forgets the tag: in its storage, or over HTTP when harborlite
        # does not have the storage (or was given a wrong path)
        for base in (server.url, registry.url):
            gone = httpx.get(f"{base}/v2/ext/app/manifests/v1", headers=auth, timeout=30)
            assert gone.status_code == 404, (base, gone.text)
            assert gone.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
        tags = httpx.get(f"{registry.url}/v2/ext/app/tags/list", headers=auth, timeout=30)
        assert tags.json()["tags"] == ["keep"]
        # the manifest and its other tag are untouched
        for reference in (image.manifest_digest, "keep"):
            kept = httpx.get(
                f"{server.url}/v2/ext/app/manifests/{reference}", headers=auth, timeout=30
            )
            assert kept.status_code == 200
            assert kept.headers["docker-content-digest"] == image.manifest_digest
        listed = server.api("GET", "/projects/ext/repositories/app/artifacts", auth=server.admin)
        assert [t["name"] for a in listed.json() for t in a.get("tags") or []] == ["keep"]
    finally:
        cleanup(server)
        registry.stop()


def test_registry_storage_that_is_not_a_folder_stops_the_start(tmp_path: Path) -> None:
    data = tmp_path / "harborlite"
    data.mkdir()
    with pytest.raises(RuntimeError) as failure:
        start_harborlite(
            extra_env={
                "HARBORLITE_REGISTRY_URL": "http://127.0.0.1:9",
                "HARBORLITE_REGISTRY_STORAGE": str(tmp_path / "missing"),
            },
            data_dir=data,
        )
    assert "HARBORLITE_REGISTRY_STORAGE" in str(failure.value)
    assert "is not a folder" in str(failure.value)


def test_a_tag_delete_the_registry_cannot_take_changes_nothing(tmp_path: Path) -> None:
    registry, server, _ = external_setup(tmp_path, "http-only")
    try:
        server.create_project("ext")
        layout = tmp_path / "layout"
        image = build_oci_layout(layout, "v1", [1024], seed=22)
        skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/ext/app:v1", creds=server.admin)
        registry.stop()
        refused = server.api(
            "DELETE",
            f"/projects/ext/repositories/app/artifacts/{image.manifest_digest}/tags/v1",
            auth=server.admin,
        )
        assert refused.status_code == 503
        assert refused.json()["errors"][0]["code"] == "UNAVAILABLE"
        listed = server.api("GET", "/projects/ext/repositories/app/artifacts", auth=server.admin)
        assert [t["name"] for a in listed.json() for t in a.get("tags") or []] == ["v1"]
        logs = server.api(
            "GET", "/audit-logs", auth=server.admin, params={"q": "operation=delete"}
        ).json()
        assert not [e for e in logs if e["resource"] == "ext/app:v1"]
    finally:
        cleanup(server)
        registry.stop()


def test_a_registry_with_deletes_disabled_keeps_the_tag_where_it_was(tmp_path: Path) -> None:
    """The HTTP untag points the tag at a throwaway manifest, then deletes that; a registry
    that refuses deletes gets the tag put back on its manifest, and the delete is refused."""
    registry, server, _ = external_setup(
        tmp_path, "http-only", {"storage": {"delete": {"enabled": False}}}
    )
    try:
        server.create_project("ext")
        layout = tmp_path / "layout"
        image = build_oci_layout(layout, "v1", [1024], seed=23)
        skopeo_copy(f"oci:{layout}:v1", f"docker://{server.host}/ext/app:v1", creds=server.admin)
        refused = server.api(
            "DELETE",
            f"/projects/ext/repositories/app/artifacts/{image.manifest_digest}/tags/v1",
            auth=server.admin,
        )
        assert refused.status_code == 503
        assert "nothing was changed" in refused.json()["errors"][0]["message"]
        token = server.token("repository:ext/app:pull", server.admin)
        auth = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
        for base in (server.url, registry.url):
            still = httpx.get(f"{base}/v2/ext/app/manifests/v1", headers=auth, timeout=30)
            assert still.status_code == 200
            assert still.headers["docker-content-digest"] == image.manifest_digest
        listed = server.api("GET", "/projects/ext/repositories/app/artifacts", auth=server.admin)
        assert [t["name"] for a in listed.json() for t in a.get("tags") or []] == ["v1"]
    finally:
        cleanup(server)
        registry.stop()
