"""Where a request came from, read from the ASGI scope: one spelling for every surface."""

from __future__ import annotations

from starlette.types import Scope

from harborlite.audit.events import Origin


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower-case bytes, as ASGI gives them)."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def origin_of(scope: Scope) -> Origin:
    """The client's address and user agent, as audit entries record them."""
    client = scope.get("client")
    return Origin(
        client_ip=client[0] if client else "",
        user_agent=header(scope, b"user-agent") or "",
    )
