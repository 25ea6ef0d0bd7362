"""Manifest cache invalidation across replicas, over Redis pub/sub.

Each replica publishes the manifest writes its own upstream session sent (a tag moved, a
manifest or tag deleted) before its client hears of them, and applies what the others
publish. A replica that is not subscribed (Redis down, reconnecting) may have missed news, so
its cache is switched off and emptied until the subscription is back. A connection can also
die silently (no error, no close): each replica publishes a heartbeat and must hear it back
within three beats, or it treats the subscription as lost. A write Redis did not take is kept
and replayed, in order, as soon as Redis answers again (until then the others may serve what
it made stale, at most until their entries expire).

A write raises the repository's generation in the shared level
(:mod:`harborlite.cache.shared`), deletes what it made stale and publishes the news in one
script, before the writing client hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from harborlite.cache.manifests import ManifestCache
from harborlite.cache.shared import (
    GENERATION_SCRIPT,
    GENERATION_SECONDS,
    PREFIX,
    SharedLevel,
    generation_key,
    manifest_prefix,
)
from harborlite.oci.reference import is_digest

log = logging.getLogger("harborlite.registry")

CLOSE_SECONDS = 2.0  # how long stop() waits for each Redis connection to close

CHANNEL = "harborlite:manifest-writes"
MAX_PENDING = 10_000

# KEYS[1] generation key, KEYS[2] manifest key to delete ('' for none). ARGV: generation ttl s,
# channel, news. A new generation retires every tag answer learnt under the old one.
_WROTE = (
    GENERATION_SCRIPT
    + """
generation(KEYS[1], ARGV[1])
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1])
if KEYS[2] ~= '' then redis.call('DEL', KEYS[2]) end
redis.call('PUBLISH', ARGV[2], ARGV[3])
return 1
"""
)


class ManifestCacheSync:
    """One replica's link to Redis: its subscription, its published writes and, as
    :attr:`shared`, its lookups in the shared level."""

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
        self._client = redis.Redis.from_url(url, socket_connect_timeout=2)
        # commands on the request path: a Redis that stops answering costs at most this long
        self._commands = redis.Redis.from_url(
            url, socket_connect_timeout=command_timeout, socket_timeout=command_timeout
        )
        self.shared = SharedLevel(self._commands, cache)
        self._wrote = self._commands.register_script(_WROTE)
        self._task: asyncio.Task[None] | None = None
        self.subscribed = asyncio.Event()

    # ------------------------------------------------------------------ the subscription

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
                    await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # untyped before redis-py 8
            await asyncio.sleep(self.retry_seconds)

    def _off(self) -> None:
        self.cache.enabled = False
        self.cache.clear()
        self.subscribed.clear()

    async def _listen(self, pubsub: PubSub) -> None:
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

    # ------------------------------------------------------------------ publishing writes

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
            stale = manifest_prefix(repository) + reference
        keys = [generation_key(repository), stale]
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
        # a connection that went silent must not hold the stop: closing may wait for a reply
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._client.aclose(), CLOSE_SECONDS)
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            await asyncio.wait_for(self._commands.aclose(), CLOSE_SECONDS)
