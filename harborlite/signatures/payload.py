"""Cosign's simple-signing payload (sigstore/sigstore ``pkg/signature/payload``)::

{"critical": {"identity": {"docker-reference": "harbor.example.com/library/app"},
              "image": {"docker-manifest-digest": "sha256:<hex>"},
              "type": "cosign container image signature"},
 "optional": {...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass

COSIGN_TYPE = "cosign container image signature"
MAX_PAYLOAD_BYTES = 64 * 1024


class CorruptPayload(ValueError):
    """The payload is not a cosign simple-signing document (the reason says what is wrong)."""


@dataclass(frozen=True)
class SimpleSigning:
    digest: str  # critical.image.docker-manifest-digest
    reference: str  # critical.identity.docker-reference, e.g. host:port/project/app

    @property
    def repository(self) -> str:
        """The reference without its registry host (the first part when it has a ``.`` or a
        ``:``, or is ``localhost``), without a tag or digest."""
        name = self.reference.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        first, _, rest = name.partition("/")
        if rest and ("." in first or ":" in first or first == "localhost"):
            return rest
        return name


def parse_payload(data: bytes) -> SimpleSigning:
    if len(data) > MAX_PAYLOAD_BYTES:
        raise CorruptPayload(f"the payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise CorruptPayload("the payload is not JSON") from None
    critical = document.get("critical") if isinstance(document, dict) else None
    if not isinstance(critical, dict):
        raise CorruptPayload('the payload has no "critical" section')
    if critical.get("type") != COSIGN_TYPE:
        raise CorruptPayload(f'the payload\'s type is not "{COSIGN_TYPE}"')
    image = critical.get("image")
    identity = critical.get("identity")
    digest = image.get("docker-manifest-digest") if isinstance(image, dict) else None
    reference = identity.get("docker-reference") if isinstance(identity, dict) else None
    if not isinstance(digest, str) or not digest:
        raise CorruptPayload("the payload names no docker-manifest-digest")
    if not isinstance(reference, str) or not reference:
        raise CorruptPayload("the payload names no docker-reference")
    return SimpleSigning(digest, reference)
