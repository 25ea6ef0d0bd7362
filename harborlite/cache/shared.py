"""The shared level of the manifest cache, in Redis: what one replica learnt, another serves.

What one replica learnt from the registry is kept in Redis too, so another replica's first
request for it is answered from Redis (one round trip) instead of the registry. Three kinds of
keys per repository R:

- ``hl:mc:R|g``: R's generation, raised by every manifest write to R;
- ``hl:mc:R|m|DIGEST``: the manifest (body, media type, the registry's headers), deleted with
  it; its body is checked against DIGEST whenever it is read back;
- ``hl:mc:R|t|GEN|TAG``: the digest TAG names, valid for generation GEN only, so any write to
  R retires every tag answer learnt before it (and they expire). Writes only invalidate; what a
  tag names is always learnt from a registry answer, never from a write that may arrive late.

A generation key that is missing (new, expired, evicted) starts from the server's clock in
microseconds, so generations only move forward and an old tag key never becomes valid again.
Entries read back keep their age, so a replica drops them when Redis would. The scripts touch
keys they compute (not Redis Cluster friendly): use a single Redis (or a primary and replicas).

A replica reads R's generation with its lookup, before it asks the registry, and stores what
the registry answered only if the generation is still the same (a Lua script checks and
writes at once): an answer that raced a push or delete is never shared. Raising generations
and telling the other replicas is :mod:`harborlite.cache.invalidation`'s part.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace

import redis.asyncio as redis
from redis.exceptions import RedisError

from harborlite.cache.manifests import CachedManifest, Learnt, ManifestCache
from harborlite.oci.reference import digest_matches, is_digest

log = logging.getLogger("harborlite.registry")

PREFIX = "hl:mc:"
GENERATION_SECONDS = 7 * 86400  # a generation key outlives every tag key learnt under it

# A missing generation key (never written, expired, or evicted) is created from the server's
# clock in microseconds, never '0': a generation can only move forward, so a tag key learnt
# under an older generation can never become valid again.
GENERATION_SCRIPT = """
local function generation(key, ttl)
  local gen = redis.call('GET', key)
  if gen then return gen end
  local now = redis.call('TIME')
  gen = now[1] .. string.format('%06d', tonumber(now[2]))
  redis.call('SET', key, gen, 'EX', ttl)
  return gen
end
"""

# KEYS[1] generation key. ARGV: tag key prefix (without GEN), tag ('' by digest), digest ('' by
# tag), manifest key prefix (without DIGEST), generation ttl s. Returns {gen, digest, manifest,
# tag key ttl ms, manifest key ttl ms}; '' for what is not there.
_LOOKUP = (
    GENERATION_SCRIPT
    + """
local gen = generation(KEYS[1], ARGV[5])
local digest = ARGV[3]
local tag_ttl = -2
if digest == '' then
  local tag_key = ARGV[1] .. gen .. '|' .. ARGV[2]
  digest = redis.call('GET', tag_key)
  if not digest then return {gen, '', '', -2, -2} end
  tag_ttl = redis.call('PTTL', tag_key)
end
local manifest_key = ARGV[4] .. digest
local manifest = redis.call('GET', manifest_key)
if not manifest then return {gen, digest, '', tag_ttl, -2} end
return {gen, digest, manifest, tag_ttl, redis.call('PTTL', manifest_key)}
"""
)

# KEYS[1] generation key, KEYS[2] manifest key ('' when none). ARGV: generation read by the
# lookup, manifest value, manifest ttl ms, tag key prefix, tag ('' for none), digest, tag ttl ms.
_LEARN = """
local gen = redis.call('GET', KEYS[1])
if gen ~= ARGV[1] then return 0 end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if ARGV[5] ~= '' then
  redis.call('SET', ARGV[4] .. gen .. '|' .. ARGV[5], ARGV[6], 'PX', ARGV[7])
end
return 1
"""


def generation_key(repository: str) -> str:
    return f"{PREFIX}{repository}|g"


def tag_prefix(repository: str) -> str:
    return f"{PREFIX}{repository}|t|"


def manifest_prefix(repository: str) -> str:
    return f"{PREFIX}{repository}|m|"


def encode_manifest(entry: CachedManifest) -> bytes:
    meta = {
        "d": entry.digest,
        "t": entry.media_type,
        "h": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in entry.headers],
    }
    return json.dumps(meta, separators=(",", ":")).encode() + b"\n" + entry.body


def decode_manifest(value: bytes) -> CachedManifest | None:
    meta_line, sep, body = value.partition(b"\n")
    if not sep:
        return None
    try:
        meta = json.loads(meta_line)
        headers = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in meta["h"])
        return CachedManifest(str(meta["d"]), str(meta["t"]), body, headers, 0.0)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass(frozen=True)
class SharedLookup:
    """What Redis held for one manifest request: the repository's generation (to store the
    registry's answer under) and, when known, what it learnt."""

    generation: str
    learnt: Learnt | None


class SharedLevel:
    """Lookups and learning in Redis for one replica, over its command connection. Entries
    live as long in Redis as in ``cache``; nothing is read while ``cache`` is off (its
    invalidation is not guaranteed then)."""

    def __init__(self, commands: redis.Redis, cache: ManifestCache) -> None:
        self.cache = cache
        self._lookup = commands.register_script(_LOOKUP)
        self._learn = commands.register_script(_LEARN)

    async def lookup(self, repository: str, reference: str) -> SharedLookup | None:
        """What the shared level knows of ``reference`` in ``repository``; None when Redis
        cannot say (not subscribed, or it failed: then nothing is learnt into it either)."""
        if not self.cache.enabled:
            return None
        by_digest = is_digest(reference)
        try:
            answer = await self._lookup(
                keys=[generation_key(repository)],
                args=[
                    tag_prefix(repository),
                    "" if by_digest else reference,
                    reference if by_digest else "",
                    manifest_prefix(repository),
                    GENERATION_SECONDS,
                ],
            )
        except (RedisError, OSError) as error:
            log.warning("manifest lookup in Redis failed: %s", error)
            return None
        generation = _text(answer[0])
        digest = _text(answer[1])
        if not digest:
            return SharedLookup(generation, None)
        now = time.monotonic()
        entry = decode_manifest(answer[2]) if answer[2] else None
        if entry is not None and (entry.digest != digest or not digest_matches(digest, entry.body)):
            log.warning("ignored a manifest in Redis that does not match %s", digest)
            entry = None
        if entry is not None:  # it expires here when it would have there
            age = self.cache.digest_ttl - max(0, int(answer[4])) / 1000
            entry = replace(entry, learnt_at=now - max(0.0, age))
        tag = None if by_digest else reference
        if entry is None and tag is None:
            return SharedLookup(generation, None)
        tag_age = self.cache.tag_ttl - max(0, int(answer[3])) / 1000
        return SharedLookup(generation, Learnt(digest, entry, tag, now - max(0.0, tag_age)))

    async def learnt(self, repository: str, generation: str, learnt: Learnt) -> None:
        """Share what this replica learnt from the registry, if ``repository`` has seen no
        write since ``generation`` was read."""
        entry = learnt.entry
        try:
            await self._learn(
                keys=[
                    generation_key(repository),
                    manifest_prefix(repository) + entry.digest if entry is not None else "",
                ],
                args=[
                    generation,
                    encode_manifest(entry) if entry is not None else b"",
                    int(self.cache.digest_ttl * 1000),
                    tag_prefix(repository),
                    learnt.tag or "",
                    learnt.digest,
                    int(self.cache.tag_ttl * 1000),
                ],
            )
        except (RedisError, OSError) as error:
            log.warning("could not share a manifest in Redis: %s", error)


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
