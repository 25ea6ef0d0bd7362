"""The bounded JSON reader: depth and size limits before the parser runs, one error type."""

from __future__ import annotations

import base64
import json

import pytest

from harborlite.oci import mediatypes as mt
from harborlite.oci.config import parse_chart_config, parse_image_config
from harborlite.oci.fields import ManifestError
from harborlite.oci.json_reader import (
    MAX_JSON_DEPTH,
    UnreadableJson,
    nesting_over,
    read_json,
    read_object,
)
from harborlite.oci.manifest import parse_manifest

DIGEST = "sha256:" + "a" * 64


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + close * depth).encode()


def deep_manifest(depth: int) -> bytes:
    """An OCI manifest carrying an unknown field nested ``depth`` levels (the whole manifest
    is one level more)."""
    head = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_IMAGE_CONFIG, "digest": DIGEST, "size": 2},
            "layers": [],
        }
    ).encode()[:-1]
    return head + b', "x": ' + nested(depth) + b"}"


@pytest.mark.parametrize(
    ("data", "limit", "over"),
    [
        (b"{}", 1, False),
        (b"{}", 0, True),
        (nested(64), 64, False),
        (nested(65), 64, True),
        (nested(3000), 64, True),
        (b"[" * 3000, 64, True),  # never closed: still too deep
        (nested(40, "{", "}"), 39, True),
        (b'{"a": [{"b": [1, 2]}, {"c": {}}]}', 4, False),
        (b'{"a": [{"b": [1, 2]}, {"c": {}}]}', 3, True),
        (b"[]" * 10_000, 1, False),  # wide is not deep
        (b'{"a": "' + b"[" * 500 + b'"}', 1, False),  # brackets in a string do not nest
        (b'{"a": "\\"' + b"[" * 500 + b'"}', 1, False),  # nor after an escaped quote
        (b'{"a": "\\\\", "b": ' + nested(5) + b"}", 5, True),  # an escaped backslash ends
        (b'{"a": "' + b"[" * 500, 1, False),  # a string never closed: the parser refuses it
        (b"", 0, False),
    ],
)
def test_nesting_is_counted_without_parsing(data: bytes, limit: int, over: bool) -> None:
    assert nesting_over(data, limit) is over


def test_a_document_too_deep_is_refused_before_the_parser_recurses() -> None:
    with pytest.raises(UnreadableJson, match=f"manifest nests deeper than {MAX_JSON_DEPTH}"):
        read_json(nested(3000), "manifest", max_bytes=None)
    # json.loads itself would recurse 100,000 times; the scan answers first
    with pytest.raises(UnreadableJson, match="nests deeper"):
        read_json(nested(100_000), "manifest", max_bytes=None)


def test_the_limit_is_generous_for_real_documents() -> None:
    assert read_json(nested(MAX_JSON_DEPTH), "x", max_bytes=None) is not None
    with pytest.raises(UnreadableJson):
        read_json(nested(MAX_JSON_DEPTH + 1), "x", max_bytes=None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"x" * 101, "is 101 bytes, more than the limit of 100"),
        (b"\xff{}", "is not UTF-8"),
        (b"{", "is not valid JSON"),
        (b"", "is not valid JSON"),
        (b'{"a": NaN}', "is not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
    ],
)
def test_unreadable_documents_say_why(data: bytes, message: str) -> None:
    with pytest.raises(UnreadableJson, match=message):
        read_object(data, "doc", max_bytes=100)


def test_unreadable_json_is_a_manifest_error() -> None:
    """Every caller that handles a bad manifest handles an unreadable one the same way."""
    assert issubclass(UnreadableJson, ManifestError)


def test_parse_manifest_refuses_a_deep_manifest_cleanly() -> None:
    with pytest.raises(UnreadableJson, match="manifest nests deeper than 64 levels"):
        parse_manifest(deep_manifest(3000), mt.OCI_MANIFEST)
    # one level under the limit: the manifest is read (it is one level itself)
    assert parse_manifest(deep_manifest(MAX_JSON_DEPTH - 1), mt.OCI_MANIFEST).digest


def test_parse_manifest_keeps_its_size_limit() -> None:
    data = deep_manifest(1)
    data = data[:-1] + b" " * (mt.MAX_MANIFEST_BYTES + 1 - len(data)) + b"}"
    with pytest.raises(UnreadableJson, match="more than the limit of 4194304"):
        parse_manifest(data, mt.OCI_MANIFEST)


def test_configs_and_schema1_headers_are_read_with_the_limit() -> None:
    with pytest.raises(UnreadableJson, match="image config nests deeper"):
        parse_image_config(b'{"config": {"Labels": {}}, "x": ' + nested(3000) + b"}")
    with pytest.raises(UnreadableJson, match="chart config nests deeper"):
        parse_chart_config(b'{"name": "c", "x": ' + nested(3000) + b"}")
    protected = base64.urlsafe_b64encode(nested(3000)).decode().rstrip("=")
    schema1 = json.dumps(
        {
            "schemaVersion": 1,
            "name": "a/b",
            "tag": "v1",
            "fsLayers": [{"blobSum": DIGEST}],
            "signatures": [{"protected": protected}],
        }
    ).encode()
    with pytest.raises(ManifestError, match="unreadable protected header"):
        parse_manifest(schema1, mt.DOCKER_MANIFEST_V1_SIGNED)
