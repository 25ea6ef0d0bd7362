"""The manifest cache across replicas, in Redis: invalidation over pub/sub, and a shared level.

Invalidation: each replica publishes the manifest writes its own upstream session sent (a tag
moved, a manifest or tag deleted) before its client hears of them, and applies what the
others publish. A replica that is not subscribed (Redis down, reconnecting) may have missed
news, so its cache is switched off and emptied until the subscription is back.

The shared level: what one replica learnt from the registry is kept in Redis too, so another
replica's first request for it is answered from Redis (one round trip) instead of the
registry. Three kinds of keys per repository R:

- ``hl:mc:R|g``: R's generation, raised by every manifest write to R;
- ``hl:mc:R|m|DIGEST``: the manifest (body, media type, the registry's headers), deleted with
  it; its body is checked against DIGEST whenever it is read back;
- ``hl:mc:R|t|GEN|TAG``: the digest TAG names, valid for generation GEN only, so any write to
  R retires every tag answer learnt before it (and they expire).

A replica reads R's generation with its lookup, before it asks the registry, and stores what
the registry answered only if the generation is still the same (a Lua script checks and
writes at once): an answer that raced a push or delete is never shared. A write raises the
generation, deletes what it made stale and publishes the news in one script, before the
writing client hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from harborlite.registry.manifest_cache import (
    CachedManifest,
    Learnt,
    ManifestCache,
    digest_matches,
    is_digest,
)

log = logging.getLogger("harborlite.registry")

CHANNEL = "harborlite:manifest-writes"
PREFIX = "hl:mc:"
GENERATION_SECONDS = 7 * 86400  # a generation key outlives every tag key learnt under it

# KEYS[1] generation key. ARGV: tag key prefix (without GEN), tag ('' by digest), digest ('' by
# tag), manifest key prefix (without DIGEST). Returns {gen}, {gen, digest} or {gen, digest, m}.
_LOOKUP = """
local gen = redis.call('GET', KEYS[1]) or '0'
local digest = ARGV[3]
if digest == '' then
  digest = redis.call('GET', ARGV[1] .. gen .. '|' .. ARGV[2])
  if not digest then return {gen} end
end
local manifest = redis.call('GET', ARGV[4] .. digest)
if not manifest then return {gen, digest} end
return {gen, digest, manifest}
"""

# KEYS[1] generation key, KEYS[2] manifest key ('' when none). ARGV: generation read by the
# lookup, manifest value, manifest ttl ms, tag key prefix, tag ('' for none), digest, tag ttl ms.
_LEARN = """
local gen = redis.call('GET', KEYS[1]) or '0'
if gen ~= ARGV[1] then return 0 end
if KEYS[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
if ARGV[5] ~= '' then
  redis.call('SET', ARGV[4] .. gen .. '|' .. ARGV[5], ARGV[6], 'PX', ARGV[7])
end
return 1
"""

# KEYS[1] generation key, KEYS[2] manifest key to delete ('' for none). ARGV: generation ttl s,
# tag key prefix, tag to set ('' for none), digest, tag ttl ms, channel, news.
_WROTE = """
local gen = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if KEYS[2] ~= '' then redis.call('DEL', KEYS[2]) end
if ARGV[3] ~= '' then
  redis.call('SET', ARGV[2] .. gen .. '|' .. ARGV[3], ARGV[4], 'PX', ARGV[5])
end
redis.call('PUBLISH', ARGV[6], ARGV[7])
return gen
"""


def _generation_key(repository: str) -> str:
    return f"{PREFIX}{repository}|g"


def _tag_prefix(repository: str) -> str:
    return f"{PREFIX}{repository}|t|"


def _manifest_prefix(repository: str) -> str:
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


class ManifestCacheSync:
    def __init__(
        self,
        url: str,
        cache: ManifestCache,
        retry_seconds: float = 1.0,
        command_timeout: float = 1.0,
    ) -> None:
        self.cache = cache
        self.instance = secrets.token_hex(8)
        self.retry_seconds = retry_seconds
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=2)
        # commands on the request path: a Redis that stops answering costs at most this long
        self._commands: Any = redis.Redis.from_url(
            url, socket_connect_timeout=command_timeout, socket_timeout=command_timeout
        )
        self._lookup = self._commands.register_script(_LOOKUP)
        self._learn = self._commands.register_script(_LEARN)
        self._wrote = self._commands.register_script(_WROTE)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()
        self.shared_hits = 0

    async def start(self, wait: float = 2.0) -> None:
        """Subscribe (waiting up to ``wait`` seconds); the cache stays off until subscribed."""
        self.cache.enabled = False
        self._task = asyncio.create_task(self._run(), name="manifest-cache-sync")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), wait)
        if not self.subscribed.is_set():
            log.error("manifest cache is off until Redis answers (invalidation across replicas)")

    async def _run(self) -> None:
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CHANNEL)
                self.cache.clear()  # whatever happened while we were not listening
                self.cache.enabled = True
                self.subscribed.set()
                while True:
                    message = await pubsub.get_message(timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        self._apply(message["data"])
            except (RedisError, OSError) as error:
                if self.subscribed.is_set():
                    log.error("manifest cache off: Redis subscription lost (%s)", error)
                self.cache.enabled = False
                self.cache.clear()
                self.subscribed.clear()
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()
            await asyncio.sleep(self.retry_seconds)

    def _apply(self, data: bytes | str) -> None:
        try:
            news = json.loads(data)
            if news["from"] == self.instance:
                return
            self.cache.registry_wrote(
                news["method"], news["repository"], news["reference"], 201, news.get("digest")
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed manifest-cache message")

    async def published(
        self, method: str, repository: str, reference: str, status: int, digest: str | None
    ) -> None:
        """Upstream listener: tell the other replicas about a manifest write."""
        if not 200 <= status < 300:
            return
        news = {
            "from": self.instance,
            "method": method,
            "repository": repository,
            "reference": reference,
            "digest": digest,
        }
        # a manifest deleted by digest leaves the shared level; a tag pushed names its digest
        stale = ""
        if method == "DELETE" and is_digest(reference):
            stale = _manifest_prefix(repository) + reference
        tag = reference if method == "PUT" and digest and not is_digest(reference) else ""
        try:
            await self._wrote(
                keys=[_generation_key(repository), stale],
                args=[
                    GENERATION_SECONDS,
                    _tag_prefix(repository),
                    tag,
                    digest or "",
                    int(self.cache.tag_ttl * 1000),
                    CHANNEL,
                    json.dumps(news),
                ],
            )
        except (RedisError, OSError) as error:
            # the others may now serve what this write made stale until their entries expire
            log.error("could not tell Redis of a manifest write: %s", error)

    async def lookup(self, repository: str, reference: str) -> SharedLookup | None:
        """What the shared level knows of ``reference`` in ``repository``; None when Redis
        cannot say (not subscribed, or it failed: then nothing is learnt into it either)."""
        if not self.cache.enabled:
            return None
        by_digest = is_digest(reference)
        try:
            answer = await self._lookup(
                keys=[_generation_key(repository)],
                args=[
                    _tag_prefix(repository),
                    "" if by_digest else reference,
                    reference if by_digest else "",
                    _manifest_prefix(repository),
                ],
            )
        except (RedisError, OSError) as error:
            log.warning("manifest lookup in Redis failed: %s", error)
            return None
        generation = _text(answer[0])
        if len(answer) < 2:
            return SharedLookup(generation, None)
        digest = _text(answer[1])
        entry = decode_manifest(answer[2]) if len(answer) > 2 else None
        if entry is not None and (entry.digest != digest or not digest_matches(digest, entry.body)):
            log.warning("ignored a manifest in Redis that does not match %s", digest)
            entry = None
        tag = None if by_digest else reference
        if entry is None and tag is None:
            return SharedLookup(generation, None)
        return SharedLookup(generation, Learnt(digest, entry, tag))

    async def learnt(self, repository: str, generation: str, learnt: Learnt) -> None:
        """Share what this replica learnt from the registry, if ``repository`` has seen no
        write since ``generation`` was read."""
        entry = learnt.entry
        try:
            await self._learn(
                keys=[
                    _generation_key(repository),
                    _manifest_prefix(repository) + entry.digest if entry is not None else "",
                ],
                args=[
                    generation,
                    encode_manifest(entry) if entry is not None else b"",
                    int(self.cache.digest_ttl * 1000),
                    _tag_prefix(repository),
                    learnt.tag or "",
                    learnt.digest,
                    int(self.cache.tag_ttl * 1000),
                ],
            )
        except (RedisError, OSError) as error:
            log.warning("could not share a manifest in Redis: %s", error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._commands.aclose()


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
