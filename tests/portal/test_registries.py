"""Administration > Registries in Debian's Chromium: an admin adds a Docker Hub endpoint (the
stand-in, with credentials), sees it turn healthy, tests the connection, edits it without
retyping the secret (which no page ever shows), and deletes it; a wrong secret shows
"Unhealthy" with the reason; a non-admin gets 403 and a form without its CSRF token is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page
from tests.remote.hub_standin import HubStandin

pytestmark = pytest.mark.browser
HUB_USER, HUB_SECRET = "portalhub", "Portal-Hub-Secret-31"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandin]:
    standin = HubStandin.start(tmp_path_factory.mktemp("hub"), user=HUB_USER, password=HUB_SECRET)
    try:
        yield standin
    finally:
        standin.stop()


def wait_status(page: Page, name: str, status: str) -> None:
    """The health check runs in the background: reload until the row shows ``status``."""
    for _ in range(60):
        page.goto("/admin/registries")
        if page.locator(f"tr[data-registry='{name}'] .registry-status").inner_text() == status:
            return
        page.wait_for_timeout(250)
    raise AssertionError(f"{name} never showed {status}")


def test_an_admin_manages_endpoints(
    harborlite: Harborlite, hub: HubStandin, browser: Browser, screenshots: Screenshots
) -> None:
    name = harborlite.unique("hubportal")
    page = new_page(browser, harborlite)
    html_seen: list[str] = []
    browser_login(page, *harborlite.admin)
    page.goto("/admin/registries")
    expect(page.locator("nav.tabs a[aria-current=page]")).to_have_text("Registries")
    page.click("#new-registry summary")
    form = page.locator("#new-registry form")
    form.locator("select[name=type]").select_option("docker-hub")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=url]").fill(hub.url)
    form.locator("input[name=description]").fill("hub stand-in")
    form.locator("input[name=access_key]").fill(HUB_USER)
    form.locator("input[name=access_secret]").fill(HUB_SECRET)
    form.locator("input[name=rate_per_second]").fill("20")
    screenshots.take(page, "registries-new")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(f"Registry {name} created")
    html_seen.append(page.content())
    wait_status(page, name, "Healthy")
    screenshots.take(page, "registries-list")
    html_seen.append(page.content())

    page.locator(f"tr[data-registry='{name}'] form[action$='/ping'] button").click()
    expect(page.locator(".flash")).to_contain_text("healthy")

    page.locator(f"tr[data-registry='{name}'] a", has_text="Edit").click()
    page.wait_for_url(re.compile(r".*/admin/registries/\d+$"))
    html_seen.append(page.content())
    edit = page.locator("#registry-edit form")
    assert edit.locator("input[name=access_secret]").input_value() == ""
    assert edit.locator("input[name=access_key]").input_value() == HUB_USER
    edit.locator("input[name=description]").fill("edited, secret kept")
    edit.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text(f"Registry {name} saved")
    expect(page.locator(f"tr[data-registry='{name}']")).to_contain_text("edited, secret kept")
    page.locator(f"tr[data-registry='{name}'] form[action$='/ping'] button").click()
    expect(page.locator(".flash")).to_contain_text("healthy")  # the kept secret still works

    # a wrong secret: the test shows why
    page.locator(f"tr[data-registry='{name}'] a", has_text="Edit").click()
    page.locator("#registry-edit input[name=access_secret]").fill("wrong-secret")
    page.locator("#registry-edit button[type=submit]").click()
    page.locator(f"tr[data-registry='{name}'] form[action$='/ping'] button").click()
    expect(page.locator(".flash")).to_contain_text("is unhealthy")
    expect(page.locator(f"tr[data-registry='{name}'] .registry-status")).to_have_text("Unhealthy")
    screenshots.take(page, "registries-unhealthy")
    html_seen.append(page.content())

    # bad input: the domain's sentence, nothing created
    page.click("#new-registry summary")
    form.locator("input[name=name]").fill(harborlite.unique("bad"))
    form.locator("input[name=url]").fill("ftp://example.com")
    form.locator("select[name=type]").select_option("docker-registry")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("Invalid HTTP scheme: ftp")

    page.locator(f"tr[data-registry='{name}'] form[action$='/delete'] button").click()
    expect(page.locator(".flash")).to_contain_text(f"Registry {name} deleted")
    assert page.locator(f"tr[data-registry='{name}']").count() == 0
    assert not [html for html in html_seen if HUB_SECRET in html]
    page.context.close()


def test_non_admins_and_forged_forms_are_refused(harborlite: Harborlite) -> None:
    user = harborlite.unique("noreg")
    harborlite.create_user(user, PASSWORD)
    client, token = http_login(harborlite, user, PASSWORD)
    with closing(client):
        assert client.get("/admin/registries").status_code == 403
        made = client.post(
            "/admin/registries",
            data={"csrf_token": token, "name": "x", "type": "harbor", "url": "http://x"},
        )
        assert made.status_code == 403
    admin, admin_token = http_login(harborlite, *harborlite.admin)
    with closing(admin):
        forged = admin.post(
            "/admin/registries", data={"name": "forged", "type": "harbor", "url": "http://x"}
        )
        assert forged.status_code == 403
        listed = admin.get("/admin/registries")
        assert listed.status_code == 200 and "forged" not in listed.text
        assert admin_token
