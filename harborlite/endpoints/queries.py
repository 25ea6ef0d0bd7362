"""Registry endpoints in the database. Each function takes a session.

:class:`Endpoint` is what the rest of harborlite works with: the row with its secret opened,
never rendered by the API. Replication and proxy cache load one with :func:`get_endpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import MAX_KEY, Base
from harborlite.endpoints.models import Registry
from harborlite.sealing import SecretBox

TYPES = ("harbor", "docker-registry", "docker-hub")
DOCKER_HUB_URL = "https://registry-1.docker.io"


@dataclass(frozen=True)
class Endpoint:
    """A remote registry and how to reach it (the password decrypted: keep it out of logs)."""

    id: int
    name: str
    type: str  # "harbor" | "docker-registry" | "docker-hub"
    url: str
    insecure: bool
    ca_pem: str | None
    username: str | None
    password: str | None = field(repr=False)
    rate_per_second: float | None
    description: str
    status: str  # "healthy" | "unhealthy" | "unknown"


def endpoint_of(row: Registry, secrets: SecretBox) -> Endpoint:
    password = secrets.open(row.access_secret_sealed) if row.access_secret_sealed else None
    return Endpoint(
        id=row.id,
        name=row.name,
        type=row.type,
        url=row.url,
        insecure=row.insecure,
        ca_pem=row.ca_certificate or None,
        username=row.access_key or None,
        password=password,
        rate_per_second=row.rate_per_second,
        description=row.description,
        status=row.status,
    )


async def get_registry(session: AsyncSession, registry_id: int) -> Registry | None:
    if registry_id > MAX_KEY:
        return None
    return await session.get(Registry, registry_id)


async def get_endpoint(
    session: AsyncSession, endpoint_id: int, secrets: SecretBox
) -> Endpoint | None:
    row = await get_registry(session, endpoint_id)
    return None if row is None else endpoint_of(row, secrets)


async def find_by_name(session: AsyncSession, name: str) -> Registry | None:
    query = select(Registry).where(Registry.name == name)
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def list_registries(
    session: AsyncSession,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[Registry], int]:
    """One page of endpoints (ordered, then by id) and the total that matches."""
    query = select(Registry).where(*conditions)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    query = query.order_by(*order_by, Registry.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return list((await session.execute(query)).scalars()), total


async def all_registry_ids(session: AsyncSession) -> list[int]:
    return list((await session.execute(select(Registry.id).order_by(Registry.id))).scalars())


async def record_health(
    session: AsyncSession, registry_id: int, status: str, message: str, when: datetime
) -> None:
    row = await session.get(Registry, registry_id)
    if row is not None:
        row.status = status
        row.status_message = message
        row.checked_time = when


async def references(session: AsyncSession, registry_id: int) -> list[tuple[str, int]]:
    """The tables whose rows name this endpoint, with how many rows do: every column of the
    shared metadata declared ``ForeignKey("registries.id")`` (replication policies, proxy-cache
    projects) counts, so a delete can be refused while anything uses the endpoint."""
    found: list[tuple[str, int]] = []
    for table in Base.metadata.sorted_tables:
        if table.name == Registry.__tablename__:
            continue
        for column in table.columns:
            if any(fk.target_fullname == "registries.id" for fk in column.foreign_keys):
                query = select(func.count()).select_from(table).where(column == registry_id)
                count = int((await session.execute(query)).scalar_one())
                if count:
                    found.append((table.name, count))
    return found
