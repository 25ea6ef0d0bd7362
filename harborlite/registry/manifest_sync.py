"""Manifest cache invalidation across replicas, over Redis pub/sub.

Each replica publishes the manifest writes its own upstream session sent (a tag moved, a
manifest or tag deleted) before its client hears of them, and applies what the others
publish. A replica that is not subscribed (Redis down, reconnecting) may have missed news, so
its cache is switched off and emptied until the subscription is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from harborlite.registry.manifest_cache import ManifestCache

log = logging.getLogger("harborlite.registry")

CHANNEL = "harborlite:manifest-writes"


class ManifestCacheSync:
    def __init__(self, url: str, cache: ManifestCache, retry_seconds: float = 1.0) -> None:
        self.cache = cache
        self.instance = secrets.token_hex(8)
        self.retry_seconds = retry_seconds
        self._client: Any = redis.Redis.from_url(url, socket_connect_timeout=2)
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
        try:
            await self._client.publish(CHANNEL, json.dumps(news))
        except (RedisError, OSError) as error:
            log.error("could not publish a manifest write to Redis: %s", error)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
