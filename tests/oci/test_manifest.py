"""Manifests, indexes and descriptors: what ``parse_manifest`` classifies, keeps and refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from harborlite.oci import mediatypes as mt
from harborlite.oci.fields import ManifestError
from harborlite.oci.manifest import Descriptor, ManifestInfo, parse_manifest
from harborlite.oci.reference import digest_of

D1 = digest_of(b"one")
D2 = digest_of(b"two")
D3 = digest_of(b"three")
D4 = digest_of(b"four")


def dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, indent=3).encode()


def desc(media_type: str, digest: str, size: int, **extra: Any) -> dict[str, Any]:
    return {"mediaType": media_type, "digest": digest, "size": size, **extra}


def image(
    config_type: str = mt.OCI_IMAGE_CONFIG,
    media_type: str | None = None,
    layers: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"schemaVersion": 2}
    if media_type is not None:
        body["mediaType"] = media_type
    body["config"] = desc(config_type, D1, 100)
    body["layers"] = (
        layers
        if layers is not None
        else [desc("application/vnd.oci.image.layer.v1.tar+gzip", D2, 2000)]
    )
    body.update(extra)
    return body


AMD64 = {"architecture": "amd64", "os": "linux"}
ARM64 = {"architecture": "arm64", "os": "linux", "variant": "v8"}
WINDOWS = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5329"}

DOCKER_V2 = image(
    mt.DOCKER_IMAGE_CONFIG,
    mt.DOCKER_MANIFEST_V2,
    [
        desc("application/vnd.docker.image.rootfs.diff.tar.gzip", D2, 2000),
        desc("application/vnd.docker.image.rootfs.diff.tar.gzip", D3, 30),
    ],
)
OCI_NO_MEDIA_TYPE = image(annotations={"org.opencontainers.image.created": "2024-01-01"})
OCI_INDEX = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_INDEX,
    "manifests": [
        desc(mt.OCI_MANIFEST, D2, 500, platform=AMD64),
        desc(mt.OCI_MANIFEST, D3, 501, platform=ARM64),
        desc(mt.OCI_MANIFEST, D4, 502, platform={**WINDOWS, "os.features": ["win32k"]}),
    ],
}
OCI_INDEX_NO_MEDIA_TYPE = {"schemaVersion": 2, "manifests": [desc(mt.OCI_MANIFEST, D2, 5)]}
DOCKER_LIST = {
    "schemaVersion": 2,
    "mediaType": mt.DOCKER_MANIFEST_LIST,
    "manifests": [
        desc(mt.DOCKER_MANIFEST_V2, D2, 428, platform=AMD64),
        desc(mt.DOCKER_MANIFEST_V2, D3, 428, platform=ARM64),
    ],
}
HELM_CHART = image(
    mt.HELM_CHART_CONFIG,
    mt.OCI_MANIFEST,
    [desc("application/vnd.cncf.helm.chart.content.v1.tar+gzip", D2, 3500)],
)
ORAS_FILE = image(
    mt.ORAS_UNKNOWN_CONFIG,
    mt.OCI_MANIFEST,
    [
        desc(
            "application/vnd.oci.image.layer.v1.tar",
            D2,
            12,
            annotations={"org.opencontainers.image.title": "hello.txt"},
        )
    ],
)
OCI_ARTIFACT_WITH_SUBJECT = image(
    mt.OCI_EMPTY_CONFIG,
    mt.OCI_MANIFEST,
    [desc("application/spdx+json", D2, 900)],
    artifactType="application/vnd.example.sbom.v1",
    subject=desc(mt.OCI_MANIFEST, D3, 700),
)
NOTATION_SIGNATURE = image(
    mt.OCI_EMPTY_CONFIG,
    mt.OCI_MANIFEST,
    [desc("application/jose+json", D2, 2000)],
    artifactType=mt.NOTATION_SIGNATURE,
    subject=desc(mt.OCI_MANIFEST, D3, 700),
)
COSIGN_SIGNATURE = image(
    mt.OCI_IMAGE_CONFIG,
    mt.OCI_MANIFEST,
    [desc(mt.COSIGN_SIGNATURE_LAYER, D2, 250)],
)
CNAB_INDEX = {
    "schemaVersion": 2,
    "mediaType": mt.OCI_INDEX,
    "manifests": [
        desc(mt.OCI_MANIFEST, D2, 188, annotations={"io.cnab.manifest.type": "config"}),
        desc(
            mt.DOCKER_MANIFEST_V2,
            D3,
            942,
            annotations={"io.cnab.manifest.type": "invocation"},
        ),
    ],
    "annotations": {
        "io.cnab.runtime_version": "v1.0.0",
        mt.ARTIFACT_TYPE_ANNOTATION: mt.CNAB_MANIFEST,
    },
}
CNAB_CONFIG_MANIFEST = image(mt.CNAB_CONFIG, mt.OCI_MANIFEST, [])


@pytest.mark.parametrize(
    (
        "body",
        "content_type",
        "media_type",
        "harbor_type",
        "artifact_media_type",
        "artifact_type",
        "extra_size",
    ),
    [
        pytest.param(
            DOCKER_V2,
            mt.DOCKER_MANIFEST_V2,
            mt.DOCKER_MANIFEST_V2,
            "IMAGE",
            mt.DOCKER_IMAGE_CONFIG,
            mt.DOCKER_IMAGE_CONFIG,
            100 + 2000 + 30,
            id="docker-v2",
        ),
        pytest.param(
            DOCKER_V2,
            None,
            mt.DOCKER_MANIFEST_V2,
            "IMAGE",
            mt.DOCKER_IMAGE_CONFIG,
            mt.DOCKER_IMAGE_CONFIG,
            2130,
            id="docker-v2-type-from-body",
        ),
        pytest.param(
            OCI_NO_MEDIA_TYPE,
            None,
            mt.OCI_MANIFEST,
            "IMAGE",
            mt.OCI_IMAGE_CONFIG,
            mt.OCI_IMAGE_CONFIG,
            2100,
            id="oci-manifest-inferred",
        ),
        pytest.param(
            OCI_NO_MEDIA_TYPE,
            mt.OCI_MANIFEST + "; charset=utf-8",
            mt.OCI_MANIFEST,
            "IMAGE",
            mt.OCI_IMAGE_CONFIG,
            mt.OCI_IMAGE_CONFIG,
            2100,
            id="oci-manifest-content-type-with-parameter",
        ),
        pytest.param(
            OCI_NO_MEDIA_TYPE,
            "application/json",
            mt.OCI_MANIFEST,
            "IMAGE",
            mt.OCI_IMAGE_CONFIG,
            mt.OCI_IMAGE_CONFIG,
            2100,
            id="oci-manifest-generic-json-content-type",
        ),
        pytest.param(
            OCI_INDEX,
            mt.OCI_INDEX,
            mt.OCI_INDEX,
            "IMAGE",
            mt.OCI_INDEX,
            "",
            0,
            id="oci-index",
        ),
        pytest.param(
            OCI_INDEX_NO_MEDIA_TYPE,
            None,
            mt.OCI_INDEX,
            "IMAGE",
            mt.OCI_INDEX,
            "",
            0,
            id="oci-index-inferred",
        ),
        pytest.param(
            DOCKER_LIST,
            mt.DOCKER_MANIFEST_LIST,
            mt.DOCKER_MANIFEST_LIST,
            "IMAGE",
            mt.DOCKER_MANIFEST_LIST,
            "",
            0,
            id="docker-manifest-list",
        ),
        pytest.param(
            HELM_CHART,
            mt.OCI_MANIFEST,
            mt.OCI_MANIFEST,
            "CHART",
            mt.HELM_CHART_CONFIG,
            mt.HELM_CHART_CONFIG,
            3600,
            id="helm-chart",
        ),
        pytest.param(
            ORAS_FILE,
            mt.OCI_MANIFEST,
            mt.OCI_MANIFEST,
            "UNKNOWN",
            mt.ORAS_UNKNOWN_CONFIG,
            mt.ORAS_UNKNOWN_CONFIG,
            112,
            id="oras-file",
        ),
        pytest.param(
            OCI_ARTIFACT_WITH_SUBJECT,
            mt.OCI_MANIFEST,
            mt.OCI_MANIFEST,
            "UNKNOWN",
            mt.OCI_EMPTY_CONFIG,
            "application/vnd.example.sbom.v1",
            1000,
            id="oci-1.1-artifact-type",
        ),
        pytest.param(
            CNAB_INDEX,
            mt.OCI_INDEX,
            mt.OCI_INDEX,
            "CNAB",
            mt.CNAB_MANIFEST,
            "",
            0,
            id="cnab-index",
        ),
        pytest.param(
            CNAB_CONFIG_MANIFEST,
            mt.OCI_MANIFEST,
            mt.OCI_MANIFEST,
            "CNAB",
            mt.CNAB_CONFIG,
            mt.CNAB_CONFIG,
            100,
            id="cnab-config",
        ),
    ],
)
def test_parse_manifest_classifies(
    body: dict[str, Any],
    content_type: str | None,
    media_type: str,
    harbor_type: str,
    artifact_media_type: str,
    artifact_type: str,
    extra_size: int,
) -> None:
    data = dumps(body)
    info = parse_manifest(data, content_type)
    assert info.digest == digest_of(data)
    assert info.media_type == media_type
    assert info.harbor_type == harbor_type
    assert info.artifact_media_type == artifact_media_type
    assert info.artifact_type == artifact_type
    assert info.size == len(data) + extra_size
    assert info.is_index == (media_type in mt.INDEX_MEDIA_TYPES)


def test_docker_v2_descriptors() -> None:
    info = parse_manifest(dumps(DOCKER_V2), mt.DOCKER_MANIFEST_V2)
    assert info.config == Descriptor(mt.DOCKER_IMAGE_CONFIG, D1, 100)
    assert [(layer.digest, layer.size) for layer in info.layers] == [(D2, 2000), (D3, 30)]
    assert info.references == ()
    assert info.subject is None
    assert info.annotations is None


def test_index_references_keep_platforms_and_annotations() -> None:
    info = parse_manifest(dumps(OCI_INDEX), mt.OCI_INDEX)
    assert info.config is None and info.layers == ()
    assert [ref.digest for ref in info.references] == [D2, D3, D4]
    assert [ref.platform for ref in info.references] == [
        AMD64,
        ARM64,
        {**WINDOWS, "os.features": ["win32k"]},
    ]
    cnab = parse_manifest(dumps(CNAB_INDEX), None)
    assert cnab.references[0].annotations == {"io.cnab.manifest.type": "config"}
    assert cnab.annotations == CNAB_INDEX["annotations"]


def test_subject_and_signature_hints() -> None:
    artifact = parse_manifest(dumps(OCI_ARTIFACT_WITH_SUBJECT), None)
    assert artifact.subject == Descriptor(mt.OCI_MANIFEST, D3, 700)
    assert artifact.signature_kind is None
    notation = parse_manifest(dumps(NOTATION_SIGNATURE), None)
    assert notation.signature_kind == "notation"
    cosign = parse_manifest(dumps(COSIGN_SIGNATURE), None)
    assert cosign.signature_kind == "cosign"
    assert cosign.harbor_type == "IMAGE"


def test_layer_urls_and_artifact_type_on_descriptors() -> None:
    foreign = desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", D2, 9)
    foreign["urls"] = ["https://example.com/layer"]
    body = image(layers=[foreign])
    body["subject"] = desc(mt.OCI_MANIFEST, D3, 1, artifactType="application/x")
    info = parse_manifest(dumps(body), None)
    assert info.layers[0].urls == ("https://example.com/layer",)
    assert info.subject is not None and info.subject.artifact_type == "application/x"


def test_manifest_at_the_size_limit_is_accepted() -> None:
    data = dumps(OCI_NO_MEDIA_TYPE)
    data += b" " * (mt.MAX_MANIFEST_BYTES - len(data))
    assert parse_manifest(data, mt.OCI_MANIFEST).size == mt.MAX_MANIFEST_BYTES + 2100


def _jws(payload: bytes, cut: int) -> bytes:
    """A libtrust-style signed manifest: payload[:cut] + signatures + the payload's tail."""

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    tail = payload[cut:]
    protected = b64(json.dumps({"formatLength": cut, "formatTail": b64(tail)}).encode())
    signature = {"header": {"alg": "ES256"}, "signature": "sig", "protected": protected}
    return payload[:cut] + b',\n   "signatures": [' + json.dumps(signature).encode() + b"]" + tail


SCHEMA1_PAYLOAD = dumps(
    {
        "schemaVersion": 1,
        "name": "library/busybox",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": D2}, {"blobSum": D3}],
        "history": [{"v1Compatibility": "{}"}, {"v1Compatibility": "{}"}],
    }
)
SCHEMA1_SIGNED = _jws(SCHEMA1_PAYLOAD, len(SCHEMA1_PAYLOAD) - 2)


@pytest.mark.parametrize(
    ("data", "content_type", "media_type", "digest"),
    [
        pytest.param(
            SCHEMA1_SIGNED,
            mt.DOCKER_MANIFEST_V1_SIGNED,
            mt.DOCKER_MANIFEST_V1_SIGNED,
            digest_of(SCHEMA1_PAYLOAD),
            id="signed",
        ),
        pytest.param(
            SCHEMA1_SIGNED,
            None,
            mt.DOCKER_MANIFEST_V1_SIGNED,
            digest_of(SCHEMA1_PAYLOAD),
            id="signed-inferred",
        ),
        pytest.param(
            SCHEMA1_PAYLOAD,
            mt.DOCKER_MANIFEST_V1,
            mt.DOCKER_MANIFEST_V1,
            digest_of(SCHEMA1_PAYLOAD),
            id="unsigned",
        ),
    ],
)
def test_schema1_parsed_minimally(
    data: bytes, content_type: str | None, media_type: str, digest: str
) -> None:
    info = parse_manifest(data, content_type)
    assert info.media_type == media_type
    assert info.digest == digest
    assert info.config is None
    assert [layer.digest for layer in info.layers] == [D3, D2]  # base layer first
    assert all(layer.size == 0 for layer in info.layers)
    assert info.size == len(data)
    assert info.harbor_type == "IMAGE"
    assert info.artifact_media_type == mt.DOCKER_MANIFEST_V1_SIGNED


def _with(body: dict[str, Any], **changes: Any) -> bytes:
    changed = {**body, **changes}
    return dumps({k: v for k, v in changed.items() if v is not ...})


def _layer(**changes: Any) -> bytes:
    layer = {**desc("application/vnd.oci.image.layer.v1.tar", D2, 1), **changes}
    return _with(OCI_NO_MEDIA_TYPE, layers=[{k: v for k, v in layer.items() if v is not ...}])


@pytest.mark.parametrize(
    ("data", "content_type", "message"),
    [
        pytest.param(b"{", None, "not valid JSON", id="invalid-json"),
        pytest.param(b"", None, "not valid JSON", id="empty"),
        pytest.param(b"[]", None, "must be a JSON object", id="not-an-object"),
        pytest.param(b"\xff\xfe{}", None, "not UTF-8", id="not-utf8"),
        pytest.param(b'{"schemaVersion": NaN}', None, "not valid JSON", id="nan"),
        pytest.param(
            b" " * (mt.MAX_MANIFEST_BYTES + 1),
            mt.OCI_MANIFEST,
            "more than the limit",
            id="oversize",
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, layers=...), None, "missing 'layers'", id="no-layers"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, config=...), None, "missing 'config'", id="no-config"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, layers=None), None, "missing 'layers'", id="null-layers"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, layers={}), None, "'layers' must be a list", id="layers-object"
        ),
        pytest.param(
            _with(OCI_INDEX, manifests=...), mt.OCI_INDEX, "missing 'manifests'", id="idx"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, schemaVersion=...), None, "missing 'schemaVersion'", id="no-sv"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, schemaVersion=1),
            mt.OCI_MANIFEST,
            "must be 2",
            id="sv-1",
        ),
        pytest.param(_with(OCI_NO_MEDIA_TYPE, schemaVersion="2"), None, "integer", id="sv-str"),
        pytest.param(_with(OCI_NO_MEDIA_TYPE, schemaVersion=True), None, "integer", id="sv-bool"),
        pytest.param(
            dumps({"schemaVersion": 2}), None, "cannot tell the manifest type", id="untyped"
        ),
        pytest.param(
            dumps(OCI_INDEX),
            mt.DOCKER_MANIFEST_LIST,
            "does not match",
            id="content-type-mismatch",
        ),
        pytest.param(dumps(OCI_NO_MEDIA_TYPE), "text/html", "unsupported", id="bad-content-type"),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, mediaType="application/x"), None, "unsupported", id="bad-mt"
        ),
        pytest.param(
            _with(DOCKER_V2, mediaType=...),
            mt.DOCKER_MANIFEST_V2,
            "must declare",
            id="docker-no-mt",
        ),
        pytest.param(
            _with(OCI_INDEX, config=desc(mt.OCI_IMAGE_CONFIG, D1, 1)),
            None,
            "must not have 'config'",
            id="index-with-config",
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, manifests=[]),
            mt.OCI_MANIFEST,
            "must not have 'manifests'",
            id="manifest-with-manifests",
        ),
        pytest.param(
            dumps(OCI_NO_MEDIA_TYPE),
            mt.OCI_INDEX,
            "must not have 'config'",
            id="shape-mismatch",
        ),
        pytest.param(_layer(digest="sha256:" + "A" * 64), None, "invalid digest", id="upper-hex"),
        pytest.param(_layer(digest="sha256:" + "a" * 63), None, "invalid digest", id="short-hex"),
        pytest.param(_layer(digest="sha512:" + "a" * 64), None, "invalid digest", id="sha512-64"),
        pytest.param(_layer(digest="md5:" + "a" * 32), None, "invalid digest", id="md5"),
        pytest.param(_layer(digest="a" * 64), None, "invalid digest", id="no-algorithm"),
        pytest.param(_layer(digest=...), None, "missing 'digest'", id="no-digest"),
        pytest.param(_layer(size=-1), None, "negative size", id="negative-size"),
        pytest.param(_layer(size=1.5), None, "'size' must be an integer", id="float-size"),
        pytest.param(_layer(size=True), None, "'size' must be an integer", id="bool-size"),
        pytest.param(_layer(size=...), None, "missing 'size'", id="no-size"),
        pytest.param(_layer(mediaType=...), None, "missing 'mediaType'", id="no-layer-mt"),
        pytest.param(_layer(mediaType=""), None, "empty mediaType", id="empty-layer-mt"),
        pytest.param(_layer(urls="http://x"), None, "'urls'", id="urls-string"),
        pytest.param(
            _layer(annotations={"a": 1}), None, "object of strings", id="annotation-not-str"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, layers=["sha256:abc"]), None, "must be an object", id="l-str"
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, subject={"digest": D1}),
            None,
            "subject is missing 'mediaType'",
            id="bad-subject",
        ),
        pytest.param(
            _with(OCI_NO_MEDIA_TYPE, artifactType=3), None, "'artifactType'", id="artifact-type"
        ),
        pytest.param(
            _with(
                OCI_INDEX,
                manifests=[desc(mt.OCI_MANIFEST, D2, 1, platform={"os": "linux"})],
            ),
            None,
            "missing 'architecture'",
            id="platform-no-arch",
        ),
        pytest.param(
            _with(
                OCI_INDEX,
                manifests=[desc(mt.OCI_MANIFEST, D2, 1, platform={**AMD64, "os.features": "x"})],
            ),
            None,
            "'os.features' must be a list",
            id="platform-features",
        ),
        pytest.param(
            dumps({"schemaVersion": 1, "fsLayers": [{"blobSum": "nope"}]}),
            None,
            "invalid blobSum",
            id="schema1-blobsum",
        ),
        pytest.param(
            dumps({"schemaVersion": 1}),
            mt.DOCKER_MANIFEST_V1,
            "missing 'fsLayers'",
            id="s1-layers",
        ),
        pytest.param(
            dumps({"schemaVersion": 1, "fsLayers": [], "signatures": [{"protected": "!!"}]}),
            None,
            "unreadable protected header",
            id="schema1-bad-signature",
        ),
    ],
)
def test_parse_manifest_rejects(data: bytes, content_type: str | None, message: str) -> None:
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        parse_manifest(data, content_type)


def test_manifest_info_is_a_value() -> None:
    info = parse_manifest(dumps(HELM_CHART), None)
    assert info == parse_manifest(dumps(HELM_CHART), mt.OCI_MANIFEST)
    with pytest.raises(AttributeError):
        info.size = 1  # type: ignore[misc]
    assert isinstance(info, ManifestInfo)
    assert issubclass(ManifestError, ValueError)
