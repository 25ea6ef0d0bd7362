"""Repositories, artifacts, tags and additions through the REST API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.api.pushing import HELM_CONFIG, OCI_INDEX, OCI_MANIFEST, Pusher, digest_of
from tests.harness import Harborlite
from tests.support.clients import skopeo_copy
from tests.support.images import build_oci_index_layout


def registry_status(server: Harborlite, repository: str, reference: str) -> int:
    token = server.token(f"repository:{repository}:pull", server.admin)
    with server.client() as client:
        response = client.head(
            f"/v2/{repository}/manifests/{reference}",
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.oci.image.index.v1+json, "
                "application/vnd.oci.image.manifest.v1+json",
            },
        )
    return response.status_code


def test_multi_arch_index_and_helm_chart_are_listed_with_type_and_references(
    harborlite: Harborlite, tmp_path: Path
) -> None:
    project = harborlite.unique("multi")
    harborlite.create_project(project)
    built = build_oci_index_layout(tmp_path / "layout", "v1", [1024], seed=7)
    skopeo_copy(
        f"oci:{tmp_path / 'layout'}:v1",
        f"docker://{harborlite.host}/{project}/app:v1",
        creds=harborlite.admin,
        all_images=True,
    )
    with Pusher(harborlite) as pusher:
        chart = pusher.chart(f"{project}/charts/mychart", "mychart", "0.1.0")

    listed = harborlite.api(
        "GET", f"/projects/{project}/repositories/app/artifacts", auth=harborlite.admin
    )
    assert listed.status_code == 200, listed.text
    assert listed.headers["X-Total-Count"] == "1"  # the children of the index are not listed
    (index,) = listed.json()
    assert index["digest"] == built.index_digest
    assert index["type"] == "IMAGE"
    assert index["manifest_media_type"] == OCI_INDEX
    assert index["repository_name"] == f"{project}/app"
    assert [t["name"] for t in index["tags"]] == ["v1"]
    children = {ref["child_digest"]: ref for ref in index["references"]}
    assert set(children) == {image.manifest_digest for image in built.images}
    for image in built.images:
        ref = children[image.manifest_digest]
        assert ref["platform"]["architecture"] == image.architecture
        assert ref["parent_id"] == index["id"]
        assert ref["child_id"] > 0
    assert index["size"] == len(built.index) + sum(i.total_size for i in built.images)

    everything = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts",
        params={"q": "base=*"},
        auth=harborlite.admin,
    )
    assert everything.headers["X-Total-Count"] == "3"

    arm = next(i for i in built.images if i.architecture == "arm64")
    child = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts/{arm.manifest_digest}",
        auth=harborlite.admin,
    ).json()
    assert child["type"] == "IMAGE"
    assert child["extra_attrs"]["architecture"] == "arm64"
    assert child["extra_attrs"]["os"] == "linux"
    assert child["extra_attrs"]["author"] == "harborlite tests"
    assert child["extra_attrs"]["created"] == "2024-01-01T00:00:00Z"
    assert child["size"] == arm.total_size
    assert child["tags"] == []
    assert "build_history" in child["addition_links"]

    history = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/app/artifacts/{arm.manifest_digest}/additions/build_history",
        auth=harborlite.admin,
    )
    assert history.status_code == 200, history.text
    assert [h["created_by"] for h in history.json()] == ["ADD layer-0.bin / # seed 7"]

    # the chart, in a repository whose name holds a '/', double-encoded in the path
    charts = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/charts%252Fmychart/artifacts",
        auth=harborlite.admin,
    )
    assert charts.status_code == 200, charts.text
    (listed_chart,) = charts.json()
    assert listed_chart["type"] == "CHART"
    assert listed_chart["media_type"] == HELM_CONFIG
    assert listed_chart["digest"] == chart.digest
    assert listed_chart["extra_attrs"]["name"] == "mychart"
    assert listed_chart["extra_attrs"]["version"] == "0.1.0"
    assert listed_chart["references"] == []
    base = f"/projects/{project}/repositories/charts%252Fmychart/artifacts/0.1.0/additions"
    values = harborlite.api("GET", f"{base}/values.yaml", auth=harborlite.admin)
    assert values.status_code == 200 and values.text == "replicaCount: 2\n"
    readme = harborlite.api("GET", f"{base}/readme.md", auth=harborlite.admin)
    assert readme.status_code == 200 and readme.text == "# mychart\n"
    dependencies = harborlite.api("GET", f"{base}/dependencies", auth=harborlite.admin)
    assert dependencies.json()[0]["name"] == "redis"
    assert harborlite.api("GET", f"{base}/build_history", auth=harborlite.admin).status_code == 404

    manifest = harborlite.api(
        "GET", f"/projects/{project}/repositories/app/artifacts/v1/manifest", auth=harborlite.admin
    )
    assert manifest.status_code == 200 and manifest.content == built.index

    # a child still named by its index cannot be deleted on its own
    refused = harborlite.api(
        "DELETE",
        f"/projects/{project}/repositories/app/artifacts/{arm.manifest_digest}",
        auth=harborlite.admin,
    )
    assert refused.status_code == 412, refused.text
    assert refused.json()["errors"][0]["code"] == "PRECONDITION"

    # deleting the index deletes its orphaned children, in the registry too
    deleted = harborlite.api(
        "DELETE", f"/projects/{project}/repositories/app/artifacts/v1", auth=harborlite.admin
    )
    assert deleted.status_code == 200, deleted.text
    assert registry_status(harborlite, f"{project}/app", built.index_digest) == 404
    assert registry_status(harborlite, f"{project}/app", arm.manifest_digest) == 404
    gone = harborlite.api("GET", f"/projects/{project}/repositories/app", auth=harborlite.admin)
    assert gone.status_code == 404
    logs = harborlite.api(
        "GET",
        "/audit-logs",
        params={"q": f"operation=delete,resource=~{project}/app"},
        auth=harborlite.admin,
    ).json()
    assert {entry["resource"] for entry in logs} == {
        f"{project}/app@{built.index_digest}",
        *(f"{project}/app@{i.manifest_digest}" for i in built.images),
    }


def test_tags_are_created_listed_and_deleted(harborlite: Harborlite) -> None:
    project = harborlite.unique("tags")
    harborlite.create_project(project)
    with Pusher(harborlite) as pusher:
        image = pusher.image(f"{project}/web", "1.0")
    tags = f"/projects/{project}/repositories/web/artifacts/1.0/tags"
    created = harborlite.api("POST", tags, json={"name": "stable"}, auth=harborlite.admin)
    assert created.status_code == 201, created.text
    assert created.headers["Location"].endswith(f"/artifacts/{image.digest}/tags/stable")
    again = harborlite.api("POST", tags, json={"name": "stable"}, auth=harborlite.admin)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "CONFLICT"
    bad = harborlite.api("POST", tags, json={"name": "-nope"}, auth=harborlite.admin)
    assert bad.status_code == 400

    # the new tag is pullable: it was written to the registry too
    assert registry_status(harborlite, f"{project}/web", "stable") == 200

    listed = harborlite.api("GET", tags, auth=harborlite.admin)
    assert listed.headers["X-Total-Count"] == "2"
    assert {t["name"] for t in listed.json()} == {"1.0", "stable"}
    assert all(t["artifact_id"] == listed.json()[0]["artifact_id"] for t in listed.json())
    only = harborlite.api("GET", tags, params={"q": "name=~sta"}, auth=harborlite.admin)
    assert [t["name"] for t in only.json()] == ["stable"]

    by_tag = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/web/artifacts",
        params={"q": "tags=stable"},
        auth=harborlite.admin,
    )
    assert [a["digest"] for a in by_tag.json()] == [image.digest]

    removed = harborlite.api("DELETE", f"{tags}/stable", auth=harborlite.admin)
    assert removed.status_code == 200
    assert harborlite.api("DELETE", f"{tags}/stable", auth=harborlite.admin).status_code == 404
    assert [t["name"] for t in harborlite.api("GET", tags, auth=harborlite.admin).json()] == ["1.0"]
    # the registry forgot the tag too (its manifest stays, pullable by digest and by 1.0)
    assert registry_status(harborlite, f"{project}/web", "stable") == 404
    assert registry_status(harborlite, f"{project}/web", "1.0") == 200
    assert registry_status(harborlite, f"{project}/web", image.digest) == 200
    unknown = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/web/artifacts/nosuchtag/tags",
        auth=harborlite.admin,
    )
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["code"] == "NOT_FOUND"


def test_artifact_paging_filters_and_sorting(harborlite: Harborlite) -> None:
    project = harborlite.unique("paging")
    harborlite.create_project(project)
    with Pusher(harborlite) as pusher:
        pushed = [pusher.image(f"{project}/many", f"v{n}") for n in range(5)]
        pusher.image(f"{project}/many", None, seed="untagged")
    url = f"/projects/{project}/repositories/many/artifacts"
    first = harborlite.api("GET", url, params={"page_size": 2}, auth=harborlite.admin)
    assert first.headers["X-Total-Count"] == "6"
    assert len(first.json()) == 2
    assert 'rel="next"' in first.headers["Link"] and 'rel="prev"' not in first.headers["Link"]
    # newest first by default
    assert first.json()[0]["push_time"] >= first.json()[1]["push_time"]
    last = harborlite.api("GET", url, params={"page_size": 2, "page": 3}, auth=harborlite.admin)
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    seen = {
        a["digest"]
        for p in (1, 2, 3)
        for a in harborlite.api(
            "GET", url, params={"page_size": 2, "page": p}, auth=harborlite.admin
        ).json()
    }
    assert len(seen) == 6

    tagged = harborlite.api("GET", url, params={"q": "tags=*"}, auth=harborlite.admin)
    assert tagged.headers["X-Total-Count"] == "5"
    untagged = harborlite.api("GET", url, params={"q": "tags=nil"}, auth=harborlite.admin)
    assert untagged.headers["X-Total-Count"] == "1"
    fuzzy = harborlite.api("GET", url, params={"q": "tags=~v3"}, auth=harborlite.admin)
    assert [a["digest"] for a in fuzzy.json()] == [pushed[3].digest]
    oldest = harborlite.api(
        "GET", url, params={"sort": "push_time", "page_size": 1}, auth=harborlite.admin
    )
    assert oldest.json()[0]["digest"] == pushed[0].digest
    no_tags = harborlite.api(
        "GET", url, params={"with_tag": "false", "page_size": 1}, auth=harborlite.admin
    )
    assert "tags" not in no_tags.json()[0]
    labels = harborlite.api(
        "GET", url, params={"with_label": "true", "page_size": 1}, auth=harborlite.admin
    )
    assert labels.json()[0]["labels"] == []
    by_digest = harborlite.api(
        "GET", url, params={"q": f"digest={pushed[1].digest}"}, auth=harborlite.admin
    )
    assert [a["digest"] for a in by_digest.json()] == [pushed[1].digest]
    in_range = harborlite.api(
        "GET",
        url,
        params={"q": "push_time=[2000-01-01 00:00:00~2999-01-01 00:00:00]"},
        auth=harborlite.admin,
    )
    assert in_range.headers["X-Total-Count"] == "6"
    assert (
        harborlite.api("GET", url, params={"q": "nosuchkey=1"}, auth=harborlite.admin).status_code
        == 400
    )
    assert (
        harborlite.api("GET", url, params={"sort": "nosuchkey"}, auth=harborlite.admin).status_code
        == 400
    )
    assert (
        harborlite.api("GET", url, params={"page_size": 101}, auth=harborlite.admin).status_code
        == 400
    )


def test_repositories_are_listed_described_and_deleted(harborlite: Harborlite) -> None:
    project = harborlite.unique("repos")
    public = harborlite.unique("repospub")
    harborlite.create_project(project)
    harborlite.create_project(public, public=True)
    with Pusher(harborlite) as pusher:
        pusher.image(f"{project}/one", "a")
        pusher.image(f"{project}/one", "b")
        pusher.index(f"{project}/two/nested", "multi")
        pusher.image(f"{public}/shown", "latest")

    listed = harborlite.api("GET", f"/projects/{project}/repositories", auth=harborlite.admin)
    assert listed.status_code == 200
    by_name = {r["name"]: r for r in listed.json()}
    assert set(by_name) == {f"{project}/one", f"{project}/two/nested"}
    assert by_name[f"{project}/one"]["artifact_count"] == 2
    assert by_name[f"{project}/two/nested"]["artifact_count"] == 1
    fuzzy = harborlite.api(
        "GET",
        f"/projects/{project}/repositories",
        params={"q": "name=~nested"},
        auth=harborlite.admin,
    )
    assert [r["name"] for r in fuzzy.json()] == [f"{project}/two/nested"]

    one = f"/projects/{project}/repositories/one"
    described = harborlite.api("PUT", one, json={"description": "the first"}, auth=harborlite.admin)
    assert described.status_code == 200
    assert harborlite.api("GET", one, auth=harborlite.admin).json()["description"] == "the first"

    # /repositories: everything for the admin, only public ones for anonymous callers
    everything = harborlite.api(
        "GET",
        "/repositories",
        params={"page_size": 100, "q": f"name=~{project}/"},
        auth=harborlite.admin,
    )
    assert {r["name"] for r in everything.json()} == set(by_name)
    anonymous = httpx.get(f"{harborlite.url}/api/v2.0/repositories", params={"page_size": 100})
    names = {r["name"] for r in anonymous.json()}
    assert f"{public}/shown" in names and not names & set(by_name)

    nested = f"/projects/{project}/repositories/two%252Fnested"
    assert harborlite.api("GET", nested, auth=harborlite.admin).status_code == 200
    deleted = harborlite.api("DELETE", nested, auth=harborlite.admin)
    assert deleted.status_code == 200, deleted.text
    assert harborlite.api("GET", nested, auth=harborlite.admin).status_code == 404
    assert registry_status(harborlite, f"{project}/two/nested", "multi") == 404
    assert harborlite.api("DELETE", nested, auth=harborlite.admin).status_code == 404

    # a project with repositories cannot be deleted; once empty it can
    refused = harborlite.api("DELETE", f"/projects/{project}", auth=harborlite.admin)
    assert refused.status_code == 412
    deletable = harborlite.api(
        "GET", f"/projects/{project}/_deletable", auth=harborlite.admin
    ).json()
    assert deletable["deletable"] is False and deletable["message"]
    assert harborlite.api("DELETE", one, auth=harborlite.admin).status_code == 200
    assert harborlite.api(
        "GET", f"/projects/{project}/_deletable", auth=harborlite.admin
    ).json() == {
        "deletable": True,
        "message": "",
    }
    assert (
        harborlite.api("DELETE", f"/projects/{project}", auth=harborlite.admin).status_code == 200
    )


def test_a_tag_is_made_on_a_manifest_of_several_megabytes(harborlite: Harborlite) -> None:
    """harborlite reads the whole manifest back from the registry (it used to keep only the
    first buffered part, and the registry refused the cut manifest under the new tag)."""
    project = harborlite.unique("bigtag")
    harborlite.create_project(project)
    repository = f"{project}/big"
    with Pusher(harborlite) as pusher:
        small = pusher.image(repository, "seed")
        headers = pusher._headers(repository)
        document = json.loads(small.manifest)
        document["annotations"] = {"io.harborlite.test.padding": "x" * 3_700_000}
        body = json.dumps(document).encode()
        assert 3_700_000 < len(body) < 4 * 1024 * 1024  # under the registry's manifest limit
        digest = pusher.manifest(repository, "v1", body, OCI_MANIFEST, headers)
    assert digest == digest_of(body)

    created = harborlite.api(
        "POST",
        f"/projects/{project}/repositories/big/artifacts/v1/tags",
        json={"name": "copy"},
        auth=harborlite.admin,
    )
    assert created.status_code == 201, created.text
    token = harborlite.token(f"repository:{repository}:pull", harborlite.admin)
    with harborlite.client() as client:
        pulled = client.get(
            f"/v2/{repository}/manifests/copy",
            headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
        )
    assert pulled.status_code == 200, pulled.text
    assert pulled.content == body
    document_answer = harborlite.api(
        "GET",
        f"/projects/{project}/repositories/big/artifacts/copy/manifest",
        auth=harborlite.admin,
    )
    assert document_answer.status_code == 200 and document_answer.content == body


@pytest.mark.both_databases
def test_racing_tag_creations_leave_the_registry_naming_what_the_index_names(
    harborlite: Harborlite,
) -> None:
    """Two requests tag two artifacts with one name at once: one 201, one 409, and the
    registry's tag must name the winner's artifact (the loser's registry write may come last)."""
    project = harborlite.unique("tagrace")
    harborlite.create_project(project)
    repository = f"{project}/app"
    with Pusher(harborlite) as pusher:
        first = pusher.image(repository, "one", seed="1")
        second = pusher.image(repository, "two", seed="2")
    token = harborlite.token(f"repository:{repository}:pull", harborlite.admin)
    for round_ in range(6):
        name = f"race{round_}"

        def tag(reference: str, name: str = name) -> int:
            answer = harborlite.api(
                "POST",
                f"/projects/{project}/repositories/app/artifacts/{reference}/tags",
                json={"name": name},
                auth=harborlite.admin,
            )
            return answer.status_code

        with ThreadPoolExecutor(2) as pool:
            statuses = sorted(pool.map(tag, [first.digest, second.digest]))
        assert statuses == [201, 409], statuses
        indexed = harborlite.api(
            "GET", f"/projects/{project}/repositories/app/artifacts/{name}", auth=harborlite.admin
        )
        assert indexed.status_code == 200, indexed.text
        with harborlite.client() as client:
            pulled = client.head(
                f"/v2/{repository}/manifests/{name}",
                headers={"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST},
            )
        assert pulled.status_code == 200
        assert pulled.headers["docker-content-digest"] == indexed.json()["digest"]
