"""The bearer token of a /v2/ request: verified once, and what its access covers."""

from __future__ import annotations

import pytest

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import TokenError, TokenSigner, generate_key_pair
from harborlite.v2.bearer import VerifiedTokens, challenge_actions, covers, scope_text


@pytest.fixture(scope="module")
def signer(tmp_path_factory: pytest.TempPathFactory) -> TokenSigner:
    directory = tmp_path_factory.mktemp("keys")
    generate_key_pair(directory / "k.pem", directory / "c.pem", "test")
    return TokenSigner.load(
        directory / "k.pem", directory / "c.pem", issuer="iss", service="svc", expiration_seconds=60
    )


def test_a_token_is_verified_once_and_a_bad_one_never_kept(signer: TokenSigner) -> None:
    tokens = VerifiedTokens(kept=2)
    token, _, _ = signer.sign("alice", [Access("repository", "p/r", ("pull",))])
    claims = tokens.verify(signer, token)
    assert claims.subject == "alice"
    assert tokens.verify(signer, token) is claims  # the kept claims, not a second check
    with pytest.raises(TokenError):
        tokens.verify(signer, token[:-4] + "AAAA")
    for name in ("bob", "carol"):  # past ``kept``, everything is forgotten
        tokens.verify(signer, signer.sign(name, [])[0])
    assert tokens.verify(signer, token) is not claims


def test_what_a_token_covers(signer: TokenSigner) -> None:
    token, _, _ = signer.sign(
        "alice",
        [
            Access("repository", "p/r", ("pull", "push")),
            Access("repository", "p/all", ("*",)),
            Access("registry", "p/s", ("pull",)),
        ],
    )
    claims = VerifiedTokens().verify(signer, token)
    assert covers(claims, "p/r", ("pull", "push"))
    assert not covers(claims, "p/r", ("delete",))
    assert covers(claims, "p/all", ("delete",))
    assert not covers(claims, "p/s", ("pull",))  # not a repository grant
    assert not covers(claims, "p/other", ("pull",))


def test_a_read_challenge_asks_for_push_too() -> None:
    assert challenge_actions(("pull",)) == ("pull", "push")
    assert challenge_actions(("delete",)) == ("delete",)
    assert scope_text("p/r", ("pull", "push")) == "repository:p/r:pull,push"
