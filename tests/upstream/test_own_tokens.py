"""harborlite's own tokens for the registry: one scope's token is handed out again while at
least half of its minute is left, never for another repository or other actions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import pytest

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import TokenSigner
from harborlite.upstream import client as upstream_client
from harborlite.upstream.client import Upstream
from tests.support.signing import new_signer


@pytest.fixture
def signer(tmp_path: Path) -> TokenSigner:
    return new_signer(tmp_path)


class Clock:
    def __init__(self) -> None:
        self.now = time.monotonic()

    def __call__(self) -> float:
        return self.now


def claims_of(signer: TokenSigner, authorization: str) -> Any:
    assert authorization.startswith("Bearer ")
    return signer.verify(authorization.removeprefix("Bearer "))


def test_a_scope_s_token_is_reused_within_half_its_life(
    signer: TokenSigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    monkeypatch.setattr(upstream_client.time, "monotonic", clock)
    upstream = Upstream("http://127.0.0.1:1", signer, cast(Any, None))
    first = upstream.own_authorization("p/app", ("pull",))
    claims = claims_of(signer, first)
    assert claims.subject == "harborlite"
    assert claims.access == (Access("repository", "p/app", ("pull",)),)
    assert claims.expires_at - time.time() <= 61  # a minute, as before
    clock.now += 29
    assert upstream.own_authorization("p/app", ("pull",)) == first
    assert upstream.own_authorization("p/app", ("pull", "push")) != first
    other = upstream.own_authorization("p/other", ("pull",))
    assert claims_of(signer, other).access == (Access("repository", "p/other", ("pull",)),)
    clock.now += 2  # past half of its minute: signed again
    again = upstream.own_authorization("p/app", ("pull",))
    assert again != first
    assert claims_of(signer, again).access == claims.access


def test_the_kept_tokens_are_bounded(signer: TokenSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(upstream_client, "OWN_TOKENS_KEPT", 8)
    upstream = Upstream("http://127.0.0.1:1", signer, cast(Any, None))
    for n in range(20):
        upstream.own_authorization(f"p/app{n}", ("pull",))
        assert len(upstream._own_tokens) <= 8
