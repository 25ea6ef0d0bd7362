"""Every refusal of the gateway and the token service, each a test."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import jwt
import pytest

from tests.api.pushing import Pusher
from tests.e2e.conftest import PASSWORD, Team
from tests.harness import Harborlite
from tests.support.clients import ClientError, skopeo_copy, skopeo_delete
from tests.support.images import BuiltImage

ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"


def v2(harborlite: Harborlite, method: str, path: str, token: str | None) -> httpx.Response:
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, f"{harborlite.url}{path}", headers=headers, timeout=30)


@pytest.fixture(scope="module")
def pushed(harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage]) -> BuiltImage:
    layout, built = image
    for name in ("base", "base2"):
        skopeo_copy(
            f"oci:{layout}:v1",
            f"docker://{harborlite.host}/{team.project}/{name}:v1",
            creds=team.creds("developer"),
        )
    return built


def test_challenge_shape(harborlite: Harborlite) -> None:
    response = v2(harborlite, "GET", "/v2/", None)
    assert response.status_code == 401
    assert response.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{harborlite.url}/service/token",service="harbor-registry"'
    )
    assert response.json()["errors"][0]["code"] == "UNAUTHORIZED"
    response = v2(harborlite, "GET", "/v2/p/r/manifests/v1", None)
    assert 'scope="repository:p/r:pull,push"' in response.headers["WWW-Authenticate"]


def test_anonymous_and_guest_push_refused(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage]
) -> None:
    layout, _ = image
    for creds in (None, team.creds("guest"), team.creds("limitedGuest"), team.creds("outsider")):
        with pytest.raises(ClientError) as refused:
            skopeo_copy(
                f"oci:{layout}:v1",
                f"docker://{harborlite.host}/{team.project}/nope:v1",
                creds=creds,
            )
        assert "unauthorized" in refused.value.stderr or "denied" in refused.value.stderr
    # the public project lets anonymous pull but never push
    with pytest.raises(ClientError):
        skopeo_copy(
            f"oci:{layout}:v1",
            f"docker://{harborlite.host}/{team.public_project}/nope:v1",
            creds=None,
        )


def test_developer_cannot_delete_maintainer_can(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage]
) -> None:
    layout, built = image
    ref = f"docker://{harborlite.host}/{team.project}/deleteme:v1"
    skopeo_copy(f"oci:{layout}:v1", ref, creds=team.creds("developer"))
    with pytest.raises(ClientError):
        skopeo_delete(ref, creds=team.creds("developer"))
    skopeo_delete(ref, creds=team.creds("maintainer"))
    token = harborlite.token(f"repository:{team.project}/deleteme:pull", team.creds("guest"))
    gone = v2(
        harborlite, "GET", f"/v2/{team.project}/deleteme/manifests/{built.manifest_digest}", token
    )
    assert gone.status_code == 404
    entries = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"page_size": 50}
    ).json()
    deletes = [
        e
        for e in entries
        if e["operation"] == "delete"
        and e["resource"] == f"{team.project}/deleteme@{built.manifest_digest}"
    ]
    assert deletes and deletes[0]["username"] == team.users["maintainer"]


def test_catalog_filtered(harborlite: Harborlite, team: Team, pushed: BuiltImage) -> None:
    repo = f"{team.project}/base"

    def catalog(creds: tuple[str, str] | None) -> list[str]:
        token = harborlite.token("registry:catalog:*", creds)
        response = v2(harborlite, "GET", "/v2/_catalog?n=1000", token)
        assert response.status_code == 200
        return list(response.json()["repositories"])

    assert repo in catalog(harborlite.admin)
    assert repo in catalog(team.creds("guest"))
    assert repo not in catalog(team.creds("outsider"))
    assert repo not in catalog(None)
    # n/last pagination
    token = harborlite.token("registry:catalog:*", harborlite.admin)
    first = v2(harborlite, "GET", "/v2/_catalog?n=1", token)
    assert len(first.json()["repositories"]) == 1
    assert 'rel="next"' in first.headers["Link"]
    after = first.json()["repositories"][0]
    second = v2(harborlite, "GET", f"/v2/_catalog?n=1&last={after}", token)
    assert second.json()["repositories"][0] > after
    every = v2(harborlite, "GET", "/v2/_catalog?n=1000", token)
    assert "Link" not in every.headers  # no next page after the last one


def test_token_for_one_project_refused_on_another(
    harborlite: Harborlite, team: Team, pushed: BuiltImage
) -> None:
    token = harborlite.token(f"repository:{team.public_project}/x:pull,push", harborlite.admin)
    path = f"/v2/{team.project}/base/manifests/v1"
    by_harborlite = v2(harborlite, "GET", path, token)
    assert by_harborlite.status_code == 401
    assert 'error="insufficient_scope"' in by_harborlite.headers["WWW-Authenticate"]
    direct = httpx.get(
        harborlite.registry_url() + path, headers={"Authorization": f"Bearer {token}"}
    )
    assert direct.status_code == 401  # the registry trusts the token, not its access
    good = harborlite.token(f"repository:{team.project}/base:pull", harborlite.admin)
    assert (
        httpx.get(
            harborlite.registry_url() + path,
            headers={
                "Authorization": f"Bearer {good}",
                "Accept": "application/vnd.oci.image.manifest.v1+json",
            },
        ).status_code
        == 200
    )


def test_forged_tokens_refused(harborlite: Harborlite, team: Team, pushed: BuiltImage) -> None:
    good = harborlite.token(f"repository:{team.project}/base:pull", harborlite.admin)
    # harborlite's kid and x5c, but the algorithm each forgery names itself
    header = {k: v for k, v in jwt.get_unverified_header(good).items() if k != "alg"}
    claims = jwt.decode(good, options={"verify_signature": False})
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    # a key of the same kind as harborlite's, and one of the other kind
    stranger = ec.generate_private_key(ec.SECP256R1())
    rsa_stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = {
        "expired": jwt.encode(
            {**claims, "exp": now - 600, "nbf": now - 4000},
            stranger,
            algorithm="ES256",
            headers=header,
        ),
        "wrongly signed": jwt.encode(claims, stranger, algorithm="ES256", headers=header),
        "other algorithm": jwt.encode(claims, rsa_stranger, algorithm="RS256", headers=header),
        "alg none": jwt.encode(claims, None, algorithm="none"),
        "wrong audience": jwt.encode(
            {**claims, "aud": "other-registry"}, stranger, algorithm="ES256", headers=header
        ),
        "tampered access": good.split(".")[0]
        + "."
        + jwt.encode(
            {
                **claims,
                "access": [
                    {"type": "repository", "name": f"{team.project}/base", "actions": ["*"]}
                ],
            },
            "k" * 32,
            algorithm="HS256",
        ).split(".")[1]
        + "."
        + good.split(".")[2],
    }
    path = f"/v2/{team.project}/base/manifests/v1"
    for name, token in forged.items():
        response = v2(harborlite, "GET", path, token)
        assert response.status_code == 401, name
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"], name
        direct = httpx.get(
            harborlite.registry_url() + path, headers={"Authorization": f"Bearer {token}"}
        )
        assert direct.status_code == 401, name
    assert v2(harborlite, "GET", path, good).status_code == 200


def test_expired_token_of_ours_refused(harborlite: Harborlite, team: Team) -> None:
    # a real expired token needs the key: sign one through the data dir's key
    from harborlite.auth.scopes import Access
    from harborlite.auth.tokens import TokenSigner

    signer = TokenSigner.load(
        harborlite.data_dir / "token.key",
        harborlite.data_dir / "token.crt",
        issuer="harborlite-token-issuer",
        service="harbor-registry",
        expiration_seconds=60,
    )
    token, _, _ = signer.sign("admin", [Access("repository", f"{team.project}/base", ("pull",))])
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(exp=now - 120, nbf=now - 600, iat=now - 600)
    expired = jwt.encode(
        claims,
        signer._private_key,
        algorithm=signer.algorithm,
        headers=jwt.get_unverified_header(token),
    )
    response = v2(harborlite, "GET", f"/v2/{team.project}/base/manifests/v1", expired)
    assert response.status_code == 401
    assert "expired" in response.json()["errors"][0]["message"]


def test_push_to_unknown_project_says_so(
    harborlite: Harborlite, image: tuple[Path, BuiltImage]
) -> None:
    layout, _ = image
    with pytest.raises(ClientError) as refused:
        skopeo_copy(
            f"oci:{layout}:v1",
            f"docker://{harborlite.host}/nosuchproject/app:v1",
            creds=harborlite.admin,
        )
    assert "project nosuchproject not found" in refused.value.stderr


@pytest.mark.parametrize(
    "path",
    [
        "/v2/Team/Upper/manifests/v1",
        "/v2/a/../b/blobs/sha256:" + "0" * 64,
        "/v2/a//b/tags/list",
        "/v2/-a/b/manifests/v1",
    ],
)
def test_invalid_repository_names_refused(harborlite: Harborlite, path: str) -> None:
    import http.client
    import json

    token = harborlite.token("repository:library/x:pull", harborlite.admin)
    host, port = harborlite.host.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:  # http.client sends the path exactly as written, dot segments included
        connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        assert response.status == 400
        assert json.loads(response.read())["errors"][0]["code"] == "NAME_INVALID"
    finally:
        connection.close()


def test_a_deleted_projects_layers_are_not_served_to_the_next_owner_of_its_name(
    harborlite: Harborlite,
) -> None:
    server = harborlite
    admin = server.admin
    secret = server.unique("gone")
    server.create_project(secret)
    with Pusher(server) as pusher:
        pushed = pusher.image(f"{secret}/app", "v1", seed="confidential")
    layer = json.loads(pushed.manifest)["layers"][0]["digest"]
    assert (
        server.api("DELETE", f"/projects/{secret}/repositories/app", auth=admin).status_code == 200
    )
    assert server.api("DELETE", f"/projects/{secret}", auth=admin).status_code == 200

    squatter = server.unique("squatter")
    server.create_user(squatter, PASSWORD)
    created = server.api(
        "POST",
        "/projects",
        auth=(squatter, PASSWORD),
        json={"project_name": secret, "metadata": {"public": "false"}},
    )
    assert created.status_code == 201, created.text
    token = server.token(f"repository:{secret}/app:pull", (squatter, PASSWORD))
    with server.client() as client:
        answer = client.get(
            f"/v2/{secret}/app/blobs/{layer}", headers={"Authorization": f"Bearer {token}"}
        )
    assert answer.status_code == 404, (
        f"{answer.status_code}: the deleted project's layer is still served "
        f"({len(answer.content)} bytes)"
    )
