"""Image and chart configs: the fields Harbor shows, lenient about absent ones, strict about
wrong types; the build history."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harborlite.oci.config import (
    ImageConfigInfo,
    build_history,
    parse_chart_config,
    parse_image_config,
)
from harborlite.oci.fields import ManifestError
from harborlite.oci.reference import digest_of

D2 = digest_of(b"two")

DOCKER_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-05-01T10:00:00.123456789Z",
    "author": "someone",
    "config": {
        "Hostname": "",
        "User": "app",
        "Env": ["PATH=/usr/bin"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "WorkingDir": "",
        "ExposedPorts": {"80/tcp": {}},
        "Labels": {"maintainer": "label-author"},
        "OnBuild": None,
    },
    "rootfs": {"type": "layers", "diff_ids": [D2]},
    "history": [
        {"created": "2024-05-01T09:00:00Z", "created_by": "/bin/sh -c #(nop) ADD file:x in /"},
        {
            "created": "2024-05-01T09:00:01Z",
            "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
            "empty_layer": True,
            "comment": "",
            "author": "a",
            "extra": "ignored",
        },
    ],
}


def test_parse_image_config_full() -> None:
    config = parse_image_config(json.dumps(DOCKER_CONFIG).encode())
    assert config.architecture == "amd64"
    assert config.os == "linux"
    assert config.created == "2024-05-01T10:00:00.123456789Z"
    assert config.author == "someone"
    assert config.config["Hostname"] == ""
    assert len(config.history) == 2
    assert config.extra_attrs() == {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-05-01T10:00:00.123456789Z",
        "author": "someone",
        "config": {
            "User": "app",
            "Env": ["PATH=/usr/bin"],
            "Cmd": ["sh"],
            "ExposedPorts": {"80/tcp": {}},
            "Labels": {"maintainer": "label-author"},
        },
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            {},
            {"architecture": "", "os": "", "created": None, "author": "", "config": {}},
            id="empty-object",
        ),
        pytest.param(
            {"architecture": "arm64", "config": None, "history": None},
            {"architecture": "arm64", "os": "", "created": None, "author": "", "config": {}},
            id="nulls",
        ),
        pytest.param(
            {"config": {"Labels": {"maintainer": "m", "org.opencontainers.image.authors": "oci"}}},
            {
                "architecture": "",
                "os": "",
                "created": None,
                "author": "oci",
                "config": {
                    "Labels": {"maintainer": "m", "org.opencontainers.image.authors": "oci"}
                },
            },
            id="author-from-oci-label",
        ),
        pytest.param(
            {"author": "", "config": {"Labels": {"maintainer": "m"}}},
            {
                "architecture": "",
                "os": "",
                "created": None,
                "author": "m",
                "config": {"Labels": {"maintainer": "m"}},
            },
            id="author-from-maintainer-label",
        ),
    ],
)
def test_parse_image_config_missing_fields(body: dict[str, Any], expected: dict[str, Any]) -> None:
    assert parse_image_config(json.dumps(body).encode()).extra_attrs() == expected


def test_parse_image_config_empty_blob() -> None:
    assert parse_image_config(b"") == ImageConfigInfo(None, None, None, None, {}, ())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"not json", "not valid JSON", id="invalid-json"),
        pytest.param(b"[1]", "must be a JSON object", id="list"),
        pytest.param(b'{"config": []}', "'config' must be an object", id="config-list"),
        pytest.param(b'{"history": {}}', "'history' must be a list", id="history-object"),
        pytest.param(b'{"history": ["x"]}', r"history\[0\] must be an object", id="history-item"),
        pytest.param(b'{"architecture": 64}', "'architecture' must be a string", id="arch-int"),
    ],
)
def test_parse_image_config_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        parse_image_config(data)


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        pytest.param([], [], id="none"),
        pytest.param(
            DOCKER_CONFIG["history"],
            [
                {
                    "created": "2024-05-01T09:00:00Z",
                    "created_by": "/bin/sh -c #(nop) ADD file:x in /",
                },
                {
                    "created": "2024-05-01T09:00:01Z",
                    "created_by": '/bin/sh -c #(nop)  CMD ["sh"]',
                    "author": "a",
                    "empty_layer": True,
                },
            ],
            id="docker",
        ),
        pytest.param(
            [{"created_by": "RUN x", "empty_layer": False, "created": None}],
            [{"created_by": "RUN x"}],
            id="omit-empty",
        ),
    ],
)
def test_build_history(history: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    config = parse_image_config(json.dumps({"history": history}).encode())
    assert build_history(config) == expected


def test_parse_chart_config() -> None:
    chart = {
        "name": "nginx",
        "version": "15.1.0",
        "apiVersion": "v2",
        "appVersion": "1.25.3",
        "description": "NGINX Open Source",
        "type": "application",
        "keywords": ["nginx"],
        "maintainers": [{"name": "VMware"}],
    }
    assert parse_chart_config(json.dumps(chart).encode()) == chart
    assert parse_chart_config(b"") == {}
    with pytest.raises(ManifestError, match="'version' must be a string"):
        parse_chart_config(b'{"name": "x", "version": 1}')
    with pytest.raises(ManifestError, match="must be a JSON object"):
        parse_chart_config(b'"chart"')
