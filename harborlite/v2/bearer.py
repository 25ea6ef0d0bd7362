"""The bearer token of a ``/v2/`` request: verified once per token, and what its access covers."""

from __future__ import annotations

import hashlib
import time

from harborlite.auth.tokens import LEEWAY_SECONDS, Claims, TokenSigner

VERIFIED_TOKENS_KEPT = 10_000


class VerifiedTokens:
    """Verify a bearer token once; later requests with it reuse the claims until it expires.

    A signature check (ES256 now, RS256 with older keys) costs about 0.1 ms, as much as the
    rest of a cached manifest answer; a client sends one token for a whole pull.
    """

    def __init__(self, kept: int = VERIFIED_TOKENS_KEPT) -> None:
        self.kept = kept
        self._claims: dict[bytes, Claims] = {}

    def verify(self, signer: TokenSigner, token: str) -> Claims:
        """The token's claims; raises :class:`~harborlite.auth.tokens.TokenError`."""
        key = hashlib.sha256(token.encode()).digest()  # a token with x5c is about 3 KB
        claims = self._claims.get(key)
        if claims is not None and time.time() <= claims.expires_at + LEEWAY_SECONDS:
            return claims
        claims = signer.verify(token)
        if len(self._claims) >= self.kept:
            self._claims.clear()
        self._claims[key] = claims
        return claims


def covers(claims: Claims, name: str, actions: tuple[str, ...]) -> bool:
    """Whether the token grants every one of ``actions`` on repository ``name``."""
    granted: set[str] = set()
    for entry in claims.access:
        if entry.type == "repository" and entry.name == name:
            granted.update(entry.actions)
    return "*" in granted or all(action in granted for action in actions)


def challenge_actions(needed: tuple[str, ...]) -> tuple[str, ...]:
    """What a challenge asks for. A read asks ``pull,push``: the token service grants only
    what the caller may do, and clients that keep one token per repository (oras) can then
    push with it instead of failing on a pull-only token."""
    return ("pull", "push") if needed == ("pull",) else needed


def scope_text(name: str, actions: tuple[str, ...]) -> str:
    return f"repository:{name}:{','.join(actions)}"
