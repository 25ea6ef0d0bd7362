"""The Webhooks tab in Debian's Chromium: a ProjectAdmin creates a webhook (its signing secret
shown once), sees a delivery with its response code, edits, disables and deletes it; a
Maintainer only reads; a Developer is refused."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from playwright.sync_api import Browser, expect

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page
from tests.webhooks.receiver import started_receiver

pytestmark = pytest.mark.browser


def test_a_project_admin_manages_webhooks_and_sees_deliveries(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("hookshop")
    owner, maintainer, developer = (server.unique(n) for n in ("howner", "hmaint", "hdev"))
    server.create_project(project)
    for user, role in ((owner, 1), (maintainer, 4), (developer, 2)):
        server.create_user(user, PASSWORD)
        server.add_member(project, user, role)
    with started_receiver() as receiver:
        path = f"/ok/{project}"
        page = new_page(browser, server)
        browser_login(page, owner, PASSWORD)
        page.goto(f"/projects/{project}/webhooks")
        expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Webhooks")
        page.click("#new-webhook summary")
        form = page.locator("#new-webhook form")
        form.locator("input[name=name]").fill("ci")
        form.locator("input[name=address]").fill(receiver.url + path)
        form.locator("button[type=submit]").click()
        box = page.locator("#webhook-secret")
        expect(box).to_contain_text("shown this once")
        secret = box.locator("input.copy-text").input_value()
        screenshots.take(page, "webhook-created")

        with Pusher(server) as pusher:
            pusher.image(f"{project}/app", "1.0")
        delivered = receiver.wait(path)[0]
        stamp = delivered.headers["x-harborlite-timestamp"]
        mac = hmac.new(secret.encode(), stamp.encode() + b"." + delivered.body, hashlib.sha256)
        assert delivered.headers["x-harborlite-signature"] == "sha256=" + mac.hexdigest()

        def delivered_row() -> None:
            page.goto(f"/projects/{project}/webhooks")
            expect(page.locator("table.deliveries [data-status-code]").first).to_have_text("200")

        for _ in range(3):  # the task is marked delivered just after the receiver answered
            try:
                delivered_row()
                break
            except AssertionError:
                page.wait_for_timeout(1000)
        else:
            delivered_row()
        expect(page.locator("table.deliveries")).to_contain_text("PUSH_ARTIFACT")
        screenshots.take(page, "webhook-deliveries")

        row = page.locator("tr[data-webhook='ci']")
        row.locator("details.edit summary").click()
        row.locator("details.edit input[name=name]").fill("ci-renamed")
        row.locator("details.edit button[type=submit]").click()
        expect(page.locator("tr[data-webhook='ci-renamed']")).to_be_visible()
        renamed = page.locator("tr[data-webhook='ci-renamed']")
        renamed.get_by_role("button", name="Disable").click()
        expect(page.locator("tr[data-webhook='ci-renamed']")).to_contain_text("disabled")

        reader = new_page(browser, server)
        browser_login(reader, maintainer, PASSWORD)
        reader.goto(f"/projects/{project}/webhooks")
        expect(reader.locator("tr[data-webhook='ci-renamed']")).to_be_visible()
        expect(reader.locator("#new-webhook")).to_have_count(0)
        expect(reader.get_by_role("button", name="Delete")).to_have_count(0)

        client, _ = http_login(server, developer, PASSWORD)
        try:
            assert client.get(f"/projects/{project}/webhooks").status_code == 403
        finally:
            client.close()

        page.locator("tr[data-webhook='ci-renamed']").get_by_role("button", name="Delete").click()
        expect(page.locator("tr[data-webhook='ci-renamed']")).to_have_count(0)
