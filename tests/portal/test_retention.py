"""Tag retention in the portal, in Debian's Chromium: a maintainer opens the Policy tab, adds a
retention rule, sets a schedule, runs a dry run and reads its history and task log, then runs
it for real; a guest does not get the section's controls."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page

pytestmark = pytest.mark.browser


def wait_for_run(page: Page, run_id: str) -> None:
    """Reload the Policy tab until the run has finished (the runner takes it within a second)."""
    row = page.locator(f"tr[data-run='{run_id}']")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = row.locator(".run-status").inner_text()
        if status in ("Success", "Error", "Stopped"):
            return
        time.sleep(0.3)
        page.reload()
    raise AssertionError(f"run {run_id} did not finish")


def test_a_maintainer_adds_a_rule_dry_runs_and_reads_the_history(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("tidy")
    server.create_project(project)
    maintainer, guest = server.unique("tmaint"), server.unique("tguest")
    for user, role in ((maintainer, 4), (guest, 3)):
        server.create_user(user, PASSWORD)
        server.add_member(project, user, role)
    with Pusher(server) as pusher:
        old = pusher.image(f"{project}/web", "build-1", seed="1")
        new = pusher.image(f"{project}/web", "build-2", seed="2")

    page = new_page(browser, server)
    browser_login(page, maintainer, PASSWORD)
    page.goto(f"/projects/{project}")
    page.click(".tabs a:has-text('Policy')")
    expect(page).to_have_url(re.compile(rf"/projects/{project}/policy$"))
    section = page.locator("#retention")
    expect(section.locator("h2")).to_have_text("Tag retention")
    expect(section.locator(".empty")).to_contain_text("No retention rules")

    form = section.locator("form.add-retention-rule")
    form.locator("select[name=template]").select_option("latestPushedK")
    form.locator("input[name=value]").fill("1")
    form.locator("input[name=repo_pattern]").fill("web")
    form.locator("input[name=tag_pattern]").fill("build-*")
    form.locator("input[name=untagged]").uncheck()
    screenshots.take(page, "retention-add-rule")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text("Retention rule added.")
    rule = section.locator("tr[data-retention-rule='1']")
    expect(rule).to_contain_text("retain the most recently pushed 1 artifacts")
    expect(rule).to_contain_text("repositories matching web, tags matching build-*")

    schedule = section.locator("form.retention-schedule")
    schedule.locator("select[name=schedule]").select_option("Daily")
    schedule.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text("Retention runs on the schedule 0 0 0 * * *.")
    expect(section.locator("form.retention-schedule select[name=schedule]")).to_have_value("Daily")
    expect(section.locator("form.retention-schedule")).to_contain_text("next run")

    section.locator(".retention-run button:has-text('Dry run')").click()
    notice = page.locator(".flash-ok")
    expect(notice).to_contain_text("Dry run")
    run_id = re.search(r"Dry run (\d+) started", notice.inner_text())
    assert run_id, notice.inner_text()
    wait_for_run(page, run_id.group(1))
    row = page.locator(f"#retention tr[data-run='{run_id.group(1)}']")
    expect(row.locator(".run-status")).to_have_text("Success")
    expect(row).to_contain_text("dry run")
    expect(row.locator(".run-result")).to_have_text("1 of 2 to delete")
    expect(row).to_contain_text("1/2 kept")
    screenshots.take(page, "retention-dry-run-history")

    row.locator("a.task-log").click()
    page.wait_for_url(re.compile(rf"/policy/retention/executions/{run_id.group(1)}/tasks/1$"))
    log = page.locator("body").inner_text()
    assert "Dry Run: true" in log
    lines = {
        line.split("|")[1].strip(): line.split("|")[-2].strip()
        for line in log.splitlines()
        if "sha256:" in line
    }
    assert lines == {new.digest: "RETAIN", old.digest: "DEL"}
    page.go_back()

    # nothing was deleted; then the real run deletes the older build
    listed = server.api("GET", f"/projects/{project}/repositories/web/artifacts", auth=server.admin)
    assert listed.headers["X-Total-Count"] == "2"
    page.locator("#retention .retention-run button:has-text('Run now')").click()  # confirmed
    notice = page.locator(".flash-ok")
    expect(notice).to_contain_text("Retention run")
    real = re.search(r"Retention run (\d+) started", notice.inner_text())
    assert real, notice.inner_text()
    wait_for_run(page, real.group(1))
    expect(page.locator(f"#retention tr[data-run='{real.group(1)}'] .run-result")).to_have_text(
        "1 of 2 deleted"
    )
    screenshots.take(page, "retention-real-run")
    listed = server.api("GET", f"/projects/{project}/repositories/web/artifacts", auth=server.admin)
    assert [a["digest"] for a in listed.json()] == [new.digest]

    # a guest sees neither the tab's retention controls nor may post them
    client, csrf = http_login(server, guest, PASSWORD)
    try:
        policy_page = client.get(f"/projects/{project}/policy")
        assert policy_page.status_code == 403  # neither section is for a guest
        refused = client.post(
            f"/projects/{project}/policy/retention/run",
            data={"csrf_token": csrf, "dry_run": "true"},
        )
        assert refused.status_code == 403, refused.text
        read = client.get(
            f"/projects/{project}/policy/retention/executions/{real.group(1)}/tasks/1"
        )
        assert read.status_code == 403
    finally:
        client.close()
