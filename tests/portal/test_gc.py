"""Administration > Garbage Collection in Debian's Chromium: an admin schedules it daily, runs a
dry run and sees it in the history with its log and what it would free, runs it for real and
sees the bytes the storage folder lost, stops a run; the time window is shown; a non-admin
gets 403 and a form without its CSRF token is refused.

A harborlite of its own with no time window (``HARBORLITE_GC_TIME_WINDOW_MINUTES=0``): a run
sweeps the whole registry, and with the default window it would sweep nothing this young.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from harborlite.portal.formatting import human_size
from tests.api.pushing import Pusher
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page

pytestmark = pytest.mark.browser
DONE = ("Success", "Error", "Stopped")
DRY_RUN = {"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}}


@pytest.fixture(scope="module")
def collector() -> Iterator[Harborlite]:
    server = start_harborlite(extra_env={"HARBORLITE_GC_TIME_WINDOW_MINUTES": "0"})
    try:
        yield server
    finally:
        cleanup(server)


def blobs_dir(server: Harborlite) -> Path:
    return server.data_dir / "registry" / "docker" / "registry" / "v2" / "blobs"


def storage_bytes(server: Harborlite) -> int:
    return sum(path.stat().st_size for path in blobs_dir(server).rglob("data"))


def blob_file(server: Harborlite, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return blobs_dir(server) / "sha256" / hexdigest[:2] / hexdigest / "data"


def wait_idle(server: Harborlite) -> None:
    deadline = time.monotonic() + 60
    while True:
        runs = server.api("GET", "/system/gc", auth=server.admin).json()
        if all(run["job_status"] in DONE for run in runs):
            return
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)


def run_id(page: Page) -> int:
    match = re.search(r"/admin/gc/(\d+)$", page.url)
    assert match, page.url
    return int(match.group(1))


def wait_for_status(page: Page, status: str) -> None:
    """The run's page reloads itself (its Refresh header) until the run ends."""
    expect(page.locator("#gc-run-facts .gc-status")).to_have_text(status, timeout=60_000)
    assert page.locator("#gc-run-facts form[action$='/stop']").count() == 0


def test_an_admin_schedules_dry_runs_runs_and_reads_the_logs(
    collector: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = collector
    project = server.unique("gcportal")
    server.create_project(project)
    with Pusher(server) as pusher:
        kept = pusher.image(f"{project}/kept", "v1", seed="kept")
        gone = pusher.image(f"{project}/gone", "v1", seed="gone")
    manifest, kept_manifest = json.loads(gone.manifest), json.loads(kept.manifest)
    own = [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]
    deleted = server.api(
        "DELETE", f"/projects/{project}/repositories/gone/artifacts/v1", auth=server.admin
    )
    assert deleted.status_code == 200, deleted.text
    assert all(blob_file(server, digest).exists() for digest in own)

    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    page.goto("/admin")
    page.click(".tabs a:has-text('Garbage Collection')")
    expect(page).to_have_url(re.compile(r"/admin/gc$"))
    expect(page.locator(".tabs a[aria-current=page]")).to_have_text("Garbage Collection")
    expect(page.locator("#gc-window")).to_contain_text("No time window")
    expect(page.locator("#gc-window")).to_contain_text("HARBORLITE_GC_TIME_WINDOW_MINUTES")
    expect(page.locator(".empty")).to_contain_text("No garbage collection has run yet")
    screenshots.take(page, "gc-empty")

    # The schedule: daily, keeping untagged artifacts, 3 workers
    form = page.locator("#gc-schedule")
    form.locator("select[name=type]").select_option("Daily")
    form.locator("input[name=delete_untagged]").uncheck()
    form.locator("select[name=workers]").select_option("3")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_contain_text("scheduled daily: next run")
    expect(page.locator(".flash-ok")).to_contain_text("00:00 UTC")
    expect(page.locator("#gc-next")).to_contain_text("0 0 0 * * *")
    expect(form.locator("select[name=type]")).to_have_value("Daily")
    expect(form.locator("select[name=workers]")).to_have_value("3")
    expect(form.locator("input[name=delete_untagged]")).not_to_be_checked()
    shown = server.api("GET", "/system/gc/schedule", auth=server.admin).json()
    assert shown["schedule"]["type"] == "Daily"
    assert json.loads(shown["job_parameters"]) == {
        "delete_untagged": False,
        "dry_run": False,
        "workers": 3,
    }
    screenshots.take(page, "gc-scheduled-daily")

    # A dry run: it reports what it would delete and deletes nothing
    before = storage_bytes(server)
    page.locator("#gc-run button:has-text('Dry run')").click()
    expect(page.locator(".flash-ok")).to_contain_text("Dry run #")
    dry = run_id(page)
    wait_for_status(page, "Success")
    log = page.locator("#gc-log")
    expect(log).to_contain_text("garbage collection (dry run)")
    for digest in own:
        expect(log).to_contain_text(f"would delete {digest}")
    result = page.locator("#gc-run-result")
    expect(result).to_contain_text("What it would free")
    would_free = page.locator("#gc-run-result dd").nth(1).inner_text()
    screenshots.take(page, "gc-dry-run-log")
    assert storage_bytes(server) == before
    assert all(blob_file(server, digest).exists() for digest in own)

    page.click(".crumbs a:has-text('Garbage Collection')")
    row = page.locator(f"tr[data-run='{dry}']")
    expect(row.locator(".gc-status")).to_have_text("Success")
    expect(row.locator(".gc-dry")).to_have_text("yes")
    expect(row.locator(".gc-blobs")).to_contain_text("would go")
    expect(row.locator(".gc-bytes")).to_contain_text(would_free)
    expect(row).to_contain_text("Manual")
    screenshots.take(page, "gc-history-dry-run")
    row.locator("a:has-text('Log')").click()
    expect(page).to_have_url(re.compile(rf"/admin/gc/{dry}$"))
    expect(page.locator("#gc-log")).to_contain_text("would delete")
    plain = page.request.get(f"/api/v2.0/system/gc/{dry}/log")  # the session's own cookie
    assert plain.ok and "would delete" in plain.text()

    # The real run frees exactly what the dry run said it would
    page.goto("/admin/gc")
    page.locator("#gc-run input[name=delete_untagged]").uncheck()
    page.locator("#gc-run button:has-text('Run now')").click()
    expect(page.locator(".flash-ok")).to_contain_text("Garbage collection #")
    wait_for_status(page, "Success")
    freed = before - storage_bytes(server)
    assert freed > 0
    assert not any(blob_file(server, digest).exists() for digest in own)
    expect(page.locator("#gc-run-result")).to_contain_text("What it freed")
    expect(page.locator("#gc-run-result dd").nth(1)).to_have_text(human_size(freed))
    assert human_size(freed) == would_free
    expect(page.locator("#gc-log")).to_contain_text(f"freed {human_size(freed)}")
    screenshots.take(page, "gc-run-freed")
    token = server.token(f"repository:{project}/kept:pull", server.admin)
    with server.client() as registry:  # what stays still pulls, blobs and all
        bearer = {"Authorization": f"Bearer {token}"}
        for digest in (kept_manifest["config"]["digest"], kept_manifest["layers"][0]["digest"]):
            pulled = registry.get(f"/v2/{project}/kept/blobs/{digest}", headers=bearer)
            assert pulled.status_code == 200, pulled.text

    page.goto("/admin/gc")
    expect(page.locator("tr[data-run]")).to_have_count(2)
    latest = page.locator("tr[data-run]").first
    expect(latest.locator(".gc-dry")).to_have_text("no")
    expect(latest.locator(".gc-bytes")).to_have_text(human_size(freed))
    screenshots.take(page, "gc-history")
    server.api("PUT", "/system/gc/schedule", auth=server.admin, json={"schedule": {"type": "None"}})


def test_an_admin_stops_a_run_and_cannot_start_a_second(
    collector: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = collector
    wait_idle(server)
    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    # a second one while one runs (a run lasts 2.5 s at least): refused with a sentence
    busy = server.api("POST", "/system/gc/schedule", auth=server.admin, json=DRY_RUN)
    assert busy.status_code == 201, busy.text
    first = int(busy.headers["Location"].rsplit("/", 1)[1])
    page.goto("/admin/gc")
    page.locator("#gc-run button:has-text('Run now')").click()
    expect(page).to_have_url(re.compile(r"/admin/gc$"))
    expect(page.locator(".flash-error")).to_have_text(
        "A garbage collection is already running: wait for it to end, or stop it."
    )
    listed = server.api("GET", "/system/gc", auth=server.admin).json()
    assert max(run["id"] for run in listed) == first  # the refused one never started
    if page.locator(f"tr[data-run='{first}'] .gc-status").inner_text() != "Success":
        expect(page.locator(f"tr[data-run='{first}'] button:has-text('Stop')")).to_be_visible()
    wait_idle(server)

    # Stop, on the run's page: a dry run learns of it at its next heartbeat (2 s) and looks
    # at it 2.5 s in; a slow browser may come too late, so up to three tries
    for _attempt in range(3):
        page.goto("/admin/gc")
        page.locator("#gc-run button:has-text('Dry run')").click()
        running = run_id(page)
        stop = page.locator("#gc-run-facts button:has-text('Stop')")
        if stop.count() == 0:
            continue  # ended before the page showed
        stop.click()  # the confirmation is accepted
        expect(page).to_have_url(re.compile(rf"/admin/gc/{running}$"))
        flash = page.locator(".flash").inner_text()  # or: it has already ended
        wait_idle(server)
        if flash == f"Run #{running} is stopping.":
            page.goto(f"/admin/gc/{running}")
            if page.locator("#gc-run-facts .gc-status").inner_text() == "Stopped":
                break
    else:
        pytest.fail("no run could be stopped in three tries")
    wait_for_status(page, "Stopped")
    expect(page.locator("#gc-log")).to_contain_text("stopped")
    screenshots.take(page, "gc-stopped")
    runs = server.api("GET", "/system/gc", auth=server.admin).json()
    assert [run["job_status"] for run in runs if run["id"] == running] == ["Stopped"]

    client, token = http_login(server, "admin", server.admin_password)
    with closing(client):
        again = client.post(f"/admin/gc/{running}/stop", data={"csrf_token": token})
        assert again.status_code == 303
        shown = client.get(again.headers["Location"])
        assert "has already ended: nothing to stop." in shown.text
        missing = client.get("/admin/gc/987654")
        assert missing.status_code == 404
        bad_cron = client.post(
            "/admin/gc/schedule",
            data={"csrf_token": token, "type": "Custom", "cron": "every day", "workers": "1"},
        )
        assert bad_cron.status_code == 303
        assert "Invalid cron" in client.get("/admin/gc").text
        bad_workers = client.post(
            "/admin/gc/run", data={"csrf_token": token, "workers": "11", "dry_run": "true"}
        )
        assert bad_workers.status_code == 303
        assert "Workers must be a number from 1 to 10." in client.get("/admin/gc").text
        bad_type = client.post(
            "/admin/gc/schedule", data={"csrf_token": token, "type": "Monthly", "workers": "1"}
        )
        assert bad_type.status_code == 303
        assert "is not a schedule." in client.get("/admin/gc").text
    assert server.api("GET", "/system/gc/schedule", auth=server.admin).json()["schedule"] == {
        "type": "None",
        "cron": "",
    }
    assert len(server.api("GET", "/system/gc", auth=server.admin).json()) == len(runs)


def test_non_admins_and_forged_forms_are_refused(collector: Harborlite, browser: Browser) -> None:
    server = collector
    name = server.unique("gcdev")
    server.create_user(name, PASSWORD)
    page = new_page(browser, server)
    browser_login(page, name, PASSWORD)
    expect(page.locator(".mainnav")).not_to_contain_text("Administration")
    for path in ("/admin/gc", "/admin/gc/1"):
        response = page.goto(path)
        assert response is not None and response.status == 403
        expect(page.locator("main")).to_contain_text("This page is for system administrators.")
    client, token = http_login(server, name, PASSWORD)
    admin, _ = http_login(server, "admin", server.admin_password)
    before = server.api("GET", "/system/gc", auth=server.admin).json()
    with closing(client), closing(admin):
        for path in ("/admin/gc/run", "/admin/gc/schedule", "/admin/gc/1/stop"):
            form = {"csrf_token": token, "type": "Daily", "workers": "1", "dry_run": "true"}
            assert client.post(path, data=form).status_code == 403
            assert admin.post(path, data={**form, "csrf_token": "forged"}).status_code == 403
            assert admin.post(path, data={"type": "Daily", "workers": "1"}).status_code == 403
    assert server.api("GET", "/system/gc", auth=server.admin).json() == before
    assert (
        server.api("GET", "/system/gc/schedule", auth=server.admin).json()["schedule"]["type"]
        == "None"
    )


def test_the_default_time_window_is_shown(harborlite_sqlite: Harborlite) -> None:
    """The shared server keeps Harbor's two hours (a page read only: nothing runs)."""
    client, _ = http_login(harborlite_sqlite, "admin", harborlite_sqlite.admin_password)
    with closing(client):
        page = client.get("/admin/gc")
    assert page.status_code == 200
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", page.text))
    assert "never deletes a blob written less than 120 minutes (2 hours) ago" in text
    assert "HARBORLITE_GC_TIME_WINDOW_MINUTES" in text
