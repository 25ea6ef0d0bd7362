"""The per-client upload budget and the body-rate guard hold for direct uploads too: a slow
chunk holds its client's only upload slot (a second upload gets 429), then is cut off (408)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from tests.harness import Harborlite, own_harborlite


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite(
        extra_env={
            "HARBORLITE_MAX_UPLOADS_PER_CLIENT": "1",
            "HARBORLITE_MIN_BODY_RATE": "100000",
            "HARBORLITE_BODY_RATE_WINDOW_SECONDS": "2",
        }
    )


def test_a_slow_chunk_holds_the_budget_then_is_cut_off(server: Harborlite) -> None:
    project = server.unique("directguard")
    server.create_project(project)
    repository = f"{project}/app"
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        location = client.post(f"/v2/{repository}/blobs/uploads/").headers["Location"]
        path = urlsplit(location).path
        url = urlsplit(server.url)
        slow = socket.create_connection((url.hostname or "127.0.0.1", url.port or 80))
        try:
            slow.sendall(
                f"PATCH {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Length: 1000000\r\n\r\n".encode()
                + b"x" * 10
            )
            time.sleep(0.5)  # the chunk is with harborlite, trickling
            second = client.post(f"/v2/{repository}/blobs/uploads/")
            assert second.status_code == 429, second.text
            assert second.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
            slow.settimeout(10)
            answer = slow.recv(65536)
            assert answer.startswith(b"HTTP/1.1 408"), answer
        finally:
            slow.close()
        status = client.get(location)  # what came before the cut is kept, as the registry does
        assert status.status_code == 204
        assert status.headers["Range"] in ("0-0", "0-9")
        assert client.post(f"/v2/{repository}/blobs/uploads/").status_code == 202
