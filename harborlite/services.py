"""What every surface reaches through one typed accessor: opened in the lifespan, closed after."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from harborlite.accounts.lockout import Lockout
from harborlite.accounts.passwords import CredentialCache
from harborlite.auth.access_cache import AccessCache
from harborlite.auth.issued import IssuedTokens
from harborlite.auth.revocation import Revocations
from harborlite.auth.tokens import TokenSigner
from harborlite.events.bus import EventBus
from harborlite.observability.metrics import Metrics
from harborlite.settings import Settings

if TYPE_CHECKING:
    from harborlite.artifacts.pulls import PullRecorder
    from harborlite.cache.invalidation import ManifestCacheSync
    from harborlite.cache.manifests import ManifestCache
    from harborlite.jobs.runner import JobRunner
    from harborlite.storage.store import RegistryStorage
    from harborlite.upstream.client import Upstream
    from harborlite.upstream.supervisor import RegistrySupervisor


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    signer: TokenSigner
    credentials: CredentialCache
    upstream: Upstream
    pulls: PullRecorder
    manifests: ManifestCache  # the /v2/ manifest answers kept in memory
    supervisor: RegistrySupervisor | None = None
    manifest_sync: ManifestCacheSync | None = None  # Redis: invalidation and a shared level
    failures: Lockout = field(default_factory=Lockout)
    access: AccessCache = field(default_factory=AccessCache)
    revocations: Revocations = field(default_factory=Revocations)
    issued: IssuedTokens = field(default_factory=IssuedTokens)  # tokens handed out again
    started_at: float = field(default_factory=time.time)
    storage_root: Path | None = None  # the registry's filesystem storage, if readable
    storage: RegistryStorage | None = None  # the registry's storage (folder or S3), if reachable
    jobs: JobRunner | None = None  # the background job runner
    metrics: Metrics = field(default_factory=Metrics)  # /metrics: the app's own registry
    events: EventBus = field(default_factory=EventBus)  # artifact events, to subscribers


def services_of(request_or_scope: Any) -> Services:
    """The running app's services, from a request or an ASGI scope (lifespan state)."""
    scope = request_or_scope if isinstance(request_or_scope, dict) else request_or_scope.scope
    result: Services = scope["state"]["services"]
    return result
