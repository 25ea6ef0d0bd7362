"""The pure rules: Harbor's sizes and refusal sentence, valid limits, what a manifest names,
and the registry's signed upload state."""

from __future__ import annotations

import base64
import json

import pytest

from harborlite.errors import BadRequest
from harborlite.quotas.limits import MAX_STORAGE, already_over, checked_hard, format_size, overflow
from harborlite.quotas.usage import manifest_push, upload_window
from harborlite.v2.quota_guard import state_offset

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0, "0 B"),
        (100, "100 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (MIB, "1.0 MiB"),
        (MIB * 3 // 2, "1.5 MiB"),
        (1024**3, "1.0 GiB"),
        (1024**4 * 3 // 2, "1.5 TiB"),
        (1024**5, "1.0 PiB"),
        (int(152.4 * MIB), "152.4 MiB"),
        (MIB - 1, "1024.0 KiB"),  # as Harbor's byteCountToDisplaySize says it
    ],
)
def test_sizes_are_written_as_harbor_writes_them(value: int, shown: str) -> None:
    assert format_size(value) == shown


def test_the_refusal_is_harbors_sentence() -> None:
    refused = overflow(10 * MIB, int(152.4 * MIB), 29 * MIB)
    assert refused is not None
    assert refused.message == (
        "adding 29.0 MiB of storage resource, which when updated to current usage of "
        "152.4 MiB will exceed the configured upper limit of 10.0 MiB."
    )
    over = already_over(10 * MIB, 11 * MIB)
    assert over is not None
    assert over.message == (
        "subtracting 0 B of storage resource, which when updated to current usage of "
        "11.0 MiB will exceed the configured upper limit of 10.0 MiB."
    )


@pytest.mark.parametrize(
    ("hard", "used", "adding", "refused"),
    [
        (-1, 10**15, 10**15, False),  # unlimited
        (100, 60, 40, False),  # exactly full is allowed
        (100, 60, 41, True),
        (100, 200, 0, False),  # nothing added: never refused (Harbor's IsSafe)
        (100, 0, 101, True),
    ],
)
def test_what_fits(hard: int, used: int, adding: int, refused: bool) -> None:
    assert (overflow(hard, used, adding) is not None) is refused


def test_already_over_only_past_the_limit() -> None:
    assert already_over(100, 100) is None
    assert already_over(-1, 10**12) is None
    assert already_over(100, 101) is not None


@pytest.mark.parametrize("good", [-1, 1, 10 * MIB, MAX_STORAGE])
def test_valid_limits(good: int) -> None:
    assert checked_hard(good) == good


@pytest.mark.parametrize("bad", [0, -2, MAX_STORAGE + 1, True, "10", 1.5, None])
def test_invalid_limits(bad: object) -> None:
    with pytest.raises(BadRequest):
        checked_hard(bad)


def test_an_image_manifest_names_its_config_and_layers_but_not_foreign_ones() -> None:
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": "sha256:" + "c" * 64,
                "size": 7,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": "sha256:" + "a" * 64,
                    "size": 100,
                },
                {
                    "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": "sha256:" + "f" * 64,
                    "size": 10**9,
                    "urls": ["https://example.com/layer"],
                },
            ],
        }
    ).encode()
    push = manifest_push(body)
    assert push.size == len(body)
    assert dict(push.blobs) == {"sha256:" + "c" * 64: 7, "sha256:" + "a" * 64: 100}


def test_an_index_names_its_children_and_garbage_counts_its_bytes() -> None:
    child = "sha256:" + "b" * 64
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": child,
                    "size": 9,
                }
            ],
        }
    ).encode()
    assert dict(manifest_push(index).blobs) == {child: 9}
    garbage = manifest_push(b"not a manifest")
    assert garbage.size == 14 and not garbage.blobs


def _state(document: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(b"m" * 32 + json.dumps(document).encode()).decode()


def test_the_upload_state_says_how_many_bytes_were_sent() -> None:
    state = _state({"Name": "p/r", "UUID": "u", "Offset": 12345, "StartedAt": "2024-01-01"})
    assert state_offset(state) == 12345
    assert state_offset(state.rstrip("=")) == 12345  # padding dropped in a query
    assert state_offset(_state({"Offset": -1})) is None
    assert state_offset(_state({"Offset": "7"})) is None
    assert state_offset("%%%") is None
    assert state_offset(base64.urlsafe_b64encode(b"short").decode()) is None


def test_the_upload_window_is_the_gc_window_but_never_under_ten_minutes() -> None:
    assert upload_window(120).total_seconds() == 7200
    assert upload_window(0).total_seconds() == 600
