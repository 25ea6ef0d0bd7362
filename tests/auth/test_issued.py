"""The cache of tokens handed out again (harborlite/auth/issued.py), on its own."""

from __future__ import annotations

import time

import pytest

from harborlite.auth import issued as issued_module
from harborlite.auth.issued import Issued, IssuedTokens, key_of
from harborlite.auth.scopes import Access

PULL = (Access("repository", "p/app", ("pull",)),)


def test_a_grant_is_handed_out_again_within_the_reuse_and_not_after() -> None:
    tokens = IssuedTokens(reuse_seconds=0.2)
    one = Issued("t1", 1800, 1000)
    tokens.put(key_of("alice", PULL, None), one)
    assert tokens.get(key_of("alice", PULL, None)) == one
    assert tokens.get(key_of("bob", PULL, None)) is None
    assert tokens.get(key_of("alice", (), None)) is None
    assert tokens.get(key_of("alice", PULL, 99)) is None  # a robot's end is part of the key
    time.sleep(0.25)
    assert tokens.get(key_of("alice", PULL, None)) is None


def test_clear_forgets_every_token() -> None:
    tokens = IssuedTokens()
    tokens.put(key_of("alice", PULL, None), Issued("t1", 1800, 1000))
    tokens.clear()
    assert tokens.get(key_of("alice", PULL, None)) is None


def test_no_reuse_keeps_nothing() -> None:
    tokens = IssuedTokens(reuse_seconds=0)
    tokens.put(key_of("alice", PULL, None), Issued("t1", 1800, 1000))
    assert tokens.get(key_of("alice", PULL, None)) is None


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issued_module, "MAX_ENTRIES", 3)
    tokens = IssuedTokens()
    for n in range(3):
        tokens.put(key_of(f"u{n}", PULL, None), Issued(f"t{n}", 1800, 1000))
    tokens.put(key_of("u3", PULL, None), Issued("t3", 1800, 1000))
    assert tokens.get(key_of("u0", PULL, None)) is None  # started again past the bound
    assert tokens.get(key_of("u3", PULL, None)) == Issued("t3", 1800, 1000)


def test_past_the_bound_the_fresh_entries_stay_when_few(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(issued_module, "MAX_ENTRIES", 4)
    tokens = IssuedTokens(reuse_seconds=0.2)
    for n in range(3):
        tokens.put(key_of(f"old{n}", PULL, None), Issued(f"t{n}", 1800, 1000))
    time.sleep(0.25)
    tokens.put(key_of("new", PULL, None), Issued("n", 1800, 1000))
    tokens.put(key_of("newer", PULL, None), Issued("m", 1800, 1000))  # the bound: old ones go
    assert tokens.get(key_of("new", PULL, None)) == Issued("n", 1800, 1000)
    assert tokens.get(key_of("newer", PULL, None)) == Issued("m", 1800, 1000)


def test_keys_tell_grants_apart() -> None:
    push = (Access("repository", "p/app", ("pull", "push")),)
    two = (Access("repository", "p/app", ("pull",)), Access("repository", "p/b", ("pull",)))
    keys = {
        key_of("alice", PULL, None),
        key_of("alice", push, None),
        key_of("alice", two, None),
        key_of("alice", (), None),
        key_of("alice", PULL, 1700000000),
        key_of("", PULL, None),
        # what a separator-joined key would confuse: a type holding the name's separator
        key_of("alice", (Access("a\x1fb", "c", ()),), None),
        key_of("alice", (Access("a", "b\x1fc", ()),), None),
        key_of("alice", (Access("repository", "p/app", ("pull,push",)),), None),
    }
    assert len(keys) == 9
