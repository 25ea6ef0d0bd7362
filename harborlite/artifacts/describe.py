"""Turning an accepted manifest into what the artifact index keeps."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.queries import PushedManifest
from harborlite.db.models import Artifact, Repository
from harborlite.errors import HarborliteError
from harborlite.oci.config import parse_chart_config, parse_image_config
from harborlite.oci.fields import ManifestError
from harborlite.oci.manifest import ManifestInfo, parse_manifest
from harborlite.oci.mediatypes import COSIGN_SIGNATURE_LAYER
from harborlite.upstream.client import ANSWER_LIMIT, Upstream

if TYPE_CHECKING:
    from harborlite.storage.store import RegistryStorage

log = logging.getLogger("harborlite.index")


async def describe_manifest(
    upstream: Upstream,
    session: AsyncSession,
    repository: str,
    body: bytes,
    content_type: str | None,
    digest: str,
    *,
    child_sizes: Mapping[str, int] | None = None,
    storage: RegistryStorage | None = None,
) -> PushedManifest:
    """Parse the manifest and, for images and charts, read their config from the registry
    (from its filesystem ``storage`` when given and the repository holds the blob there).

    An index's size counts its children's: as ``child_sizes`` gives them (children described
    but not yet indexed), else as the index has them, else as the index's descriptors say."""
    try:
        info = parse_manifest(body, content_type)
    except ManifestError as error:
        log.warning("indexing %s@%s with no details: %s", repository, digest, error)
        return PushedManifest(
            digest=digest,
            manifest_media_type=content_type or "",
            media_type="",
            type="UNKNOWN",
            size=len(body),
            manifest_size=len(body),
        )
    extra: dict[str, Any] = {}
    size = info.size
    references: list[dict[str, Any]] = []
    if info.is_index:
        size = len(body)
        known = dict(child_sizes or {})
        unknown = [r.digest for r in info.references if r.digest not in known]
        known.update(await _child_sizes(session, repository, unknown))
        for ref in info.references:
            size += known.get(ref.digest, ref.size)
            references.append(
                {
                    "child_digest": ref.digest,
                    "child_media_type": ref.media_type,
                    "platform": ref.platform,
                    "annotations": ref.annotations,
                    "urls": list(ref.urls),
                }
            )
    elif info.config is not None and info.harbor_type in ("IMAGE", "CHART"):
        extra = await _config_attrs(upstream, repository, info, storage)
    return PushedManifest(
        digest=digest,
        manifest_media_type=info.media_type,
        media_type=info.artifact_media_type,
        type=info.harbor_type,
        size=size,
        references=references,
        annotations=dict(info.annotations or {}),
        extra_attrs=extra,
        manifest_size=len(body),
        artifact_type=info.artifact_type,
        subject_digest=info.subject.digest if info.subject is not None else None,
        cosign_layers=any(layer.media_type == COSIGN_SIGNATURE_LAYER for layer in info.layers),
    )


async def _config_attrs(
    upstream: Upstream, repository: str, info: ManifestInfo, storage: RegistryStorage | None
) -> dict[str, Any]:
    assert info.config is not None
    data = None
    if storage is not None and storage.kind == "filesystem":
        data = await asyncio.to_thread(_stored_config, storage, repository, info.config.digest)
    if data is None:  # not in a folder harborlite reads: the registry serves it
        try:
            status, _, data = await upstream.fetch(
                "GET", repository, f"/v2/{repository}/blobs/{info.config.digest}", ("pull",)
            )
        except HarborliteError as error:
            log.warning("config of %s unreadable: %s", repository, error.message)
            return {}
        if status != 200:
            return {}
    try:
        if info.harbor_type == "CHART":
            return parse_chart_config(data)
        return parse_image_config(data).extra_attrs()
    except ManifestError as error:
        log.warning("config of %s unparsable: %s", repository, error)
        return {}


def _stored_config(storage: RegistryStorage, repository: str, digest: str) -> bytes | None:
    """The config's bytes from the storage, as the registry would serve them: only a blob the
    repository links, and no larger than an answer harborlite reads (None: ask the registry,
    which answers or refuses as before)."""
    if not storage.blob_linked(repository, digest):
        return None
    size = storage.blob_size(digest)
    if size is None or size > ANSWER_LIMIT:
        return None
    return storage.read_blob(digest)


async def _child_sizes(
    session: AsyncSession, repository: str, digests: list[str]
) -> dict[str, int]:
    if not digests:
        return {}
    rows = await session.execute(
        select(Artifact.digest, Artifact.size)
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(Repository.name == repository, Artifact.digest.in_(digests))
    )
    return {digest: int(size) for digest, size in rows.all()}
