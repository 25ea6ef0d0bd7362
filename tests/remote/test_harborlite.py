"""The remote client against a real harborlite: its bearer token flow (with Basic credentials
at ``/service/token``), cross-repository mounts with their two scopes, deletes, the catalog and
the OCI referrers API."""

from __future__ import annotations

import json

import pytest

from harborlite.endpoints.queries import Endpoint
from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.remote.types import OCI_MANIFEST
from tests.harness import Harborlite
from tests.remote.common import OCI_CONFIG, chunks_of, digest_of, endpoint, push_image


def admin_endpoint(harborlite: Harborlite) -> Endpoint:
    user, password = harborlite.admin
    return endpoint(harborlite.url, kind="harbor", username=user, password=password)


async def test_push_pull_mount_delete(harborlite: Harborlite) -> None:
    project = harborlite.unique("remote")
    harborlite.create_project(project)
    async with RemoteRegistry(admin_endpoint(harborlite)) as client:
        await client.ping()
        image = await push_image(client, f"{project}/app", "v1")
        found = await client.manifest(f"{project}/app", "v1")
        assert found is not None and found.digest == image.digest
        assert await client.tags(f"{project}/app") == ["v1"]
        assert f"{project}/app" in await client.catalog()
        layer = digest_of(image.layer)
        assert await client.mount_blob(f"{project}/copy", layer, f"{project}/app")
        assert await client.has_blob(f"{project}/copy", layer)
        assert await client.delete_manifest(f"{project}/app", image.digest)
        assert await client.manifest(f"{project}/app", "v1") is None


async def test_referrers_are_listed(harborlite: Harborlite) -> None:
    project = harborlite.unique("referrers")
    harborlite.create_project(project)
    repository = f"{project}/app"
    async with RemoteRegistry(admin_endpoint(harborlite)) as client:
        image = await push_image(client, repository, "v1")
        assert await client.referrers(repository, image.digest) == []
        empty = b"{}"
        await client.put_blob(repository, digest_of(empty), len(empty), chunks_of(empty))
        referrer = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": "application/vnd.example.sbom",
                "config": {"mediaType": OCI_CONFIG, "digest": digest_of(empty), "size": 2},
                "layers": [],
                "subject": {
                    "mediaType": OCI_MANIFEST,
                    "digest": image.digest,
                    "size": len(image.manifest),
                },
            }
        ).encode()
        digest = await client.put_manifest(repository, digest_of(referrer), referrer, OCI_MANIFEST)
        listed = await client.referrers(repository, image.digest)
    assert listed is not None
    assert [item["digest"] for item in listed] == [digest]
    assert listed[0]["artifactType"] == "application/vnd.example.sbom"


async def test_wrong_password_and_no_permission(harborlite: Harborlite) -> None:
    project = harborlite.unique("private")
    harborlite.create_project(project)
    wrong = endpoint(harborlite.url, kind="harbor", username="admin", password="not-it")
    async with RemoteRegistry(wrong) as client:
        with pytest.raises(RemoteError) as caught:
            await client.ping()
    assert caught.value.status == 401
    anonymous = endpoint(harborlite.url, kind="harbor")
    async with RemoteRegistry(anonymous) as client:
        await client.ping()  # reachable: the challenge is an answer
        with pytest.raises(RemoteError) as refused:
            await push_image(client, f"{project}/app", "v1")
    assert refused.value.status in (401, 403)
