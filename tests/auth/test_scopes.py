"""Scope grammar: type[(class)]:name:actions, names holding ':' (host:port), merging."""

from __future__ import annotations

import pytest

from harborlite.auth.scopes import Scope, ScopeError, parse_scope, parse_scopes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("repository:library/busybox:pull", Scope("repository", "library/busybox", ("pull",))),
        (
            "repository:library/busybox:pull,push",
            Scope("repository", "library/busybox", ("pull", "push")),
        ),
        ("repository:a/b/c:*", Scope("repository", "a/b/c", ("*",))),
        ("registry:catalog:*", Scope("registry", "catalog", ("*",))),
        (
            "repository(plugin):p/r:pull",
            Scope("repository", "p/r", ("pull",), resource_class="plugin"),
        ),
        (
            "repository:localhost:5000/p/r:pull",
            Scope("repository", "localhost:5000/p/r", ("pull",)),
        ),
        ("repository:p/r:", Scope("repository", "p/r", ())),
        ("repository:p/r:pull,pull,push", Scope("repository", "p/r", ("pull", "push"))),
    ],
)
def test_parse_scope(text: str, expected: Scope) -> None:
    assert parse_scope(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "repository",
        "repository:pull",
        ":p/r:pull",
        "Repository:p/r:pull",
        "repo sitory:x:y",
        "repository::pull",
    ],
)
def test_parse_scope_refuses_malformed(text: str) -> None:
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_parse_scopes_splits_on_spaces_and_merges_repeats() -> None:
    scopes = parse_scopes(
        ["repository:a/b:pull repository:c/d:pull", "repository:a/b:push", "registry:catalog:*"]
    )
    assert scopes == [
        Scope("repository", "a/b", ("pull", "push")),
        Scope("repository", "c/d", ("pull",)),
        Scope("registry", "catalog", ("*",)),
    ]


def test_str_round_trips() -> None:
    for text in ["repository:p/r:pull,push", "repository(plugin):p/r:pull", "registry:catalog:*"]:
        assert str(parse_scope(text)) == text
