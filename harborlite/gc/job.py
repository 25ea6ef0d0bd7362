"""The garbage collection job: untagged artifacts (when asked), then the blobs no manifest in
the registry names, off the disk, while pushes and pulls go on.

1. Wait until every replica knows a collection runs (their gateways fence from then on).
2. With ``delete_untagged``: delete the artifacts with no tag that no index names, pushed
   before the time window (an index's children are pushed untagged just before it).
3. Mark: every manifest of every repository in storage, and what each names.
4. Candidates: blobs in storage not marked, written before the time window; recorded as
   ``delete``. Mark again: a manifest pushed between the two marks keeps what it names (after
   the candidates are recorded, the gateway's fence does that).
5. Sweep: each candidate moves ``delete`` to ``deleting`` (compare-and-set: a touched one is
   gone from the table and stays in storage), its data is removed, its row dropped. On S3 a
   batch of up to 1,000 candidates moves at once and goes in one ``DeleteObjects`` call.

A dry run stops after 4 and reports what it would delete. The registry runs without a blob
descriptor cache (harborlite writes its configuration), so it never claims a swept blob.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import delete, exists, select, update

from harborlite.artifacts import operations as artifact_operations
from harborlite.artifacts.accessories import IS_LINKED_ACCESSORY
from harborlite.audit.events import Actor
from harborlite.db.models import Artifact, ArtifactReference, GcCandidate, Repository, Tag
from harborlite.gc import storage
from harborlite.gc.fence import DELETING, KEPT, MARKED, insert_ignoring_duplicates
from harborlite.jobs.runner import JobContext
from harborlite.storage.configured import StorageLike, storage_of
from harborlite.storage.store import RegistryStorage
from harborlite.upstream.client import Upstream

GC = "gc"
FENCE_DELAY_SECONDS = 2.5  # > the job runner's tick: every replica's gateway knows by then
ACTOR = Actor("gc")


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GiB"


async def run_gc(
    context: JobContext,
    upstream: Upstream,
    where: StorageLike,
    window_seconds: float,
) -> None:
    dry_run = bool(context.parameters.get("dry_run", False))
    untagged = bool(context.parameters.get("delete_untagged", True))
    workers = max(1, min(10, int(context.parameters.get("workers", 1) or 1)))
    store = storage_of(where)
    if store is None or not await asyncio.to_thread(store.writable):
        raise RuntimeError(
            "garbage collection needs write access to the registry's storage: the embedded "
            "registry, an external one with HARBORLITE_REGISTRY_STORAGE on a writable mount, "
            "or S3 (HARBORLITE_STORAGE=s3)"
        )
    context.log(
        f"garbage collection{' (dry run)' if dry_run else ''} in {store.describe()}: "
        f"delete_untagged={untagged}, "
        f"workers={workers}, time window {window_seconds:.0f} s"
    )
    async with context.sessions() as session:  # kept by an earlier run, or after it ended
        await session.execute(delete(GcCandidate).where(GcCandidate.status == KEPT))
        await session.commit()
    await asyncio.sleep(FENCE_DELAY_SECONDS)
    cutoff = time.time() - window_seconds
    if untagged:
        count = await _untagged(context, upstream, cutoff, dry_run)
        context.result["untagged_artifacts"] = count
        context.log(f"{'would delete' if dry_run else 'deleted'} {count} untagged artifacts")
    context.check()
    context.progress = 10
    marked = await asyncio.to_thread(storage.referenced, store)
    blobs = await asyncio.to_thread(storage.stored_blobs, store)
    candidates = [b for b in blobs if b.digest not in marked and b.modified < cutoff]
    young = sum(1 for b in blobs if b.digest not in marked and b.modified >= cutoff)
    context.log(
        f"{len(blobs)} blobs in storage, {len(marked)} named by manifests, "
        f"{len(candidates)} unreferenced ({_human(sum(b.size for b in candidates))}), "
        f"{young} unreferenced but younger than the time window (kept)"
    )
    context.progress = 30
    if dry_run:
        context.result.update(
            blobs=len(candidates), bytes=sum(b.size for b in candidates), dry_run=True
        )
        for blob in candidates[:1000]:
            context.log(f"would delete {blob.digest} ({_human(blob.size)})")
        return
    execution = context.execution_id
    async with context.sessions() as session:
        for start in range(0, len(candidates), 500):
            await insert_ignoring_duplicates(  # a blob a client touched already stays kept
                session,
                [
                    {
                        "digest": b.digest,
                        "status": MARKED,
                        "size": b.size,
                        "execution_id": execution,
                    }
                    for b in candidates[start : start + 500]
                ],
            )
        await session.commit()
    try:
        again = await asyncio.to_thread(storage.referenced, store)
        async with context.sessions() as session:
            kept = [b.digest for b in candidates if b.digest in again]
            if kept:
                await session.execute(delete(GcCandidate).where(GcCandidate.digest.in_(kept)))
                context.log(f"{len(kept)} candidates named by a manifest pushed meanwhile: kept")
            await session.commit()
        freed, swept = await _sweep(context, store, candidates, set(kept), workers)
        context.result.update(blobs=swept, bytes=freed)
        context.log(f"deleted {swept} blobs, freed {_human(freed)}")
    finally:  # this run's candidates, and what clients kept from it
        async with context.sessions() as session:
            await session.execute(
                delete(GcCandidate).where(
                    (GcCandidate.execution_id == execution) | (GcCandidate.status == KEPT)
                )
            )
            await session.commit()


async def _sweep(
    context: JobContext,
    store: RegistryStorage,
    candidates: list[storage.StoredBlob],
    kept: set[str],
    workers: int,
) -> tuple[int, int]:
    queue = [b for b in candidates if b.digest not in kept]
    total = max(1, len(queue))
    done = [0, 0, 0]  # bytes freed, blobs swept, blobs handled

    async def worker() -> None:
        while queue:
            context.check()
            batch = [queue.pop() for _ in range(min(store.batch, len(queue)))]
            digests = [b.digest for b in batch]
            async with context.sessions() as session:
                await session.execute(
                    update(GcCandidate)
                    .where(GcCandidate.digest.in_(digests), GcCandidate.status == MARKED)
                    .values(status=DELETING)
                )
                won = set(
                    (
                        await session.execute(
                            select(GcCandidate.digest).where(
                                GcCandidate.digest.in_(digests), GcCandidate.status == DELETING
                            )
                        )
                    ).scalars()
                )
                await session.commit()
                going = [b for b in batch if b.digest in won]
                if going:
                    freed = await asyncio.to_thread(storage.remove_blobs, store, going)
                    done[0] += freed
                    done[1] += len(going)
                    await session.execute(
                        delete(GcCandidate).where(GcCandidate.digest.in_(sorted(won)))
                    )
                    await session.commit()
                for blob in batch:
                    if blob.digest not in won:
                        context.log(f"{blob.digest} was used meanwhile: kept")
            done[2] += len(batch)
            context.progress = 30 + int(70 * done[2] / total)

    await asyncio.gather(*(worker() for _ in range(workers)))
    return done[0], done[1]


async def _untagged(context: JobContext, upstream: Upstream, cutoff: float, dry_run: bool) -> int:
    """Delete (or count) artifacts with no tag that no index names, older than ``cutoff``."""
    before = datetime.fromtimestamp(cutoff, UTC)
    async with context.sessions() as session:
        rows = (
            (
                await session.execute(
                    select(Artifact.id)
                    .where(
                        ~exists().where(Tag.artifact_id == Artifact.id),
                        ~exists().where(ArtifactReference.child_id == Artifact.id),
                        ~IS_LINKED_ACCESSORY,  # a signature goes with its subject, not alone
                        Artifact.push_time < before,
                    )
                    .order_by(Artifact.id)
                )
            )
            .scalars()
            .all()
        )
    if dry_run:
        return len(rows)
    deleted = 0
    for artifact_id in rows:
        context.check()
        async with context.sessions() as session:
            artifact = await session.get(Artifact, artifact_id)
            if artifact is None:
                continue
            repository = await session.get(Repository, artifact.repository_id)
            if repository is None:
                continue
            try:
                digests = await artifact_operations.delete_artifact(
                    session, upstream, repository, artifact, by=ACTOR
                )
                await session.commit()
            except Exception as error:  # tagged or named meanwhile, the registry away: next
                context.log(f"kept {repository.name}@{artifact.digest}: {error}")
                continue
            deleted += len(digests)
            context.log(f"deleted untagged {repository.name}@{artifact.digest}")
    return deleted
