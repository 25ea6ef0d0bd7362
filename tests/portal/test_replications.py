"""Administration > Replications in Debian's Chromium: an admin creates a push-based policy
with a name filter towards a bare registry, runs it, follows the execution to its tasks and a
task's log, edits the policy (the form shows its filters), is told Harbor's sentence for a bad
cron, and deletes it; a non-admin gets 403 and a form without its CSRF token is refused."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page
from tests.replication.replicas import Registry, add_registry
from tests.support.processes import RegistryServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("portal-bare")) as registry:
        yield registry


def test_an_admin_replicates(
    harborlite: Harborlite, bare: RegistryServer, browser: Browser, screenshots: Screenshots
) -> None:
    project = harborlite.unique("replui")
    harborlite.create_project(project)
    with Pusher(harborlite) as pusher:
        pushed = pusher.image(f"{project}/app", "v1")
    endpoint = harborlite.unique("bare")
    endpoint_id = add_registry(harborlite, endpoint, "docker-registry", bare.url)
    name = harborlite.unique("uipolicy")
    page = new_page(browser, harborlite)
    browser_login(page, *harborlite.admin)
    page.goto("/admin/replications")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Replications")
    page.click("#new-policy summary")
    form = page.locator("#new-policy form")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=registry_id]").select_option(str(endpoint_id))
    form.locator("input[name=filter_name]").fill(f"{project}/**")
    form.locator("input[name=filter_tag]").fill("v*")
    screenshots.take(page, "replications-new")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(f"Replication policy {name} created")
    row = page.locator(f"#policies tr[data-policy='{name}']")
    expect(row).to_contain_text(endpoint)

    row.locator("form[action$='/run'] button").click()
    page.wait_for_url(re.compile(r".*/admin/replications/executions/\d+$"))
    expect(page.locator(".flash")).to_contain_text(f"Replication of {name} started")
    for _ in range(60):
        if page.locator("#execution .execution-status").inner_text() not in ("InProgress",):
            break
        page.wait_for_timeout(250)
        page.reload()
    expect(page.locator("#execution .execution-status")).to_have_text("Succeed")
    expect(page.locator("#tasks .task-status")).to_have_text(["Succeed"])
    expect(page.locator("#tasks")).to_contain_text(f"{project}/app:[v1]")
    screenshots.take(page, "replications-execution")
    log_url = page.locator("#tasks a", has_text="Log").get_attribute("href")
    assert log_url
    log = page.context.request.get(log_url)
    assert log.status == 200 and "copied as" in log.text()
    assert Registry(bare.url).digest(f"{project}/app", "v1") == pushed.digest

    page.goto("/admin/replications")
    expect(page.locator("#executions tr")).not_to_have_count(1)
    row.locator("a", has_text="Edit").click()
    page.wait_for_url(re.compile(r".*/admin/replications/\d+$"))
    edit = page.locator("#policy-edit form")
    assert edit.locator("input[name=filter_name]").input_value() == f"{project}/**"
    assert edit.locator("input[name=filter_tag]").input_value() == "v*"
    edit.locator("input[name=description]").fill("edited in the portal")
    edit.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(f"Replication policy {name} saved")
    expect(row).to_contain_text("edited in the portal")

    row.locator("a", has_text="Edit").click()
    edit.locator("select[name=trigger]").select_option("scheduled")
    edit.locator("input[name=cron]").fill("0 * * * * *")
    edit.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(
        "The 2nd field (indicating Minutes of time) of the cron setting must not be *"
    )
    page.goto("/admin/replications")
    row.locator("form[action$='/delete'] button").click()
    expect(page.locator(".flash")).to_contain_text(f"Replication policy {name} deleted")
    assert page.locator(f"#policies tr[data-policy='{name}']").count() == 0
    page.context.close()


def test_non_admins_and_forged_forms_are_refused(harborlite: Harborlite) -> None:
    user = harborlite.unique("norepl")
    harborlite.create_user(user, PASSWORD)
    client, token = http_login(harborlite, user, PASSWORD)
    try:
        assert client.get("/admin/replications").status_code == 403
        made = client.post("/admin/replications", data={"csrf_token": token, "name": "x"})
        assert made.status_code == 403
    finally:
        client.close()
    admin, _ = http_login(harborlite, *harborlite.admin)
    try:
        forged = admin.post("/admin/replications", data={"name": "forged", "mode": "push"})
        assert forged.status_code == 403
        listed = admin.get("/admin/replications")
        assert listed.status_code == 200 and "forged" not in listed.text
    finally:
        admin.close()
