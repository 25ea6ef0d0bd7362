"""Signed-only pulls with a real server: Harbor's ``enable_content_trust_cosign`` (a signature
must exist), and beyond Harbor the project's trusted keys (a signature must verify with one of
them, for this digest and this repository). Signatures are pushed in cosign's legacy layout
(``sha256-<hex>.sig``), made by :mod:`tests.signatures.cosign_format`.

Refusals are asked by a Guest (pull only): a caller with push rights, as the signer is, is
never refused."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.pushing import Pushed, Pusher
from tests.harness import Harborlite
from tests.signatures.cosign_format import (
    OCI_MANIFEST,
    PrivateKey,
    SignatureImage,
    bundle_referrer,
    cosign_pub,
    dsse_bundle,
    ecdsa_key,
    ed25519_key,
    payload,
    signature_image,
    signature_tag,
    signed,
    statement,
)

PASSWORD = "Passw0rd!x"
GUEST = 3
NOT_SIGNED = "The image is not signed by cosign."
ACCEPT = {"Accept": OCI_MANIFEST}


@dataclass
class Project:
    server: Harborlite
    name: str
    guest: tuple[str, str]
    pusher: Pusher

    def reference(self, repository: str) -> str:
        return f"{self.server.host}/{repository}"

    def push_signature(self, repository: str, digest: str, image: SignatureImage) -> None:
        headers = self.pusher._headers(repository)
        for data in image.blobs.values():
            self.pusher.blob(repository, data, headers)
        self.pusher.manifest(
            repository, signature_tag(digest), image.manifest, OCI_MANIFEST, headers
        )

    def push_bundle(self, pushed: Pushed, bundle: bytes) -> None:
        """A cosign 3 signature: the bundle as an OCI 1.1 referrer of ``pushed``."""
        image = bundle_referrer(bundle, pushed.digest, len(pushed.manifest))
        headers = self.pusher._headers(pushed.repository)
        for data in image.blobs.values():
            self.pusher.blob(pushed.repository, data, headers)
        digest = "sha256:" + hashlib.sha256(image.manifest).hexdigest()
        self.pusher.manifest(pushed.repository, digest, image.manifest, OCI_MANIFEST, headers)

    def sign(self, pushed: Pushed, key: PrivateKey) -> None:
        image = signed(key, self.reference(pushed.repository), pushed.digest)
        self.push_signature(pushed.repository, pushed.digest, image)

    def pull(
        self,
        repository: str,
        reference: str,
        auth: tuple[str, str] | None = None,
        method: str = "GET",
    ) -> httpx.Response:
        token = self.server.token(f"repository:{repository}:pull", auth or self.guest)
        with httpx.Client(base_url=self.server.url, timeout=30) as client:
            return client.request(
                method,
                f"/v2/{repository}/manifests/{reference}",
                headers={**ACCEPT, "Authorization": f"Bearer {token}"},
            )

    def add_key(self, pem: str, name: str = "") -> httpx.Response:
        return self.server.api(
            "POST",
            f"/projects/{self.name}/cosign-keys",
            auth=self.server.admin,
            json={"public_key": pem, "name": name},
        )


def refused(response: httpx.Response, message: str) -> None:
    assert response.status_code == 412, response.text
    assert response.json() == {"errors": [{"code": "PROJECTPOLICYVIOLATION", "message": message}]}


@pytest.fixture
def project(harborlite: Harborlite) -> Iterator[Project]:
    name = harborlite.unique("signed")
    harborlite.create_project(name)
    guest = harborlite.unique("guest")
    harborlite.create_user(guest, PASSWORD)
    harborlite.add_member(name, guest, GUEST)
    on = harborlite.api(
        "POST",
        f"/projects/{name}/metadatas/",
        auth=harborlite.admin,
        json={"enable_content_trust_cosign": "true"},
    )
    assert on.status_code == 200, on.text
    with Pusher(harborlite) as pusher:
        yield Project(harborlite, name, (guest, PASSWORD), pusher)


def test_without_keys_an_unsigned_image_is_refused_and_a_signed_one_served(
    project: Project,
) -> None:
    repository = f"{project.name}/app"
    unsigned = project.pusher.image(repository, "unsigned", seed="u")
    signed_image = project.pusher.image(repository, "signed", seed="s")
    project.sign(signed_image, ecdsa_key())

    for reference in ("unsigned", unsigned.digest):
        refused(project.pull(repository, reference), NOT_SIGNED)
        head = project.pull(repository, reference, method="HEAD")
        assert head.status_code == 412, head.headers
    for reference in ("signed", signed_image.digest):
        served = project.pull(repository, reference)
        assert served.status_code == 200, served.text
        assert served.content == signed_image.manifest
    # the signature itself is read by verifiers: never refused
    sig = project.pull(repository, signature_tag(signed_image.digest))
    assert sig.status_code == 200, sig.text

    # a signature pushed later is seen at once (the refusal was not kept past it)
    project.sign(unsigned, ed25519_key())
    assert project.pull(repository, "unsigned").status_code == 200


def test_the_signer_and_the_policy_off_are_not_blocked(project: Project) -> None:
    repository = f"{project.name}/tool"
    unsigned = project.pusher.image(repository, "v1", seed="t")
    # the signer (push rights) fetches the manifest it is about to sign
    token = project.server.token(f"repository:{repository}:pull,push", project.server.admin)
    with httpx.Client(base_url=project.server.url, timeout=30) as client:
        got = client.get(
            f"/v2/{repository}/manifests/v1",
            headers={**ACCEPT, "Authorization": f"Bearer {token}"},
        )
    assert got.status_code == 200 and got.content == unsigned.manifest
    refused(project.pull(repository, "v1"), NOT_SIGNED)

    off = project.server.api(
        "PUT",
        f"/projects/{project.name}/metadatas/enable_content_trust_cosign",
        auth=project.server.admin,
        json={"enable_content_trust_cosign": "false"},
    )
    assert off.status_code == 200, off.text
    assert project.pull(repository, "v1").status_code == 200


def test_with_keys_only_a_valid_signature_for_this_image_passes(project: Project) -> None:
    repository = f"{project.name}/svc"
    trusted, stranger, edkey = ecdsa_key(), ecdsa_key(), ed25519_key()
    assert project.add_key(cosign_pub(trusted), "release").status_code == 201

    good = project.pusher.image(repository, "good", seed="g")
    project.sign(good, trusted)
    wrong = project.pusher.image(repository, "wrong", seed="w")
    project.sign(wrong, stranger)
    corrupt = project.pusher.image(repository, "corrupt", seed="c")
    data = payload(project.reference(repository), corrupt.digest)
    project.push_signature(repository, corrupt.digest, signature_image([(data, "@@not-base64@@")]))
    copied = project.pusher.image(repository, "copied", seed="o")  # good's signature, copied
    project.push_signature(
        repository, copied.digest, signed(trusted, project.reference(repository), good.digest)
    )
    elsewhere = project.pusher.image(repository, "elsewhere", seed="e")
    other_repo = f"{project.server.host}/{project.name}/other"
    project.push_signature(
        repository, elsewhere.digest, signed(trusted, other_repo, elsewhere.digest)
    )
    ed = project.pusher.image(repository, "ed", seed="d")
    project.sign(ed, edkey)

    assert project.pull(repository, "good").status_code == 200
    refused(
        project.pull(repository, "wrong"),
        "The image's cosign signature does not verify with any trusted key of the project "
        "(it was made with another key, or forged).",
    )
    refused(
        project.pull(repository, "corrupt"),
        "The image's cosign signature is corrupt: the signature is not base64.",
    )
    refused(
        project.pull(repository, "copied"),
        f"The image's cosign signature is for another image ({good.digest}), not {copied.digest}.",
    )
    refused(
        project.pull(repository, "elsewhere"),
        f"The image's cosign signature is for another repository ({other_repo}), not {repository}.",
    )
    refused(
        project.pull(repository, "ed"),
        project.pull(repository, "wrong").json()["errors"][0]["message"],
    )

    # a second key (Ed25519) is trusted at once; taking the first away refuses what it signed
    added = project.add_key(cosign_pub(edkey), "ed")
    assert added.status_code == 201, added.text
    assert project.pull(repository, "ed").status_code == 200
    keys = project.server.api("GET", f"/projects/{project.name}/cosign-keys", auth=project.guest)
    first = next(k for k in keys.json() if k["name"] == "release")
    gone = project.server.api(
        "DELETE", f"/projects/{project.name}/cosign-keys/{first['id']}", auth=project.server.admin
    )
    assert gone.status_code == 200, gone.text
    assert project.pull(repository, "good").status_code == 412
    assert project.pull(repository, "ed").status_code == 200


def test_keys_through_the_api(project: Project) -> None:
    server, base = project.server, f"/projects/{project.name}/cosign-keys"
    key = ecdsa_key()
    pem = cosign_pub(key)
    created = project.add_key(pem, "ci")
    assert created.status_code == 201, created.text
    location = created.headers["Location"].removeprefix("/api/v2.0")
    shown = server.api("GET", location, auth=project.guest)
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["name"] == "ci" and body["algorithm"] == "ecdsa-p256"
    assert (
        body["public_key"] == pem and len(body["fingerprint"]) == 64 and body["creator"] == "admin"
    )

    duplicate = project.add_key(pem)
    assert duplicate.status_code == 409 and duplicate.json()["errors"][0]["code"] == "CONFLICT"
    for bad in (
        "",
        "not a key",
        "-----BEGIN EC PRIVATE KEY-----\nAA\n-----END EC PRIVATE KEY-----",
    ):
        answer = project.add_key(bad)
        assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "BAD_REQUEST", (
            bad
        )
    by_guest = server.api(
        "POST", base, auth=project.guest, json={"public_key": cosign_pub(ed25519_key())}
    )
    assert by_guest.status_code == 403, by_guest.text
    not_guests = server.api("DELETE", location, auth=project.guest)
    assert not_guests.status_code == 403
    assert server.api("GET", base, auth=None).status_code in (401, 403, 404)

    listed = server.api("GET", base, auth=server.admin)
    assert [k["fingerprint"] for k in listed.json()] == [body["fingerprint"]]
    assert server.api("DELETE", location, auth=server.admin).status_code == 200
    assert server.api("GET", location, auth=server.admin).status_code == 404
    assert server.api("GET", base, auth=server.admin).json() == []


def test_cosign_3_bundles_are_verified_with_the_keys(project: Project) -> None:
    repository = f"{project.name}/bundled"
    trusted, stranger = ecdsa_key(), ed25519_key()
    good = project.pusher.image(repository, "good", seed="bg")
    project.push_bundle(good, dsse_bundle(trusted, statement(repository, good.digest)))
    wrong = project.pusher.image(repository, "wrong", seed="bw")
    project.push_bundle(wrong, dsse_bundle(stranger, statement(repository, wrong.digest)))
    copied = project.pusher.image(repository, "copied", seed="bc")
    project.push_bundle(copied, dsse_bundle(trusted, statement(repository, good.digest)))
    broken = project.pusher.image(repository, "broken", seed="bb")
    project.push_bundle(broken, b"{}")

    # without keys a bundle's presence is Harbor's check
    for tag in ("good", "wrong", "copied", "broken"):
        assert project.pull(repository, tag).status_code == 200, tag
    assert project.add_key(cosign_pub(trusted), "release").status_code == 201
    assert project.pull(repository, "good").status_code == 200
    refused(
        project.pull(repository, "wrong"),
        "The image's cosign signature does not verify with any trusted key of the project "
        "(it was made with another key, or forged).",
    )
    refused(
        project.pull(repository, "copied"),
        f"The image's cosign signature is for another image ({good.digest}), not {copied.digest}.",
    )
    refused(
        project.pull(repository, "broken"),
        "The image's cosign signature is corrupt: "
        "the Sigstore bundle has no dsseEnvelope or messageSignature.",
    )
    # a second, valid bundle on the same image lets it through at once
    project.push_bundle(wrong, dsse_bundle(trusted, statement(repository, wrong.digest)))
    assert project.pull(repository, "wrong").status_code == 200
