"""The robot rules that need no database: names, durations, permissions, secrets."""

from __future__ import annotations

import string
from datetime import UTC, datetime

import pytest

from harborlite.errors import BadRequest
from harborlite.robots import operations
from harborlite.robots.secrets import (
    SECRET_LENGTH,
    generate_secret,
    hash_secret,
    valid_secret,
    verify_secret,
)


@pytest.mark.parametrize("name", ["ci", "a", "ci-bot", "ci.bot_2", "0", "a1.b2-c3_d4"])
def test_lower_case_names_with_inner_separators_are_taken(name: str) -> None:
    assert operations.check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "CI", "ci+bot", "ci$", "-ci", "ci-", "ci..bot", "c i", "ci/bot", "é", 5, None]
)
def test_other_names_are_refused_with_harbors_message(name: object) -> None:
    with pytest.raises(BadRequest) as refused:
        operations.check_name(name)
    assert refused.value.message == (
        "robot name is not in lower case or contains illegal characters"
    )


@pytest.mark.parametrize("duration", [-1, 1, 30, 2**31 - 2])
def test_durations_of_never_or_days_are_taken(duration: int) -> None:
    assert operations.check_duration(duration) == duration


@pytest.mark.parametrize("duration", [0, -2, 2**31 - 1, 2**40, 1.5, "30", True, None])
def test_other_durations_are_refused(duration: object) -> None:
    with pytest.raises(BadRequest, match="duration must be either -1"):
        operations.check_duration(duration)


def test_expiry_is_the_start_plus_the_days_or_never() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert operations.expires_at(-1, start) == -1
    assert operations.expires_at(30, start) == int(start.timestamp()) + 30 * 86400


def test_levels() -> None:
    assert operations.check_level("system") == "system"
    assert operations.check_level("project") == "project"
    for bad in ("System", "", None, "global"):
        with pytest.raises(BadRequest, match="bad request level"):
            operations.check_level(bad)


def _entry(namespace: str, *pairs: tuple[str, str], kind: str = "project") -> dict[str, object]:
    return {
        "kind": kind,
        "namespace": namespace,
        "access": [{"resource": r, "action": a} for r, a in pairs],
    }


def test_permissions_are_normalised_merged_and_deduplicated() -> None:
    given = [
        _entry("lib", ("repository", "pull"), ("repository", "pull")),
        _entry("lib", ("repository", "push")),
        _entry("/", ("project", "create"), kind="system"),
    ]
    assert operations.check_permissions(given, "system") == [
        {
            "kind": "project",
            "namespace": "lib",
            "access": [
                {"resource": "repository", "action": "pull", "effect": "allow"},
                {"resource": "repository", "action": "push", "effect": "allow"},
            ],
        },
        {
            "kind": "system",
            "namespace": "/",
            "access": [{"resource": "project", "action": "create", "effect": "allow"}],
        },
    ]


@pytest.mark.parametrize(
    ("permissions", "level", "message"),
    [
        (None, "system", "bad request empty permission"),
        ([], "project", "bad request empty permission"),
        ({"kind": "project"}, "system", "bad request empty permission"),
        ([_entry("lib")], "project", "bad request empty access"),
        ([{"kind": "project", "namespace": "lib"}], "project", "bad request empty access"),
        (
            [_entry("lib", ("repository", "fly"))],
            "project",
            "bad request permission: repository:fly",
        ),
        ([_entry("lib", ("robots", "read"))], "project", "bad request permission: robots:read"),
        ([_entry("lib", ("repository", "*"))], "project", "bad request permission: repository:*"),
        ([_entry("/", ("repository", "pull"), kind="system")], "system", "repository:pull"),
        ([_entry("lib", ("user", "create"))], "system", "bad request permission: user:create"),
        ([_entry("lib", ("user", "create"), kind="system")], "system", "namespace of a system"),
        ([_entry("lib", ("repository", "pull"), kind="robot")], "system", "permission kind"),
        ([_entry("", ("repository", "pull"))], "system", "needs a namespace"),
        (
            [_entry("a", ("repository", "pull")), _entry("b", ("repository", "pull"))],
            "project",
            "exactly one permission",
        ),
        ([_entry("*", ("repository", "pull"))], "project", "exactly one permission"),
        ([_entry("/", ("project", "create"), kind="system")], "project", "exactly one permission"),
        (
            [
                {
                    "kind": "project",
                    "namespace": "a",
                    "access": [{"resource": "repository", "action": "pull", "effect": "deny"}],
                }
            ],
            "project",
            "only allow",
        ),
        ([_entry(f"p{i}", ("repository", "pull")) for i in range(101)], "system", "at most 100"),
    ],
)
def test_bad_permissions_are_refused(permissions: object, level: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("*", r"\*")):
        operations.check_permissions(permissions, level)


def test_covers_says_whether_a_change_takes_a_right_away() -> None:
    pull = [_entry("lib", ("repository", "pull"))]
    push_pull = [_entry("lib", ("repository", "pull"), ("repository", "push"))]
    everywhere = [_entry("*", ("repository", "pull"))]
    norm = lambda p: operations.check_permissions(p, "system")  # noqa: E731
    assert operations._covers(norm(push_pull), norm(pull))
    assert not operations._covers(norm(pull), norm(push_pull))
    assert operations._covers(norm(everywhere), norm(pull))
    assert not operations._covers(norm(pull), norm(everywhere))
    system = [_entry("/", ("project", "create"), kind="system")]
    assert not operations._covers(norm(pull), norm(pull + system))


def test_a_generated_secret_has_32_letters_and_digits_of_each_kind() -> None:
    seen = set()
    for _ in range(200):
        secret = generate_secret()
        assert len(secret) == SECRET_LENGTH
        assert set(secret) <= set(string.ascii_letters + string.digits)
        assert any(c.isupper() for c in secret) and any(c.islower() for c in secret)
        assert any(c.isdigit() for c in secret)
        assert valid_secret(secret)
        seen.add(secret)
    assert len(seen) == 200


@pytest.mark.parametrize(
    ("secret", "valid"),
    [
        ("Abcdefg1", True),
        ("Abcdef1", False),  # 7 characters
        ("A1" + "b" * 126, True),  # 128
        ("A1" + "b" * 127, False),  # 129
        ("abcdefg1", False),
        ("ABCDEFG1", False),
        ("Abcdefgh", False),
        ("Ab1 with spaces & symbols!", True),
    ],
)
def test_harbors_rule_for_a_chosen_secret(secret: str, valid: bool) -> None:
    assert valid_secret(secret) is valid


async def test_secrets_are_stored_slow_hashed_and_all_128_characters_count() -> None:
    short = generate_secret()
    stored = await hash_secret(short)
    assert short not in stored and stored.startswith("$2")
    assert await verify_secret(short, stored)
    assert not await verify_secret(short[:-1] + ("a" if short[-1] != "a" else "b"), stored)
    long = "A1" + "b" * 126
    long_hash = await hash_secret(long)
    assert await verify_secret(long, long_hash)
    # past bcrypt's 72 bytes a difference still counts
    assert not await verify_secret(long[:-1] + "c", long_hash)
    assert not await verify_secret("x" * 10_000, long_hash)
