"""The Policy tab's tag immutability rules in Debian's Chromium: a maintainer adds, edits,
disables, enables and deletes a rule (and is told why a wrong one is refused); the rule works
at once on pushes; developers and guests get no tab and see no rule."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page

pytestmark = pytest.mark.browser


def rules_of(server: Harborlite, project: str) -> list[dict[str, object]]:
    listed = server.api("GET", f"/projects/{project}/immutabletagrules", auth=server.admin)
    assert listed.status_code == 200, listed.text
    rules: list[dict[str, object]] = listed.json()
    return rules


def push_status(server: Harborlite, repository: str, tag: str, manifest: bytes) -> int:
    token = server.token(f"repository:{repository}:pull,push", server.admin)
    response = httpx.put(
        f"{server.url}/v2/{repository}/manifests/{tag}",
        content=manifest,
        headers={"Authorization": f"Bearer {token}", "Content-Type": OCI_MANIFEST},
        timeout=30,
    )
    return response.status_code


def add_rule(page: Page, repositories: str, tags: str, *, excluding: bool = False) -> None:
    form = page.locator("form.add-rule")
    form.locator("input[name=repo_pattern]").fill(repositories)
    form.locator("input[name=tag_pattern]").fill(tags)
    if excluding:
        form.locator("select[name=tag_decoration]").select_option("excludes")
    form.locator("button[type=submit]").click()


def test_a_maintainer_manages_immutability_rules_in_the_policy_tab(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("policy")
    maintainer = server.unique("pmaint")
    server.create_project(project)
    server.create_user(maintainer, PASSWORD)
    server.add_member(project, maintainer, 4)
    repository = f"{project}/team/app"
    with Pusher(server) as pusher:
        pusher.image(repository, "v1", seed="first")
        other = pusher.image(repository, None, seed="second")

    page = new_page(browser, server)
    browser_login(page, maintainer, PASSWORD)
    page.goto(f"/projects/{project}")
    page.click(".tabs a:has-text('Policy')")
    expect(page).to_have_url(re.compile(rf"/projects/{project}/policy$"))
    expect(page.locator(".tabs a[aria-current=page]")).to_have_text("Policy")
    section = page.locator("#immutability")
    expect(section.locator(".empty")).to_contain_text("No immutability rules")
    expect(section).to_contain_text("0 of at most 15 rules")

    add_rule(page, "team/**", "v*")
    expect(page.locator(".flash-ok")).to_have_text(
        "Immutable from now on: tags matching v* in repositories matching team/**."
    )
    (rule,) = rules_of(server, project)
    row = page.locator(f"tr[data-rule='{rule['id']}']")
    expect(row).to_contain_text("matching team/**")
    expect(row).to_contain_text("matching v*")
    expect(row).to_contain_text("enabled")
    screenshots.take(page, "policy-immutability-rule")
    # the rule works at once: the tag cannot be moved
    assert push_status(server, repository, "v1", other.manifest) == 412

    add_rule(page, "team/**", "v*")  # the same again
    expect(page.locator(".flash-error")).to_have_text(
        "The project has that immutability rule already."
    )
    add_rule(page, "**", "{1..5000}")
    expect(page.locator(".flash-error")).to_contain_text("is not a valid pattern")
    assert len(rules_of(server, project)) == 1

    row.locator("summary:has-text('Edit')").click()
    edit = row.locator("form[action$='/edit']")
    expect(edit.locator("input[name=tag_pattern]")).to_have_value("v*")
    edit.locator("input[name=tag_pattern]").fill("release-*")
    edit.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text(
        f"Rule {rule['id']} now makes tags matching release-* in repositories matching team/** "
        "immutable."
    )
    expect(row).to_contain_text("matching release-*")
    assert push_status(server, repository, "v1", other.manifest) == 201  # v1 is free again

    add_rule(page, "**", "latest", excluding=True)
    expect(page.locator("tr[data-rule]")).to_have_count(2)
    row.locator("button:has-text('Disable')").click()
    expect(page.locator(".flash-ok")).to_have_text(f"Rule {rule['id']} is disabled.")
    expect(row.locator(".badge")).to_have_text("disabled")
    assert [r["disabled"] for r in rules_of(server, project)] == [True, False]
    screenshots.take(page, "policy-immutability-disabled")
    row.locator("button:has-text('Enable')").click()
    expect(page.locator(".flash-ok")).to_have_text(f"Rule {rule['id']} is enabled.")
    expect(row).to_contain_text("enabled")

    row.locator("button:has-text('Delete')").click()  # the confirmation is accepted
    expect(page.locator(".flash-ok")).to_have_text(f"Rule {rule['id']} is deleted.")
    expect(page.locator("tr[data-rule]")).to_have_count(1)
    assert len(rules_of(server, project)) == 1


def test_only_those_who_may_see_the_rules_get_the_policy_tab(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("policyro")
    server.create_project(project)
    developer, guest = server.unique("pdev"), server.unique("pguest")
    for user, role in ((developer, 2), (guest, 3)):
        server.create_user(user, PASSWORD)
        server.add_member(project, user, role)
    created = server.api(
        "POST",
        f"/projects/{project}/immutabletagrules",
        auth=server.admin,
        json={
            "scope_selectors": {"repository": [{"decoration": "repoMatches", "pattern": "**"}]},
            "tag_selectors": [{"decoration": "matches", "pattern": "prod-*"}],
        },
    )
    assert created.status_code == 201, created.text

    for user in (developer, guest):
        client, csrf = http_login(server, user, PASSWORD)
        tabs = client.get(f"/projects/{project}")
        assert tabs.status_code == 200
        # the tab is there for a developer (retention's section is theirs), not for a guest
        assert (f"/projects/{project}/policy" in tabs.text) == (user == developer)
        shown = client.get(f"/projects/{project}/policy")
        if user == developer:  # retention's section is for developers: the rules are not
            assert shown.status_code == 200
            assert "prod-*" not in shown.text and "add-rule" not in shown.text
            assert "shown to the project's admins and maintainers" in shown.text
        else:
            assert shown.status_code == 403
            assert "does not allow you to see its policies" in shown.text
        posted = client.post(
            f"/projects/{project}/policy/immutability",
            data={"csrf_token": csrf, "repo_pattern": "**", "tag_pattern": "x"},
        )
        assert posted.status_code == 403
        assert "does not allow you to add immutability rules" in posted.text
        no_csrf = client.post(f"/projects/{project}/policy/immutability/1/delete", data={})
        assert no_csrf.status_code == 403
        client.close()
    assert len(rules_of(server, project)) == 1

    # a system administrator sees and manages them
    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    page.goto(f"/projects/{project}/policy")
    expect(page.locator("#immutability tr[data-rule]")).to_contain_text("matching prod-*")
    expect(page.locator("form.add-rule")).to_be_visible()
    screenshots.take(page, "policy-immutability-admin")
    rule_id = created.headers["Location"].rsplit("/", 1)[1]
    client, csrf = http_login(server, "admin", server.admin_password)
    base = f"/projects/{project}/policy/immutability"
    for where in (
        f"{base}/{rule_id}/explode",
        f"{base}/999999/disable",
        f"{base}/{10**12}/delete",
    ):
        answer = client.post(where, data={"csrf_token": csrf})
        assert answer.status_code == 404, (where, answer.status_code)
    assert client.get("/projects/nosuchproject-p/policy").status_code == 404
    client.close()
