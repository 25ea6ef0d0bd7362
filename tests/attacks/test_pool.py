"""More slow uploads than the old shared pool held (256): they take no connection harborlite's
own registry calls need, and no other client's proxied request waits for a pooled one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.attacks.uploads import open_uploads, slow_patch
from tests.harness import Harborlite, cleanup, start_harborlite

HELD = 280
ADDRESSES = [f"127.0.0.{n}" for n in range(10, 17)]  # 40 from each


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    started = start_harborlite(
        extra_env={  # no cap and no rate: only the pools stand between
            "HARBORLITE_MAX_PROXIED_PER_CLIENT": "1000",
            "HARBORLITE_MAX_UPLOADS_PER_CLIENT": "1000",
            "HARBORLITE_MIN_BODY_RATE": "0",
            "HARBORLITE_MAX_CONNECTIONS": "2000",
            "HARBORLITE_HEADER_TIMEOUT_SECONDS": "60",
        }
    )
    yield started
    cleanup(started)


async def _busy_proxy(server: Harborlite) -> None:
    project = server.unique("pool")
    server.create_project(project)
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{project}/app", "v1")
    repository = f"{project}/slow"
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    per_address = HELD // len(ADDRESSES)
    slow = []
    try:
        for source in ADDRESSES:
            paths = await open_uploads(server, repository, token, per_address, source)
            slow += [await slow_patch(server, path, token, source) for path in paths]
        await asyncio.sleep(1)  # every one of them is with the registry now
        for upload in slow:
            assert not upload.reader.at_eof()
        async with httpx.AsyncClient(base_url=server.url, auth=server.admin, timeout=10) as api:
            artifact = f"/api/v2.0/projects/{project}/repositories/app/artifacts/v1"
            # harborlite's own calls: a manifest and a config read, a tag written
            history = await api.get(f"{artifact}/additions/build_history")
            assert history.status_code == 200, history.text
            tagged = await api.post(f"{artifact}/tags", json={"name": "v2"})
            assert tagged.status_code == 201, tagged.text
        await asyncio.to_thread(_another_client, server, project, pushed.manifest)
    finally:
        for upload in slow:
            upload.close()


def _another_client(server: Harborlite, project: str, manifest: bytes) -> None:
    with Pusher(server) as pusher:  # a proxied push
        pusher.image(f"{project}/other", "v1")
    token = server.token(f"repository:{project}/app:pull", server.admin)
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.oci.image.manifest.v1+json",
    }
    with httpx.Client(base_url=server.url, timeout=10) as client:
        tags = client.get(f"/v2/{project}/app/tags/list", headers=headers)
        assert tags.status_code == 200 and sorted(tags.json()["tags"]) == ["v1", "v2"]
        pulled = client.get(f"/v2/{project}/app/manifests/v2", headers=headers)
        assert pulled.status_code == 200 and pulled.content == manifest


def test_own_calls_and_other_clients_work_while_the_proxy_is_busy(server: Harborlite) -> None:
    asyncio.run(_busy_proxy(server))
    assert "Traceback" not in server.log_path.read_text()
