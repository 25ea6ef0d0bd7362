"""One error family for every surface: a code, an HTTP status and a message."""

from __future__ import annotations

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
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return {"errors": [entry]}


class BadRequest(HarborliteError):
    code, status = "BAD_REQUEST", 400


class Unauthorized(HarborliteError):
    code, status = "UNAUTHORIZED", 401


class Forbidden(HarborliteError):
    code, status = "FORBIDDEN", 403


class NotFound(HarborliteError):
    code, status = "NOT_FOUND", 404


class MethodNotAllowed(HarborliteError):
    code, status = "METHOD_NOT_ALLOWED", 405


class Conflict(HarborliteError):
    code, status = "CONFLICT", 409


class PreconditionFailed(HarborliteError):
    code, status = "PRECONDITION", 412


class UpstreamUnavailable(HarborliteError):
    """The registry behind harborlite did not answer."""

    code, status = "UNAVAILABLE", 503


# Codes of the OCI distribution surface (/v2/).
class RegistryError(HarborliteError):
    def __init__(self, code: str, status: int, message: str, *, detail: Any = None) -> None:
        super().__init__(message, detail=detail)
        self.code = code
        self.status = status
