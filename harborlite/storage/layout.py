"""Where distribution 2.8 keeps things in its storage (``registry/storage/paths.go``): the same
keys under a filesystem root and under an S3 ``rootdirectory``.

- blob data: ``docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data``;
- a repository: ``docker/registry/v2/repositories/<name>/`` holding ``_layers/`` (links to the
  blobs it may serve), ``_manifests/revisions/sha256/<hex>/link`` (every manifest pushed to it
  and not deleted), ``_manifests/tags/<tag>/`` (all a tag is) and ``_uploads/<id>/`` (uploads in
  progress: ``startedat``, ``data``, ``hashstates/``).
"""

from __future__ import annotations

import re

V2 = "docker/registry/v2"
BLOBS = f"{V2}/blobs"
REPOSITORIES = f"{V2}/repositories"
HEX = re.compile(r"^[0-9a-f]{64}$")
_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")


def blob_folder(digest: str) -> str | None:
    """``docker/registry/v2/blobs/<algorithm>/<2 hex>/<hex>`` (None: not a digest)."""
    match = _DIGEST.match(digest)
    if match is None:
        return None
    algorithm, hexdigest = match.groups()
    return f"{BLOBS}/{algorithm}/{hexdigest[:2]}/{hexdigest}"


def blob_data(digest: str) -> str | None:
    folder = blob_folder(digest)
    return None if folder is None else f"{folder}/data"


def sha256_data(digest: str) -> str | None:
    """The data key of a sha256 blob only (what garbage collection reads and sweeps)."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or not HEX.match(hexdigest):
        return None
    return f"{BLOBS}/sha256/{hexdigest[:2]}/{hexdigest}/data"


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layer_link(name: str, digest: str) -> str | None:
    match = _DIGEST.match(digest)
    if match is None or ".." in name:
        return None
    algorithm, hexdigest = match.groups()
    return f"{REPOSITORIES}/{name}/_layers/{algorithm}/{hexdigest}/link"


def tag_folder(name: str, tag: str) -> str:
    return f"{REPOSITORIES}/{name}/_manifests/tags/{tag}"
