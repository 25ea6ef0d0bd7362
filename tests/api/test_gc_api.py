"""``/system/gc``'s refusals and answers: 401 anonymous and 403 non-admins on every route, 404
for an unknown run, 400 for bad workers, types, crons and parameters (nothing kept), 412 for
stopping a run that ended and for starting one while another runs (also when two start at the
same instant), and the schedule kept and shown as Harbor shows it.

On the shared server a run is a dry run or deletes nothing young (its 120-minute window), so
these tests sweep nothing another test needs.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.swagger import document, validate
from tests.harness import Harborlite

PASSWORD = "Passw0rd!x"
DONE = ("Success", "Error", "Stopped")
MANUAL_DRY = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}

pytestmark = pytest.mark.both_databases


@pytest.fixture(scope="module")
def user(harborlite: Harborlite) -> tuple[str, str]:
    """A signed-up user who is no system administrator."""
    name = harborlite.unique("gcuser")
    harborlite.create_user(name, PASSWORD)
    return (name, PASSWORD)


@pytest.fixture
def quiet(harborlite: Harborlite) -> Iterator[Harborlite]:
    """No run in progress before and after the test; no schedule left behind. The swagger is
    read first: reading it takes seconds, longer than a dry run lasts."""
    document()
    wait_idle(harborlite)
    yield harborlite
    wait_idle(harborlite)
    harborlite.api(
        "PUT", "/system/gc/schedule", auth=harborlite.admin, json={"schedule": {"type": "None"}}
    )


def executions(server: Harborlite) -> list[dict[str, Any]]:
    answer = server.api("GET", "/system/gc", auth=server.admin, params={"page_size": "100"})
    assert answer.status_code == 200, answer.text
    runs: list[dict[str, Any]] = answer.json()
    return runs


def wait_idle(server: Harborlite, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(run["job_status"] not in DONE for run in executions(server)):
        assert time.monotonic() < deadline, executions(server)
        time.sleep(0.2)


def wait_done(server: Harborlite, path: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown: dict[str, Any] = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in DONE:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.2)


def start(server: Harborlite, body: dict[str, Any] = MANUAL_DRY) -> str:
    """Start a run; its path (``/system/gc/ID``)."""
    started = server.api("POST", "/system/gc/schedule", auth=server.admin, json=body)
    assert started.status_code == 201, started.text
    location = started.headers["Location"]
    assert location.startswith("/api/v2.0/system/gc/"), location
    return location.removeprefix("/api/v2.0")


def assert_refusal(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert validate(body, {"$ref": "#/definitions/Errors"}) == []
    assert body["errors"][0]["code"] == code, body
    message: str = body["errors"][0]["message"]
    return message


# (method, path, body): every route of /system/gc
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/system/gc", None),
    ("GET", "/system/gc/{id}", None),
    ("PUT", "/system/gc/{id}", None),
    ("GET", "/system/gc/{id}/log", None),
    ("GET", "/system/gc/schedule", None),
    ("POST", "/system/gc/schedule", MANUAL_DRY),
    ("PUT", "/system/gc/schedule", {"schedule": {"type": "Daily"}}),
    # a bad body from someone who may not: the refusal of who they are comes first
    ("POST", "/system/gc/schedule", {"schedule": {"type": "Monthly"}}),
    ("PUT", "/system/gc/schedule", {"parameters": {"workers": 99}}),
]


@pytest.fixture(scope="module")
def finished_run(harborlite: Harborlite) -> str:
    """A dry run of the admin's that ended: its id is real."""
    wait_idle(harborlite)
    run = start(harborlite)
    wait_done(harborlite, run)
    return run


@pytest.mark.parametrize(
    ("method", "path", "body"), ROUTES, ids=[f"{m}-{p}-{i}" for i, (m, p, _) in enumerate(ROUTES)]
)
def test_every_route_refuses_anonymous_callers_and_non_admins(
    quiet: Harborlite,
    user: tuple[str, str],
    finished_run: str,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    server = quiet
    concrete = path.format(id=finished_run.rsplit("/", 1)[1])
    before = executions(server)
    kwargs: dict[str, Any] = {"json": body} if body is not None else {}
    anonymous = httpx.request(method, f"{server.url}/api/v2.0{concrete}", timeout=30, **kwargs)
    assert_refusal(anonymous, 401, "UNAUTHORIZED")
    assert_refusal(server.api(method, concrete, auth=user, **kwargs), 403, "FORBIDDEN")
    wrong_password = server.api(method, concrete, auth=("admin", "not-the-password"), **kwargs)
    assert wrong_password.status_code == 401, wrong_password.text
    assert executions(server) == before  # nothing started, nothing stopped
    schedule = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert schedule["schedule"]["type"] == "None"


@pytest.mark.parametrize(
    ("method", "suffix"), [("GET", ""), ("PUT", ""), ("GET", "/log")], ids=["get", "stop", "log"]
)
def test_an_unknown_run_is_404(harborlite: Harborlite, method: str, suffix: str) -> None:
    message = assert_refusal(
        harborlite.api(method, f"/system/gc/987654{suffix}", auth=harborlite.admin),
        404,
        "NOT_FOUND",
    )
    assert "987654" in message
    not_a_number = harborlite.api(method, f"/system/gc/abc{suffix}", auth=harborlite.admin)
    assert_refusal(not_a_number, 400, "BAD_REQUEST")


WORKERS = "Invalid number of workers"


def manual(**parameters: Any) -> dict[str, Any]:
    return {"schedule": {"type": "Manual"}, "parameters": parameters}


BAD_BODIES: list[tuple[dict[str, Any] | str, str]] = [
    (manual(workers=0), WORKERS),
    (manual(workers=11), WORKERS),
    (manual(workers=-1), WORKERS),
    (manual(workers="3"), WORKERS),
    (manual(workers=2.5), WORKERS),
    (manual(workers=True), WORKERS),
    (manual(workers=None), WORKERS),
    ({"schedule": {"type": "Daily"}, "parameters": {"workers": 50}}, WORKERS),
    ({"schedule": {"type": "Manual"}, "parameters": {"dry_run": "yes"}}, "dry_run"),
    ({"schedule": {"type": "Manual"}, "parameters": {"dry_run": 1}}, "dry_run"),
    ({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": "false"}}, "untagged"),
    ({"schedule": {"type": "Manual"}, "parameters": {"delete_tag": 0}}, "delete_tag"),
    ({"schedule": {"type": "Manual"}, "parameters": []}, "parameters"),
    ({"schedule": {"type": "Manual"}, "parameters": "dry_run"}, "parameters"),
    ({"schedule": {"type": "Monthly"}}, "Monthly"),
    ({"schedule": {"type": "manual"}}, "manual"),
    ({"schedule": {"type": 1}}, "schedule.type"),
    ({"schedule": {}}, "schedule.type"),
    ({"schedule": "Manual"}, "schedule.type"),
    ({"parameters": {"dry_run": True}}, "schedule.type"),
    ({"schedule": {"type": "Custom"}}, "cron"),
    ({"schedule": {"type": "Custom", "cron": ""}}, "cron"),
    ({"schedule": {"type": "Custom", "cron": "every day"}}, "cron"),
    ({"schedule": {"type": "Custom", "cron": "0 * * * *"}}, "6 fields"),  # 5 fields: no seconds
    ({"schedule": {"type": "Custom", "cron": "0 0 25 * * *"}}, "cron"),  # hour 25
    ({"schedule": {"type": "Custom", "cron": "a b c d e f"}}, "cron"),
    ({"schedule": {"type": "Schedule", "cron": "* *"}}, "cron"),
    ({"schedule": {"type": "Custom", "cron": 5}}, "cron"),
    ("[]", "JSON object"),
    ("not json", "not valid JSON"),
    ("", "empty"),
]


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bad_bodies_are_400_and_change_nothing(quiet: Harborlite, method: str) -> None:
    server = quiet
    kept = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Custom", "cron": "0 0 3 1 1 *"}, "parameters": {"workers": 2}},
    )
    assert kept.status_code == 200, kept.text
    schedule = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    before = executions(server)
    for body, said in BAD_BODIES:
        if isinstance(body, str):
            answer = server.api(
                method,
                "/system/gc/schedule",
                auth=server.admin,
                content=body.encode(),
                headers={"Content-Type": "application/json"},
            )
        else:
            answer = server.api(method, "/system/gc/schedule", auth=server.admin, json=body)
        message = assert_refusal(answer, 400, "BAD_REQUEST")
        assert said in message, (body, message)
    assert executions(server) == before
    assert server.api("GET", "/system/gc/schedule", auth=server.admin).json() == schedule


def test_stopping_a_run_that_ended_is_412(quiet: Harborlite) -> None:
    server = quiet
    run = start(server)
    shown = wait_done(server, run)
    assert shown["job_status"] == "Success", server.api("GET", f"{run}/log", auth=server.admin)
    message = assert_refusal(server.api("PUT", run, auth=server.admin), 412, "PRECONDITION")
    assert "Success" in message and "not running" in message
    assert server.api("GET", run, auth=server.admin).json()["job_status"] == "Success"


def test_a_running_run_stops_and_then_cannot_be_stopped_again(quiet: Harborlite) -> None:
    server = quiet
    run = start(server)
    stopped = server.api("PUT", run, auth=server.admin)
    assert stopped.status_code == 200, stopped.text
    shown = wait_done(server, run)
    assert shown["job_status"] == "Stopped"
    log = server.api("GET", f"{run}/log", auth=server.admin)
    assert log.status_code == 200 and log.headers["Content-Type"].startswith("text/plain")
    assert "stopped" in log.text
    assert "blobs in storage" not in log.text  # stopped before its mark
    assert_refusal(server.api("PUT", run, auth=server.admin), 412, "PRECONDITION")


def test_a_second_run_while_one_runs_is_412(quiet: Harborlite) -> None:
    server = quiet
    first = start(server)
    for method in ("POST", "PUT"):
        second = server.api(method, "/system/gc/schedule", auth=server.admin, json=MANUAL_DRY)
        message = assert_refusal(second, 412, "PRECONDITION")
        assert "already running" in message
    assert [run["id"] for run in executions(server) if run["job_status"] not in DONE] == [
        int(first.rsplit("/", 1)[1])
    ]
    # a schedule may still be kept while a run goes on
    kept = server.api(
        "PUT", "/system/gc/schedule", auth=server.admin, json={"schedule": {"type": "Weekly"}}
    )
    assert kept.status_code == 200, kept.text
    assert wait_done(server, first)["job_status"] == "Success"
    assert wait_done(server, start(server))["job_status"] == "Success"  # free again


def test_runs_started_at_the_same_instant_start_once(quiet: Harborlite) -> None:
    server = quiet
    before = {run["id"] for run in executions(server)}
    barrier = threading.Barrier(6)
    answers: list[httpx.Response] = []

    def post() -> None:
        with server.client(server.admin) as client:
            barrier.wait()
            answers.append(client.post("/api/v2.0/system/gc/schedule", json=MANUAL_DRY))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 412, 412, 412, 412, 412], [a.text for a in answers]
    new = [run for run in executions(server) if run["id"] not in before]
    assert len(new) == 1, new
    wait_idle(server)


def test_manual_runs_answer_with_their_location(quiet: Harborlite) -> None:
    """POST answers 201 (Harbor's create), PUT 200 (Harbor's update), both with the Location."""
    server = quiet
    posted = start(server, {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}})
    wait_done(server, posted)
    put = server.api("PUT", "/system/gc/schedule", auth=server.admin, json=MANUAL_DRY)
    assert put.status_code == 200, put.text
    location = put.headers["Location"].removeprefix("/api/v2.0")
    shown = wait_done(server, location)
    assert shown["job_kind"] == "MANUAL" and shown["schedule"]["type"] == "Manual"
    assert json.loads(shown["job_parameters"]) == {
        "delete_untagged": True,
        "dry_run": True,
        "workers": 1,
    }
    log = server.api("GET", f"{location}/log", auth=server.admin).text
    assert "dry run" in log and "time window 7200 s" in log


def test_the_schedule_is_kept_and_shown_as_harbor_shows_it(quiet: Harborlite) -> None:
    server = quiet
    empty = server.api("GET", "/system/gc/schedule", auth=server.admin)
    assert empty.status_code == 200
    assert empty.json()["schedule"]["type"] == "None"
    created = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={
            "schedule": {"type": "Custom", "cron": "0 30 2 * * 6"},
            "parameters": {"delete_untagged": False, "workers": 4, "dry_run": True},
        },
    )
    assert created.status_code == 201, created.text
    assert "Location" not in created.headers  # nothing ran
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert validate(shown, {"$ref": "#/definitions/GCHistory"}) == []
    assert shown["schedule"]["type"] == "Custom"
    assert shown["schedule"]["cron"] == "0 30 2 * * 6"
    assert shown["schedule"]["next_scheduled_time"].endswith("T02:30:00.000Z")
    assert json.loads(shown["job_parameters"]) == {
        "delete_untagged": False,
        "workers": 4,
        "dry_run": True,
    }
    # Harbor's "Schedule" type is a custom cron; presets ignore a cron sent along
    harbor_style = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Schedule", "cron": "0 0 4 * * *"}},
    )
    assert harbor_style.status_code == 200, harbor_style.text
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert shown["schedule"]["type"] == "Custom" and shown["schedule"]["cron"] == "0 0 4 * * *"
    hourly = server.api(
        "PUT",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Hourly", "cron": "0 0 4 * * *"}},
    )
    assert hourly.status_code == 200, hourly.text
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert shown["schedule"] | {"next_scheduled_time": ""} == {
        "type": "Hourly",
        "cron": "0 0 * * * *",
        "next_scheduled_time": "",
    }
    assert shown["schedule"]["next_scheduled_time"].endswith(":00:00.000Z")
    off = server.api(
        "PUT", "/system/gc/schedule", auth=server.admin, json={"schedule": {"type": "None"}}
    )
    assert off.status_code == 200, off.text
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert shown["schedule"] == {"type": "None", "cron": ""}
    assert validate(shown, {"$ref": "#/definitions/GCHistory"}) == []


def test_the_history_pages_newest_first(quiet: Harborlite) -> None:
    server = quiet
    first = start(server)
    wait_done(server, first)
    second = start(server)
    wait_done(server, second)
    page = server.api("GET", "/system/gc", auth=server.admin, params={"page_size": "1"})
    assert page.status_code == 200
    assert [run["id"] for run in page.json()] == [int(second.rsplit("/", 1)[1])]
    assert int(page.headers["X-Total-Count"]) >= 2
    assert 'rel="next"' in page.headers["Link"]
    following = server.api(
        "GET", "/system/gc", auth=server.admin, params={"page_size": "1", "page": "2"}
    ).json()
    assert [run["id"] for run in following] == [int(first.rsplit("/", 1)[1])]
    bad = server.api("GET", "/system/gc", auth=server.admin, params={"page_size": "0"})
    assert_refusal(bad, 400, "BAD_REQUEST")
