"""harborlite in front of a registry it did not start (the docker-compose topology), with and
without read-write access to that registry's filesystem storage."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from harborlite.token.keys import generate_key_pair
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_layout
from tests.support.processes import RegistryServer, TokenAuthConfig, free_port

ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def external_setup(tmp_path: Path, with_storage: bool) -> tuple[RegistryServer, Harborlite, Path]:
    """A registry in token mode trusting a key made beforehand, and harborlite in front of it."""
    data = tmp_path / "harborlite"
    data.mkdir()
    generate_key_pair(data / "token.key", data / "token.crt", "harborlite-token-signer")
    port = free_port()
    registry = RegistryServer(
        tmp_path / "registry",
        token_auth=TokenAuthConfig(
            realm=f"http://127.0.0.1:{port}/service/token",
            service="harbor-registry",
            issuer="harborlite-token-issuer",
            rootcertbundle=data / "token.crt",
        ),
    )
    env = {"HARBORLITE_PORT": str(port), "HARBORLITE_REGISTRY_URL": registry.url}
    if with_storage:
        env["HARBORLITE_REGISTRY_STORAGE"] = str(registry.storage_root)
    try:
        server = start_harborlite(extra_env=env, data_dir=data)
    except BaseException:
        registry.stop()
        raise
    return registry, server, data


@pytest.mark.parametrize("with_storage", [True, False], ids=["storage", "http-only"])
def test_external_registry_push_pull_and_tag_delete(tmp_path: Path, with_storage: bool) -> None:
    registry, server, _ = external_setup(tmp_path, with_storage)
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
        assert ("via=storage" in lines[-1]) == with_storage

        deleted = server.api(
            "DELETE",
            f"/projects/ext/repositories/app/artifacts/{image.manifest_digest}/tags/v1",
            auth=server.admin,
        )
        assert deleted.status_code == 200
        # harborlite stops answering the tag either way
        through = httpx.get(f"{server.url}/v2/ext/app/manifests/v1", headers=auth, timeout=30)
        assert through.status_code == 404
        at_registry = httpx.get(f"{registry.url}/v2/ext/app/manifests/v1", headers=auth, timeout=30)
        # with its storage, the tag is gone from the registry itself; over HTTP alone,
        # distribution 2.8 cannot untag (the README says so)
        assert (at_registry.status_code == 404) == with_storage
        by_digest = httpx.get(
            f"{server.url}/v2/ext/app/manifests/{image.manifest_digest}", headers=auth, timeout=30
        )
        assert by_digest.status_code == 200
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
