"""``X-Forwarded-For`` is believed from the addresses of HARBORLITE_TRUSTED_PROXIES only.

Everything on loopback: the server listens on 127.0.0.1, the "proxies" connect from
127.0.0.2 and 127.0.0.3 (``HARBORLITE_TRUSTED_PROXIES=127.0.0.2/31``, a network), and an
ordinary client from 127.0.0.1, which uvicorn by default would believe.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.harness import Harborlite, own_harborlite


@pytest.fixture(scope="module")
def proxied() -> Iterator[Harborlite]:
    yield from own_harborlite(extra_env={"HARBORLITE_TRUSTED_PROXIES": "127.0.0.2/31"})


def create_project_from(server: Harborlite, source: str, forwarded_for: str) -> str:
    """Create a project connecting from ``source`` with that X-Forwarded-For; its name."""
    name = server.unique("xff")
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=server.url, auth=server.admin, transport=transport) as client:
        created = client.post(
            "/api/v2.0/projects",
            json={"project_name": name, "metadata": {"public": "false"}},
            headers={"X-Forwarded-For": forwarded_for, "X-Forwarded-Proto": "https"},
        )
    assert created.status_code == 201, created.text
    return name


def recorded_address(server: Harborlite, project: str) -> str:
    entries = server.api("GET", "/audit-logs", auth=server.admin, params={"page_size": 100})
    found = [e for e in entries.json() if e["resource"] == project and e["operation"] == "create"]
    assert len(found) == 1, found
    return str(found[0]["client_ip"])


def test_a_client_that_is_no_trusted_proxy_cannot_choose_its_address(
    proxied: Harborlite,
) -> None:
    project = create_project_from(proxied, "127.0.0.1", "203.0.113.7")
    assert recorded_address(proxied, project) == "127.0.0.1"


@pytest.mark.parametrize("proxy", ["127.0.0.2", "127.0.0.3"])
def test_a_trusted_proxy_names_the_client(proxied: Harborlite, proxy: str) -> None:
    project = create_project_from(proxied, proxy, "203.0.113.8")
    assert recorded_address(proxied, project) == "203.0.113.8"


def test_a_trusted_proxy_cannot_launder_a_forged_address(proxied: Harborlite) -> None:
    """The client sent its own X-Forwarded-For, the proxy appended the client's real address:
    the address recorded is the last one not of a trusted proxy, the one the proxy saw."""
    project = create_project_from(proxied, "127.0.0.2", "198.51.100.1, 203.0.113.9")
    assert recorded_address(proxied, project) == "203.0.113.9"
