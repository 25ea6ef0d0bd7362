"""The proxy cache keeps one client per endpoint (with the tokens it holds) while only the
endpoint's health changes; a changed endpoint gets a new one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from harborlite.proxycache.pull_through import PullThrough
from tests.remote.common import endpoint

HUB = endpoint("http://127.0.0.1:1", kind="docker-hub", endpoint_id=7)


async def test_a_health_change_keeps_the_client_and_a_new_url_does_not(tmp_path: Path) -> None:
    pull = PullThrough(tmp_path)
    try:
        first = pull.remote(HUB)
        # the health check marked it: the same client, whose scheme and tokens stay learnt
        assert pull.remote(replace(HUB, status="healthy")) is first
        assert pull.remote(replace(HUB, status="unhealthy")) is first
        moved = pull.remote(replace(HUB, url="http://127.0.0.1:2"))
        assert moved is not first
        assert moved.endpoint.url == "http://127.0.0.1:2"
        assert pull.remote(replace(HUB, password="changed")) is not moved
    finally:
        await pull.close()
