"""The repository pages over plain HTTP: artifacts counted and listed as the REST API does."""

from __future__ import annotations

import re

from tests.api.pushing import Pusher
from tests.harness import Harborlite
from tests.portal.conftest import http_login


def test_an_index_counts_once_and_lists_its_children_under_it(harborlite: Harborlite) -> None:
    project = harborlite.unique("portalindex")
    harborlite.create_project(project)
    with Pusher(harborlite) as pusher:
        index = pusher.index(f"{project}/multi", "m1")
        image = pusher.image(f"{project}/multi", "solo")
    children = [
        ref["child_digest"]
        for ref in harborlite.api(
            "GET", f"/projects/{project}/repositories/multi/artifacts/m1", auth=harborlite.admin
        ).json()["references"]
    ]
    assert len(children) == 2
    api = harborlite.api("GET", f"/projects/{project}/repositories/multi", auth=harborlite.admin)
    assert api.json()["artifact_count"] == 2  # the index and the image: children are not counted

    client, token = http_login(harborlite, "admin", harborlite.admin_password)
    try:
        tab = client.get(f"/projects/{project}").text
        row = re.search(rf'{project}/multi</a>.*?<td class="num">(\d+)</td>', tab, re.S)
        assert row is not None, tab
        assert row.group(1) == "2"  # as the API counts them (it showed 4)

        page = client.get(f"/repositories/{project}/multi").text
        assert "2 artifacts" in page
        rows = re.findall(r"<tr( class=\"child\" data-index=\"([^\"]+)\")?>", page)
        top = [r for r in rows if not r[0]]
        under = [r[1] for r in rows if r[0]]
        assert len(top) == 1 + 2  # the header row, the index, the image
        assert under == [index.digest, index.digest]  # its two children, under it
        body = page[page.index("<tbody>") :]
        positions = [body.index(f'data-copy="{d}"') for d in (index.digest, *children)]
        assert positions == sorted(positions)  # the index first, then its children
        assert f'data-copy="{image.digest}"' in body
        assert body.count('data-copy="sha256:') == 4  # no child listed a second time

        refused = client.post(
            f"/repositories/{project}/multi/-/artifacts/{children[0]}/delete",
            data={"csrf_token": token},
        )
        assert refused.status_code == 303
        assert "part of an index" in client.get(refused.headers["location"]).text
    finally:
        client.close()
