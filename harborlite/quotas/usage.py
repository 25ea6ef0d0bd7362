"""What the ``/v2/`` gateway tells the quotas: uploads, mounts and manifest pushes, checked
against the project's limit and recorded in one transaction each; and the registry's deletes.

Each check into a limited project takes the project's quota row first
(:func:`~harborlite.quotas.queries.lock_quota`: PostgreSQL's row lock, SQLite's write
transaction), so two pushes into one project are counted one after the other and cannot both
take the last free bytes; an unlimited project on PostgreSQL is not locked
(:func:`counting_hard`), so its pushes do not queue on one row. A refused request writes
nothing. An accepted one is recorded as pending at once; a request the registry then refuses is
given back (:func:`release`, :func:`manifest_refused`), so a refused push leaves the usage
where it was.

Pending rows count while the upload window lasts (a push in flight needs its layers counted
before its manifest arrives). A blob no manifest took (an abandoned push) stops counting when
the window has passed; a manifest the index lists, and what it names, count for as long as the
artifact exists; a deleted manifest's rows stop counting at once (:class:`RegistryWrites`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import utcnow
from harborlite.oci.fields import ManifestError
from harborlite.oci.manifest import parse_manifest
from harborlite.oci.reference import digest_of, is_digest
from harborlite.quotas import queries
from harborlite.quotas.limits import Overflow, already_over, overflow
from harborlite.quotas.models import UNLIMITED, QuotaBlob

log = logging.getLogger("harborlite.quotas")

MIN_WINDOW = timedelta(minutes=10)

WARNING_SHARE = 0.85  # a push taking a project to this share of its limit warns


def upload_window(minutes: int) -> timedelta:
    """How long an unreferenced upload counts: the garbage collection's time window (a blob
    younger than it may still be named by a push in flight), and never under 10 minutes."""
    return max(timedelta(minutes=minutes), MIN_WINDOW)


@dataclass(frozen=True)
class Clock:
    """The time of a check and the start of the window it counts pending rows in."""

    now: datetime
    cutoff: datetime

    @classmethod
    def of(cls, window: timedelta, now: datetime | None = None) -> Clock:
        current = now or utcnow()
        return cls(current, current - window)


@dataclass(frozen=True)
class Reservation:
    """A blob counted for an upload or a mount before the registry answered it."""

    project_id: int
    digest: str
    size: int
    at: datetime
    created: bool
    previous: datetime | None = None


@dataclass(frozen=True)
class ManifestPush:
    """A manifest about to be pushed: its digest and size, and the blobs it names (config,
    layers, an index's children) with the sizes it gives them."""

    digest: str
    size: int
    blobs: Mapping[str, int] = field(default_factory=dict)


def manifest_push(body: bytes) -> ManifestPush:
    """What a manifest body names, as Harbor counts it: an image's config and layers (foreign,
    non-distributable layers left out: they are not in the registry), an index's children.
    A body that does not parse counts its own bytes only (the registry will judge it)."""
    digest = digest_of(body)
    try:
        info = parse_manifest(body, None)
    except ManifestError:
        return ManifestPush(digest, len(body))
    blobs: dict[str, int] = {}
    if info.is_index:
        for child in info.references:
            blobs[child.digest] = max(child.size, 0)
    else:
        if info.config is not None:
            blobs[info.config.digest] = max(info.config.size, 0)
        for layer in info.layers:
            if (
                layer.urls
                or "foreign" in layer.media_type
                or "nondistributable" in layer.media_type
            ):
                continue
            blobs[layer.digest] = max(layer.size, 0)
    blobs.pop(digest, None)
    return ManifestPush(digest, len(body), blobs)


async def project_id_named(session: AsyncSession, name: str) -> int | None:
    found = await queries.project_and_hard(session, name)
    return None if found is None else found[0]


async def locked_hard(session: AsyncSession, project_id: int) -> int:
    """Lock the project's quota (made now with the system default if it has none); its limit."""
    hard = await queries.lock_quota(session, project_id)
    if hard is None:
        await queries.ensure_quota(session, project_id, await queries.default_hard(session))
        hard = await queries.lock_quota(session, project_id)
    return UNLIMITED if hard is None else hard


async def counting_hard(session: AsyncSession, project_id: int, known: int | None = None) -> int:
    """The limit a reservation counts against, read first thing in its transaction. A limited
    project's quota row is locked (:func:`locked_hard`), so reservations into it are counted
    one after the other. An unlimited project on PostgreSQL is only read: nothing there can be
    refused, and every push into one project must not queue on one row while holding a
    connection (the rows a reservation writes are unique per project and digest: two pushes of
    one blob conflict on it and the later one is tried again). SQLite always takes its write
    transaction first: it has one writer, and a read upgraded to a write later is refused.
    ``known``: the limit this transaction read already (not read again)."""
    if session.get_bind().dialect.name == "postgresql":
        hard = known if known is not None else await queries.hard_of(session, project_id)
        if hard == UNLIMITED:
            return UNLIMITED
    return await locked_hard(session, project_id)


async def refused_start(
    session: AsyncSession, project_id: int, clock: Clock, hard: int | None = None
) -> Overflow | None:
    """An upload about to start: refused when the project is over its limit already (``hard``:
    its limit when read already; else it is read here)."""
    if hard is None:
        hard = await queries.hard_of(session, project_id)
    if hard is None:
        hard = await queries.default_hard(session)
    if hard == UNLIMITED:
        return None
    return already_over(hard, await queries.usage(session, project_id, clock.cutoff))


async def reserve_blob(
    session: AsyncSession,
    project_id: int,
    digest: str,
    size: int,
    clock: Clock,
    known_hard: int | None = None,
) -> Reservation | Overflow:
    """Count ``digest`` (``size`` bytes) for the project, or the refusal when it does not fit.
    A blob the project counts already costs nothing (it is marked as touched by this push).
    ``known_hard``: the limit read already in this transaction."""
    hard = await counting_hard(session, project_id, known_hard)
    if hard == UNLIMITED and await queries.insert_blob(
        session, project_id, digest, size, clock.now
    ):
        return Reservation(project_id, digest, size, clock.now, created=True)  # one statement
    row = (await queries.blob_rows(session, project_id, [digest])).get(digest)
    counts = False  # an unlimited project: recorded, never refused, no need to know
    if row is not None and hard != UNLIMITED:
        counts = bool(await queries.counted_digests(session, project_id, [digest], clock.cutoff))
    if not counts and hard != UNLIMITED:
        used = await queries.usage(session, project_id, clock.cutoff)
        refused = overflow(hard, used, size)
        if refused is not None:
            return refused
    if row is None:
        session.add(
            QuotaBlob(project_id=project_id, digest=digest, size=size, pending_since=clock.now)
        )
        await session.flush()
        return Reservation(project_id, digest, size, clock.now, created=True)
    previous = row.pending_since
    row.pending_since = clock.now
    if not counts and size:
        row.size = size
    await session.flush()
    return Reservation(project_id, digest, size, clock.now, created=False, previous=previous)


async def release(session: AsyncSession, reservation: Reservation) -> None:
    """The registry did not take the upload: give the reservation back, unless another push
    touched the blob since."""
    await locked_hard(session, reservation.project_id)
    row = (await queries.blob_rows(session, reservation.project_id, [reservation.digest])).get(
        reservation.digest
    )
    if row is None or row.pending_since != reservation.at:
        return
    if reservation.created:
        await session.delete(row)
    else:
        row.pending_since = reservation.previous
    await session.flush()


async def confirm_size(session: AsyncSession, reservation: Reservation, size: int) -> None:
    """The registry stored the blob with ``size`` bytes (the reservation guessed another)."""
    await locked_hard(session, reservation.project_id)
    row = (await queries.blob_rows(session, reservation.project_id, [reservation.digest])).get(
        reservation.digest
    )
    if row is not None and row.size != size:
        row.size = size
        await session.flush()


async def reserve_manifest(
    session: AsyncSession,
    project_id: int,
    push: ManifestPush,
    clock: Clock,
    near_limit: Callable[[int, int], None] | None = None,
    known_hard: int | None = None,
) -> Overflow | None:
    """Count a manifest and what it names, or the refusal when it does not fit. Harbor's
    rule: the manifest's bytes plus every blob it names that the project does not count yet.
    ``near_limit(used, hard)`` is told when the push takes the project to
    :data:`WARNING_SHARE` of its limit or more (Harbor's quota warning). ``known_hard``: the
    limit read already in this transaction."""
    hard = await counting_hard(session, project_id, known_hard)
    wanted = {**push.blobs, push.digest: push.size}
    if hard != UNLIMITED:
        counts = await queries.counted_digests(session, project_id, wanted, clock.cutoff)
        adding = sum(size for digest, size in wanted.items() if digest not in counts)
        if adding:
            used = await queries.usage(session, project_id, clock.cutoff)
            refused = overflow(hard, used, adding)
            if refused is not None:
                return refused
            if near_limit is not None and used + adding >= WARNING_SHARE * hard:
                near_limit(used + adding, hard)
    await _write_manifest(session, project_id, push, clock, wanted)
    return None


async def record_manifest(
    session: AsyncSession, project_id: int, hard: int | None, push: ManifestPush, clock: Clock
) -> None:
    """Record a manifest the registry accepted (and what it names) as counted, in the index's
    transaction, when :func:`reserve_manifest` did not before the registry saw it: always for an
    unlimited project (nothing there could be refused, so nothing was checked first), else only
    when the manifest has no row (its limit was set within the second the guard trusted it
    unlimited): never refused, it is stored already."""
    wanted = {**push.blobs, push.digest: push.size}
    rows = await queries.blob_rows(session, project_id, wanted)
    if hard != UNLIMITED and push.digest in rows:
        return  # counted before the registry saw it
    await _write_manifest(session, project_id, push, clock, wanted, rows)


async def _write_manifest(
    session: AsyncSession,
    project_id: int,
    push: ManifestPush,
    clock: Clock,
    wanted: Mapping[str, int],
    rows: Mapping[str, QuotaBlob] | None = None,
) -> None:
    """The manifest's row (pending from now), the rows of the blobs it names, its references."""
    if rows is None:
        rows = await queries.blob_rows(session, project_id, wanted)
    manifest = rows.get(push.digest)
    if manifest is None:
        session.add(
            QuotaBlob(
                project_id=project_id,
                digest=push.digest,
                size=push.size,
                manifest=True,
                pending_since=clock.now,
            )
        )
    else:
        manifest.manifest, manifest.size, manifest.pending_since = True, push.size, clock.now
    # in digest order: two unlocked pushes naming the same blobs insert them in one order
    for digest, size in sorted(push.blobs.items()):
        if digest not in rows and digest != push.digest:  # counted through this manifest only
            session.add(QuotaBlob(project_id=project_id, digest=digest, size=size))
    await session.flush()
    await queries.insert_references(session, project_id, push.digest, sorted(push.blobs))


async def manifest_refused(
    session: AsyncSession, project_id: int, digest: str, since: datetime
) -> None:
    """The registry refused a manifest push counted at ``since``: it no longer counts."""
    await locked_hard(session, project_id)
    await queries.unsettled_manifest(session, project_id, digest, since)


class RegistryWrites:
    """Listens to every manifest write the registry answers (the proxy's and harborlite's own,
    :attr:`harborlite.upstream.client.Upstream.manifest_listeners`): a manifest deleted by
    digest stops counting as pending, with the blobs it names, so the usage drops as soon as
    the artifact leaves the index."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def registry_wrote(
        self, method: str, repository: str, reference: str, status: int, digest: str | None
    ) -> None:
        if method != "DELETE" or status != 202 or not is_digest(reference):
            return
        try:
            async with self.sessions() as session:
                project_id = await project_id_named(session, repository.split("/", 1)[0])
                if project_id is not None:
                    await queries.settle(session, project_id, reference)
                    await session.commit()
        except Exception:  # the delete went through; the usage catches up at a recount
            log.warning("could not settle the quota of %s@%s", repository, reference, exc_info=True)
