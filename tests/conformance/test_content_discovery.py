"""The OCI distribution conformance suite's content-discovery workflow (``03_discovery_test.go``:
tag listing, referrers and ``OCI-Subject``) against a real harborlite in front of the real
registry, ported to Python (see :mod:`tests.conformance.oci_data` for why): each test names the
suite's ``Specify`` it ports, and expects what the suite expects."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.conformance.oci_data import (
    ANNOTATION_KEY,
    ARTIFACT_TYPE_A,
    ARTIFACT_TYPE_FILTER,
    EMPTY_JSON,
    LAYER,
    OCI_INDEX,
    OCI_MANIFEST,
    REF_BLOB_A,
    REF_BLOB_B,
    TEST_TAG,
    DiscoveryData,
    digest_of,
    discovery_data,
)
from tests.harness import Harborlite

NUM_TAGS = 4


@dataclass
class Suite:
    server: Harborlite
    name: str  # OCI_NAMESPACE
    client: httpx.Client
    data: DiscoveryData

    def blob(self, content: bytes) -> httpx.Response:
        started = self.client.post(f"/v2/{self.name}/blobs/uploads/")
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"  # the upload's own query stays
        return self.client.put(
            f"{location}{separator}digest={digest_of(content)}",
            content=content,
            headers={"Content-Type": "application/octet-stream"},
        )

    def manifest(
        self, reference: str, content: bytes, media_type: str = OCI_MANIFEST
    ) -> httpx.Response:
        return self.client.put(
            f"/v2/{self.name}/manifests/{reference}",
            content=content,
            headers={"Content-Type": media_type},
        )

    def referrers(self, digest: str, **params: str) -> httpx.Response:
        return self.client.get(f"/v2/{self.name}/referrers/{digest}", params=params)

    def delete(self, path: str) -> None:
        """A teardown DELETE: the suite accepts 2xx, 404 and 405."""
        answer = self.client.delete(f"/v2/{self.name}/{path}")
        assert 200 <= answer.status_code < 300 or answer.status_code in (404, 405), answer.text


def _ok(response: httpx.Response) -> None:
    assert 200 <= response.status_code < 300, (response.status_code, response.text)


def _set_up(suite: Suite) -> None:
    """``Setup``: the suite's pushes, in its order, with its expectations."""
    data = suite.data
    _ok(suite.blob(data.configs[2].content))  # Populate registry with test blob
    _ok(suite.blob(LAYER))  # ... with test layer
    for number in range(NUM_TAGS):  # ... with test tags
        _ok(suite.manifest(f"test{number}", data.manifests[2].content))
    # References setup
    assert digest_of(EMPTY_JSON) == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )
    _ok(suite.blob(EMPTY_JSON))
    _ok(suite.blob(REF_BLOB_A))  # the reference blob before the image manifest is pushed
    subject = data.manifests[4].digest
    for referrer, media_type in (
        (data.refs_a_config, OCI_MANIFEST),
        (data.refs_a_layer, OCI_MANIFEST),
        (data.refs_index, OCI_INDEX),
    ):
        answer = suite.manifest(referrer.digest, referrer.content, media_type)
        _ok(answer)
        assert answer.headers.get("OCI-Subject") == subject  # its subject is not pushed yet
    _ok(suite.blob(data.configs[4].content))
    _ok(suite.blob(LAYER))
    _ok(suite.manifest(TEST_TAG, data.manifests[4].content))
    _ok(suite.blob(REF_BLOB_B))  # the reference blob after the image manifest is pushed
    for referrer in (data.refs_b_config, data.refs_b_layer):
        answer = suite.manifest(referrer.digest, referrer.content)
        _ok(answer)
        assert answer.headers.get("OCI-Subject") == subject
    # a referrer to a subject that is never pushed
    answer = suite.manifest(data.refs_c_layer.digest, data.refs_c_layer.content)
    _ok(answer)
    assert answer.headers.get("OCI-Subject") == data.manifests[3].digest


@contextlib.contextmanager
def _suite(server: Harborlite) -> Iterator[Suite]:
    project = server.unique("conformance")
    created = server.api("POST", "/projects", auth=server.admin, json={"project_name": project})
    assert created.status_code == 201, created.text
    name = f"{project}/discovery"
    token = server.token(f"repository:{name}:pull,push,delete", server.admin)
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        suite = Suite(server, name, client, discovery_data())
        _set_up(suite)
        yield suite


@pytest.fixture(scope="module")
def suite(harborlite: Harborlite) -> Iterator[Suite]:
    with _suite(harborlite) as started:
        yield started


def _tags(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    tags: list[str] = answer.json()["tags"]
    return tags


def test_list_tags_yields_200(suite: Suite) -> None:
    """GET request to list tags should yield 200 response"""
    tags = _tags(suite.client.get(f"/v2/{suite.name}/tags/list"))
    assert sorted(tags) == sorted([f"test{n}" for n in range(NUM_TAGS)] + [TEST_TAG])


def test_number_of_tags_is_limited_by_n(suite: Suite) -> None:
    """GET number of tags should be limitable by `n` query parameter"""
    count = len(_tags(suite.client.get(f"/v2/{suite.name}/tags/list")))
    wanted = count // 2
    tags = _tags(suite.client.get(f"/v2/{suite.name}/tags/list", params={"n": str(wanted)}))
    assert len(tags) == wanted


def test_start_of_tags_is_set_by_last(suite: Suite) -> None:
    """GET start of tag is set by `last` query parameter"""
    count = len(_tags(suite.client.get(f"/v2/{suite.name}/tags/list")))
    wanted = count // 2
    first = _tags(suite.client.get(f"/v2/{suite.name}/tags/list", params={"n": str(wanted)}))
    last = first[wanted - 1]
    then = _tags(
        suite.client.get(f"/v2/{suite.name}/tags/list", params={"n": str(wanted), "last": last})
    )
    assert len(then) <= wanted
    assert last not in then


def _index(answer: httpx.Response) -> list[dict[str, object]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == OCI_INDEX
    manifests: list[dict[str, object]] = json.loads(answer.content)["manifests"]
    return manifests


def test_referrers_of_a_nonexistent_blob_is_an_empty_200(suite: Suite) -> None:
    """GET request to nonexistent blob should result in empty 200 response"""
    assert _index(suite.referrers(suite.data.dummy_digest)) == []


def test_referrers_of_an_existing_manifest(suite: Suite) -> None:
    """GET request to existing blob should yield 200"""
    manifests = _index(suite.referrers(suite.data.manifests[4].digest))
    assert len(manifests) == 5
    assert manifests[0]["digest"] != manifests[1]["digest"]
    for entry in manifests:
        annotations = entry["annotations"]
        assert isinstance(annotations, dict) and len(annotations) == 1
        assert annotations[ANNOTATION_KEY] == suite.data.annotations[str(entry["digest"])]


def test_referrers_filtered_by_artifact_type(suite: Suite) -> None:
    """GET request to existing blob with filter should yield 200 (harborlite filters, so the
    suite's branch with ``OCI-Filters-Applied`` is the one that applies)"""
    answer = suite.referrers(suite.data.manifests[4].digest, artifactType=ARTIFACT_TYPE_A)
    manifests = _index(answer)
    assert answer.headers.get("OCI-Filters-Applied") == ARTIFACT_TYPE_FILTER
    assert len(manifests) == 2
    for entry in manifests:
        annotations = entry["annotations"]
        assert isinstance(annotations, dict) and len(annotations) == 1
        assert annotations[ANNOTATION_KEY] == suite.data.annotations[str(entry["digest"])]


def test_referrers_of_a_missing_manifest(suite: Suite) -> None:
    """GET request to missing manifest should yield 200"""
    manifests = _index(suite.referrers(suite.data.manifests[3].digest))
    assert len(manifests) == 1
    assert manifests[0]["digest"] == suite.data.refs_c_layer.digest


def test_teardown_deletes_as_the_suite_does(harborlite: Harborlite) -> None:
    """Teardown with deleteManifestBeforeBlobs (the suite's default): "Delete created manifest &
    associated tags", the blobs, then "References teardown"; every answer 2xx, 404 or 405, and
    nothing the suite made is listed after."""
    with _suite(harborlite) as suite:
        data = suite.data
        for reference in (
            data.refs_index.digest,
            data.manifests[2].digest,
            data.manifests[4].digest,
            data.refs_a_config.digest,
            data.refs_a_layer.digest,
            data.refs_b_config.digest,
            data.refs_b_layer.digest,
            data.refs_c_layer.digest,
        ):
            suite.delete(f"manifests/{reference}")
        suite.delete(f"blobs/{data.configs[2].digest}")
        suite.delete(f"blobs/{digest_of(LAYER)}")
        for reference in (
            data.refs_index.digest,
            data.refs_a_config.digest,
            data.refs_a_layer.digest,
            data.manifests[4].digest,
            data.refs_b_config.digest,
            data.refs_b_layer.digest,
        ):
            suite.delete(f"manifests/{reference}")
        for blob in (data.configs[4].content, REF_BLOB_A, REF_BLOB_B, EMPTY_JSON):
            suite.delete(f"blobs/{digest_of(blob)}")
        assert _index(suite.referrers(data.manifests[4].digest)) == []
        assert _index(suite.referrers(data.manifests[3].digest)) == []
        gone = suite.client.get(f"/v2/{suite.name}/manifests/{data.manifests[4].digest}")
        assert gone.status_code == 404


def test_tags_of_an_unknown_repository_are_name_unknown(suite: Suite) -> None:
    """Not in the suite: the tag list of a repository nobody pushed is 404 ``NAME_UNKNOWN``, as
    the registry answers it (the index answers tag lists)."""
    name = suite.name.split("/")[0] + "/never-pushed"
    token = suite.server.token(f"repository:{name}:pull", suite.server.admin)
    answer = httpx.get(
        f"{suite.server.url}/v2/{name}/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 404, answer.text
    assert answer.json()["errors"][0]["code"] == "NAME_UNKNOWN"
