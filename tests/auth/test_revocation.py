"""The revocation check of a registry token, from memory (the end-to-end proof, with two
replicas, is tests/e2e/test_revocation.py)."""

from __future__ import annotations

from harborlite.auth.revocation import REPLICA, Revocations
from harborlite.auth.tokens import Claims


def claims(subject: str, issued_ms: int, replica: str = "other") -> Claims:
    return Claims(subject, (), expires_at=0, token_id="t", issued_ms=issued_ms, replica=replica)


def test_tokens_signed_before_a_revocation_are_refused_after_are_not() -> None:
    revocations = Revocations()
    revocations.apply("user", "alice", 1_000)
    assert revocations.refused(claims("alice", 999), "p") is not None
    assert revocations.refused(claims("alice", 1_001), "p") is None
    assert revocations.refused(claims("bob", 999), "p") is None  # someone else
    assert revocations.refused(claims("alice", 999), None) is not None  # /v2/ itself


def test_a_project_revocation_reaches_everyone_an_anonymous_one_only_anonymous() -> None:
    revocations = Revocations()
    revocations.apply("project", "gone", 1_000)
    revocations.apply("anonymous", "closed", 1_000)
    assert revocations.refused(claims("alice", 999), "gone") is not None
    assert revocations.refused(claims("", 999), "gone") is not None
    assert revocations.refused(claims("", 999), "closed") is not None
    assert revocations.refused(claims("alice", 999), "closed") is None  # a member's token
    assert revocations.refused(claims("", 999), "other") is None


def test_a_replica_refuses_its_own_tokens_signed_before_it_heard() -> None:
    """This replica signed at 1 500 from what it had cached; it heard at once of a revocation
    made at 1 000 elsewhere only now: its own token is refused, another's is judged by time."""
    revocations = Revocations()
    revocations.apply("robot", "robot$ci", 1_000)
    assert revocations.refused(claims("robot$ci", 1_500, REPLICA), "p") is not None
    assert revocations.refused(claims("robot$ci", 1_500, "elsewhere"), "p") is None


def test_a_revocation_read_back_is_not_applied_twice() -> None:
    revocations = Revocations()
    calls: list[int] = []
    revocations.on_change.append(lambda: calls.append(1))
    revocations.apply("user", "alice", 1_000)
    revocations.apply("user", "alice", 1_000)  # the poll reads what the commit applied
    revocations.apply("user", "alice", 900)
    assert calls == [1]
