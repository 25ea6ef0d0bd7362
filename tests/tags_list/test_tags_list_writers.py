"""``/v2/<name>/tags/list`` against a real server: once listed (the names held in memory), every
way a tag comes or goes shows in the very next list, paging follows the spec's ``n``, ``last``
and ``Link``, and its refusals keep their envelope."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.api.pushing import Pusher
from tests.harness import Harborlite


@pytest.fixture(scope="module")
def project(harborlite: Harborlite) -> str:
    name = harborlite.unique("tagslist")
    harborlite.create_project(name)
    return name


@pytest.fixture
def listing(harborlite: Harborlite, project: str) -> Iterator[tuple[str, httpx.Client, Pusher]]:
    """A fresh repository of the project, a client with a pull/push/delete token for it."""
    name = f"{project}/{harborlite.unique('app')}"
    token = harborlite.token(f"repository:{name}:pull,push,delete", harborlite.admin)
    with (
        httpx.Client(
            base_url=harborlite.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        ) as client,
        Pusher(harborlite) as pusher,
    ):
        yield name, client, pusher


def _tags(client: httpx.Client, name: str) -> list[str] | None:
    answer = client.get(f"/v2/{name}/tags/list")
    if answer.status_code == 404:
        assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
        return None
    assert answer.status_code == 200, answer.text
    assert answer.json()["name"] == name
    return list(answer.json()["tags"])


def _api(harborlite: Harborlite, method: str, name: str, path: str, **kw: object) -> int:
    project, repository = name.split("/", 1)
    answer = harborlite.api(
        method,
        f"/projects/{project}/repositories/{quote(repository, safe='')}{path}",
        auth=harborlite.admin,
        **kw,
    )
    return answer.status_code


def test_every_writer_shows_in_the_next_list(
    harborlite: Harborlite, listing: tuple[str, httpx.Client, Pusher]
) -> None:
    name, client, pusher = listing
    assert _tags(client, name) is None
    first = pusher.image(name, "b")
    assert _tags(client, name) == ["b"]  # the first push of the repository
    pusher.image(name, "a", seed="2")
    assert _tags(client, name) == ["a", "b"]  # a push via /v2/
    assert _api(harborlite, "POST", name, f"/artifacts/{first.digest}/tags", json={"name": "c"})
    assert _tags(client, name) == ["a", "b", "c"]  # the API's tag create
    assert _api(harborlite, "DELETE", name, f"/artifacts/{first.digest}/tags/c") == 200
    assert _tags(client, name) == ["a", "b"]  # the API's tag delete
    third = pusher.image(name, "d", seed="3")
    assert _tags(client, name) == ["a", "b", "d"]
    assert client.delete(f"/v2/{name}/manifests/{third.digest}").status_code == 202
    assert _tags(client, name) == ["a", "b"]  # a /v2/ manifest DELETE
    assert _api(harborlite, "DELETE", name, f"/artifacts/{first.digest}") == 200
    assert _tags(client, name) == ["a"]  # the artifact's delete takes its tags
    pusher.image(name, "a", seed="4")  # the tag moves to a new artifact: still one name
    assert _tags(client, name) == ["a"]
    assert _api(harborlite, "DELETE", name, "") == 200
    assert _tags(client, name) is None  # the repository's delete
    pusher.image(name, "z", seed="5")
    assert _tags(client, name) == ["z"]  # the same name again, a new repository


def test_pages_follow_n_last_and_link(listing: tuple[str, httpx.Client, Pusher]) -> None:
    name, client, pusher = listing
    pushed = pusher.image(name, "t00")
    headers = pusher._headers(name)
    expected = sorted([f"t{n:02}" for n in range(12)] + ["A", "_u", "t1"])
    for tag in expected:
        if tag != "t00":
            pusher.manifest(
                name, tag, pushed.manifest, "application/vnd.oci.image.manifest.v1+json", headers
            )
    assert _tags(client, name) == expected
    seen: list[str] = []
    url: str | None = f"/v2/{name}/tags/list?n=4"
    while url:
        page = client.get(url)
        assert page.status_code == 200
        tags = page.json()["tags"]
        assert len(tags) <= 4
        seen += tags
        link = page.headers.get("Link")
        if link is None:
            url = None
        else:
            assert link == f'</v2/{name}/tags/list?last={quote(tags[-1], safe="")}&n=4>; rel="next"'
            url = link[1 : link.index(">")]
    assert seen == expected
    after = client.get(f"/v2/{name}/tags/list", params={"last": "t05"}).json()["tags"]
    assert after == expected[expected.index("t05") + 1 :]
    assert client.get(f"/v2/{name}/tags/list", params={"last": "zz", "n": "3"}).json()["tags"] == []
    none = client.get(f"/v2/{name}/tags/list", params={"n": "0"})
    assert none.json()["tags"] == [] and 'rel="next"' in none.headers["Link"]


@pytest.mark.parametrize(
    ("n", "message"), [("two", "n must be a whole number"), ("-1", "n must not be negative")]
)
def test_a_bad_n_is_refused(
    listing: tuple[str, httpx.Client, Pusher], n: str, message: str
) -> None:
    name, client, pusher = listing
    pusher.image(name, "a")
    refused = client.get(f"/v2/{name}/tags/list", params={"n": n})
    assert refused.status_code == 400
    (error,) = refused.json()["errors"]
    assert (error["code"], error["message"]) == ("PAGINATION_NUMBER_INVALID", message)


def test_an_unknown_repository_is_name_unknown(
    harborlite: Harborlite, listing: tuple[str, httpx.Client, Pusher]
) -> None:
    name, client, _ = listing
    refused = client.get(f"/v2/{name}/tags/list")
    assert refused.status_code == 404
    assert refused.json()["errors"][0]["code"] == "NAME_UNKNOWN"
