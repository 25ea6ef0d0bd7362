"""Creating a proxy-cache project from the portal's project form, in Debian's Chromium: an admin
ticks "Proxy cache", picks the endpoint, and the project is a cache (its registry_id, its
retention rule); a user who is not an administrator is not offered the toggle."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.harness import Harborlite, own_harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, new_page
from tests.proxycache.support import add_endpoint

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server() -> Iterator[Harborlite]:
    yield from own_harborlite()


def test_an_admin_creates_a_proxy_cache_project(
    server: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    registry_id = add_endpoint(server, "dockerhub", "docker-hub", "http://127.0.0.1:9")
    name = server.unique("hubproxy")
    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    page.goto("/projects")
    page.click("summary:has-text('New project')")
    form = page.locator("form[method=post][action='/projects']")
    form.locator("input[name=name]").fill(name)
    expect(form.locator("fieldset.proxy-cache legend")).to_have_text("Proxy cache")
    form.locator("input[name=proxy_cache]").check()
    form.locator("select[name=registry_id]").select_option(str(registry_id))
    screenshots.take(page, "proxy-cache-form")
    form.locator("button[type=submit]").click()
    expect(page).to_have_url(re.compile(rf"/projects/{name}$"))

    project = server.api("GET", f"/projects/{name}", auth=server.admin).json()
    assert project["registry_id"] == registry_id
    assert project["metadata"]["proxy_speed_kb"] == "-1"
    assert project["metadata"]["retention_id"]
    page.goto("/projects")
    row = page.locator("tr", has=page.locator(f"a:text-is('{name}')"))
    expect(row.locator(".badge.proxy-cache")).to_have_text("proxy cache")


def test_others_are_not_offered_the_toggle(server: Harborlite, browser: Browser) -> None:
    user = server.unique("plainuser")
    server.create_user(user, PASSWORD)
    page = new_page(browser, server)
    browser_login(page, user, PASSWORD)
    page.goto("/projects")
    expect(page.locator("fieldset.proxy-cache")).to_have_count(0)
