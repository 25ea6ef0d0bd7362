"""The retention rule algebra, without a database: selectors, templates, the union of rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from harborlite.errors import BadRequest
from harborlite.retention.rules import (
    Candidate,
    Rule,
    Selector,
    applicable,
    evaluate,
    glob_match,
    parse_rule,
    parse_selector,
    retained,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DAY = 86400.0


def at(days_ago: float) -> float:
    return (NOW - timedelta(days=days_ago)).timestamp()


def image(digest: str, *tags: str, pushed: float, pulled: float = 0.0) -> Candidate:
    return Candidate(digest=digest, tags=tuple(tags), pushed=pushed, pulled=pulled, created=pushed)


def rule(
    template: str,
    value: int | None = None,
    *,
    tags: tuple[Selector, ...] = (Selector("matches", "**", untagged=True),),
    repositories: tuple[Selector, ...] = (Selector("repoMatches", "**"),),
    disabled: bool = False,
) -> Rule:
    return Rule(1, template, value, tags, repositories, disabled=disabled)


@pytest.mark.parametrize(
    ("pattern", "value", "matched"),
    [
        ("**", "nginx", True),
        ("**", "team/app", True),
        ("*", "team/app", False),  # * stays within one segment
        ("team/*", "team/app", True),
        ("team/**", "team", False),  # doublestar v1: ** is whole segments after team/
        ("**/app", "app", True),
        ("v*", "v1.2.3", True),
        ("v*", "V1", False),  # case matters
        ("*", ".hidden", True),  # a leading dot is an ordinary character
        ("{latest,stable}", "stable", True),
        ("v1.?", "v1.2", True),
        ("[^0-9]*", "dev", True),
        ("", "anything", True),  # an empty pattern matches all (Harbor's match())
    ],
)
def test_doublestar_patterns(pattern: str, value: str, matched: bool) -> None:
    assert glob_match(pattern, value) is matched


def test_a_tag_selector_selects_an_artifact_by_any_of_its_tags() -> None:
    both = image("sha256:a", "v1", "latest", pushed=at(1))
    untagged = image("sha256:u", pushed=at(1))
    matches_v = Selector("matches", "v*", untagged=False)
    assert matches_v.selects(both)  # v1 matches
    assert not matches_v.selects(untagged)
    assert Selector("matches", "v*", untagged=True).selects(untagged)
    excludes_v = Selector("excludes", "v*", untagged=False)
    assert excludes_v.selects(both)  # latest does not match v*
    assert not excludes_v.selects(image("sha256:b", "v2", pushed=at(1)))
    assert excludes_v.selects(untagged)  # excludes with untagged false selects untagged
    assert not Selector("excludes", "v*", untagged=True).selects(untagged)


def test_untagged_defaults_follow_harbor() -> None:
    """No extras: matches selects untagged artifacts, excludes does not."""
    where = "t"
    assert parse_selector(
        {"decoration": "matches", "pattern": "**"}, ("matches", "excludes"), where
    ).untagged
    excluded = parse_selector(
        {"decoration": "excludes", "pattern": "x"}, ("matches", "excludes"), where
    )
    assert not excluded.untagged
    told = parse_selector(
        {"decoration": "matches", "pattern": "**", "extras": '{"untagged":false}'},
        ("matches", "excludes"),
        where,
    )
    assert not told.untagged


def test_latest_pushed_keeps_the_k_newest_by_the_latest_push_of_artifact_or_tag() -> None:
    old = image("sha256:old", "v1", pushed=at(10))
    mid = image("sha256:mid", "v2", pushed=at(5))
    new = image("sha256:new", "v3", pushed=at(1))
    kept = evaluate("latestPushedK", 2, [old, mid, new], NOW)
    assert [c.digest for c in kept] == ["sha256:new", "sha256:mid"]
    assert evaluate("latestPushedK", 0, [old, mid, new], NOW) == []
    assert len(evaluate("latestPushedK", 10, [old, mid, new], NOW)) == 3


def test_latest_pulled_ranks_by_use_and_a_fresh_push_counts_as_use() -> None:
    pulled_recently = image("sha256:p", "a", pushed=at(30), pulled=at(2))
    never_pulled_but_new = image("sha256:n", "b", pushed=at(1))
    stale = image("sha256:s", "c", pushed=at(40), pulled=at(20))
    kept = evaluate("latestPulledN", 2, [stale, pulled_recently, never_pulled_but_new], NOW)
    assert [c.digest for c in kept] == ["sha256:n", "sha256:p"]


def test_days_since_push_and_pull() -> None:
    fresh = image("sha256:f", "f", pushed=at(2))
    old_pulled = image("sha256:o", "o", pushed=at(60), pulled=at(3))
    old = image("sha256:x", "x", pushed=at(60), pulled=at(45))
    assert {c.digest for c in evaluate("nDaysSinceLastPush", 7, [fresh, old_pulled, old], NOW)} == {
        "sha256:f"
    }
    # a push within the days keeps it even when it was never pulled (Harbor #13152)
    assert {c.digest for c in evaluate("nDaysSinceLastPull", 7, [fresh, old_pulled, old], NOW)} == {
        "sha256:f",
        "sha256:o",
    }
    assert evaluate("nDaysSinceLastPull", 0, [old], NOW) == []


def test_always_keeps_what_its_selectors_select() -> None:
    release = image("sha256:r", "v1", pushed=at(100))
    dev = image("sha256:d", "dev-1", pushed=at(100))
    keep_releases = rule("always", tags=(Selector("matches", "v*"),))
    assert keep_releases.keeps([release, dev], NOW) == {"sha256:r"}


def test_the_policy_keeps_the_union_of_its_rules() -> None:
    candidates = [
        image("sha256:1", "v1", pushed=at(9)),
        image("sha256:2", "v2", pushed=at(8)),
        image("sha256:3", "dev-a", pushed=at(7)),
        image("sha256:4", "dev-b", pushed=at(1)),
        image("sha256:5", pushed=at(0.5)),  # untagged
    ]
    releases = rule("latestPushedK", 1, tags=(Selector("matches", "v*"),))
    recent = rule("nDaysSinceLastPush", 3, tags=(Selector("matches", "dev-*"),))
    assert retained([releases, recent], candidates, NOW) == {"sha256:2", "sha256:4"}
    with_untagged = rule("latestPushedK", 1, tags=(Selector("matches", "nothing", untagged=True),))
    assert retained([releases, with_untagged], candidates, NOW) == {"sha256:2", "sha256:5"}


def test_tag_selectors_of_a_rule_are_anded() -> None:
    candidates = [
        image("sha256:1", "v1", pushed=at(3)),
        image("sha256:2", "v1-rc1", pushed=at(2)),
    ]
    finals = rule("always", tags=(Selector("matches", "v*"), Selector("excludes", "*-rc*")))
    assert finals.keeps(candidates, NOW) == {"sha256:1"}


def test_an_artifact_is_kept_when_any_of_its_tags_is_kept() -> None:
    shared = image("sha256:s", "v1", "nightly", pushed=at(50))
    other = image("sha256:o", "nightly-2", pushed=at(1))
    keep_v = rule("always", tags=(Selector("matches", "v*"),))
    assert keep_v.keeps([shared, other], NOW) == {"sha256:s"}


def test_repository_scope_and_disabled_rules() -> None:
    app_only = rule("always", repositories=(Selector("repoMatches", "app-*"),))
    not_tools = rule("always", repositories=(Selector("repoExcludes", "tools/**"),))
    off = rule("always", disabled=True)
    assert applicable([app_only, not_tools, off], "app-web") == [app_only, not_tools]
    assert applicable([app_only, not_tools, off], "tools/lint") == []
    assert applicable([app_only, not_tools, off], "lib") == [not_tools]


def test_ties_are_broken_the_same_way_every_time() -> None:
    same = [image(f"sha256:{n}", f"t{n}", pushed=at(1)) for n in range(5)]
    first = evaluate("latestPushedK", 2, same, NOW)
    assert evaluate("latestPushedK", 2, list(reversed(same)), NOW) == first


def good_rule(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "disabled": False,
        "action": "retain",
        "template": "latestPushedK",
        "params": {"latestPushedK": 3},
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "**"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    body.update(changes)
    return body


def test_a_rule_round_trips_through_its_json() -> None:
    parsed = parse_rule(good_rule(), 0)
    again = parse_rule(parsed.as_json(), 0)
    assert again == parsed
    shown = parsed.as_json()
    assert shown["params"] == {"latestPushedK": 3}
    assert shown["tag_selectors"][0]["extras"] == '{"untagged":true}'
    assert "untagged too" in parsed.describe()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"template": "nothing"}, "rule evaluator nothing is not registered"),
        ({"template": ""}, "empty rule template ID"),
        ({"action": "delete"}, "action must be 'retain'"),
        ({"params": {}}, "missing required parameter latestPushedK for rule latestPushedK"),
        ({"params": {"latestPushedK": -1}}, "latestPushedK is less than zero"),
        ({"params": {"latestPushedK": 32767}}, "latestPushedK is too large"),
        ({"params": {"latestPushedK": "many"}}, "latestPushedK type error"),
        ({"params": {"latestPushedK": True}}, "latestPushedK type error"),
        (
            {"template": "nDaysSinceLastPush", "params": {"nDaysSinceLastPush": 20190905}},
            "nDaysSinceLastPush is too large",
        ),
        ({"tag_selectors": []}, "tag_selectors is required"),
        ({"scope_selectors": {}}, "scope_selectors.repository is required"),
        ({"scope_selectors": {"project": []}}, "scope_selectors must be an object"),
        (
            {"tag_selectors": [{"kind": "regexp", "decoration": "matches", "pattern": "x"}]},
            "kind 'regexp' is not supported",
        ),
        (
            {
                "tag_selectors": [
                    {"kind": "doublestar", "decoration": "repoMatches", "pattern": "x"}
                ]
            },
            "decoration must be matches or excludes",
        ),
        (
            {"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": ""}]},
            "pattern is required",
        ),
        (
            {"tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v[1"}]},
            "a '[' is not closed",
        ),
        (
            {
                "tag_selectors": [
                    {"kind": "doublestar", "decoration": "matches", "pattern": "*", "extras": "{"}
                ]
            },
            "extras is not JSON",
        ),
        ({"disabled": "no"}, "disabled must be true or false"),
    ],
)
def test_a_rule_harbor_would_refuse_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("[", r"\[").replace("(", r"\(")):
        parse_rule(good_rule(**changes), 0)


def test_always_needs_no_parameter_and_numbers_may_be_text() -> None:
    assert parse_rule(good_rule(template="always", params={}), 0).value is None
    assert parse_rule(good_rule(params={"latestPushedK": "4"}), 0).value == 4
    assert parse_rule(good_rule(params={"latestPushedK": 4.0}), 0).value == 4
