"""Vulnerabilities in the portal, in Debian's Chromium: an artifact's report page (worst first,
a Scan button only for those who may scan), the project's vulnerability settings on the Policy
tab (they take effect on pulls at once, and a refused allowlist changes nothing), and the
system's allowlist on the administration's Security tab."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.api.pushing import OCI_MANIFEST, Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page
from tests.vulnerabilities.reports import store_report

pytestmark = pytest.mark.browser

FINDINGS = [
    {"id": "CVE-2024-0003", "package": "zlib", "version": "1.2", "severity": "Low"},
    {
        "id": "CVE-2024-0001",
        "package": "openssl",
        "version": "3.0.1",
        "fix_version": "3.0.9",
        "severity": "Critical",
        "links": ["https://example.invalid/CVE-2024-0001", "javascript:alert(1)"],
    },
    {"id": "CVE-2024-0002", "package": "curl", "version": "8.0", "severity": "Medium"},
]


def pull_status(server: Harborlite, repository: str, tag: str, auth: tuple[str, str]) -> int:
    token = server.token(f"repository:{repository}:pull", auth)
    response = httpx.get(
        f"{server.url}/v2/{repository}/manifests/{tag}",
        headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        timeout=30,
    )
    return response.status_code


def test_the_report_page_and_the_vulnerability_settings(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("vulportal")
    server.create_project(project)
    guest = server.unique("vpguest")
    server.create_user(guest, PASSWORD)
    server.add_member(project, guest, 3)
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        pushed = pusher.image(repository, "v1", seed="portal")
    store_report(server, pushed, "Success", FINDINGS)

    page = new_page(browser, server)
    browser_login(page, "admin", server.admin_password)
    url = f"/repositories/{repository}/-/artifacts/{pushed.digest}/vulnerabilities"
    page.goto(url)
    expect(page.locator("#scan-status")).to_have_text("Success")
    expect(page.locator("#scan-severity")).to_have_text("Critical")
    expect(page.locator("#scan-counts")).to_contain_text("3 total · 1 fixable")
    rows = page.locator("table.vulnerabilities tbody tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(i).get_attribute("data-cve") for i in range(3)] == [
        "CVE-2024-0001",
        "CVE-2024-0002",
        "CVE-2024-0003",
    ]
    first = rows.nth(0)
    expect(first.locator("td").nth(2)).to_have_text("openssl")
    expect(first.locator("td").nth(4)).to_have_text("3.0.9")
    expect(first.locator("a")).to_have_attribute("href", "https://example.invalid/CVE-2024-0001")
    expect(page.locator("#scan-now")).to_be_visible()  # an admin may scan
    screenshots.take(page, "vulnerability-report")

    # the guest reads the report, without a Scan button
    guest_page = new_page(browser, server)
    browser_login(guest_page, guest, PASSWORD)
    guest_page.goto(url)
    expect(guest_page.locator("table.vulnerabilities tbody tr")).to_have_count(3)
    expect(guest_page.locator("#scan-now")).to_have_count(0)
    guest_page.context.close()

    # the project's settings: prevent_vul at Critical blocks the pull at once
    assert pull_status(server, repository, "v1", (guest, PASSWORD)) == 200
    page.goto(f"/projects/{project}/policy")
    section = page.locator("#vulnerability")
    section.locator("input[name=prevent_vul]").check()
    section.locator("select[name=severity]").select_option("critical")
    section.locator("input[name=reuse_sys_cve_allowlist]").uncheck()
    section.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("The vulnerability settings were saved.")
    shown = server.api("GET", f"/projects/{project}", auth=server.admin).json()
    assert shown["metadata"]["prevent_vul"] == "true"
    assert shown["metadata"]["severity"] == "critical"
    assert shown["metadata"]["reuse_sys_cve_allowlist"] == "false"
    assert pull_status(server, repository, "v1", (guest, PASSWORD)) == 412

    # a refused allowlist (an id twice) changes nothing, neither settings nor allowlist
    section = page.locator("#vulnerability")
    section.locator("select[name=severity]").select_option("low")
    section.locator("textarea[name=cve_ids]").fill("CVE-2024-0001\nCVE-2024-0001")
    section.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("Duplicate CVE ID in allowlist: CVE-2024-0001")
    shown = server.api("GET", f"/projects/{project}", auth=server.admin).json()
    assert shown["metadata"]["severity"] == "critical" and shown["cve_allowlist"]["items"] == []

    # allowlisting the Critical one lets the image through
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%d")
    section = page.locator("#vulnerability")
    section.locator("textarea[name=cve_ids]").fill("CVE-2024-0001")
    section.locator("input[name=expires_on]").fill(tomorrow)
    section.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("saved")
    allowlist = server.api("GET", f"/projects/{project}", auth=server.admin).json()["cve_allowlist"]
    assert [i["cve_id"] for i in allowlist["items"]] == ["CVE-2024-0001"]
    assert allowlist["expires_at"] > datetime.now(UTC).timestamp()
    expect(page.locator("textarea[name=cve_ids]")).to_have_value("CVE-2024-0001")
    expect(page.locator("input[name=expires_on]")).to_have_value(tomorrow)
    assert pull_status(server, repository, "v1", (guest, PASSWORD)) == 200
    screenshots.take(page, "vulnerability-settings")

    # the system's allowlist, on the administration's Security tab
    page.goto("/admin")
    page.get_by_role("link", name="Security").click()
    page.wait_for_url(re.compile(r".*/admin/security$"))
    page.locator("textarea[name=cve_ids]").fill("CVE-2024-9999, GHSA-abcd")
    page.locator("#system-allowlist button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("The system CVE allowlist was saved.")
    system = server.api("GET", "/system/CVEAllowlist", auth=server.admin).json()
    assert [i["cve_id"] for i in system["items"]] == ["CVE-2024-9999", "GHSA-abcd"]
    server.api("PUT", "/system/CVEAllowlist", auth=server.admin, json={"items": []})
    # a guest is not shown the administration
    page.context.close()


def test_only_admins_change_vulnerability_settings_and_the_system_allowlist(
    harborlite_sqlite: Harborlite,
) -> None:
    server = harborlite_sqlite
    project = server.unique("vulrefuse")
    server.create_project(project)
    developer = server.unique("vpdev")
    server.create_user(developer, PASSWORD)
    server.add_member(project, developer, 2)
    client, csrf = http_login(server, developer, PASSWORD)
    try:
        posted = client.post(
            f"/projects/{project}/policy/vulnerability",
            data={"csrf_token": csrf, "prevent_vul": "on", "severity": "low", "cve_ids": "X-1"},
        )
        assert posted.status_code == 403, posted.text
        assert "does not allow you to change its vulnerability settings" in posted.text
        assert client.get("/admin/security").status_code == 403
        posted = client.post("/admin/security", data={"csrf_token": csrf, "cve_ids": "X-2"})
        assert posted.status_code == 403, posted.text
        page = client.get(f"/projects/{project}/policy")
        assert 'id="vulnerability"' not in page.text  # not shown to a developer
    finally:
        client.close()
    shown = server.api("GET", f"/projects/{project}", auth=server.admin).json()
    assert "prevent_vul" not in shown["metadata"] and shown["cve_allowlist"]["items"] == []
    system = server.api("GET", "/system/CVEAllowlist", auth=server.admin).json()
    assert "X-2" not in [i["cve_id"] for i in system["items"]]
