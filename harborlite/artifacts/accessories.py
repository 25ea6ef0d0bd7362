"""What refers to an artifact: OCI 1.1 referrers and Harbor's accessories.

An artifact is an *accessory* of another (its *subject*, by digest, in the same repository)
when it says so, or when its tag does:

- ``subject``: the manifest's OCI 1.1 ``subject`` field;
- ``tag``: cosign's legacy layout, a ``sha256-<hex>.sig`` tag on a manifest with a
  ``application/vnd.dev.cosign.simplesigning.v1+json`` layer (Harbor's cosign middleware);
- ``fallback``: listed in a referrers-tag-schema index (a ``sha256-<hex>`` tag) that a client
  wrote while the registry had no referrers API, imported by ``harborlite reindex``.

Harbor's type follows from the ``artifactType`` (else the config media type), as Harbor 2.15
classifies (``src/server/middleware/subject/subject.go``): notation's signature type gives
``signature.notation``; cosign 2's ``artifact.sig`` type and cosign 3's Sigstore bundle give
``signature.cosign``; Harbor's SBOM type gives ``sbom.harbor``; anything else
``subject.accessory``. A legacy ``.sig`` is always ``signature.cosign``.

The subject may arrive after its accessory: the link is the digest, so it holds as soon as the
subject is indexed. The referrers API lists the ``subject`` and ``fallback`` links (manifests
that name the digest), the accessories API all three.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.paging import page_of
from harborlite.artifacts.top_level import IS_LINKED_ACCESSORY as IS_LINKED_ACCESSORY
from harborlite.artifacts.top_level import refresh
from harborlite.db.models import Artifact, Repository, Tag
from harborlite.oci.mediatypes import (
    COSIGN_ARTIFACT_SIGNATURE,
    HARBOR_SBOM,
    NOTATION_SIGNATURE,
    SIGSTORE_BUNDLE_V03,
)

SIGNATURE_COSIGN = "signature.cosign"
SIGNATURE_NOTATION = "signature.notation"
SBOM_HARBOR = "sbom.harbor"
SUBJECT_ACCESSORY = "subject.accessory"
SIGNATURE_TYPES = frozenset({SIGNATURE_COSIGN, SIGNATURE_NOTATION})

BY_SUBJECT = "subject"
BY_TAG = "tag"
BY_FALLBACK = "fallback"
REFERRER_SOURCES = (BY_SUBJECT, BY_FALLBACK)

_TYPES = {
    NOTATION_SIGNATURE: SIGNATURE_NOTATION,
    COSIGN_ARTIFACT_SIGNATURE: SIGNATURE_COSIGN,
    SIGSTORE_BUNDLE_V03: SIGNATURE_COSIGN,
    HARBOR_SBOM: SBOM_HARBOR,
}

# cosign's legacy signature tag, and the referrers tag schema (``<alg>-<hex>``)
_LEGACY_SIGNATURE_TAG = re.compile(r"^sha256-([0-9a-f]{64})\.sig$")
_FALLBACK_TAG = re.compile(r"^sha256-([0-9a-f]{64})$")


@dataclass(frozen=True)
class Link:
    """How an artifact refers to its subject."""

    subject_digest: str
    source: str  # BY_SUBJECT, BY_TAG or BY_FALLBACK
    accessory_type: str


def accessory_type_of(artifact_type: str) -> str:
    """Harbor's accessory type for a referrer of ``artifact_type``."""
    return _TYPES.get(artifact_type, SUBJECT_ACCESSORY)


def legacy_signature_subject(tag: str | None) -> str | None:
    """The digest a cosign ``sha256-<hex>.sig`` tag signs, else None."""
    match = _LEGACY_SIGNATURE_TAG.match(tag or "")
    return f"sha256:{match.group(1)}" if match else None


def fallback_subject(tag: str | None) -> str | None:
    """The digest a referrers-tag-schema tag (``sha256-<64 hex>``) lists referrers of.
    (The schema truncates the hex to 64 characters: only sha256 survives whole.)"""
    match = _FALLBACK_TAG.match(tag or "")
    return f"sha256:{match.group(1)}" if match else None


def link_of(
    subject_digest: str | None, artifact_type: str, tag: str | None, cosign_layers: bool
) -> Link | None:
    """The link a pushed manifest makes: its ``subject``, else a legacy cosign tag."""
    if subject_digest:
        return Link(subject_digest, BY_SUBJECT, accessory_type_of(artifact_type))
    signed = legacy_signature_subject(tag)
    if signed is not None and cosign_layers:
        return Link(signed, BY_TAG, SIGNATURE_COSIGN)
    return None


@dataclass(frozen=True)
class SignatureRef:
    """A signature on a digest: the manifest that carries it, for a verifier to read."""

    artifact_id: int
    repository: str  # the repository's full name (the signature lives beside its subject)
    digest: str  # the signature manifest's digest
    subject_digest: str  # what it signs
    type: str  # SIGNATURE_COSIGN or SIGNATURE_NOTATION
    artifact_type: str  # "" for a legacy .sig (its config is cosign's image config)
    manifest_media_type: str
    source: str  # BY_TAG (legacy ``.sig``), BY_SUBJECT or BY_FALLBACK (OCI 1.1 referrers)
    tags: tuple[str, ...] = ()


async def _repository_id(session: AsyncSession, repository: int | str) -> tuple[int, str] | None:
    if isinstance(repository, int):
        row = await session.execute(
            select(Repository.id, Repository.name).where(Repository.id == repository)
        )
    else:
        row = await session.execute(
            select(Repository.id, Repository.name).where(Repository.name == repository)
        )
    found = row.first()
    return (int(found[0]), str(found[1])) if found else None


async def signatures_of(
    session: AsyncSession, repository_id_or_name: int | str, digest: str
) -> list[SignatureRef]:
    """Every signature (cosign's legacy ``.sig``, cosign and notation referrers) on ``digest``
    in the repository, oldest first; [] when there is none or no such repository."""
    found = await _repository_id(session, repository_id_or_name)
    if found is None:
        return []
    repository_id, repository_name = found
    rows = list(
        (
            await session.execute(
                select(Artifact)
                .where(
                    Artifact.repository_id == repository_id,
                    Artifact.subject_digest == digest,
                    Artifact.accessory_type.in_(sorted(SIGNATURE_TYPES)),
                )
                .order_by(Artifact.id)
            )
        ).scalars()
    )
    tags = await _tags_of(session, [a.id for a in rows])
    return [
        SignatureRef(
            artifact_id=a.id,
            repository=repository_name,
            digest=a.digest,
            subject_digest=digest,
            type=str(a.accessory_type),
            artifact_type=a.artifact_type if a.subject_source != BY_TAG else "",
            manifest_media_type=a.manifest_media_type,
            source=str(a.subject_source),
            tags=tuple(tags.get(a.id, [])),
        )
        for a in rows
    ]


async def _tags_of(session: AsyncSession, artifact_ids: Sequence[int]) -> dict[int, list[str]]:
    if not artifact_ids:
        return {}
    rows = await session.execute(
        select(Tag.artifact_id, Tag.name).where(Tag.artifact_id.in_(artifact_ids)).order_by(Tag.id)
    )
    result: dict[int, list[str]] = {}
    for artifact_id, name in rows.all():
        result.setdefault(int(artifact_id), []).append(str(name))
    return result


async def accessories_of(
    session: AsyncSession, repository_id: int, digests: Sequence[str]
) -> dict[str, list[Artifact]]:
    """subject digest -> its accessories (every link), oldest first."""
    if not digests:
        return {}
    rows = await session.execute(
        select(Artifact)
        .where(
            Artifact.repository_id == repository_id,
            Artifact.subject_digest.in_(list(digests)),
        )
        .order_by(Artifact.id)
    )
    result: dict[str, list[Artifact]] = {}
    for artifact in rows.scalars():
        result.setdefault(str(artifact.subject_digest), []).append(artifact)
    return result


async def list_accessories(
    session: AsyncSession,
    repository_id: int,
    digest: str,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Artifact], int]:
    """One page of the accessories of ``digest``, and how many there are."""
    query = select(Artifact).where(
        Artifact.repository_id == repository_id, Artifact.subject_digest == digest
    )
    return await page_of(
        session, query, conditions=conditions, order_by=order_by, offset=offset, limit=limit
    )


async def referrers_of(
    session: AsyncSession,
    repository_name: str,
    digest: str,
    *,
    artifact_type: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Artifact]:
    """The manifests of the repository whose subject is ``digest`` (OCI 1.1 referrers), by id
    after ``after_id``, at most ``limit``; [] when the repository is not known."""
    query = (
        select(Artifact)
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(
            Repository.name == repository_name,
            Artifact.subject_digest == digest,
            Artifact.subject_source.in_(REFERRER_SOURCES),
            Artifact.id > after_id,
        )
    )
    if artifact_type is not None:
        query = query.where(Artifact.artifact_type == artifact_type)
    rows = await session.execute(query.order_by(Artifact.id).limit(limit))
    return list(rows.scalars())


async def link_fallback_referrer(
    session: AsyncSession, repository_id: int, digest: str, subject_digest: str
) -> bool:
    """A manifest listed in a referrers-tag-schema index of ``subject_digest``: linked to it,
    unless it names a subject (or a legacy tag) of its own. Whether it is indexed."""
    row = await session.execute(
        select(Artifact).where(Artifact.repository_id == repository_id, Artifact.digest == digest)
    )
    artifact = row.scalar_one_or_none()
    if artifact is None:
        return False
    if artifact.subject_digest is None:
        artifact.subject_digest = subject_digest
        artifact.subject_source = BY_FALLBACK
        artifact.accessory_type = accessory_type_of(artifact.artifact_type)
        await session.flush()
        await refresh(session, repository_id, ids=[artifact.id])
    return True


async def accessory_tree(session: AsyncSession, root: Artifact) -> list[Artifact]:
    """Every accessory of ``root``, and of those, depth first (a signature of an SBOM of
    ``root`` too): what goes when ``root`` goes, as in Harbor."""
    found: dict[int, Artifact] = {root.id: root}
    pending = [root]
    while pending:
        subject = pending.pop()
        linked = await accessories_of(session, subject.repository_id, [subject.digest])
        for accessory in linked.get(subject.digest, []):
            if accessory.id not in found:
                found[accessory.id] = accessory
                pending.append(accessory)
    return [artifact for artifact in found.values() if artifact.id != root.id]
