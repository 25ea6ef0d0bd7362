"""The errors a client may be told about, one tree for every surface.

::

    HarborliteError                 a refusal with a reason: .status, .code, .message
    ├── BadRequest (400)            input the surface cannot take
    ├── Unauthorized (401)          no credentials, or wrong ones
    ├── Forbidden (403)             the caller may not do this
    ├── NotFound (404)
    ├── Conflict (409)              a duplicate name; also SQLAlchemy's IntegrityError on a
    │                               unique key, translated by harborlite.db.errors
    ├── PreconditionFailed (412)    the state refuses the change (a project still holding
    │                               repositories, an artifact an index still names)
    ├── PayloadTooLarge (413)       a request body over the surface's limit
    ├── TooManyRequests (429)       come back later: ``.retry_after`` seconds
    │   └── LockedOut               too many failed logins for the account or the address
    └── UpstreamError
        ├── UpstreamUnavailable (503)  aiohttp.ClientError, TimeoutError: translated in
        │                              harborlite.upstream.client only; also a busy database
        └── RegistryRefused (500)      an answer the registry should not have given

Parse errors of a vocabulary (``TokenError``, ``ManifestError``, ``ScopeError``) stay off the
tree: each surface translates them where it parses. Each surface renders this tree in its own
envelope, in one place: ``api/errors.py`` (Harbor's), ``v2/challenge.py`` (the registry's),
and ``portal/routes.py`` (the error page); the token service answers its own ``TokenRefused``
in the same envelope. Database exceptions reach a renderer only through
:func:`harborlite.db.errors.translated`, aiohttp's through the upstream client (and, for the
streamed ``/v2/`` proxy path, ``v2/forward.py``).
"""

from __future__ import annotations

import json
from typing import Any


class HarborliteError(Exception):
    """An error a client is told about. Each surface renders it in its own envelope."""

    code = "UNKNOWN"
    status = 500

    def __init__(self, message: str, *, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def envelope(self) -> dict[str, Any]:
        return envelope(self.code, self.message, self.detail)


def envelope(code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """The ``{"errors": [...]}`` body Harbor's API and the registry share."""
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return {"errors": [entry]}


def envelope_bytes(code: str, message: str, detail: Any = None) -> bytes:
    """The envelope as compact JSON with a newline, as the registry writes it."""
    return json.dumps(envelope(code, message, detail), separators=(",", ":")).encode() + b"\n"


class BadRequest(HarborliteError):
    code, status = "BAD_REQUEST", 400


class Unauthorized(HarborliteError):
    code, status = "UNAUTHORIZED", 401


class Forbidden(HarborliteError):
    code, status = "FORBIDDEN", 403


class NotFound(HarborliteError):
    code, status = "NOT_FOUND", 404


class Conflict(HarborliteError):
    code, status = "CONFLICT", 409


class PreconditionFailed(HarborliteError):
    code, status = "PRECONDITION", 412


class PayloadTooLarge(HarborliteError):
    code, status = "PAYLOAD_TOO_LARGE", 413


class TooManyRequests(HarborliteError):
    """Refused for now: the caller may try again in ``retry_after`` seconds (``Retry-After``)."""

    code, status = "TOO_MANY_REQUESTS", 429

    def __init__(self, message: str, *, retry_after: int, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.retry_after = max(1, retry_after)


class LockedOut(TooManyRequests):
    """Too many failed logins for the account (or from the client's address): every login
    for it is refused, the right password too, until the lockout ends."""

    def __init__(self, retry_after: int) -> None:
        minutes = _minutes(retry_after)
        plural = "s" if minutes > 1 else ""
        super().__init__(
            f"too many failed logins: try again in {minutes} minute{plural}",
            retry_after=retry_after,
        )

    @property
    def minutes(self) -> int:
        """The wait in whole minutes, rounded up: what people are told."""
        return _minutes(self.retry_after)


def _minutes(seconds: int) -> int:
    return max(1, -(-seconds // 60))


class UpstreamError(HarborliteError):
    """Something behind harborlite (the registry, the database) failed it."""


class UpstreamUnavailable(UpstreamError):
    """The registry (or the database) did not answer."""

    code, status = "UNAVAILABLE", 503


class RegistryRefused(UpstreamError):
    """The registry answered something harborlite cannot go on with."""

    code, status = "UNKNOWN", 500
