"""What the replication tests share: endpoints, policies, executions, and a bare registry client."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.api.pushing import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, digest_of
from tests.harness import Harborlite
from tests.signatures.cosign_format import ecdsa_key, signature_tag, signed

DONE = ("Succeed", "Failed", "Stopped")
ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        OCI_MANIFEST,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)


def add_registry(server: Harborlite, name: str, kind: str, url: str, auth: Any = None) -> int:
    body: dict[str, Any] = {"name": name, "type": kind, "url": url, "insecure": True}
    if auth is not None:
        body["credential"] = {"type": "basic", "access_key": auth[0], "access_secret": auth[1]}
    answer = server.api("POST", "/registries", auth=server.admin, json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def add_policy(server: Harborlite, **body: Any) -> int:
    answer = server.api("POST", "/replication/policies", auth=server.admin, json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def start(server: Harborlite, policy_id: int) -> int:
    answer = server.api(
        "POST", "/replication/executions", auth=server.admin, json={"policy_id": policy_id}
    )
    assert answer.status_code == 201, answer.text
    return int(answer.headers["Location"].rsplit("/", 1)[1])


def execution(server: Harborlite, execution_id: int) -> dict[str, Any]:
    answer = server.api("GET", f"/replication/executions/{execution_id}", auth=server.admin)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def tasks(server: Harborlite, execution_id: int) -> list[dict[str, Any]]:
    answer = server.api("GET", f"/replication/executions/{execution_id}/tasks", auth=server.admin)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def task_log(server: Harborlite, execution_id: int, task_id: int) -> str:
    answer = server.api(
        "GET", f"/replication/executions/{execution_id}/tasks/{task_id}/log", auth=server.admin
    )
    assert answer.status_code == 200, answer.text
    return answer.text


def executions_of(server: Harborlite, policy_id: int) -> list[dict[str, Any]]:
    answer = server.api(
        "GET", "/replication/executions", auth=server.admin, params={"policy_id": policy_id}
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


def wait_done(server: Harborlite, execution_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = execution(server, execution_id)
        if shown["status"] in DONE:
            return shown
        assert time.monotonic() < deadline, (shown, server.log())
        time.sleep(0.3)


class Registry:
    """A registry's ``/v2/`` reached with a client's token (harborlite) or anonymously (bare)."""

    def __init__(self, url: str, server: Harborlite | None = None) -> None:
        self.url = url
        self.server = server
        self.client = httpx.Client(base_url=url, timeout=30)

    def close(self) -> None:
        self.client.close()

    def _headers(self, repository: str, actions: str = "pull") -> dict[str, str]:
        if self.server is None:
            return {}
        token = self.server.token(f"repository:{repository}:{actions}", self.server.admin)
        return {"Authorization": f"Bearer {token}"}

    def digest(self, repository: str, reference: str) -> str | None:
        answer = self.client.head(
            f"/v2/{repository}/manifests/{reference}",
            headers={**self._headers(repository), "Accept": ACCEPT},
        )
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, (answer.status_code, answer.text)
        return answer.headers["Docker-Content-Digest"]

    def manifest(self, repository: str, reference: str) -> bytes:
        answer = self.client.get(
            f"/v2/{repository}/manifests/{reference}",
            headers={**self._headers(repository), "Accept": ACCEPT},
        )
        assert answer.status_code == 200, answer.text
        return answer.content

    def push_blob(self, repository: str, data: bytes) -> str:
        headers = self._headers(repository, "pull,push")
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

    def push_manifest(self, repository: str, reference: str, body: bytes, media_type: str) -> str:
        headers = self._headers(repository, "pull,push")
        answer = self.client.put(
            f"/v2/{repository}/manifests/{reference}",
            content=body,
            headers={**headers, "Content-Type": media_type},
        )
        assert answer.status_code == 201, answer.text
        return digest_of(body)

    def push_image(self, repository: str, tag: str, layer: bytes) -> str:
        config = f'{{"architecture":"amd64","os":"linux","tag":"{tag}"}}'.encode()
        self.push_blob(repository, config)
        self.push_blob(repository, layer)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                ],
            }
        ).encode()
        return self.push_manifest(repository, tag, manifest, OCI_MANIFEST)

    def sign(self, repository: str, digest: str) -> str:
        """A legacy cosign signature of ``digest`` under ``sha256-<hex>.sig``; its digest."""
        image = signed(ecdsa_key(), f"{self.url.split('://')[1]}/{repository}", digest)
        for data in image.blobs.values():
            self.push_blob(repository, data)
        return self.push_manifest(repository, signature_tag(digest), image.manifest, OCI_MANIFEST)

    def delete(self, repository: str, reference: str) -> int:
        headers = self._headers(repository, "delete")
        return self.client.delete(
            f"/v2/{repository}/manifests/{reference}", headers=headers
        ).status_code
