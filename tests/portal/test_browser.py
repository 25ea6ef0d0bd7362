"""The portal in Debian's Chromium: the flows of issue 4's Proof, with screenshots."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.harness import Harborlite
from tests.portal.conftest import (
    PASSWORD,
    Screenshots,
    browser_login,
    csrf_of,
    http_login,
    new_page,
)
from tests.support.clients import skopeo_copy
from tests.support.images import BuiltImage, build_oci_layout

pytestmark = pytest.mark.browser

XSS = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2"> Builds the API'


def open_new_form(page: Page, summary: str) -> None:
    page.click(f"summary:has-text('{summary}')")


def test_admin_and_developer_flow(
    harborlite_sqlite: Harborlite,
    browser: Browser,
    screenshots: Screenshots,
    tmp_path: Path,
) -> None:
    server = harborlite_sqlite
    project = server.unique("webshop")
    developer = server.unique("dev")

    # An admin logs in (a wrong password first: a clear message).
    admin = new_page(browser, server)
    admin.goto("/")
    expect(admin).to_have_url(re.compile(r"/login\?next=%2F$"))
    admin.fill("input[name=username]", "admin")
    admin.fill("input[name=password]", "not-the-password")
    admin.click("form[action='/login'] button[type=submit]")
    expect(admin.locator(".flash-error")).to_have_text("Invalid user name or password.")
    screenshots.take(admin, "login-bad-credentials")
    browser_login(admin, "admin", server.admin_password)

    # ... creates a project,
    admin.goto("/projects")
    open_new_form(admin, "New project")
    admin.fill("form[method=post][action='/projects'] input[name=name]", project)
    admin.click("form[method=post][action='/projects'] button[type=submit]")
    expect(admin).to_have_url(re.compile(rf"/projects/{project}$"))
    expect(admin.locator(".flash-ok")).to_contain_text(f"Project {project} was created")
    screenshots.take(admin, "project-empty")

    # ... and a user,
    admin.goto("/admin/users")
    open_new_form(admin, "New user")
    form = admin.locator("form[method=post][action='/admin/users']")
    form.locator("input[name=username]").fill(developer)
    form.locator("input[name=email]").fill(f"{developer}@example.com")
    form.locator("input[name=realname]").fill("Dana Developer")
    form.locator("input[name=password]").fill(PASSWORD)
    form.locator("button[type=submit]").click()
    expect(admin.locator(".flash-ok")).to_contain_text(f"User {developer} was created")
    screenshots.take(admin, "admin-users")

    # ... and adds the user as Developer.
    admin.goto(f"/projects/{project}/members")
    admin.fill("input[name=username]", developer)
    admin.select_option("form[action$='/members'] select[name=role]", label="Developer")
    admin.click("button:has-text('Add member')")
    expect(admin.locator(".flash-ok")).to_contain_text(f"{developer} was added")
    row = admin.locator("tr", has_text=developer)
    expect(row.locator(".badge")).to_have_text("Developer")
    screenshots.take(admin, "project-members")

    # An image is pushed with skopeo, by the developer.
    layout = tmp_path / "layout"
    built: BuiltImage = build_oci_layout(
        layout, "1.0", [120_000, 30_000], seed=4, labels={"org.opencontainers.image.title": "app"}
    )
    repository = f"{project}/app"
    skopeo_copy(
        f"oci:{layout}:1.0",
        f"docker://{server.host}/{repository}:1.0",
        creds=(developer, PASSWORD),
    )

    # The admin gives the repository a description with markup in it: it must stay text.
    admin.goto(f"/repositories/{repository}")
    admin.click("summary:has-text('Edit description')")
    admin.fill("textarea[name=description]", XSS)
    admin.click("button:has-text('Save description')")
    expect(admin.locator(".flash-ok")).to_have_text("The description was saved.")

    # The developer logs in, finds the repository, sees the tag, copies the pull command.
    dev = new_page(browser, server)
    browser_login(dev, developer, PASSWORD)
    expect(dev.locator(".mainnav")).not_to_contain_text("Administration")
    expect(dev.locator("table")).to_contain_text(repository)  # recent pushes
    screenshots.take(dev, "dashboard-developer")
    dev.click(".mainnav a:has-text('Projects')")
    dev.fill("input[name=q]", project)
    dev.click("form.search button[type=submit]")
    dev.click(f"a:has-text('{project}')")
    expect(dev.locator(".tabs")).not_to_contain_text("Logs")  # ProjectAdmin only
    screenshots.take(dev, "project-repositories")
    dev.click(f"a:has-text('{repository}')")
    expect(dev).to_have_url(re.compile(rf"/repositories/{repository}$"))
    artifact_row = dev.locator("table.artifacts tbody tr").first
    expect(artifact_row.locator(".tag")).to_have_text("1.0")
    expect(artifact_row).to_contain_text(built.manifest_digest[:19])
    expect(artifact_row.locator(".kind-image")).to_have_text("image")
    expect(artifact_row).to_contain_text("linux/amd64")

    # The description is shown as text, and none of it ran.
    expect(dev.locator(".description .prose")).to_have_text(XSS)
    assert dev.locator(".description .prose script, .description .prose img").count() == 0
    assert dev.evaluate("window.__pwned") is None

    expected = f"docker pull {server.host}/{repository}:1.0"
    copy_button = artifact_row.locator(".pull-tag .copy-btn")
    copy_button.click()
    expect(copy_button).to_have_text("Copied!")
    assert dev.evaluate("navigator.clipboard.readText()") == expected
    assert artifact_row.locator(".pull-tag input").input_value() == expected
    assert artifact_row.locator(".pull-digest input").input_value() == (
        f"docker pull {server.host}/{repository}@{built.manifest_digest}"
    )
    # A developer may push but not delete: no delete buttons.
    assert dev.locator("button:has-text('Delete')").count() == 0
    screenshots.take(dev, "repository")

    dev.click(f"a[title='{built.manifest_digest}']")
    expect(dev.locator("h2:has-text('Layers')")).to_be_visible()
    expect(dev.locator("section:has(h2:has-text('Configuration'))")).to_contain_text(
        "org.opencontainers.image.title"
    )
    expect(dev.locator("section:has(h2:has-text('Layers')) tbody tr")).to_have_count(2)
    screenshots.take(dev, "artifact")

    # ... and cannot see the admin pages.
    for path in ("/admin/users", "/admin/logs", "/admin/system"):
        response = dev.goto(path)
        assert response is not None and response.status == 403, path
        expect(dev.locator("h1")).to_have_text("Not allowed")
    screenshots.take(dev, "forbidden-admin")
    response = dev.goto("/projects/no-such-project")
    assert response is not None and response.status == 404
    screenshots.take(dev, "not-found")

    # The admin's pages, for the reviewer.
    admin.goto("/")
    screenshots.take(admin, "dashboard-admin")
    admin.goto("/projects")
    screenshots.take(admin, "projects")
    admin.goto(f"/projects/{project}/logs")
    expect(admin.locator("table")).to_contain_text("push")
    screenshots.take(admin, "project-logs")
    admin.goto(f"/projects/{project}/configuration")
    screenshots.take(admin, "project-configuration")
    admin.goto("/admin/logs?operation=push")
    expect(admin.locator("tbody tr").first).to_contain_text(repository)
    screenshots.take(admin, "admin-logs")
    admin.goto("/admin/system")
    expect(admin.locator("dd").filter(has_text="healthy").first).to_be_visible()
    screenshots.take(admin, "admin-system")
    admin.goto("/account")
    screenshots.take(admin, "account")


def test_guest_sees_no_delete_buttons_and_forged_deletes_fail(
    harborlite_sqlite: Harborlite,
    browser: Browser,
    screenshots: Screenshots,
    tmp_path: Path,
) -> None:
    server = harborlite_sqlite
    project = server.unique("guarded")
    guest = server.unique("guest")
    server.create_project(project)
    server.create_user(guest, PASSWORD)
    server.add_member(project, guest, 3)
    layout = tmp_path / "layout"
    built = build_oci_layout(layout, "stable", [40_000], seed=11)
    repository = f"{project}/tool"
    skopeo_copy(
        f"oci:{layout}:stable", f"docker://{server.host}/{repository}:stable", creds=server.admin
    )

    page = new_page(browser, server)
    browser_login(page, guest, PASSWORD)
    page.goto(f"/repositories/{repository}")
    expect(page.locator(".tag")).to_have_text("stable")
    assert page.locator("button:has-text('Delete')").count() == 0
    assert page.locator(".tag-x").count() == 0
    assert page.locator("summary:has-text('Edit description')").count() == 0
    screenshots.take(page, "repository-guest")

    # A forged delete with the guest's own valid session and CSRF token is still refused.
    client, token = http_login(server, guest, PASSWORD)
    try:
        for path in (
            f"/repositories/{repository}/-/artifacts/{built.manifest_digest}/delete",
            f"/repositories/{repository}/-/tags/stable/delete",
            f"/projects/{project}/delete",
        ):
            response = client.post(path, data={"csrf_token": token})
            assert response.status_code == 403, (path, response.text)
            assert "does not allow" in response.text
    finally:
        client.close()
    # Nothing was deleted.
    listed = httpx.get(
        f"{server.url}/api/v2.0/projects/{project}", auth=server.admin, timeout=30
    ).json()
    assert listed["repo_count"] == 1
    page.goto(f"/repositories/{repository}")
    expect(page.locator(".tag")).to_have_text("stable")


def test_form_without_csrf_token_is_refused(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    name = server.unique("nocsrf")
    page.goto("/projects")
    open_new_form(page, "New project")
    # Strip the token out of the form, as a forged cross-site form would lack it.
    page.locator("form[method=post][action='/projects'] input[name=csrf_token]").evaluate(
        "element => element.remove()"
    )
    page.fill("form[method=post][action='/projects'] input[name=name]", name)
    with page.expect_navigation() as navigation:
        page.click("form[method=post][action='/projects'] button[type=submit]")
    response = navigation.value
    assert response is not None and response.status == 403
    expect(page.locator(".error-page")).to_contain_text("CSRF")
    screenshots.take(page, "csrf-refused")
    check = server.api("GET", f"/projects/{name}", auth=server.admin)
    assert check.status_code == 404
    assert csrf_of(page.content())  # the error page still carries the session's token


def test_maintainer_deletes_a_tag_then_the_artifact(
    harborlite_sqlite: Harborlite,
    browser: Browser,
    screenshots: Screenshots,
    tmp_path: Path,
) -> None:
    server = harborlite_sqlite
    project = server.unique("cleanup")
    maintainer = server.unique("maint")
    server.create_project(project)
    server.create_user(maintainer, PASSWORD)
    server.add_member(project, maintainer, 4)
    layout = tmp_path / "layout"
    built = build_oci_layout(layout, "a", [30_000], seed=21)
    repository = f"{project}/svc"
    for tag in ("a", "b"):
        skopeo_copy(
            f"oci:{layout}:a", f"docker://{server.host}/{repository}:{tag}", creds=server.admin
        )

    page = new_page(browser, server)
    browser_login(page, maintainer, PASSWORD)
    page.goto(f"/repositories/{repository}")
    expect(page.locator(".tag")).to_have_count(2)
    page.click("button[aria-label='Delete tag b']")  # the confirm dialog is accepted
    expect(page.locator(".flash-ok")).to_have_text("Tag b was deleted.")
    expect(page.locator(".tag")).to_have_count(1)
    expect(page.locator(".tag")).to_contain_text("a")
    page.reload()
    expect(page.locator(".tag")).to_have_count(1)  # gone from the index, as the API does it
    # (distribution 2.8 cannot untag; the manifest stays, reachable by digest)
    assert registry_get(server, repository, f"/manifests/{built.manifest_digest}").is_success

    page.click("table.artifacts button:has-text('Delete')")
    expect(page).to_have_url(re.compile(rf"/projects/{project}$"))
    expect(page.locator(".flash-ok")).to_contain_text(f"{built.manifest_digest[:19]} was deleted")
    expect(page.locator(".empty")).to_contain_text("No repositories yet")
    screenshots.take(page, "project-after-delete")
    gone = registry_get(server, repository, f"/manifests/{built.manifest_digest}")
    assert gone.status_code == 404


def registry_get(server: Harborlite, repository: str, path: str) -> httpx.Response:
    token = server.token(f"repository:{repository}:pull", server.admin)
    return httpx.get(
        f"{server.url}/v2/{repository}{path}",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.oci.image.manifest.v1+json",  # else 2.8 hides OCI ones
        },
        timeout=30,
    )
