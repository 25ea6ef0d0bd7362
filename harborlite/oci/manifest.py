"""Parsing and classifying manifests, image configs and references (pure, no I/O).

What Harbor does, and what this module copies (Harbor v2.x ``src/controller/artifact``):

- An image manifest's artifact media type is its config media type; an index's is the manifest
  media type, replaced by the ``org.opencontainers.artifactType`` annotation when present (how
  cnab-to-oci marks a bundle). Schema1 manifests all count as the signed schema1 type.
- The artifact type follows from that media type: docker/OCI image config, OCI index, docker
  manifest list and schema1 give ``IMAGE``; the Helm config gives ``CHART``;
  ``application/vnd.cnab.manifest.v1`` gives ``CNAB``; anything else ``UNKNOWN``.
  Deviations: the CNAB config media type ``application/vnd.cnab.config.v1+json`` also gives
  ``CNAB`` (Harbor leaves the bundle's config manifest ``UNKNOWN``), and Harbor's default processor
  derives a type from ``application/vnd.<x>.<type>.config.<v>+json`` (e.g. ``MODEL``) and has
  WASM/SBOM processors; here all of those are ``UNKNOWN``.
- ``artifact_type``: the manifest's ``artifactType``, else its config media type; for an index its
  ``artifactType`` or ``""`` (OCI distribution 1.1, referrers).
- Size: an image manifest counts its own bytes, the config and every layer; an index counts only
  its own bytes (the caller adds the children it knows); schema1 counts only its bytes, as layer
  sizes are not in the manifest.

Schema1 manifests are parsed minimally: layers come from ``fsLayers`` (base layer first, size 0),
there is no config, and the digest of a signed one is taken over the payload without the JWS
signatures, as the registry computes it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

from harborlite.oci.fields import ManifestError, _field, _optional_str
from harborlite.oci.json_reader import read_json, read_object
from harborlite.oci.mediatypes import (
    ARTIFACT_TYPE_ANNOTATION,
    CNAB_CONFIG,
    CNAB_MANIFEST,
    COSIGN_SIGNATURE_LAYER,
    DOCKER_IMAGE_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V1,
    DOCKER_MANIFEST_V1_SIGNED,
    DOCKER_MANIFEST_V2,
    HELM_CHART_CONFIG,
    INDEX_MEDIA_TYPES,
    MANIFEST_MEDIA_TYPES,
    MAX_MANIFEST_BYTES,
    NOTATION_SIGNATURE,
    OCI_IMAGE_CONFIG,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1_MEDIA_TYPES,
)
from harborlite.oci.reference import digest_of, is_digest

HarborType = Literal["IMAGE", "CHART", "CNAB", "UNKNOWN"]


_HARBOR_TYPES: dict[str, HarborType] = {
    DOCKER_IMAGE_CONFIG: "IMAGE",
    OCI_IMAGE_CONFIG: "IMAGE",
    OCI_INDEX: "IMAGE",
    DOCKER_MANIFEST_LIST: "IMAGE",
    DOCKER_MANIFEST_V1_SIGNED: "IMAGE",
    HELM_CHART_CONFIG: "CHART",
    CNAB_MANIFEST: "CNAB",
    CNAB_CONFIG: "CNAB",
}


# Content types that say nothing about the manifest; the body decides.
_UNTYPED_CONTENT_TYPES = frozenset({"", "application/json"})


@dataclass(frozen=True)
class Descriptor:
    """An OCI descriptor. ``platform`` values are strings except ``os.features``/``features``."""

    media_type: str
    digest: str
    size: int
    platform: dict[str, Any] | None = None
    annotations: dict[str, str] | None = None
    urls: tuple[str, ...] = ()
    artifact_type: str | None = None


@dataclass(frozen=True, kw_only=True)
class ManifestInfo:
    digest: str
    media_type: str
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    references: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str = ""
    size: int = 0
    annotations: dict[str, str] | None = None

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def artifact_media_type(self) -> str:
        """What Harbor reports as the artifact's ``media_type`` (see the module docstring)."""
        if self.media_type in SCHEMA1_MEDIA_TYPES:
            return DOCKER_MANIFEST_V1_SIGNED
        if self.is_index:
            return (self.annotations or {}).get(ARTIFACT_TYPE_ANNOTATION) or self.media_type
        return self.config.media_type if self.config is not None else ""

    @property
    def harbor_type(self) -> HarborType:
        return _HARBOR_TYPES.get(self.artifact_media_type, "UNKNOWN")

    @property
    def signature_kind(self) -> Literal["cosign", "notation"] | None:
        """A hint that this manifest is a signature: cosign's layers or notation's type."""
        if self.artifact_type == NOTATION_SIGNATURE:
            return "notation"
        if self.layers and all(layer.media_type == COSIGN_SIGNATURE_LAYER for layer in self.layers):
            return "cosign"
        return None


def parse_manifest(data: bytes, content_type: str | None) -> ManifestInfo:
    """Validate a manifest body pushed or pulled with ``content_type`` and describe it."""
    body = read_object(data, "manifest", max_bytes=MAX_MANIFEST_BYTES)
    media_type = _effective_media_type(body, content_type)
    if media_type in SCHEMA1_MEDIA_TYPES:
        return _parse_schema1(data, body, media_type)
    if _field(body, "schemaVersion", int, "manifest") != 2:
        raise ManifestError(f"manifest schemaVersion must be 2 for {media_type}")
    subject = _optional_descriptor(body, "subject", "manifest subject")
    artifact_type = _optional_str(body, "artifactType", "manifest")
    annotations = _annotations(body.get("annotations"), "manifest annotations")
    if media_type in INDEX_MEDIA_TYPES:
        for field in ("config", "layers"):
            if field in body:
                raise ManifestError(f"an index ({media_type}) must not have '{field}'")
        children = _field(body, "manifests", list, "index")
        references = tuple(
            _descriptor(child, f"index manifests[{i}]") for i, child in enumerate(children)
        )
        return ManifestInfo(
            digest=digest_of(data),
            media_type=media_type,
            references=references,
            subject=subject,
            artifact_type=artifact_type or "",
            size=len(data),
            annotations=annotations,
        )
    if "manifests" in body:
        raise ManifestError(f"an image manifest ({media_type}) must not have 'manifests'")
    config = _descriptor(_field(body, "config", dict, "manifest"), "manifest config")
    raw_layers = _field(body, "layers", list, "manifest")
    layers = tuple(
        _descriptor(layer, f"manifest layers[{i}]") for i, layer in enumerate(raw_layers)
    )
    return ManifestInfo(
        digest=digest_of(data),
        media_type=media_type,
        config=config,
        layers=layers,
        subject=subject,
        artifact_type=artifact_type or config.media_type,
        size=len(data) + config.size + sum(layer.size for layer in layers),
        annotations=annotations,
    )


def _effective_media_type(body: dict[str, Any], content_type: str | None) -> str:
    declared = _optional_str(body, "mediaType", "manifest")
    given = (content_type or "").split(";", 1)[0].strip().lower()
    if given in _UNTYPED_CONTENT_TYPES:
        given = ""
    for source, value in (("Content-Type", given), ("mediaType", declared)):
        if value and value not in MANIFEST_MEDIA_TYPES:
            raise ManifestError(f"unsupported manifest media type in {source}: {value}")
    if given and declared and given != declared:
        raise ManifestError(
            f"Content-Type {given} does not match the manifest mediaType {declared}"
        )
    if given in (DOCKER_MANIFEST_V2, DOCKER_MANIFEST_LIST) and declared != given:
        raise ManifestError(f"a {given} manifest must declare its mediaType")
    if given or declared:
        return given or declared or ""
    if body.get("schemaVersion") == 1:
        return DOCKER_MANIFEST_V1_SIGNED if "signatures" in body else DOCKER_MANIFEST_V1
    if "manifests" in body:
        return OCI_INDEX
    if "config" in body or "layers" in body:
        return OCI_MANIFEST
    raise ManifestError(
        "cannot tell the manifest type: no Content-Type, no mediaType, and neither "
        "'manifests' nor 'config' and 'layers'"
    )


def _optional_descriptor(body: dict[str, Any], key: str, what: str) -> Descriptor | None:
    if body.get(key) is None:
        return None
    return _descriptor(body[key], what)


def _descriptor(raw: object, what: str) -> Descriptor:
    if not isinstance(raw, dict):
        raise ManifestError(f"{what} must be an object")
    media_type = _field(raw, "mediaType", str, what)
    if not media_type:
        raise ManifestError(f"{what} has an empty mediaType")
    digest = _field(raw, "digest", str, what)
    if not is_digest(digest):
        raise ManifestError(
            f"{what} has an invalid digest {digest!r} "
            "(expected sha256:<64 hex>, sha384:<96 hex> or sha512:<128 hex>, lower case)"
        )
    size = _field(raw, "size", int, what)
    if size < 0:
        raise ManifestError(f"{what} has a negative size")
    urls = raw.get("urls") or []
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise ManifestError(f"{what} 'urls' must be a list of strings")
    return Descriptor(
        media_type=media_type,
        digest=digest,
        size=size,
        platform=_platform(raw.get("platform"), f"{what} platform"),
        annotations=_annotations(raw.get("annotations"), f"{what} annotations"),
        urls=tuple(urls),
        artifact_type=_optional_str(raw, "artifactType", what),
    )


def _platform(raw: object, what: str) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ManifestError(f"{what} must be an object")
    for key in ("architecture", "os"):
        _field(raw, key, str, what)
    for key, value in raw.items():
        if key in ("os.features", "features"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ManifestError(f"{what} '{key}' must be a list of strings")
        elif not isinstance(value, str):
            raise ManifestError(f"{what} '{key}' must be a string")
    return dict(raw)


def _annotations(raw: object, what: str) -> dict[str, str] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ManifestError(f"{what} must be an object of strings")
    return dict(raw)


# Docker schema1, parsed minimally; a signed one is digested over its JWS payload.
def _parse_schema1(data: bytes, body: dict[str, Any], media_type: str) -> ManifestInfo:
    if _field(body, "schemaVersion", int, "manifest") != 1:
        raise ManifestError(f"manifest schemaVersion must be 1 for {media_type}")
    fs_layers = _field(body, "fsLayers", list, "schema1 manifest")
    layers: list[Descriptor] = []
    for i, entry in enumerate(fs_layers):
        if not isinstance(entry, dict):
            raise ManifestError(f"schema1 fsLayers[{i}] must be an object")
        blob = _field(entry, "blobSum", str, f"schema1 fsLayers[{i}]")
        if not is_digest(blob):
            raise ManifestError(f"schema1 fsLayers[{i}] has an invalid blobSum: {blob!r}")
        layers.append(Descriptor(DOCKER_LAYER, blob, 0))
    layers.reverse()  # fsLayers lists the top layer first
    payload = _schema1_payload(data, body) if "signatures" in body else data
    return ManifestInfo(
        digest=digest_of(payload),
        media_type=media_type,
        layers=tuple(layers),
        size=len(data),
    )


def _schema1_payload(data: bytes, body: dict[str, Any]) -> bytes:
    """The signed payload of a libtrust JWS manifest (what its digest is taken over)."""
    signatures = _field(body, "signatures", list, "schema1 manifest")
    if not signatures or not isinstance(signatures[0], dict):
        raise ManifestError("schema1 manifest has no usable signature")
    try:
        protected = signatures[0]["protected"]
        header: Any = read_json(_b64url(protected), "schema1 protected header", max_bytes=None)
        length = header["formatLength"]
        tail = _b64url(header["formatTail"])
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise ManifestError(f"schema1 signature has an unreadable protected header: {exc}") from exc
    if not isinstance(length, int) or isinstance(length, bool) or not 0 < length <= len(data):
        raise ManifestError("schema1 signature has an invalid formatLength")
    return data[:length] + tail


def _b64url(value: object) -> bytes:
    if not isinstance(value, str):
        raise TypeError("expected a base64url string")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
