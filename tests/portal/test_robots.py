"""Robot accounts in the portal, in Debian's Chromium: a ProjectAdmin creates a project robot
and sees its secret once, disables, refreshes and deletes it; a developer only reads the list;
a system administrator makes a robot for all projects; an expired robot shows as expired."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.harness import Harborlite
from tests.portal.conftest import (
    PASSWORD,
    Screenshots,
    browser_login,
    http_login,
    new_page,
)

pytestmark = pytest.mark.browser


def token_status(server: Harborlite, name: str, secret: str, repository: str) -> tuple[int, list]:
    """The token service's answer to the robot's credentials, and the actions it granted."""
    response = httpx.get(
        f"{server.url}/service/token",
        params={"service": "harbor-registry", "scope": f"repository:{repository}:pull,push"},
        auth=(name, secret),
        timeout=30,
    )
    if response.status_code != 200:
        return response.status_code, []
    payload = response.json()["token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return 200, sorted(action for entry in claims["access"] for action in entry["actions"])


def shown_secret(page: Page, name: str) -> str:
    box = page.locator("#robot-secret")
    expect(box).to_be_visible()
    expect(box).to_contain_text(name)
    expect(box).to_contain_text("shown this once")
    secret = box.locator("input.copy-text").nth(1).input_value()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", secret), secret
    return secret


def row(page: Page, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"tr[data-robot='{name}']")


def test_a_project_admin_creates_disables_refreshes_and_deletes_a_robot(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("botshop")
    owner, developer = server.unique("powner"), server.unique("pdev")
    server.create_project(project)
    for user, role in ((owner, 1), (developer, 2)):
        server.create_user(user, PASSWORD)
        server.add_member(project, user, role)
    name = f"robot${project}+ci"
    repository = f"{project}/app"

    page = new_page(browser, server)
    browser_login(page, owner, PASSWORD)
    page.goto(f"/projects/{project}")
    page.click(".tabs a:has-text('Robot Accounts')")
    expect(page).to_have_url(re.compile(rf"/projects/{project}/robots$"))
    expect(page.locator(".empty")).to_contain_text("No robot accounts")
    page.click("summary:has-text('New robot account')")
    form = page.locator(f"form[action='/projects/{project}/robots']")
    form.locator("input[name=name]").fill("ci")
    form.locator("input[name=description]").fill("the CI pusher")
    form.locator("input[value='repository:push']").check()
    screenshots.take(page, "robot-create-form")
    form.locator("button[type=submit]").click()

    # The secret, once, with a copy button that copies it
    secret = shown_secret(page, name)
    copy = page.locator("#robot-secret .copy-btn").nth(1)
    copy.click()
    expect(copy).to_have_text("Copied!")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    expect(row(page, name)).to_contain_text("repository pull, push")
    expect(row(page, name)).to_contain_text("active")
    screenshots.take(page, "robot-created-secret")
    assert token_status(server, name, secret, repository) == (200, ["pull", "push"])

    page.goto(f"/projects/{project}/robots")
    expect(page.locator("#robot-secret")).to_have_count(0)  # never again
    assert secret not in page.content()
    in_30_days = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    expect(row(page, name)).to_contain_text(in_30_days)  # the form's default duration
    expect(row(page, name)).not_to_contain_text("expired")

    row(page, name).locator("button:has-text('Disable')").click()
    expect(page.locator(".flash-ok")).to_have_text(f"{name} is disabled.")
    expect(row(page, name).locator(".badge")).to_have_text("disabled")
    screenshots.take(page, "robot-disabled")
    assert token_status(server, name, secret, repository)[0] == 401
    row(page, name).locator("button:has-text('Enable')").click()
    expect(page.locator(".flash-ok")).to_have_text(f"{name} is enabled.")
    assert token_status(server, name, secret, repository)[0] == 200

    row(page, name).locator("button:has-text('Refresh secret')").click()  # confirm accepted
    expect(page.locator("#robot-secret h2")).to_contain_text("New secret of")
    refreshed = shown_secret(page, name)
    assert refreshed != secret
    screenshots.take(page, "robot-refreshed")
    assert token_status(server, name, secret, repository)[0] == 401
    assert token_status(server, name, refreshed, repository)[0] == 200

    # A developer reads the list, and may change nothing
    dev = new_page(browser, server)
    browser_login(dev, developer, PASSWORD)
    dev.goto(f"/projects/{project}/robots")
    expect(row(dev, name)).to_be_visible()
    assert dev.locator("summary:has-text('New robot account')").count() == 0
    assert dev.locator("button:has-text('Delete'), button:has-text('Disable')").count() == 0
    response = dev.goto("/admin/robots")
    assert response is not None and response.status == 403
    robot_id = server.api(
        "GET", "/robots", auth=server.admin, params={"q": f"ProjectID={_id(server, project)}"}
    ).json()[0]["id"]
    client, token = http_login(server, developer, PASSWORD)
    try:
        for path in (
            f"/projects/{project}/robots/{robot_id}/delete",
            f"/projects/{project}/robots/{robot_id}/refresh",
        ):
            forged = client.post(path, data={"csrf_token": token})
            assert forged.status_code == 403, forged.text
        forged = client.post(
            f"/projects/{project}/robots",
            data={
                "csrf_token": token,
                "name": "mine",
                "duration": "1",
                "access": "repository:pull",
            },
        )
        assert forged.status_code == 403
    finally:
        client.close()

    row(page, name).locator("button:has-text('Delete')").click()
    expect(page.locator(".flash-ok")).to_have_text(f"The robot account {name} was deleted.")
    expect(page.locator(".empty")).to_contain_text("No robot accounts")
    screenshots.take(page, "robot-deleted")
    assert token_status(server, name, refreshed, repository)[0] == 401

    # refusals come back as messages
    page.click("summary:has-text('New robot account')")
    form.locator("input[name=name]").fill("Bad Name")
    form.locator("input[name=name]").evaluate("element => element.removeAttribute('pattern')")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-error")).to_have_text(
        "Robot name is not in lower case or contains illegal characters."
    )


def _id(server: Harborlite, project: str) -> int:
    return int(server.api("GET", f"/projects/{project}", auth=server.admin).json()["project_id"])


def test_an_admin_makes_a_system_robot_and_sees_an_expired_one(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("sysbots")
    server.create_project(project)
    name = server.unique("fleet").replace("-", ".")
    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    page.goto("/admin/users")
    page.click(".tabs a:has-text('Robot Accounts')")
    expect(page).to_have_url(re.compile(r"/admin/robots$"))
    page.click("summary:has-text('New robot account')")
    form = page.locator("form[action='/admin/robots']")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=all_projects]").check()
    form.locator("input[name=never]").check()
    form.locator("input[name=create_projects]").check()
    form.locator("button[type=submit]").click()
    secret = shown_secret(page, f"robot${name}")
    entry = row(page, f"robot${name}")
    expect(entry).to_contain_text("all projects: repository pull")
    expect(entry).to_contain_text("system: project create")
    expect(entry).to_contain_text("never")
    assert token_status(server, f"robot${name}", secret, f"{project}/x") == (200, ["pull"])

    old = server.unique("old").replace("-", ".")
    created = server.api(
        "POST",
        "/robots",
        auth=server.admin,
        json={
            "name": old,
            "level": "system",
            "duration": 1,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": project,
                    "access": [{"resource": "repository", "action": "pull"}],
                }
            ],
        },
    )
    assert created.status_code == 201, created.text
    with sqlite3.connect(server.data_dir / "harborlite.db", timeout=30) as database:
        database.execute(
            "UPDATE robots SET expires_at = ? WHERE id = ?",
            (int(time.time()) - 60, created.json()["id"]),
        )
    page.goto("/admin/robots")
    expired = row(page, f"robot${old}")
    expect(expired.locator(".bad").first).to_have_text("expired")
    expect(page.locator("#robot-secret")).to_have_count(0)
    screenshots.take(page, "admin-robots")
    bad = form.locator("input[name=name]")
    page.click("summary:has-text('New robot account')")
    bad.fill("nothing")
    form.locator("input[value='repository:pull']").uncheck()
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-error")).to_have_text("Choose at least one permission.")
