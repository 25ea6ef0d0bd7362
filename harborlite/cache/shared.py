"""The manifest cache across replicas, in Redis: invalidation over pub/sub, and a shared level.

Invalidation: each replica publishes the manifest writes its own upstream session sent (a tag
moved, a manifest or tag deleted) before its client hears of them, and applies what the
others publish. A replica that is not subscribed (Redis down, reconnecting) may have missed
news, so its cache is switched off and emptied until the subscription is back. A connection
can also die silently (no error, no close): each replica publishes a heartbeat and must hear
it back within three beats, or it treats the subscription as lost. A write Redis did not take
is kept and replayed, in order, as soon as Redis answers again (until then the others may
serve what it made stale, at most until their entries expire).

The shared level: what one replica learnt from the registry is kept in Redis too, so another
replica's first request for it is answered from Redis (one round trip) instead of the
registry. Three kinds of keys per repository R:

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
import time
from dataclasses import dataclass, replace
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from harborlite.cache.manifests import (
    CachedManifest,
    Learnt,
    ManifestCache,
)
from harborlite.oci.reference import digest_matches, is_digest

log = logging.getLogger("harborlite.registry")

CHANNEL = "harborlite:manifest-writes"
PREFIX = "hl:mc:"
GENERATION_SECONDS = 7 * 86400  # a generation key outlives every tag key learnt under it
MAX_PENDING = 10_000

# A missing generation key (never written, expired, or evicted) is created from the server's
# clock in microseconds, never '0': a generation can only move forward, so a tag key learnt
# under an older generation can never become valid again.
_GENERATION = """
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
    _GENERATION
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

# KEYS[1] generation key, KEYS[2] manifest key to delete ('' for none). ARGV: generation ttl s,
# channel, news. A new generation retires every tag answer learnt under the old one.
_WROTE = (
    _GENERATION
    + """
generation(KEYS[1], ARGV[1])
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if KEYS[2] ~= '' then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""
)


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
        heartbeat_seconds: float = 5.0,
    ) -> None:
        self.cache = cache
        self.instance = secrets.token_hex(8)
        self.retry_seconds = retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        # writes Redis did not take: announced once it answers again, oldest first
        self._pending: list[tuple[list[str], list[str | int]]] = []
        self._overflowed = False
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
                await self._flush_pending()
                self.cache.clear()  # whatever happened while we were not listening
                self.cache.enabled = True
                self.subscribed.set()
                await self._listen(pubsub)
            except asyncio.CancelledError:
                self._off()
                raise
            except Exception as error:  # RedisError, OSError, a silent connection, a bug
                if self.subscribed.is_set():
                    log.error("manifest cache off: Redis subscription lost (%s)", error)
                self._off()
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(self.retry_seconds)

    def _off(self) -> None:
        self.cache.enabled = False
        self.cache.clear()
        self.subscribed.clear()

    async def _listen(self, pubsub: Any) -> None:
        """Apply the others' news. Every ``heartbeat_seconds`` this replica publishes a beat
        and must hear it back within three beats: a connection that died without closing
        (no error, just silence) turns the cache off instead of letting it go stale."""
        loop = asyncio.get_running_loop()
        heard = loop.time()
        next_beat = 0.0
        while True:
            message = await pubsub.get_message(
                timeout=0.05 if self._pending else self.heartbeat_seconds / 2
            )
            if message is not None and message.get("type") == "message":
                if self._apply(message["data"]):
                    heard = loop.time()
            now = loop.time()
            if now - heard > 3 * self.heartbeat_seconds:
                raise ConnectionError("no heartbeat came back over the subscription")
            if self._pending or self._overflowed:
                await self._flush_pending()
            if now >= next_beat:
                await self._commands.publish(CHANNEL, json.dumps({"from": self.instance}))
                next_beat = now + self.heartbeat_seconds

    def _apply(self, data: bytes | str) -> bool:
        """Apply one message; True when it was this replica's own heartbeat."""
        try:
            news = json.loads(data)
            if news["from"] == self.instance:
                return "method" not in news
            if news.get("method") == "CLEAR":
                self.cache.clear()
                return False
            if "method" not in news:
                return False  # another replica's heartbeat
            self.cache.registry_wrote(
                news["method"], news["repository"], news["reference"], 201, news.get("digest")
            )
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed manifest-cache message")
        return False

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
        }
        # A write only invalidates: a manifest deleted by digest leaves the shared level, and
        # the new generation retires every tag answer of the repository. (What a pushed tag now
        # names is not written: pushes, and a write replayed late, can arrive out of order.)
        stale = ""
        if method == "DELETE" and is_digest(reference):
            stale = _manifest_prefix(repository) + reference
        keys = [_generation_key(repository), stale]
        args: list[str | int] = [GENERATION_SECONDS, CHANNEL, json.dumps(news)]
        if self._pending:  # keep the order: older writes first
            self._hold(keys, args)
            return
        try:
            await self._wrote(keys=keys, args=args)
        except (RedisError, OSError) as error:
            # Until Redis takes it, the others may serve what this write made stale: it is
            # retried with every heartbeat and before the next subscription.
            log.error("could not tell Redis of a manifest write (will retry): %s", error)
            self._hold(keys, args)

    def _hold(self, keys: list[str], args: list[str | int]) -> None:
        if len(self._pending) >= MAX_PENDING:
            self._overflowed = True  # too many to replay: everyone forgets everything instead
            self._pending.clear()
        self._pending.append((keys, args))

    async def _flush_pending(self) -> None:
        """Announce the writes Redis missed (raises if it still cannot take them)."""
        if self._overflowed:
            batch: list[bytes] = []
            async for key in self._commands.scan_iter(match=PREFIX + "*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    await self._commands.unlink(*batch)
                    batch.clear()
            if batch:
                await self._commands.unlink(*batch)
            await self._commands.publish(
                CHANNEL, json.dumps({"from": self.instance, "method": "CLEAR"})
            )
            self._overflowed = False
        while self._pending:
            keys, args = self._pending[0]
            await self._wrote(keys=keys, args=args)
            self._pending.pop(0)

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
        if self._pending or self._overflowed:  # a last try: the others must not stay stale
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._flush_pending(), 2.0)
            if self._pending or self._overflowed:
                log.error(
                    "%d manifest writes never reached Redis: other replicas may serve what "
                    "they made stale until their entries expire",
                    len(self._pending),
                )
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
        with contextlib.suppress(RedisError, OSError):
            await self._commands.aclose()


def _text(value: bytes | str | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
