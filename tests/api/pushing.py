"""Pushing small images, indexes and Helm charts through harborlite's ``/v2/`` with httpx.

Fast enough to make fresh artifacts per test case; the skopeo tests cover real clients.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass

import httpx

from tests.harness import Harborlite

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, *layers: bytes) -> bytes:
    """An OCI image manifest naming ``config`` and ``layers``."""
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                for layer in layers
            ],
        }
    ).encode()


@dataclass(frozen=True)
class Pushed:
    repository: str
    reference: str
    digest: str
    manifest: bytes
    size: int


class Pusher:
    """One bearer token per repository, asked of /service/token like a client would."""

    def __init__(self, server: Harborlite, auth: tuple[str, str] | None = None) -> None:
        self.server = server
        self.auth = auth or server.admin
        self.client = httpx.Client(base_url=server.url, timeout=30)
        self._tokens: dict[str, dict[str, str]] = {}

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Pusher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _headers(self, repository: str) -> dict[str, str]:
        if repository not in self._tokens:  # a token lasts 30 minutes
            token = self.server.token(f"repository:{repository}:pull,push", self.auth)
            self._tokens[repository] = {"Authorization": f"Bearer {token}"}
        return self._tokens[repository]

    def blob(self, repository: str, data: bytes, headers: dict[str, str]) -> str:
        digest = digest_of(data)
        started = self.client.post(f"/v2/{repository}/blobs/uploads/", headers=headers)
        assert started.status_code == 202, started.text
        location = started.headers["Location"]
        separator = "&" if "?" in location else "?"
        done = self.client.put(
            f"{location}{separator}digest={digest}",
            content=data,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )
        assert done.status_code == 201, done.text
        return digest

    def manifest(
        self, repository: str, reference: str, body: bytes, media_type: str, headers: dict[str, str]
    ) -> str:
        response = self.client.put(
            f"/v2/{repository}/manifests/{reference}",
            content=body,
            headers={**headers, "Content-Type": media_type},
        )
        assert response.status_code == 201, response.text
        return response.headers["Docker-Content-Digest"]

    def image(
        self,
        repository: str,
        tag: str | None,
        *,
        arch: str = "amd64",
        seed: str = "",
        author: str = "harborlite tests",
    ) -> Pushed:
        headers = self._headers(repository)
        layer = _tgz({"hello.txt": f"hello {repository} {tag} {arch} {seed}".encode()})
        config = json.dumps(
            {
                "architecture": arch,
                "os": "linux",
                "created": "2024-01-01T00:00:00Z",
                "author": author,
                "config": {"Cmd": ["/bin/sh"]},
                "rootfs": {"type": "layers", "diff_ids": [digest_of(gzip.decompress(layer))]},
                "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD hello.txt /"}],
            }
        ).encode()
        config_digest = self.blob(repository, config, headers)
        layer_digest = self.blob(repository, layer, headers)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": layer_digest, "size": len(layer)}],
            }
        ).encode()
        digest = digest_of(manifest)
        self.manifest(repository, tag or digest, manifest, OCI_MANIFEST, headers)
        return Pushed(
            repository, tag or digest, digest, manifest, len(manifest) + len(config) + len(layer)
        )

    def index(
        self, repository: str, tag: str, archs: tuple[str, ...] = ("amd64", "arm64")
    ) -> Pushed:
        children = [self.image(repository, None, arch=arch, seed=tag) for arch in archs]
        headers = self._headers(repository)
        body = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [
                    {
                        "mediaType": OCI_MANIFEST,
                        "digest": child.digest,
                        "size": len(child.manifest),
                        "platform": {"architecture": arch, "os": "linux"},
                    }
                    for child, arch in zip(children, archs, strict=True)
                ],
            }
        ).encode()
        digest = self.manifest(repository, tag, body, OCI_INDEX, headers)
        return Pushed(repository, tag, digest, body, len(body) + sum(c.size for c in children))

    def chart(self, repository: str, name: str, version: str) -> Pushed:
        headers = self._headers(repository)
        chart_yaml = (
            f"apiVersion: v2\nname: {name}\nversion: {version}\ndescription: a test chart\n"
            "dependencies:\n- name: redis\n  version: 17.0.0\n"
            "  repository: oci://registry.example/charts\n"
        )
        archive = _tgz(
            {
                f"{name}/Chart.yaml": chart_yaml.encode(),
                f"{name}/values.yaml": b"replicaCount: 2\n",
                f"{name}/README.md": f"# {name}\n".encode(),
            }
        )
        config = json.dumps(
            {"name": name, "version": version, "apiVersion": "v2", "description": "a test chart"}
        ).encode()
        config_digest = self.blob(repository, config, headers)
        layer_digest = self.blob(repository, archive, headers)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": HELM_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": HELM_LAYER, "digest": layer_digest, "size": len(archive)}],
            }
        ).encode()
        digest = self.manifest(repository, version, manifest, OCI_MANIFEST, headers)
        return Pushed(
            repository, version, digest, manifest, len(manifest) + len(config) + len(archive)
        )


def _tgz(files: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
