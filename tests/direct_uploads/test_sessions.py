"""The upload sessions in a storage folder, without HTTP: another process (or this one after
a restart) completes an upload it does not hold the running hash of by hashing the file."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from harborlite.settings import SettingsError, load_settings
from harborlite.uploads import direct
from harborlite.uploads.direct import DigestMismatch, RangeInvalid, UploadSessions


async def body(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_an_upload_is_completed_by_another_process_hashing_the_file(tmp_path: Path) -> None:
    first, second = b"a" * 3_000_000, b"b" * 1000
    mine = UploadSessions(tmp_path)
    upload = await mine.start("p/app")
    assert await mine.append("p/app", upload, body(first)) == len(first)
    other = UploadSessions(tmp_path)  # a restart, or another replica
    assert await other.append("p/app", upload, body(second), start=len(first)) == len(first) + 1000
    digest = "sha256:" + hashlib.sha256(first + second).hexdigest()
    done = await other.commit("p/app", upload, digest, None)
    assert (done.size, done.existed) == (len(first) + 1000, False)
    blob = tmp_path / f"docker/registry/v2/blobs/sha256/{digest[7:9]}/{digest[7:]}/data"
    assert blob.read_bytes() == first + second


async def test_a_stale_hash_is_not_trusted(tmp_path: Path) -> None:
    """This process's hash stopped at 3 bytes; another wrote more since: the file decides."""
    mine = UploadSessions(tmp_path)
    upload = await mine.start("p/app")
    await mine.append("p/app", upload, body(b"abc"))
    await UploadSessions(tmp_path).append("p/app", upload, body(b"def"))
    with pytest.raises(RangeInvalid):
        await mine.append("p/app", upload, body(b"x"), start=3)
    await mine.append("p/app", upload, body(b"ghi"))
    digest = "sha256:" + hashlib.sha256(b"abcdefghi").hexdigest()
    assert (await mine.commit("p/app", upload, digest, None)).size == 9


async def test_a_mismatch_removes_the_upload(tmp_path: Path) -> None:
    sessions = UploadSessions(tmp_path)
    upload = await sessions.start("p/app")
    with pytest.raises(DigestMismatch):
        await sessions.commit("p/app", upload, "sha256:" + "0" * 64, body(b"data"))
    assert not sessions.folder("p/app", upload).exists()


def test_the_setting(tmp_path: Path) -> None:
    base = {"HARBORLITE_DATA_DIR": str(tmp_path)}
    assert direct.enabled(load_settings(base))
    assert not direct.enabled(load_settings({**base, "HARBORLITE_DIRECT_UPLOADS": "off"}))
    external = {**base, "HARBORLITE_REGISTRY_URL": "http://127.0.0.1:5000"}
    assert not direct.enabled(load_settings(external))
    mounted = {**external, "HARBORLITE_REGISTRY_STORAGE": str(tmp_path)}
    assert not direct.enabled(load_settings(mounted))
    assert direct.enabled(load_settings({**mounted, "HARBORLITE_DIRECT_UPLOADS": "on"}))
    with pytest.raises(SettingsError):
        load_settings({**base, "HARBORLITE_DIRECT_UPLOADS": "sometimes"})


@pytest.mark.parametrize(
    "parts",
    [
        [b"config"],  # a small blob in one chunk
        [b"x" * 1000] * 20,  # in many
        [b"y" * (direct.INLINE + 1)],  # just above the slice written on the event loop
        [b"z" * direct.SLICE, b"tail"],  # a full slice in threads, then a small last one
    ],
)
async def test_a_blob_is_written_and_hashed_as_received(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: list[bytes]
) -> None:
    def rehashed(*_: object) -> str:
        raise AssertionError("the running hash was not kept")

    monkeypatch.setattr(direct, "_hash_file", rehashed)
    sessions = UploadSessions(tmp_path)
    upload = await sessions.start("p/app")
    data = b"".join(parts)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = await sessions.commit("p/app", upload, digest, body(*parts))
    assert done.size == len(data)
    blob = tmp_path / f"docker/registry/v2/blobs/sha256/{digest[7:9]}/{digest[7:]}/data"
    assert blob.read_bytes() == data


async def test_a_failed_small_write_is_raised_and_the_file_decides_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = UploadSessions(tmp_path)
    upload = await sessions.start("p/app")
    await sessions.append("p/app", upload, body(b"abc"))
    real = direct._write_all

    def full(fd: int, data: bytes) -> int:
        real(fd, data[:1])  # part of it landed before the disk filled up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(direct, "_write_all", full)
    with pytest.raises(OSError):
        await sessions.append("p/app", upload, body(b"def"))
    monkeypatch.setattr(direct, "_write_all", real)
    digest = "sha256:" + hashlib.sha256(b"abcd").hexdigest()  # what the file holds
    assert (await sessions.commit("p/app", upload, digest, None)).size == 4
