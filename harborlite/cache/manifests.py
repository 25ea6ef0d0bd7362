"""Manifests answered without the registry round trip: the exact bytes and headers it sent.

Manifests are content-addressed and harborlite sees every push and delete, so a manifest the
registry once served for repository R can be served again for R from memory. The cache only
holds what the registry itself answered (never what a client claimed), keyed by repository,
so a manifest is only ever served for the repository the registry served it for.

- ``(repository, digest) -> CachedManifest``: body, media type and the registry's headers;
  the body is checked against its digest before it is kept.
- ``(repository, tag) -> digest``: learnt from a registry answer or a push through harborlite.

Accept is honoured as the registry 2.8 does: an entry is served only when the client accepts
its media type. Anything else (schema 1, a list a client does not accept, If-None-Match) goes
to the registry. Pushes and deletes invalidate; a per-repository generation number stops a
slow registry answer from re-learning something a push or delete made stale. Entries also
expire (tags sooner than digests), which bounds staleness when another replica changed a tag
and no Redis carried the news.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from harborlite.oci.mediatypes import (
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    OCI_INDEX,
    OCI_MANIFEST,
)
from harborlite.oci.reference import digest_matches, is_digest, valid_tag

CACHEABLE = frozenset({DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST, OCI_MANIFEST, OCI_INDEX})
LISTS = frozenset({DOCKER_MANIFEST_LIST, OCI_INDEX})
ACCEPT_CACHEABLE = ", ".join(sorted(CACHEABLE)).encode()  # an Accept naming each of them

# Headers of a registry answer that belong to that one answer, not to the manifest.
_NOT_KEPT = frozenset({b"date", b"connection", b"keep-alive", b"transfer-encoding", b"set-cookie"})
MAX_GENERATIONS = 100_000


@dataclass(frozen=True)
class CachedManifest:
    digest: str
    media_type: str
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    learnt_at: float


@dataclass(frozen=True)
class Learnt:
    """What one registry answer taught: the manifest itself (a GET) and/or what a tag names."""

    digest: str
    entry: CachedManifest | None
    tag: str | None
    tag_learnt_at: float = 0.0  # when another replica learnt the tag (monotonic; 0: now)


def accepted_types(accept_values: Iterable[bytes]) -> frozenset[str]:
    """Media types named in Accept headers, parameters dropped (as distribution does)."""
    types: set[str] = set()
    for value in accept_values:
        for part in value.decode("latin-1").split(","):
            media_type = part.split(";", 1)[0].strip().lower()
            if media_type:
                types.add(media_type)
    return frozenset(types)


class ManifestCache:
    """In-process LRU of manifests per repository, bounded in bytes."""

    def __init__(
        self,
        max_bytes: int = 64 * 1024 * 1024,
        tag_ttl: float = 60.0,
        digest_ttl: float = 600.0,
        max_entry_bytes: int = 1024 * 1024,
        max_tags: int = 100_000,
    ) -> None:
        self.max_bytes = max_bytes
        self.tag_ttl = tag_ttl
        self.digest_ttl = digest_ttl
        self.max_entry_bytes = max_entry_bytes
        self.max_tags = max_tags
        self._manifests: OrderedDict[tuple[str, str], CachedManifest] = OrderedDict()
        self._tags: dict[tuple[str, str], tuple[str, float]] = {}
        self._generations: dict[str, int] = {}
        self._counter = 0  # every bump takes a new value, so generations are never reused
        self._floor = 0  # raised by clear(): every repository's generation moves at once
        self._bytes = 0
        self.enabled = True  # off while cross-replica invalidation is not guaranteed
        # lookups answered and not (plain counts: /metrics reads them when scraped)
        self.hits = 0
        self.misses = 0

    # ------------------------------------------------------------------ reading

    def generation(self, repository: str) -> int:
        """A number that changes whenever ``repository`` may have changed: read it before
        asking the registry, and an answer is only learnt if it is still the same."""
        return max(self._generations.get(repository, 0), self._floor)

    def lookup(
        self, repository: str, reference: str, accepted: frozenset[str]
    ) -> CachedManifest | None:
        if not self.enabled:
            return None
        entry = self._find(repository, reference, accepted)
        if entry is None:
            self.misses += 1
        else:
            self.hits += 1
        return entry

    def _find(
        self, repository: str, reference: str, accepted: frozenset[str] | None
    ) -> CachedManifest | None:
        """The fresh entry of ``reference``, if its type is ``accepted`` (None: any type)."""
        now = time.monotonic()
        if is_digest(reference):
            digest = reference
        else:
            tag = self._tags.get((repository, reference))
            if tag is None or now - tag[1] > self.tag_ttl:
                return None
            digest = tag[0]
        key = (repository, digest)
        entry = self._manifests.get(key)
        if entry is None or now - entry.learnt_at > self.digest_ttl:
            return None
        if accepted is not None and entry.media_type not in accepted:
            return None
        self._manifests.move_to_end(key)
        return entry

    def holds(self, repository: str, digest: str) -> bool:
        return (repository, digest) in self._manifests

    def knows(self, repository: str, reference: str) -> bool:
        """Whether a fresh entry answers ``reference`` (in whatever type): when it does and
        still a lookup misses, the client's Accept is what the registry must answer."""
        return self.enabled and self._find(repository, reference, None) is not None

    # ------------------------------------------------------------------ learning

    def learn(
        self,
        repository: str,
        reference: str,
        generation: int,
        accepted: frozenset[str],
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> Learnt | None:
        """Keep a registry 200 answer to a manifest GET (body) or HEAD (body None); say what
        was kept (for the shared level in Redis), or None when nothing was."""
        if not self.enabled or self.generation(repository) != generation:
            return None  # a push or delete happened meanwhile: this answer may be stale
        kept: list[tuple[bytes, bytes]] = []
        media_type = digest = ""
        length = -1
        for key, value in headers:
            lower = key.lower()
            if lower in _NOT_KEPT:
                continue
            if lower == b"content-type":
                media_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
            elif lower == b"docker-content-digest":
                digest = value.decode("latin-1").strip()
            elif lower == b"content-length":
                length = int(value)
            kept.append((lower, value))
        if media_type not in CACHEABLE or not digest:
            return None
        if not (valid_tag(reference) or (is_digest(reference) and reference == digest)):
            return None  # another digest's answer, or a reference no registry answers
        now = time.monotonic()
        entry = None
        if body is not None:
            if len(body) != length or len(body) > self.max_entry_bytes:
                return None
            if not digest_matches(digest, body):
                return None
            entry = CachedManifest(digest, media_type, body, tuple(kept), now)
            self._store(repository, entry)
        tag = None
        if not is_digest(reference) and (media_type in LISTS or LISTS <= accepted):
            # A list the client does not accept is answered with one of its images when asked
            # by tag; only when that cannot have happened does the answer name the tag's digest.
            self._remember_tag(repository, reference, digest, now)
            tag = reference
        if entry is None and tag is None:
            return None
        return Learnt(digest, entry, tag)

    def adopt(self, repository: str, generation: int, learnt: Learnt) -> None:
        """Keep what another replica learnt (read from the shared level), unless a push or
        delete happened here since ``generation`` was read."""
        if not self.enabled or self.generation(repository) != generation:
            return
        entry = learnt.entry  # checked against its digest, aged, by whoever read it back
        if entry is not None and len(entry.body) <= self.max_entry_bytes:
            self._store(repository, entry)
        if learnt.tag is not None:
            at = learnt.tag_learnt_at or time.monotonic()
            self._remember_tag(repository, learnt.tag, learnt.digest, at)

    def _remember_tag(self, repository: str, tag: str, digest: str, learnt_at: float) -> None:
        """Tag answers are small but one per tag ever pulled: past ``max_tags``, the expired
        ones go, and if that is not enough, all of them (forgetting is always safe)."""
        if len(self._tags) >= self.max_tags and (repository, tag) not in self._tags:
            now = time.monotonic()
            for key in [k for k, (_, at) in self._tags.items() if now - at > self.tag_ttl]:
                del self._tags[key]
            if len(self._tags) >= self.max_tags:
                self._tags.clear()
        self._tags[(repository, tag)] = (digest, learnt_at)

    @property
    def tag_count(self) -> int:
        return len(self._tags)

    def _store(self, repository: str, entry: CachedManifest) -> None:
        key = (repository, entry.digest)
        old = self._manifests.pop(key, None)
        if old is not None:
            self._bytes -= len(old.body)
        self._manifests[key] = entry
        self._bytes += len(entry.body)
        while self._bytes > self.max_bytes and self._manifests:
            _, evicted = self._manifests.popitem(last=False)
            self._bytes -= len(evicted.body)

    def pushed(self, repository: str, reference: str, digest: str | None) -> None:
        """A manifest PUT the registry accepted (201): what the tag named is forgotten. Not
        replaced by ``digest``: two pushes of one tag can be heard in another order than the
        registry took them, so the next answer about the tag comes from the registry."""
        self._bump(repository)
        if not is_digest(reference):
            self._tags.pop((repository, reference), None)

    def registry_wrote(
        self, method: str, repository: str, reference: str, status: int, digest: str | None
    ) -> None:
        """Listener for every manifest PUT/DELETE harborlite sends to the registry."""
        if method == "PUT" and 200 <= status < 300:
            self.pushed(repository, reference, digest)
        elif method == "DELETE" and 200 <= status < 300:
            self.deleted(repository, reference)

    # ------------------------------------------------------------------ forgetting

    def deleted(self, repository: str, reference: str) -> None:
        """A manifest (by digest, with every tag naming it) or a tag was deleted."""
        self._bump(repository)
        if not is_digest(reference):
            self._tags.pop((repository, reference), None)
            return
        entry = self._manifests.pop((repository, reference), None)
        if entry is not None:
            self._bytes -= len(entry.body)
        for key, (digest, _) in list(self._tags.items()):
            if key[0] == repository and digest == reference:
                del self._tags[key]

    def clear(self) -> None:
        """Forget everything, and every answer asked before now (whatever its repository)."""
        self._counter += 1
        self._floor = self._counter
        self._generations.clear()
        self._manifests.clear()
        self._tags.clear()
        self._bytes = 0

    def _bump(self, repository: str) -> None:
        if len(self._generations) >= MAX_GENERATIONS:
            self.clear()  # forgetting everything is always safe
        self._counter += 1
        self._generations[repository] = self._counter

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._manifests)
