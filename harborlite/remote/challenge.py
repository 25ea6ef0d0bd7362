"""``WWW-Authenticate`` challenges and the bearer tokens they lead to, cached per scope.

A registry answers ``401`` with ``Basic realm=...`` or
``Bearer realm="<token url>",service="...",scope="..."``. For Bearer, the client asks the realm
for a token (``GET realm?service=..&scope=..``, with Basic credentials when it has them: the
Docker token flow, which is also Docker Hub's) and keeps it until shortly before it expires.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

_PARAM = re.compile(r'([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')
EXPIRY_MARGIN = 10.0  # seconds before a token's end it is not used any more
DEFAULT_EXPIRES_IN = 60.0  # the token specification's default


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic" or "bearer" (lower case)
    params: dict[str, str]

    @property
    def realm(self) -> str | None:
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        return self.params.get("scope")


def parse_challenge(header: str | None) -> Challenge | None:
    """The first challenge of a ``WWW-Authenticate`` value (None: none or unreadable)."""
    if not header:
        return None
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    scheme = scheme.lower()
    if scheme not in ("basic", "bearer"):
        return None
    params: dict[str, str] = {}
    for match in _PARAM.finditer(rest):
        quoted, bare = match.group(2), match.group(3)
        value = quoted.replace('\\"', '"') if quoted is not None else (bare or "")
        params[match.group(1).lower()] = value
    return Challenge(scheme, params)


class TokenCache:
    """Bearer tokens by scope, each until its expiry (minus a margin)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}

    def get(self, scope: str) -> str | None:
        found = self._tokens.get(scope)
        if found is None:
            return None
        token, until = found
        if time.monotonic() >= until:
            del self._tokens[scope]
            return None
        return token

    def put(self, scope: str, token: str, expires_in: float | None) -> None:
        lifetime = expires_in if expires_in and expires_in > 0 else DEFAULT_EXPIRES_IN
        self._tokens[scope] = (token, time.monotonic() + max(1.0, lifetime - EXPIRY_MARGIN))

    def drop(self, scope: str) -> None:
        self._tokens.pop(scope, None)
