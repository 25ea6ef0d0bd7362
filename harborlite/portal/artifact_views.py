"""View-models of artifacts: kind, platform, pull commands, and the artifact page's details
read from the registry (manifest, layers, config, build history)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

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
)
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
