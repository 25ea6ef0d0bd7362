"""The manifest cache: what it learns, when it answers, and what makes it forget."""

from __future__ import annotations

import hashlib
import time

import pytest

from harborlite.cache.manifests import ManifestCache, accepted_types
from harborlite.oci.mediatypes import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from harborlite.oci.reference import is_digest, valid_tag
from harborlite.v2.routes import Kind, parse_route

ALL = frozenset({DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX})
BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()


def registry_headers(
    body: bytes = BODY, media_type: str = OCI_MANIFEST, digest: str = DIGEST
) -> list[tuple[bytes, bytes]]:
    return [
        (b"Content-Length", str(len(body)).encode()),
        (b"Content-Type", media_type.encode()),
        (b"Docker-Content-Digest", digest.encode()),
        (b"Docker-Distribution-Api-Version", b"registry/2.0"),
        (b"Etag", f'"{digest}"'.encode()),
        (b"X-Content-Type-Options", b"nosniff"),
        (b"Date", b"Thu, 01 Jan 2026 00:00:00 GMT"),
    ]


def learnt(cache: ManifestCache, reference: str = "latest", accepted: frozenset[str] = ALL) -> None:
    cache.learn("p/r", reference, cache.generation("p/r"), accepted, registry_headers(), BODY)


def test_a_registry_answer_is_served_again_with_its_exact_headers_but_no_date() -> None:
    cache = ManifestCache()
    learnt(cache)
    for reference in ("latest", DIGEST):
        entry = cache.lookup("p/r", reference, ALL)
        assert entry is not None and entry.body == BODY and entry.media_type == OCI_MANIFEST
        names = [name for name, _ in entry.headers]
        assert b"date" not in names
        assert (b"docker-content-digest", DIGEST.encode()) in entry.headers
        assert (b"etag", f'"{DIGEST}"'.encode()) in entry.headers
        assert (b"content-length", str(len(BODY)).encode()) in entry.headers


def test_never_served_for_another_repository() -> None:
    cache = ManifestCache()
    learnt(cache)
    assert cache.lookup("p/other", DIGEST, ALL) is None
    assert cache.lookup("q/r", "latest", ALL) is None


@pytest.mark.parametrize(
    "accept",
    [
        frozenset({DOCKER_MANIFEST_V2}),  # the registry answers 404 for OCI here
        frozenset(),  # no Accept: the registry decides
        frozenset({"*/*"}),  # distribution ignores wildcards
    ],
)
def test_a_client_that_does_not_accept_the_media_type_goes_to_the_registry(
    accept: frozenset[str],
) -> None:
    cache = ManifestCache()
    learnt(cache)
    assert cache.lookup("p/r", DIGEST, accept) is None


def test_accept_headers_are_split_and_parameters_dropped() -> None:
    values = [b"application/vnd.oci.image.manifest.v1+json; q=0.5, text/plain", b"A/B"]
    assert accepted_types(values) == {OCI_MANIFEST, "text/plain", "a/b"}


def test_a_body_that_does_not_match_its_digest_is_not_kept() -> None:
    cache = ManifestCache()
    wrong = b'{"schemaVersion":2}'
    cache.learn("p/r", DIGEST, 0, ALL, registry_headers(wrong), wrong)
    assert cache.lookup("p/r", DIGEST, ALL) is None


def test_schema1_and_unknown_types_are_not_kept() -> None:
    cache = ManifestCache()
    headers = registry_headers(
        media_type="application/vnd.docker.distribution.manifest.v1+prettyjws"
    )
    cache.learn("p/r", DIGEST, 0, ALL, headers, BODY)
    assert len(cache) == 0


def test_a_tag_is_not_learnt_when_the_registry_may_have_picked_one_image_of_a_list() -> None:
    cache = ManifestCache()
    only_images = frozenset({OCI_MANIFEST, DOCKER_MANIFEST_V2})
    learnt(cache, accepted=only_images)
    assert cache.lookup("p/r", DIGEST, ALL) is not None  # the image itself is fine by digest
    assert cache.lookup("p/r", "latest", ALL) is None


def test_push_moves_the_tag_and_delete_forgets_manifest_and_its_tags() -> None:
    cache = ManifestCache()
    learnt(cache)
    cache.registry_wrote("PUT", "p/r", "latest", 201, "sha256:" + "0" * 64)
    assert cache.lookup("p/r", "latest", ALL) is None  # the new digest's body is not known yet
    learnt(cache)  # the registry answered the GET of the tag again
    assert cache.lookup("p/r", "latest", ALL) is not None
    cache.registry_wrote("DELETE", "p/r", DIGEST, 202, None)
    assert cache.lookup("p/r", "latest", ALL) is None
    assert cache.lookup("p/r", DIGEST, ALL) is None


def test_an_answer_older_than_a_push_is_not_learnt() -> None:
    cache = ManifestCache()
    generation = cache.generation("p/r")
    cache.registry_wrote("PUT", "p/r", "latest", 201, "sha256:" + "1" * 64)
    cache.learn("p/r", "latest", generation, ALL, registry_headers(), BODY)
    entry = cache.lookup("p/r", "latest", ALL)
    assert entry is None


def test_failed_writes_change_nothing_and_the_cache_is_bounded() -> None:
    cache = ManifestCache(max_bytes=len(BODY) * 2)
    learnt(cache)
    cache.registry_wrote("DELETE", "p/r", DIGEST, 404, None)
    assert cache.lookup("p/r", DIGEST, ALL) is not None
    for index in range(5):
        body = BODY + b" " * (index + 1)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        cache.learn("p/x", digest, 0, ALL, registry_headers(body, digest=digest), body)
    assert cache.size_bytes <= len(BODY) * 2


def test_tags_expire() -> None:
    cache = ManifestCache(tag_ttl=0.0)
    learnt(cache)
    assert cache.lookup("p/r", "latest", ALL) is None
    assert cache.lookup("p/r", DIGEST, ALL) is not None


def test_tag_answers_are_bounded_expired_ones_first() -> None:
    cache = ManifestCache(max_tags=3, tag_ttl=60.0)
    for tag in ("a", "b", "c"):
        learnt(cache, tag)
    assert cache.tag_count == 3
    # none expired: a fourth tag makes room by forgetting them all
    learnt(cache, "d")
    assert cache.tag_count == 1
    assert cache.lookup("p/r", "d", ALL) is not None
    assert cache.lookup("p/r", "a", ALL) is None
    # relearning a tag already held does not prune
    for tag in ("e", "f"):
        learnt(cache, tag)
    learnt(cache, "f")
    assert cache.tag_count == 3
    # expired ones go first, the live ones stay
    short = ManifestCache(max_tags=3, tag_ttl=0.5)
    learnt(short, "old1")
    learnt(short, "old2")
    time.sleep(0.6)
    learnt(short, "live")
    learnt(short, "new")
    assert short.tag_count == 2
    assert short.lookup("p/r", "live", ALL) is not None
    assert short.lookup("p/r", "new", ALL) is not None


def test_an_answer_asked_before_a_clear_is_not_learnt_for_any_repository() -> None:
    """After a lost subscription the cache is cleared; an answer that was on its way from the
    registry (for a repository with nothing cached) may be stale and must not be kept."""
    cache = ManifestCache()
    before = cache.generation("p/quiet")
    cache.clear()
    kept = cache.learn("p/quiet", "latest", before, ALL, registry_headers(), BODY)
    assert kept is None
    assert cache.lookup("p/quiet", "latest", ALL) is None
    now = cache.generation("p/quiet")
    assert now != before
    assert cache.learn("p/quiet", "latest", now, ALL, registry_headers(), BODY) is not None


_BODIES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}
REFERENCES = [
    "latest",
    "v1.2.3",
    "_private",
    "A" * 128,
    *(f"{name}:{hasher(BODY).hexdigest()}" for name, hasher in _BODIES.items()),
    "sha256:" + hashlib.sha256(BODY).hexdigest().upper(),  # not a digest, not a tag
    "sha256:" + "a" * 63,
    "md5:" + hashlib.md5(BODY).hexdigest(),
    "sha256:",
    "a:b",
    "-dash",
    ".dot",
    "A" * 129,
]


@pytest.mark.parametrize("reference", REFERENCES)
def test_the_cache_and_the_route_parser_agree_on_what_a_reference_is(reference: str) -> None:
    """Whatever the route parser gives as a manifest reference, the cache keeps the answer
    under that digest only if it is one (the strict ``is_digest``, as the gateway and the
    registry read it), and under that tag only if it is one: never anything else."""
    route = parse_route(f"/v2/p/r/manifests/{reference}")
    assert route is not None and route.kind is Kind.MANIFEST and route.reference == reference
    digest = reference if is_digest(reference) else DIGEST
    cache = ManifestCache()
    headers = registry_headers(digest=digest)
    learnt_now = cache.learn("p/r", route.reference, cache.generation("p/r"), ALL, headers, BODY)
    served = cache.lookup("p/r", route.reference, ALL)
    if is_digest(reference):
        assert learnt_now is not None and learnt_now.tag is None
        assert served is not None and served.digest == reference
    elif valid_tag(reference):
        assert learnt_now is not None and learnt_now.tag == reference
        assert served is not None and served.digest == DIGEST
    else:
        assert learnt_now is None and served is None
        assert cache.tag_count == 0 and len(cache) == 0
    # what a write forgets is read with the same rule
    cache.registry_wrote("DELETE", "p/r", route.reference, 202, None)
    assert cache.lookup("p/r", route.reference, ALL) is None
