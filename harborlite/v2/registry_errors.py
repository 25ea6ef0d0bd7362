"""A registry 5xx as the client is told it.

distribution answers a storage driver's failure with 500 ``UNKNOWN`` and a ``detail`` that
holds the driver's error: the path on disk, an errno. That never goes out: a full disk is said
so, as 507 Insufficient Storage, and any other detail is dropped from the envelope.
"""

from __future__ import annotations

import json

from harborlite.errors import envelope_bytes

# a registry error answer (5xx) is read whole to be told in harborlite's words up to this size;
# larger ones stream as they are
REGISTRY_ERROR_LIMIT = 64 * 1024
ENOSPC = 28
STORAGE_FULL = (
    "the registry's storage is full (no space left on device): nothing was stored; "
    "free space, then push again"
)


def told_error(status: int, body: bytes) -> tuple[int, bytes]:
    """The status and body the client gets for the registry's 5xx ``status`` and ``body``."""
    try:
        errors = json.loads(body)["errors"]
        first = errors[0]
        code = str(first["code"])
    except (ValueError, KeyError, IndexError, TypeError, RecursionError):
        return status, body
    if not isinstance(first, dict):
        return status, body
    detail = first.get("detail")
    enclosed = detail.get("Enclosed") if isinstance(detail, dict) else None
    if isinstance(enclosed, dict) and enclosed.get("Err") == ENOSPC:
        return 507, envelope_bytes("UNKNOWN", STORAGE_FULL)
    if detail is None:
        return status, body
    return status, envelope_bytes(code, str(first.get("message") or "registry error"))
