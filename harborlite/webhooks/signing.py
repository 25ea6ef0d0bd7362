"""Signed deliveries (beyond Harbor, which signs nothing).

Every POST carries

- ``X-Harborlite-Timestamp: <unix seconds when this attempt was sent>``
- ``X-Harborlite-Signature: sha256=<hex>``, the HMAC-SHA256, keyed with the policy's secret,
  of ``<timestamp>.<body>``: the timestamp's ASCII digits, one ``.``, then the exact bytes of
  the request body.
- ``X-Harborlite-Delivery: <task id>`` (the same on every retry of one delivery).

A receiver checks it like :func:`verify` does: read the raw body (before any JSON parsing),
compute the HMAC over ``timestamp + "." + body``, compare in constant time, and refuse a
timestamp older (or newer) than a few minutes, so a captured request cannot be replayed later.
A delivery id seen before is a retry of the same delivery: process it once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Harborlite-Signature"
TIMESTAMP_HEADER = "X-Harborlite-Timestamp"
DELIVERY_HEADER = "X-Harborlite-Delivery"
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Harborlite-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signed_headers(
    secret: str, body: bytes, delivery: int, now: float | None = None
) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body),
        DELIVERY_HEADER: str(delivery),
    }


def verify(
    secret: str,
    body: bytes,
    signature_header: str | None,
    timestamp_header: str | None,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does: True only for a body signed with ``secret`` recently."""
    if not signature_header or not timestamp_header or not timestamp_header.isdigit():
        return False
    timestamp = int(timestamp_header)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), signature_header)
