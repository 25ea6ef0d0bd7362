"""The remote client against the Docker Hub stand-in: the token flow, 429 and its
``Retry-After``, tokens cached per scope, and the per-endpoint rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from harborlite.endpoints.queries import Endpoint
from harborlite.remote.client import RemoteRegistry, registry_base
from harborlite.remote.errors import RemoteError
from harborlite.remote.ratelimit import TokenBucket
from tests.remote.common import endpoint, push_image
from tests.remote.hub_standin import HubStandin

USER, PASSWORD = "hubuser", "hub-Secret-9"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandin]:
    standin = HubStandin.start(tmp_path_factory.mktemp("hub"), user=USER, password=PASSWORD)
    try:
        yield standin
    finally:
        standin.stop()


def hub_endpoint(hub: HubStandin) -> Endpoint:
    return endpoint(hub.url, kind="docker-hub", username=USER, password=PASSWORD)


async def test_token_flow_push_and_pull(hub: HubStandin) -> None:
    hub.reset()
    async with RemoteRegistry(hub_endpoint(hub)) as client:
        await client.ping()
        image = await push_image(client, "library/nginx", "1.25")
        found = await client.manifest("library/nginx", "1.25")
        assert found is not None and found.digest == image.digest
        assert await client.tags("library/nginx") == ["1.25"]
    counts = hub.counts()
    # one challenge per new scope, then the cached token: few token requests for many calls
    assert counts["GET /token"] <= 3, counts
    assert counts["GET /v2/library/nginx/manifests/1.25"] >= 1


async def test_anonymous_pulls_with_an_anonymous_token(hub: HubStandin) -> None:
    async with RemoteRegistry(hub_endpoint(hub)) as pusher:
        image = await push_image(pusher, "library/redis", "7")
    async with RemoteRegistry(endpoint(hub.url, kind="docker-hub")) as client:
        await client.ping()  # a 401 challenge: reachable
        assert await client.manifest_digest("library/redis", "7") == image.digest
        with pytest.raises(RemoteError) as caught:  # anonymous tokens only pull
            await push_image(client, "library/redis", "8")
    assert caught.value.status == 401


async def test_wrong_credentials_fail_the_ping(hub: HubStandin) -> None:
    wrong = endpoint(hub.url, kind="docker-hub", username=USER, password="wrong")
    async with RemoteRegistry(wrong) as client:
        with pytest.raises(RemoteError) as caught:
            await client.ping()
    assert caught.value.status == 401
    assert "wrong" not in str(caught.value)


async def test_429_gives_retry_after(hub: HubStandin) -> None:
    async with RemoteRegistry(hub_endpoint(hub)) as client:
        await push_image(client, "library/busybox", "1")
        hub.throttle(1, retry_after=7, path_contains="/library/busybox/")
        with pytest.raises(RemoteError) as caught:
            await client.manifest("library/busybox", "1")
        assert caught.value.status == 429
        assert caught.value.retry_after == pytest.approx(7)
        assert await client.manifest("library/busybox", "1") is not None  # throttle over


def test_docker_hub_web_address_means_registry_1() -> None:
    assert registry_base(endpoint("https://hub.docker.com", kind="docker-hub")) == (
        "https://registry-1.docker.io"
    )
    assert registry_base(endpoint("http://127.0.0.1:5000/", kind="docker-hub")) == (
        "http://127.0.0.1:5000"
    )


async def test_rate_limit_spreads_requests(hub: HubStandin) -> None:
    """At 5 requests a second, 15 requests take at least about 2 s (5 of burst, then 5 a
    second); without a limit they take far less. Loose on purpose: behaviour, not timing."""
    async with RemoteRegistry(hub_endpoint(hub)) as pusher:
        await push_image(pusher, "library/rated", "1")
        await pusher.manifest_digest("library/rated", "1")  # token cached
    limited = RemoteRegistry(hub_endpoint(hub), limiter=TokenBucket(5))
    async with limited:
        await limited.manifest_digest("library/rated", "1")  # learn the challenge
        started = time.monotonic()
        await asyncio.gather(*(limited.manifest_digest("library/rated", "1") for _ in range(15)))
        elapsed = time.monotonic() - started
    assert elapsed >= 1.5, elapsed
