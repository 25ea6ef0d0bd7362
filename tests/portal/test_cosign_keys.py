"""Signatures and trusted cosign keys in the portal, in Debian's Chromium: a project admin adds
a key on the Configuration tab's card, sees it listed, sees a signed image's signature shown
under its subject (not as an artifact of its own) and "verified" with that key, a signature made
with another key "not verified", and deletes the key. A bad PEM is refused on the page; a
Developer neither sees the card nor may post to it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, expect

from tests.api.pushing import Pushed, Pusher
from tests.harness import Harborlite
from tests.portal.conftest import PASSWORD, Screenshots, browser_login, http_login, new_page
from tests.signatures.cosign_format import (
    OCI_MANIFEST,
    PrivateKey,
    cosign_pub,
    ecdsa_key,
    sha256,
    signature_tag,
    signed,
)

pytestmark = pytest.mark.browser

PROJECT_ADMIN, DEVELOPER = 1, 2
NOT_THIS_KEY = (
    "not verified: The image's cosign signature does not verify with any trusted key of the "
    "project (it was made with another key, or forged)."
)


def sign(server: Harborlite, pusher: Pusher, pushed: Pushed, key: PrivateKey) -> str:
    """cosign's legacy signature of ``pushed`` (a ``sha256-<hex>.sig`` tag); its digest."""
    image = signed(key, f"{server.host}/{pushed.repository}", pushed.digest)
    headers = pusher._headers(pushed.repository)
    for data in image.blobs.values():
        pusher.blob(pushed.repository, data, headers)
    pusher.manifest(
        pushed.repository, signature_tag(pushed.digest), image.manifest, OCI_MANIFEST, headers
    )
    return sha256(image.manifest)


def keys_of(server: Harborlite, project: str) -> list[dict[str, object]]:
    listed = server.api("GET", f"/projects/{project}/cosign-keys", auth=server.admin)
    assert listed.status_code == 200, listed.text
    keys: list[dict[str, object]] = listed.json()
    return keys


def test_an_admin_trusts_a_key_and_sees_signatures_verified(
    harborlite_sqlite: Harborlite, browser: Browser, screenshots: Screenshots
) -> None:
    server = harborlite_sqlite
    project = server.unique("keys")
    server.create_project(project)
    admin = server.unique("kadmin")
    server.create_user(admin, PASSWORD)
    server.add_member(project, admin, PROJECT_ADMIN)
    trusted, stranger = ecdsa_key(), ecdsa_key()
    repository = f"{project}/app"
    with Pusher(server) as pusher:
        good = pusher.image(repository, "v1", seed="good")
        other = pusher.image(repository, "v2", seed="other")
        good_sig = sign(server, pusher, good, trusted)
        other_sig = sign(server, pusher, other, stranger)

    page = new_page(browser, server)
    browser_login(page, admin, PASSWORD)

    # the signatures are under their subjects, not artifacts of their own
    page.goto(f"/repositories/{repository}")
    listed = page.locator("table.artifacts > tbody > tr:not(.accessory):not(.child)")
    expect(listed).to_have_count(2)
    under = page.locator(f"tr.accessory[data-subject='{good.digest}']")
    expect(under).to_have_count(1)
    expect(under).to_have_attribute("data-accessory", good_sig)
    expect(under).to_contain_text("signature.cosign")
    expect(under.locator(".sig-status")).to_have_text("no trusted keys")
    assert (
        page.locator(f"table.artifacts > tbody > tr:not(.accessory) a[title='{good_sig}']").count()
        == 0
    )

    # the card: a bad PEM is refused with the page's error, a cosign.pub is trusted
    page.goto(f"/projects/{project}/configuration")
    card = page.locator("#cosign-keys")
    expect(card.locator("h2")).to_have_text("Trusted cosign keys")
    expect(card.locator(".empty")).to_contain_text("No trusted keys")
    form = card.locator("form.add-cosign-key")
    form.locator("input[name=name]").fill("bad")
    form.locator("textarea[name=public_key]").fill("-----BEGIN PUBLIC KEY-----\nnot a key\n")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-error")).to_contain_text("Invalid public key")
    assert keys_of(server, project) == []

    form = page.locator("#cosign-keys form.add-cosign-key")
    form.locator("input[name=name]").fill("release")
    form.locator("textarea[name=public_key]").fill(cosign_pub(trusted))
    screenshots.take(page, "cosign-keys-add")
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash-ok")).to_have_text("Key release (ecdsa-p256) is trusted now.")
    (key,) = keys_of(server, project)
    row = page.locator(f"#cosign-keys tr[data-cosign-key='{key['id']}']")
    expect(row).to_contain_text("release")
    expect(row).to_contain_text("ecdsa-p256")
    expect(row).to_contain_text(str(key["fingerprint"])[:32])
    expect(row).to_contain_text(admin)
    screenshots.take(page, "cosign-keys-listed")

    # the signature made with it verifies; the other one does not
    page.goto(f"/repositories/{repository}")
    expect(page.locator(f"tr.accessory[data-subject='{good.digest}'] .sig-status")).to_have_text(
        "verified (key release)"
    )
    expect(page.locator(f"tr.accessory[data-subject='{other.digest}'] .sig-status")).to_have_text(
        NOT_THIS_KEY
    )
    screenshots.take(page, "repository-signatures")
    page.goto(f"/repositories/{repository}/-/artifacts/{good.digest}")
    accessory = page.locator(f"#accessories tr[data-accessory='{good_sig}']")
    expect(accessory).to_contain_text("signature.cosign")
    expect(accessory.locator(".sig-status")).to_have_text("verified (key release)")
    page.goto(f"/repositories/{repository}/-/artifacts/{other_sig}")
    expect(page.locator("a.subject-link")).to_have_attribute(
        "href", re.compile(re.escape(other.digest) + "$")
    )

    # deleting the key: listed no more, the signature is judged without keys again
    page.goto(f"/projects/{project}/configuration")
    page.locator(
        f"#cosign-keys tr[data-cosign-key='{key['id']}'] button:has-text('Delete')"
    ).click()
    expect(page.locator(".flash-ok")).to_have_text("Key release is not trusted any more.")
    expect(page.locator("#cosign-keys .empty")).to_contain_text("No trusted keys")
    assert keys_of(server, project) == []
    page.goto(f"/repositories/{repository}")
    expect(page.locator(f"tr.accessory[data-subject='{good.digest}'] .sig-status")).to_have_text(
        "no trusted keys"
    )
    page.context.close()


def test_a_developer_neither_sees_nor_changes_the_keys(harborlite_sqlite: Harborlite) -> None:
    server = harborlite_sqlite
    project = server.unique("keysdev")
    server.create_project(project)
    developer = server.unique("kdev")
    server.create_user(developer, PASSWORD)
    server.add_member(project, developer, DEVELOPER)
    pem = cosign_pub(ecdsa_key())
    added = server.api(
        "POST",
        f"/projects/{project}/cosign-keys",
        auth=server.admin,
        json={"public_key": pem, "name": "ci"},
    )
    assert added.status_code == 201, added.text
    (key,) = keys_of(server, project)

    client, csrf = http_login(server, developer, PASSWORD)
    admin_client, _ = http_login(server, *server.admin)
    try:
        page = client.get(f"/projects/{project}/configuration")
        assert page.status_code == 200, page.text
        assert 'id="cosign-keys"' not in page.text
        base = f"/projects/{project}/configuration/cosign-keys"
        other = cosign_pub(ecdsa_key())
        for response in (
            client.post(base, data={"csrf_token": csrf, "name": "mine", "public_key": other}),
            client.post(f"{base}/{key['id']}/delete", data={"csrf_token": csrf}),
        ):
            assert response.status_code == 403, response.text
            assert "does not allow you to manage its trusted cosign keys" in response.text
        # an admin's form without the session's CSRF token is refused too
        forged = admin_client.post(base, data={"name": "x", "public_key": other})
        assert forged.status_code == 403, forged.text
        assert "CSRF" in forged.text
        shown = admin_client.get(f"/projects/{project}/configuration")
        assert 'id="cosign-keys"' in shown.text and "ci" in shown.text
    finally:
        client.close()
        admin_client.close()
    assert [k["id"] for k in keys_of(server, project)] == [key["id"]]
