"""An artifact with many tags, through a real server: the artifact list and read show its newest
100 inline (Harbor's answer to #13099: page the rest), the tag list pages through all of them,
and the portal shows ten with a link to the artifact's page."""

from __future__ import annotations

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.portal.conftest import http_login

TAGS = 105


def test_many_tags_are_capped_inline_and_paged_in_full(harborlite: Harborlite) -> None:
    project = harborlite.unique("manytags")
    harborlite.create_project(project)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/web", "t0")
    base = f"/projects/{project}/repositories/web/artifacts"
    for n in range(1, TAGS):
        created = harborlite.api(
            "POST", f"{base}/t0/tags", json={"name": f"t{n}"}, auth=harborlite.admin
        )
        assert created.status_code == 201, created.text
    newest = [f"t{n}" for n in range(TAGS - 1, TAGS - 101, -1)]

    (listed,) = harborlite.api("GET", base, auth=harborlite.admin).json()
    assert [t["name"] for t in listed["tags"]] == newest
    read = harborlite.api("GET", f"{base}/t0", auth=harborlite.admin).json()
    assert [t["name"] for t in read["tags"]] == newest

    names: list[str] = []
    for page in (1, 2, 3):
        answer = harborlite.api(
            "GET",
            f"{base}/t0/tags",
            params={"page": str(page), "page_size": "50"},
            auth=harborlite.admin,
        )
        assert answer.headers["X-Total-Count"] == str(TAGS)
        names += [t["name"] for t in answer.json()]
    assert names == [f"t{n}" for n in range(TAGS - 1, -1, -1)]

    client, _ = http_login(harborlite, "admin", harborlite.admin_password)
    try:
        page = client.get(f"/repositories/{project}/web").text
    finally:
        client.close()
    body = page[page.index("<tbody>") :]
    assert body.count('class="tag"') == 10
    assert "more tags…" in body
    assert f">{newest[0]}<" in body and f">{newest[10]}<" not in body
