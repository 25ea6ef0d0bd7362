"""The database's exceptions, translated into the error tree at the boundary (here only).

A unique key that a concurrent writer took first is a :class:`Conflict`; a database that is
locked or gone is :class:`UpstreamUnavailable`. Operations that know what the key means call
:func:`flush_unique` to say so; every surface's renderer calls :func:`translated` for the rest.
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.errors import Conflict, HarborliteError, UpstreamUnavailable


def translated(error: BaseException) -> HarborliteError | None:
    """The error a client is told for a database exception, or None if it is not one."""
    if isinstance(error, IntegrityError):
        return Conflict("the change conflicts with another one made at the same time")
    if isinstance(error, OperationalError):
        return UpstreamUnavailable("the database is busy or unreachable; try again")
    return None


async def flush_unique(session: AsyncSession, message: str) -> None:
    """Flush, and answer ``Conflict(message)`` if a unique key was taken meanwhile.

    The check-then-insert of an operation races other writers; the database decides, and the
    loser's transaction is rolled back so nothing half-done stays."""
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise Conflict(message) from None
