"""View-models of artifacts: kind, platform, pull commands, the artifact page's details
read from the registry (manifest, layers, config, build history), and the accessories shown
under their subject, a cosign signature with whether the project's trusted keys verify it (the
verdict a signed-only pull would get, :func:`harborlite.signatures.verdict.judge`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.accessories import (
    BY_TAG,
    SIGNATURE_COSIGN,
    SIGNATURE_TYPES,
    SUBJECT_ACCESSORY,
    accessories_of,
)
from harborlite.db.models import Artifact, Tag
from harborlite.errors import HarborliteError
from harborlite.oci.config import build_history, parse_image_config
from harborlite.oci.fields import ManifestError
from harborlite.oci.json_reader import UnreadableJson, read_json
from harborlite.oci.manifest import Descriptor, parse_manifest
from harborlite.oci.mediatypes import (
    DOCKER_IMAGE_CONFIG,
    INDEX_MEDIA_TYPES,
    NOTATION_SIGNATURE,
    OCI_IMAGE_CONFIG,
    SIGSTORE_BUNDLE_V03,
)
from harborlite.signatures.bundle import read_bundle_signatures
from harborlite.signatures.keys import InvalidKey, TrustedKey, load_key
from harborlite.signatures.legacy import read_signatures
from harborlite.signatures.models import CosignKey
from harborlite.signatures.verdict import judge
from harborlite.upstream.calls import ACCEPT
from harborlite.upstream.client import Upstream


def artifact_kind(artifact: Artifact, tags: list[str] | None = None) -> str:
    """image, index, chart, signature, or artifact (anything else)."""
    if artifact.media_type == NOTATION_SIGNATURE or any(
        t.startswith("sha256-") and t.endswith((".sig", ".att")) for t in tags or []
    ):
        return "signature"
    if artifact.manifest_media_type in INDEX_MEDIA_TYPES:
        return "index"
    if artifact.type == "CHART":
        return "chart"
    if artifact.type == "IMAGE":
        return "image"
    if artifact.type == "CNAB":
        return "cnab"
    return "artifact"


def platforms(artifact: Artifact) -> list[str]:
    """``os/architecture`` of an image; each child platform of an index."""
    attrs = artifact.extra_attrs or {}
    if attrs.get("os") or attrs.get("architecture"):
        return [f"{attrs.get('os') or '?'}/{attrs.get('architecture') or '?'}"]
    found = []
    for ref in artifact.references or []:
        platform = ref.get("platform") or {}
        if isinstance(platform, dict) and platform.get("os"):
            text = f"{platform.get('os')}/{platform.get('architecture', '?')}"
            if platform.get("variant"):
                text += f"/{platform['variant']}"
            found.append(text)
    return found


@dataclass(frozen=True)
class ArtifactRow:
    artifact: Artifact
    tags: list[Tag]
    kind: str
    platforms: list[str]
    pull_by_tag: str
    pull_by_digest: str
    children: list[ArtifactRow] = field(default_factory=list)  # an index's, shown under it


def artifact_row(
    host: str,
    repository: str,
    artifact: Artifact,
    tags: list[Tag],
    children: Sequence[tuple[Artifact, list[Tag]]] = (),
) -> ArtifactRow:
    names = [t.name for t in tags]
    first = names[0] if names else None
    return ArtifactRow(
        artifact=artifact,
        tags=tags,
        kind=artifact_kind(artifact, names),
        platforms=platforms(artifact),
        pull_by_tag=f"docker pull {host}/{repository}:{first}" if first else "",
        pull_by_digest=f"docker pull {host}/{repository}@{artifact.digest}",
        children=[artifact_row(host, repository, c, t) for c, t in children],
    )


@dataclass
class ArtifactDetails:
    """What the artifact page shows beyond the index: read from the registry on demand."""

    raw_manifest: str = ""
    layers: list[Descriptor] = field(default_factory=list)
    config_digest: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    error: str = ""


async def read_details(upstream: Upstream, repository: str, artifact: Artifact) -> ArtifactDetails:
    details = ArtifactDetails()
    try:
        status, headers, body = await upstream.fetch(
            "GET",
            repository,
            f"/v2/{repository}/manifests/{artifact.digest}",
            ("pull",),
            headers={"Accept": ACCEPT},
        )
    except HarborliteError as error:
        details.error = f"The registry could not be reached: {error.message}"
        return details
    if status != 200:
        details.error = f"The registry answered {status} for this manifest."
        return details
    details.raw_manifest = _pretty(body)
    try:
        info = parse_manifest(body, headers.get("Content-Type"))
    except ManifestError as error:
        details.error = f"The manifest could not be parsed: {error}"
        return details
    details.layers = list(info.layers)
    details.children = list(info.references)
    if info.config is None or info.config.media_type not in (
        DOCKER_IMAGE_CONFIG,
        OCI_IMAGE_CONFIG,
    ):
        return details
    details.config_digest = info.config.digest
    try:
        status, _, data = await upstream.fetch(
            "GET", repository, f"/v2/{repository}/blobs/{info.config.digest}", ("pull",)
        )
        if status == 200:
            config = parse_image_config(data)
            details.config = config.extra_attrs()
            details.history = build_history(config)
    except (HarborliteError, ManifestError) as error:
        details.error = f"The image config could not be read: {error}"
    return details


def _pretty(body: bytes) -> str:
    try:
        return json.dumps(read_json(body, "manifest", max_bytes=None), indent=2, sort_keys=False)
    except UnreadableJson:
        return body.decode("utf-8", "replace")


# --- accessories: signatures, SBOMs and other referrers shown under their subject ---------

MAX_VERIFIED = 50  # signatures verified for one page (more are listed, marked unchecked)
VERIFYING_AT_ONCE = 4
NO_TRUSTED_KEYS = "no trusted keys"


@dataclass(frozen=True)
class NamedKey:
    """A project's trusted key, as the verification sentence names it."""

    name: str
    key: TrustedKey


@dataclass(frozen=True)
class AccessoryRow:
    """An accessory under its subject: Harbor's type, and for a signature whether it
    verifies with the project's trusted keys (``verified`` None: no keys, or not a cosign
    signature)."""

    artifact: Artifact
    type: str
    depth: int  # 1: of the artifact itself; 2: of one of its accessories
    status: str = ""
    verified: bool | None = None

    @property
    def is_signature(self) -> bool:
        return self.type in SIGNATURE_TYPES


def named_keys(rows: Sequence[CosignKey]) -> list[NamedKey]:
    keys = []
    for row in rows:
        try:
            keys.append(NamedKey(row.name or row.fingerprint[:16], load_key(row.pem)))
        except InvalidKey:  # checked when added: a key unreadable now trusts nothing
            continue
    return keys


async def accessories_under(
    session: AsyncSession, repository_id: int, digests: Sequence[str]
) -> dict[str, list[tuple[Artifact, int]]]:
    """subject digest -> its accessories, each followed by its own (depth 2)."""
    first = await accessories_of(session, repository_id, list(digests))
    second = await accessories_of(
        session, repository_id, [a.digest for found in first.values() for a in found]
    )
    result: dict[str, list[tuple[Artifact, int]]] = {}
    for subject, found in first.items():
        rows = result.setdefault(subject, [])
        for accessory in found:
            rows.append((accessory, 1))
            rows.extend((nested, 2) for nested in second.get(accessory.digest, []))
    return result


async def verified_rows(
    upstream: Upstream,
    repository: str,
    keys: Sequence[NamedKey],
    found: dict[str, list[tuple[Artifact, int]]],
) -> dict[str, list[AccessoryRow]]:
    """The rows of ``found``, a signature's with its verification read from the registry
    (at most :data:`MAX_VERIFIED` of them, a few at a time)."""
    gate = asyncio.Semaphore(VERIFYING_AT_ONCE)
    budget = [MAX_VERIFIED]

    async def row_of(accessory: Artifact, depth: int) -> AccessoryRow:
        kind = str(accessory.accessory_type or SUBJECT_ACCESSORY)
        if kind not in SIGNATURE_TYPES:
            return AccessoryRow(accessory, kind, depth)
        if kind != SIGNATURE_COSIGN:
            return AccessoryRow(
                accessory, kind, depth, "not verified: harborlite verifies cosign signatures"
            )
        if not keys:
            return AccessoryRow(accessory, kind, depth, NO_TRUSTED_KEYS)
        if budget[0] <= 0:
            return AccessoryRow(accessory, kind, depth, "not checked here: open the artifact")
        budget[0] -= 1
        async with gate:
            status, verified = await signature_status(upstream, repository, keys, accessory)
        return AccessoryRow(accessory, kind, depth, status, verified)

    result: dict[str, list[AccessoryRow]] = {}
    for subject, rows in found.items():
        result[subject] = list(await asyncio.gather(*(row_of(a, d) for a, d in rows)))
    return result


async def signature_status(
    upstream: Upstream, repository: str, keys: Sequence[NamedKey], accessory: Artifact
) -> tuple[str, bool]:
    """ "verified (key <name>)" for a cosign signature manifest one trusted key verifies for
    its subject in this repository, else "not verified: <the pull refusal's reason>"."""
    subject = str(accessory.subject_digest)
    try:
        if accessory.subject_source != BY_TAG and accessory.artifact_type == SIGSTORE_BUNDLE_V03:
            signatures = await read_bundle_signatures(upstream, repository, accessory.digest)
        else:
            signatures = await read_signatures(upstream, repository, accessory.digest)
    except HarborliteError as error:
        return f"not verified: the registry could not be read ({error.message})", False
    for named in keys:
        if signatures and judge(signatures, (named.key,), repository, subject).allowed:
            return f"verified (key {named.name})", True
    verdict = judge(signatures, tuple(k.key for k in keys), repository, subject)
    return f"not verified: {verdict.message}", False
