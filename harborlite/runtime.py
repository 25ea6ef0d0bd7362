"""Opening what harborlite runs on, one way for ``serve``, the CLI commands and ``reindex``.

Each opener is an async context manager that closes what it opened, in reverse order, however
the block ends: the database (data folder, migrations, first-start state), the token signer,
and the registry (the supervised child of the embedded default, or the configured one).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from harborlite.auth.tokens import TokenSigner
from harborlite.bootstrap import ensure_initial_state, prepare_data_dir
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.settings import Settings
from harborlite.upstream.client import Upstream
from harborlite.upstream.supervisor import RegistrySupervisor

log = logging.getLogger("harborlite")


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    generated_admin_password: str | None  # set on the first start only, shown once


@asynccontextmanager
async def open_database(settings: Settings, *, first_start: bool = True) -> AsyncIterator[Database]:
    """The data folder prepared, the schema migrated, and (``first_start``) ``admin`` and
    ``library`` present."""
    prepare_data_dir(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        generated = None
        if first_start:
            async with sessions() as session:
                generated = await ensure_initial_state(session, settings)
        yield Database(engine, sessions, generated)
    finally:
        await engine.dispose()


def load_signer(settings: Settings, expiration_seconds: int | None = None) -> TokenSigner:
    return TokenSigner.load(
        settings.key_path,
        settings.cert_path,
        issuer=settings.token_issuer,
        service=settings.token_service,
        expiration_seconds=(
            settings.token_expiration_minutes * 60
            if expiration_seconds is None
            else expiration_seconds
        ),
    )


@dataclass(frozen=True)
class Registry:
    url: str
    supervisor: RegistrySupervisor | None  # the embedded child, None for an external registry


@asynccontextmanager
async def open_registry(settings: Settings, *, purpose: str = "") -> AsyncIterator[Registry]:
    """The embedded registry child started (and stopped after), or the configured registry.

    ``purpose`` names a second child's log and config files (``reindex`` runs beside a server)."""
    if not settings.embedded_registry:
        assert settings.registry_url is not None
        storage = settings.external_registry_storage
        if storage is not None and not storage.is_dir():
            raise SystemExit(
                f"HARBORLITE_REGISTRY_STORAGE={storage} is not a folder harborlite can read"
            )
        yield Registry(settings.registry_url, None)
        return
    supervisor = RegistrySupervisor(settings)
    if purpose:
        supervisor.log_path = settings.data_dir / f"registry-{purpose}.log"
        supervisor.config_path = settings.data_dir / f"registry-{purpose}.yml"
    await supervisor.start()
    try:
        yield Registry(supervisor.url, supervisor)
    finally:
        await supervisor.stop()


@asynccontextmanager
async def open_upstream(registry_url: str, signer: TokenSigner) -> AsyncIterator[Upstream]:
    """The registry client (one aiohttp session), closed after."""
    upstream = Upstream.open(registry_url, signer)
    try:
        yield upstream
    finally:
        await upstream.close()
