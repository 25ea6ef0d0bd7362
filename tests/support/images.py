"""Test images built locally, without a network: OCI image layouts on disk.

Layers are gzip-compressed tars, each holding one file of seeded random bytes, so a given
(seed, index, size) always yields the same blob and digest, and a registry push does not
recompress them (CLIENT-FACTS: a `docker://` destination recompresses uncompressed layers).
Any client that reads `oci:DIR:TAG` (skopeo, podman) can push them.
"""

from __future__ import annotations

import filecmp
import gzip
import hashlib
import io
import json
import random
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast

OCI_LAYOUT_VERSION = "1.0.0"
MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CREATED = "2024-01-01T00:00:00Z"
_CHUNK = 1 << 20
_VARIANTS = {"arm64": "v8", "arm": "v7"}

Json = dict[str, object]


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int

    def as_json(self) -> Json:
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


@dataclass(frozen=True)
class BuiltImage:
    """One image manifest written into a layout.

    `total_size` counts manifest, config and (compressed) layers, like Harbor's artifact size.
    """

    tag: str | None
    architecture: str
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    manifest: bytes
    total_size: int

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(MEDIA_TYPE_MANIFEST, self.manifest_digest, len(self.manifest))


@dataclass(frozen=True)
class BuiltIndex:
    """An image index (multi-arch) written into a layout, with its per-platform images."""

    tag: str
    index_digest: str
    index: bytes
    images: tuple[BuiltImage, ...]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hex_digest = digest.partition(":")
    return layout / "blobs" / algorithm / hex_digest


def _write_blob(layout: Path, data: bytes) -> str:
    digest = _sha256(data)
    path = blob_path(layout, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _canonical(document: Json) -> bytes:
    return json.dumps(document, indent=2, sort_keys=True).encode()


class _RandomReader:
    """A file-like source of `size` seeded random bytes, read in chunks."""

    def __init__(self, size: int, seed: int) -> None:
        self._left = size
        self._random = random.Random(seed)

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        self._left -= n
        return self._random.randbytes(n)


class _Writable(Protocol):
    def write(self, data: bytes, /) -> int: ...


class _HashingWriter:
    """Forwards writes to `target` while hashing them."""

    def __init__(self, target: _Writable) -> None:
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.target.write(data)


def _write_layer(
    layout: Path, size: int, seed: int, name: str, compresslevel: int
) -> tuple[Descriptor, str]:
    """Write a gzip tar holding `name` with `size` random bytes; return (descriptor, diff_id)."""
    tmp = layout / "blobs" / f".layer-{seed}.tmp"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    with open(tmp, "wb") as raw:
        compressed = _HashingWriter(raw)
        with gzip.GzipFile(
            fileobj=cast(IO[bytes], compressed),
            mode="wb",
            compresslevel=compresslevel,
            mtime=0,
            filename="",
        ) as gz:
            uncompressed = _HashingWriter(gz)
            with tarfile.open(
                fileobj=cast(IO[bytes], uncompressed),
                mode="w|",
                format=tarfile.PAX_FORMAT,
                bufsize=_CHUNK,
            ) as tar:
                info = tarfile.TarInfo(name)
                info.size = size
                info.mode = 0o644
                info.mtime = 0
                info.uname = info.gname = "root"
                tar.addfile(info, _RandomReader(size, seed))
    digest = "sha256:" + compressed.hash.hexdigest()
    target = blob_path(layout, digest)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(target)
    diff_id = "sha256:" + uncompressed.hash.hexdigest()
    return Descriptor(MEDIA_TYPE_LAYER_GZIP, digest, compressed.size), diff_id


def _read_index(layout: Path) -> Json:
    path = layout / "index.json"
    if path.exists():
        index: Json = json.loads(path.read_text())
        return index
    return {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": []}


def _tag_in_layout(layout: Path, descriptor: Descriptor, tag: str) -> None:
    """Point `tag` at `descriptor` in index.json, replacing an older entry with that tag."""
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    index = _read_index(layout)
    entries = index.get("manifests")
    assert isinstance(entries, list)
    kept = [
        entry
        for entry in entries
        if not (
            isinstance(entry, dict) and entry.get("annotations", {}).get(REF_NAME_ANNOTATION) == tag
        )
    ]
    kept.append({**descriptor.as_json(), "annotations": {REF_NAME_ANNOTATION: tag}})
    index["manifests"] = kept
    (layout / "index.json").write_text(json.dumps(index, indent=2))


def _build_image(
    layout: Path,
    layer_sizes: Sequence[int],
    seed: int,
    arch: str,
    labels: Mapping[str, str] | None,
    compresslevel: int,
) -> tuple[Descriptor, bytes, str, tuple[str, ...], int]:
    layers: list[Descriptor] = []
    diff_ids: list[str] = []
    for index, size in enumerate(layer_sizes):
        # Distinct seeds per image, layer and architecture; stable across runs.
        layer_seed = hash_seed(seed, index, size, arch)
        layer, diff_id = _write_layer(layout, size, layer_seed, f"layer-{index}.bin", compresslevel)
        layers.append(layer)
        diff_ids.append(diff_id)
    config: Json = {
        "created": CREATED,
        "author": "harborlite tests",
        "architecture": arch,
        "os": "linux",
        "config": {
            "Cmd": ["/bin/sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Labels": dict(labels or {}),
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [
            {"created": CREATED, "created_by": f"ADD layer-{i}.bin / # seed {seed}"}
            for i in range(len(layers))
        ],
    }
    if arch in _VARIANTS:
        config["variant"] = _VARIANTS[arch]
    config_bytes = _canonical(config)
    config_digest = _write_blob(layout, config_bytes)
    manifest: Json = {
        "schemaVersion": 2,
        "mediaType": MEDIA_TYPE_MANIFEST,
        "config": Descriptor(MEDIA_TYPE_CONFIG, config_digest, len(config_bytes)).as_json(),
        "layers": [layer.as_json() for layer in layers],
    }
    manifest_bytes = _canonical(manifest)
    manifest_digest = _write_blob(layout, manifest_bytes)
    total = len(manifest_bytes) + len(config_bytes) + sum(layer.size for layer in layers)
    return (
        Descriptor(MEDIA_TYPE_MANIFEST, manifest_digest, len(manifest_bytes)),
        manifest_bytes,
        config_digest,
        tuple(layer.digest for layer in layers),
        total,
    )


def hash_seed(*parts: object) -> int:
    """A stable integer seed from any parts (Python's hash() is salted per process)."""
    text = "/".join(str(part) for part in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def build_oci_layout(
    directory: Path,
    tag: str,
    layer_sizes: list[int],
    seed: int = 0,
    *,
    arch: str = "amd64",
    labels: Mapping[str, str] | None = None,
    compresslevel: int = 1,
) -> BuiltImage:
    """Write a single-platform image into the OCI layout `directory`, tagged `tag`.

    The layout may already hold other tags; an existing `tag` is repointed. `compresslevel` 0
    still writes valid gzip (stored blocks) and is the fastest for big benchmark layers.
    """
    directory.mkdir(parents=True, exist_ok=True)
    descriptor, manifest, config_digest, layer_digests, total = _build_image(
        directory, layer_sizes, seed, arch, labels, compresslevel
    )
    _tag_in_layout(directory, descriptor, tag)
    return BuiltImage(tag, arch, descriptor.digest, config_digest, layer_digests, manifest, total)


def build_oci_index_layout(
    directory: Path,
    tag: str,
    layer_sizes: list[int],
    seed: int = 0,
    *,
    architectures: Sequence[str] = ("amd64", "arm64"),
    compresslevel: int = 1,
) -> BuiltIndex:
    """Write a multi-platform image (one manifest per architecture) and tag its image index."""
    directory.mkdir(parents=True, exist_ok=True)
    images: list[BuiltImage] = []
    entries: list[Json] = []
    for arch in architectures:
        descriptor, manifest, config_digest, layer_digests, total = _build_image(
            directory, layer_sizes, seed, arch, None, compresslevel
        )
        images.append(
            BuiltImage(None, arch, descriptor.digest, config_digest, layer_digests, manifest, total)
        )
        platform: Json = {"architecture": arch, "os": "linux"}
        if arch in _VARIANTS:
            platform["variant"] = _VARIANTS[arch]
        entries.append({**descriptor.as_json(), "platform": platform})
    index_bytes = _canonical(
        {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": entries}
    )
    index_digest = _write_blob(directory, index_bytes)
    _tag_in_layout(directory, Descriptor(MEDIA_TYPE_INDEX, index_digest, len(index_bytes)), tag)
    return BuiltIndex(tag, index_digest, index_bytes, tuple(images))


def layout_blob_digests(layout: Path) -> set[str]:
    """Every blob digest stored under `layout/blobs`."""
    return {
        f"{path.parent.name}:{path.name}"
        for path in (layout / "blobs").glob("*/*")
        if path.is_file() and not path.name.startswith(".")
    }


def layout_tags(layout: Path) -> dict[str, str]:
    """tag -> digest, from the layout's index.json."""
    tags: dict[str, str] = {}
    entries = _read_index(layout).get("manifests")
    assert isinstance(entries, list)
    for entry in entries:
        ref = entry.get("annotations", {}).get(REF_NAME_ANNOTATION)
        if ref is not None:
            tags[ref] = entry["digest"]
    return tags


def verify_layout_digests(layout: Path) -> None:
    """Raise AssertionError if any blob's content does not hash to its file name."""
    for digest in sorted(layout_blob_digests(layout)):
        path = blob_path(layout, digest)
        hasher = hashlib.sha256()
        with open(path, "rb") as blob:
            for chunk in iter(lambda: blob.read(_CHUNK), b""):
                hasher.update(chunk)
        actual = "sha256:" + hasher.hexdigest()
        if actual != digest:
            raise AssertionError(f"{path}: content hashes to {actual}")


def assert_same_blobs(expected: Path, actual: Path, digests: Iterable[str] | None = None) -> None:
    """Assert that the blobs `digests` (default: all of `expected`'s) are byte-identical in both.

    Blobs only in `actual` are allowed (a pulled layout may hold more), missing ones are not.
    """
    wanted = sorted(digests if digests is not None else layout_blob_digests(expected))
    missing = [d for d in wanted if not blob_path(actual, d).is_file()]
    if missing:
        raise AssertionError(f"blobs missing from {actual}: {missing}")
    different = [
        d
        for d in wanted
        if not filecmp.cmp(blob_path(expected, d), blob_path(actual, d), shallow=False)
    ]
    if different:
        raise AssertionError(f"blobs differ between {expected} and {actual}: {different}")
    verify_layout_digests(actual)


def read_blob(layout: Path, digest: str) -> bytes:
    return blob_path(layout, digest).read_bytes()


def read_json_blob(layout: Path, digest: str) -> Json:
    document: Json = json.load(io.BytesIO(read_blob(layout, digest)))
    return document
