"""Real clients through harborlite: skopeo, oras, podman and containerd's ctr.

They run against harborlite on PostgreSQL; the push/pull smoke set (``both_databases``) runs on
SQLite too.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.e2e.conftest import Team
from tests.harness import Harborlite
from tests.support.clients import (
    ClientError,
    Podman,
    oras_pull,
    oras_push,
    skopeo_copy,
    skopeo_inspect,
    skopeo_login,
)
from tests.support.images import BuiltImage, assert_same_blobs
from tests.support.processes import Containerd, which


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def audit(harborlite: Harborlite, **filters: str) -> list[dict[str, object]]:
    entries = harborlite.api(
        "GET", "/audit-logs", auth=harborlite.admin, params={"page_size": 100}
    ).json()
    return [e for e in entries if all(e.get(k) == v for k, v in filters.items())]


def test_skopeo_login_good_and_bad_password(harborlite: Harborlite, tmp_path: Path) -> None:
    authfile = tmp_path / "auth.json"
    skopeo_login(harborlite.host, "admin", harborlite.admin_password, authfile)
    assert harborlite.host in json.loads(authfile.read_text())["auths"]
    with pytest.raises(ClientError, match="invalid username/password"):
        skopeo_login(harborlite.host, "admin", "wrong-password", tmp_path / "bad.json")
    failed = audit(harborlite, operation="login", username="admin", success=False)
    assert failed, "a failed login is audited"


@pytest.mark.both_databases
def test_skopeo_push_pull_byte_identical(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage], tmp_path: Path
) -> None:
    layout, built = image
    ref = f"docker://{harborlite.host}/{team.project}/app:v1"
    skopeo_copy(f"oci:{layout}:v1", ref, creds=team.creds("developer"))
    pulled = tmp_path / "pulled"
    skopeo_copy(ref, f"oci:{pulled}:v1", creds=team.creds("guest"))
    assert_same_blobs(layout, pulled)
    raw = skopeo_inspect(ref, creds=team.creds("guest"), raw=True).stdout
    assert raw.encode() == built.manifest
    # recorded: push with pusher, pull by the guest
    pushes = audit(harborlite, operation="push", resource=f"{team.project}/app:v1")
    assert pushes and pushes[0]["username"] == team.users["developer"]
    assert pushes[0]["user_agent"].startswith("skopeo")  # type: ignore[union-attr]
    wait_for(lambda: audit(harborlite, operation="pull", username=team.users["guest"]))


def test_cross_repository_mount(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage], tmp_path: Path
) -> None:
    layout, built = image
    creds = team.creds("developer")
    skopeo_copy(
        f"oci:{layout}:v1", f"docker://{harborlite.host}/{team.project}/src:v1", creds=creds
    )
    token = harborlite.token(
        [f"repository:{team.project}/dst:pull,push", f"repository:{team.project}/src:pull"],
        creds,
    )
    with httpx.Client(base_url=harborlite.url, headers={"Authorization": f"Bearer {token}"}) as c:
        layer = built.layer_digests[0]
        response = c.post(
            f"/v2/{team.project}/dst/blobs/uploads/",
            params={"mount": layer, "from": f"{team.project}/src"},
        )
        assert response.status_code == 201, response.text
        assert response.headers["Docker-Content-Digest"] == layer
        assert c.head(f"/v2/{team.project}/dst/blobs/{layer}").status_code == 200
        # a mount from a repository the token does not cover is refused
        response = c.post(
            f"/v2/{team.project}/dst/blobs/uploads/",
            params={"mount": layer, "from": "library/elsewhere"},
        )
        assert response.status_code == 401


@pytest.mark.both_databases
def test_blob_range_and_chunked_upload(harborlite: Harborlite, team: Team) -> None:
    creds = team.creds("developer")
    name = f"{team.project}/chunks"
    token = harborlite.token(f"repository:{name}:pull,push", creds)
    data = bytes(range(256)) * 4096  # 1 MiB
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with httpx.Client(base_url=harborlite.url, headers={"Authorization": f"Bearer {token}"}) as c:
        start = c.post(f"/v2/{name}/blobs/uploads/")
        assert start.status_code == 202, start.text
        location = start.headers["Location"]
        assert location.startswith(harborlite.url) or location.startswith("/v2/")
        offset = 0
        for piece in (data[:300_000], data[300_000:700_000], data[700_000:]):
            patch = c.patch(
                location,
                content=piece,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                },
            )
            assert patch.status_code == 202, patch.text
            location = patch.headers["Location"]
            offset += len(piece)
        # the upload state token must come back byte-exact: append, never re-encode
        separator = "&" if "?" in location else "?"
        done = c.put(httpx.URL(f"{location}{separator}digest={digest}"))
        assert done.status_code == 201, done.text
        whole = c.get(f"/v2/{name}/blobs/{digest}")
        assert whole.content == data
        assert whole.headers["Docker-Content-Digest"] == digest
        part = c.get(f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=10-19"})
        assert part.status_code == 206
        assert part.content == data[10:20]
        head = c.head(f"/v2/{name}/blobs/{digest}")
        assert head.status_code == 200 and head.headers["Content-Length"] == str(len(data))
    # a tags list is answered from the index and paged as the spec says (n, last, Link), which
    # distribution 2.8 does not do: it answers every tag whatever n and last say
    with Pusher(harborlite, creds) as pusher:
        for tag in ("c", "a", "b"):
            pusher.image(name, tag)
    with httpx.Client(base_url=harborlite.url, headers={"Authorization": f"Bearer {token}"}) as c:
        every = c.get(f"/v2/{name}/tags/list")
        direct = httpx.get(
            f"{harborlite.registry_url()}/v2/{name}/tags/list",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert every.status_code == direct.status_code == 200, (every.text, direct.text)
        assert every.json() == {"name": name, "tags": ["a", "b", "c"]}  # in lexical order
        assert sorted(direct.json()["tags"]) == ["a", "b", "c"]  # 2.8: in its folder's order
        first = c.get(f"/v2/{name}/tags/list", params={"n": "2"})
        assert first.json() == {"name": name, "tags": ["a", "b"]}
        assert first.headers["Link"] == f'</v2/{name}/tags/list?last=b&n=2>; rel="next"'
        then = c.get(f"/v2/{name}/tags/list", params={"n": "2", "last": "b"})
        assert then.json() == {"name": name, "tags": ["c"]} and "Link" not in then.headers
        bad = c.get(f"/v2/{name}/tags/list", params={"n": "two"})
        assert bad.status_code == 400 and bad.json()["errors"][0]["code"] == (
            "PAGINATION_NUMBER_INVALID"
        )


def test_oras_push_pull(harborlite: Harborlite, team: Team, tmp_path: Path) -> None:
    user, password = team.creds("developer")
    payload = tmp_path / "notes.txt"
    payload.write_text("hello from oras\n" * 100)
    target = f"{harborlite.host}/{team.project}/notes:v1"
    assert oras_push(target, [payload], user, password) == 201
    out = oras_pull(target, tmp_path / "out", user, password)
    assert [p.read_text() for p in out] == [payload.read_text()]


@pytest.mark.skipif(which("podman") is None, reason="podman is not installed")
def test_podman_login_push_pull(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage], tmp_path: Path
) -> None:
    layout, _ = image
    user, password = team.creds("developer")
    ref = f"{harborlite.host}/{team.project}/podman:v1"
    with Podman(tmp_path / "podman") as podman:
        podman.login(harborlite.host, user, password)
        image_id = podman.load_oci_layout(layout, "v1", ref)
        podman.push(ref)
        podman.rmi(ref, force=True)
        pulled = podman.pull(ref).stdout.split()[-1]
        assert pulled.removeprefix("sha256:") == image_id.removeprefix("sha256:")


@pytest.mark.skipif(which("containerd") is None, reason="containerd is not installed")
def test_ctr_pull_with_user_and_anonymous(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage], tmp_path: Path
) -> None:
    layout, built = image
    private_ref = f"{harborlite.host}/{team.project}/ctr:v1"
    public_ref = f"{harborlite.host}/{team.public_project}/ctr:v1"
    for ref in (private_ref, public_ref):
        skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}", creds=team.creds("developer"))
    user, password = team.creds("guest")
    with Containerd(tmp_path / "containerd") as containerd:
        containerd.ctr(
            "images", "pull", "--plain-http", "--user", f"{user}:{password}", private_ref
        )
        containerd.ctr("images", "pull", "--plain-http", public_ref)  # anonymous, public
        names = containerd.image_names()
        assert private_ref in names and public_ref in names
        denied = containerd.ctr(
            "images",
            "pull",
            "--plain-http",
            f"{harborlite.host}/{team.project}/ctr:v1",
            check=False,
        )
        assert denied.returncode != 0  # anonymous on a private project
        pushed_ref = f"{harborlite.host}/{team.project}/ctr-pushed:v1"
        developer, dev_password = team.creds("developer")
        containerd.ctr(
            "images",
            "push",
            "--plain-http",
            "--user",
            f"{developer}:{dev_password}",
            pushed_ref,
            private_ref,
        )
    raw = skopeo_inspect(f"docker://{pushed_ref}", creds=team.creds("guest"), raw=True).stdout
    assert raw.encode() == built.manifest


@pytest.mark.skipif(which("containerd") is None, reason="containerd is not installed")
def test_cri_pull_with_pull_secret_credentials(
    harborlite: Harborlite, team: Team, image: tuple[Path, BuiltImage], tmp_path: Path
) -> None:
    """What kubelet does with an image pull secret: a CRI PullImage with auth, which containerd
    turns into an OAuth2 POST (grant_type=password) to the token service; and by digest, as
    the seed article's `crictl pull ...@sha256:` does."""
    from tests.support.cri import CriError, CriImageClient

    layout, built = image
    ref = f"{harborlite.host}/{team.project}/kube:1.35.0"
    skopeo_copy(f"oci:{layout}:v1", f"docker://{ref}", creds=team.creds("developer"))
    with Containerd(tmp_path / "cri", cri=True) as containerd:
        cri = CriImageClient(containerd.socket, log_path=containerd.log_path)
        cri.pull_image(ref, creds=team.creds("guest"))
        status = cri.image_status(ref)
        assert status is not None and ref in status.repo_tags
        by_digest = f"{harborlite.host}/{team.project}/kube@{built.manifest_digest}"
        cri.pull_image(by_digest, creds=team.creds("guest"))
        with pytest.raises(CriError, match=r"401|403|denied|unauthorized"):
            cri.pull_image(ref, creds=team.creds("outsider"))
