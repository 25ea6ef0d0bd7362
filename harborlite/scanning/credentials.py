"""The pull credential a scanner adapter is given for one scan.

A short-lived bearer token signed by harborlite's own token signer, for pulling exactly ONE
repository, passed to the adapter as ``registry.authorization: "Bearer <token>"``. The adapter
presents it at harborlite's ``/v2/`` gateway, which verifies it like any token.

**How a scanner's token is recognised** (so that no pull policy ever blocks it, as Harbor's
``SkipPolicyChecking`` lets a ``scanner-pull`` token through):

- its ``access`` claim is ``[{"type": "repository", "name": <repo>, "actions": ["pull",
  "scanner-pull"]}]``: Harbor's own ``scanner-pull`` action. A policy check (signed-only pulls,
  ``prevent_vul``) skips the pull when the token grants ``scanner-pull`` on the pulled
  repository: ``SCANNER_PULL in granted_actions`` (see :func:`is_scanner_pull`);
- its subject is ``scanner$<registration name>`` (:data:`SUBJECT_PREFIX`), which no user or
  robot name can take, so audit lines and logs show the scanner.

Only harborlite signs tokens, and the token service never grants ``scanner-pull`` (it grants
the intersection of what was asked and what the caller may do, and no role holds it), so a
client cannot give itself the bypass.
"""

from __future__ import annotations

from collections.abc import Iterable

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import Claims, TokenSigner

SCANNER_PULL = "scanner-pull"
SUBJECT_PREFIX = "scanner$"
# long enough for a slow scan's pulls; each scan gets its own
TOKEN_SECONDS = 1800


def scanner_subject(registration_name: str) -> str:
    return SUBJECT_PREFIX + registration_name


def scanner_token(
    signer: TokenSigner, registration_name: str, repository: str, seconds: int = TOKEN_SECONDS
) -> str:
    """A bearer token pulling only ``repository``, marked as a scanner's."""
    token, _, _ = signer.sign(
        scanner_subject(registration_name),
        [Access("repository", repository, ("pull", SCANNER_PULL))],
        expiration_seconds=max(60, seconds),
    )
    return token


def is_scanner_pull(granted_actions: Iterable[str]) -> bool:
    """Whether the actions a token grants on the pulled repository make it a scanner's pull."""
    return SCANNER_PULL in set(granted_actions)


def is_scanner_token(claims: Claims, repository: str) -> bool:
    """Whether ``claims`` is a scanner's token for ``repository``."""
    return any(
        entry.type == "repository" and entry.name == repository and SCANNER_PULL in entry.actions
        for entry in claims.access
    )
