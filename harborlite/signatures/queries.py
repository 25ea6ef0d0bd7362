"""Trusted keys and what a pull decision reads, in the database. Each function takes a session."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, ArtifactReference, Project, Repository, Tag
from harborlite.signatures.models import CosignKey


async def list_keys(session: AsyncSession, project_id: int) -> list[CosignKey]:
    rows = await session.execute(
        select(CosignKey).where(CosignKey.project_id == project_id).order_by(CosignKey.id)
    )
    return list(rows.scalars())


async def count_keys(session: AsyncSession, project_id: int) -> int:
    query = select(func.count(CosignKey.id)).where(CosignKey.project_id == project_id)
    return int((await session.execute(query)).scalar_one())


async def get_key(session: AsyncSession, key_id: int) -> CosignKey | None:
    return await session.get(CosignKey, key_id)


async def find_key(session: AsyncSession, project_id: int, fingerprint: str) -> CosignKey | None:
    query = select(CosignKey).where(
        CosignKey.project_id == project_id, CosignKey.fingerprint == fingerprint
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def project_policy_rows(
    session: AsyncSession, project: str
) -> tuple[dict[str, str], list[str]] | None:
    """The named project's metadata and its keys' PEMs (None: no such project)."""
    row = (
        await session.execute(
            select(Project.id, Project.project_metadata).where(Project.name == project)
        )
    ).first()
    if row is None:
        return None
    pems = await session.execute(
        select(CosignKey.pem).where(CosignKey.project_id == row[0]).order_by(CosignKey.id)
    )
    return dict(row[1] or {}), [str(pem) for pem in pems.scalars()]


async def digest_of_tag(session: AsyncSession, repository: str, tag: str) -> str | None:
    query = (
        select(Artifact.digest)
        .join(Tag, Tag.artifact_id == Artifact.id)
        .join(Repository, Repository.id == Tag.repository_id)
        .where(Repository.name == repository, Tag.name == tag)
    )
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def is_accessory(session: AsyncSession, repository: str, digest: str) -> bool:
    """Whether the manifest is itself an accessory (a signature, an SBOM...) of another."""
    query = (
        select(Artifact.id)
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(
            Repository.name == repository,
            Artifact.digest == digest,
            Artifact.subject_digest.is_not(None),
        )
    )
    return (await session.execute(query.limit(1))).first() is not None


async def parent_digests(session: AsyncSession, repository: str, digest: str) -> list[str]:
    """The indexes of the repository that list ``digest`` (a platform image of a multi-arch
    image is signed through its index, as cosign signs by default)."""
    parent = Artifact
    query = (
        select(parent.digest)
        .join(ArtifactReference, ArtifactReference.parent_id == parent.id)
        .join(Repository, Repository.id == parent.repository_id)
        .where(Repository.name == repository, ArtifactReference.child_digest == digest)
    )
    return [str(d) for d in (await session.execute(query.limit(16))).scalars()]
