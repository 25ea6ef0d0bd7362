"""Scan all: a manual run scans every image of every project (not charts, not accessories),
its metrics, the schedule (Harbor's 6-field cron), stopping, and who may."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite, own_harborlite
from tests.scanning.support import (
    CLEAN,
    REPORT_MIME,
    VULNERABLE,
    AdapterProcess,
    overview,
    push_packages,
    register,
    start_adapter,
)

PASSWORD = "Passw0rd!x"


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


@pytest.fixture(scope="module")
def adapter() -> Iterator[AdapterProcess]:
    process = start_adapter()
    yield process
    process.stop()


def _metrics(server: Harborlite, path: str = "/scans/all/metrics") -> dict[str, Any]:
    response = server.api("GET", path, auth=server.admin)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def test_scan_all_scans_every_image(server: Harborlite, adapter: AdapterProcess) -> None:
    assert _metrics(server) == {"total": 0, "completed": 0, "metrics": {}, "ongoing": False}
    register(server, adapter.url, "default-scanner")  # the first one is the default
    images = []
    with Pusher(server) as pusher:
        for _ in range(2):
            project = server.unique("all")
            server.create_project(project)
            images.append(push_packages(pusher, f"{project}/a", "v1", VULNERABLE))
            images.append(push_packages(pusher, f"{project}/b", "v1", CLEAN))
        pusher.chart(f"{project}/chart", "c", "1.0.0")  # not an image: not scanned
    started = server.api(
        "POST", "/system/scanAll/schedule", auth=server.admin, json={"schedule": {"type": "Manual"}}
    )
    assert started.status_code == 201, started.text
    deadline = time.monotonic() + 60
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = _metrics(server)
        if seen.get("total") == len(images) and not seen["ongoing"]:
            break
        time.sleep(0.5)
    assert seen == {
        "total": 4,
        "completed": 4,
        "metrics": {"Success": 4},
        "ongoing": False,
        "trigger": "Manual",
    }, server.log()
    for image in images:
        assert overview(server, image)[REPORT_MIME]["scan_status"] == "Success"
    # nothing scheduled ran: the schedule metrics are empty
    assert _metrics(server, "/scans/schedule/metrics")["total"] == 0
    stop = server.api("POST", "/system/scanAll/stop", auth=server.admin)
    assert stop.status_code == 412, stop.text  # nothing runs


def test_schedule(server: Harborlite) -> None:
    assert server.api("GET", "/system/scanAll/schedule", auth=server.admin).json() == {}
    made = server.api(
        "PUT",
        "/system/scanAll/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Custom", "cron": "0 0 3 * * *"}},
    )
    assert made.status_code == 200, made.text
    shown = server.api("GET", "/system/scanAll/schedule", auth=server.admin).json()
    assert shown["schedule"]["type"] == "Custom" and shown["schedule"]["cron"] == "0 0 3 * * *"
    assert shown["schedule"]["next_scheduled_time"]
    bad = server.api(
        "PUT",
        "/system/scanAll/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Custom", "cron": "every day"}},
    )
    assert bad.status_code == 400, bad.text
    assert (
        server.api("GET", "/system/scanAll/schedule", auth=server.admin).json()["schedule"]["cron"]
        == "0 0 3 * * *"
    )
    removed = server.api(
        "PUT", "/system/scanAll/schedule", auth=server.admin, json={"schedule": {"type": "None"}}
    )
    assert removed.status_code == 200
    assert server.api("GET", "/system/scanAll/schedule", auth=server.admin).json() == {}


def test_only_system_admins(server: Harborlite) -> None:
    user = server.unique("u")
    server.create_user(user, PASSWORD)
    for method, path, body in (
        ("GET", "/system/scanAll/schedule", None),
        ("POST", "/system/scanAll/schedule", {"schedule": {"type": "Manual"}}),
        ("POST", "/system/scanAll/stop", None),
        ("GET", "/scans/all/metrics", None),
        ("GET", "/scans/schedule/metrics", None),
    ):
        assert server.api(method, path, auth=(user, PASSWORD), json=body).status_code == 403
        assert server.api(method, path, json=body).status_code == 401
