"""Quotas in the portal, in Debian's Chromium: the bar on a project's page (for its members
too), Administration's Project Quotas (a limit, the default for new projects, a recount), and
the same pages refused to a user who is not a system administrator."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from harborlite.portal.quota_pages import QuotaBar
from tests.api.pushing import Pusher
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page

KIB = 1024


def test_the_bar_the_limit_and_the_default_quota(
    browser: Browser, screenshots: Screenshots
) -> None:
    # a harborlite of its own: the admin page lists every project (the shared servers hold
    # hundreds, this one's would not be on the first page), and the default quota is global
    server = start_harborlite()
    project = server.unique("quotaweb")
    project_id = server.create_project(project)
    developer = server.unique("qdev")
    server.create_user(developer, PASSWORD)
    server.add_member(project, developer, 2)
    with Pusher(server) as pusher:
        image = pusher.image(f"{project}/app", "v1")
    default = server.api("GET", "/configurations", auth=server.admin).json()
    try:
        admin = new_page(browser, server)
        browser_login(admin, "admin", server.admin_password)

        # the project's page: no limit yet
        admin.goto(f"/projects/{project}")
        card = admin.locator(".quota-card")
        expect(card).to_contain_text(f"{image.size} B used, no limit")
        expect(card.locator(".quota-fill")).to_have_count(0)

        # Administration > Project Quotas: a limit of 2 KiB for the project
        admin.goto("/admin/quotas")
        expect(admin.locator("nav.tabs a[aria-current=page]")).to_have_text("Project Quotas")
        row = admin.locator(f"tr[data-project='{project}']")
        expect(row).to_contain_text("no limit")
        row.locator("summary:has-text('Set limit')").click()
        row.locator("input[name=unlimited]").uncheck()
        row.locator("input[name=amount]").fill("2")
        row.locator("select[name=unit]").select_option("KiB")
        row.locator("form.quota-form button[type=submit]").click()
        expect(admin.locator(".flash-ok")).to_have_text(f"The quota of {project} is now 2.0 KiB.")
        listed = server.api(
            "GET", "/quotas", auth=server.admin, params={"reference_id": str(project_id)}
        ).json()
        assert listed[0]["hard"] == {"storage": 2 * KIB}
        bar = QuotaBar(image.size, 2 * KIB)
        expect(admin.locator(f"tr[data-project='{project}']")).to_contain_text(bar.summary)
        admin.locator(f"tr[data-project='{project}'] summary:has-text('Set limit')").click()
        screenshots.take(admin, "admin-project-quotas")
        admin.goto("/admin/quotas")

        # a bad amount is told, nothing changes
        row = admin.locator(f"tr[data-project='{project}']")
        row.locator("summary:has-text('Set limit')").click()
        expect(row.locator("input[name=amount]")).to_have_value("2")
        expect(row.locator("select[name=unit]")).to_have_value("KiB")
        row.locator("input[name=amount]").fill("lots")
        row.locator("form.quota-form button[type=submit]").click()
        expect(admin.locator(".flash-error")).to_contain_text("Enter the limit as a number")

        # the recount button counts what the registry holds: the same
        row = admin.locator(f"tr[data-project='{project}']")
        row.locator("form[action$='/recount'] button").click()
        expect(admin.locator(".flash-ok")).to_contain_text(f"{project} was recounted")

        # the default for new projects
        form = admin.locator("#default-quota")
        form.locator("summary").click()
        form.locator("input[name=unlimited]").uncheck()
        form.locator("input[name=amount]").fill("2")
        form.locator("select[name=unit]").select_option("GiB")
        form.locator("button[type=submit]").click()
        expect(admin.locator(".flash-ok")).to_have_text("New projects get a quota of 2.0 GiB.")
        expect(admin.locator(".default-quota")).to_have_text("2.0 GiB")
        fresh = server.unique("quotanew")
        fresh_id = server.create_project(fresh)
        created = server.api(
            "GET", "/quotas", auth=server.admin, params={"reference_id": str(fresh_id)}
        ).json()
        assert created[0]["hard"] == {"storage": 2 * 1024**3}

        # a member sees the bar on the project's page, filled as far as the project is
        member = new_page(browser, server)
        browser_login(member, developer, PASSWORD)
        member.goto(f"/projects/{project}")
        card = member.locator(".quota-card")
        expect(card).to_contain_text(bar.summary)
        fill = card.locator(".quota-fill")
        expect(fill).to_have_attribute("width", f"{bar.percent:.2f}")
        expect(card.locator("svg[role=meter]")).to_have_attribute(
            "aria-valuenow", f"{bar.percent:.0f}"
        )
        screenshots.take(member, "project-quota-bar")
        member.goto("/admin/quotas")
        expect(member.locator("h1")).to_contain_text("Not allowed")
    finally:
        server.api(
            "PUT",
            "/configurations",
            auth=server.admin,
            json={"storage_per_project": default["storage_per_project"]["value"]},
        )
        cleanup(server)


def test_the_admin_forms_need_a_system_admin_and_a_csrf_token(
    harborlite_sqlite: Harborlite,
) -> None:
    server = harborlite_sqlite
    user = server.unique("qplain")
    server.create_user(user, PASSWORD)
    client, token = http_login(server, user, PASSWORD)
    try:
        assert client.get("/admin/quotas").status_code == 403
        refused = client.post(
            "/admin/quotas/default", data={"csrf_token": token, "unlimited": "on"}
        )
        assert refused.status_code == 403
    finally:
        client.close()
    admin, admin_token = http_login(server, "admin", server.admin_password)
    try:
        no_token = admin.post("/admin/quotas/default", data={"unlimited": "on"})
        assert no_token.status_code == 403
        missing = admin.post(
            "/admin/quotas/999999/limit", data={"csrf_token": admin_token, "unlimited": "on"}
        )
        assert missing.status_code == 404
        page = admin.get("/admin/quotas")
        assert page.status_code == 200 and "Default quota" in page.text
    finally:
        admin.close()


@pytest.mark.parametrize(
    ("used", "hard", "level", "percent"),
    [
        (5, -1, "ok", 0.0),
        (50, 100, "ok", 50.0),
        (85, 100, "warning", 85.0),
        (100, 100, "full", 100.0),
        (250, 100, "full", 100.0),
    ],
)
def test_the_bar_levels(used: int, hard: int, level: str, percent: float) -> None:
    bar = QuotaBar(used, hard)
    assert (bar.level, bar.percent) == (level, percent)
    assert re.match(r"^\d+ B (used, no limit|of \d+ B \(\d+ %\))$", bar.summary)
