"""Immutability rules without a server: doublestar matching as Harbor's (bmatcuk/doublestar
v1), the selectors' decorations, and reading Harbor's JSON with a 400 for every wrong field."""

from __future__ import annotations

from typing import Any

import pytest

from harborlite.errors import BadRequest
from harborlite.immutability.rules import (
    MAX_PATTERN,
    MAX_SELECTORS,
    Matcher,
    RuleSpec,
    Selector,
    first_immutable,
    matcher_of,
    refusal_message,
    rule_from_json,
    short_name,
)

# (pattern, name, matches): the doublestar semantics Harbor's selectors have
PATTERNS: list[tuple[str, str, bool]] = [
    ("**", "app", True),
    ("**", "team/app", True),
    ("**", "a/b/c/d", True),
    ("*", "app", True),
    ("*", "team/app", False),  # * stays within one path segment
    ("team/*", "team/app", True),
    ("team/*", "team/app/x", False),
    ("team/*", "team", False),
    ("team/**", "team/app", True),
    ("team/**", "team/a/b", True),
    ("team/**", "team", False),  # doublestar v1: a/** needs something below a
    ("**/app", "app", True),  # ** may stand for no segment at all
    ("**/app", "x/app", True),
    ("**/app", "x/y/app", True),
    ("**/app", "apps", False),
    ("a**b", "axxb", True),  # ** inside a segment is a plain *
    ("a**b", "ax/xb", False),
    ("{app,web}", "app", True),
    ("{app,web}", "web", True),
    ("{app,web}", "api", False),
    ("{team/app,web}", "team/app", True),
    ("app?", "app1", True),
    ("app?", "app12", False),
    ("app?", "app", False),
    ("?", "/", False),
    ("[ab]pp", "app", True),
    ("[ab]pp", "bpp", True),
    ("[ab]pp", "cpp", False),
    ("[a-c]pp", "bpp", True),
    ("[!a]pp", "bpp", True),
    ("[!a]pp", "app", False),
    ("[^a]pp", "app", False),
    ("*", ".hidden", True),  # a leading dot is an ordinary character
    ("App", "app", False),  # case matters
    ("app", "app", True),
    ("app", "app2", False),
    ("v*", "v1", True),
    ("v*", "v1.0.0", True),
    ("v*", "latest", False),
    ("v*", "V1", False),
    ("v{1,2}.*", "v1.0", True),
    ("v{1,2}.*", "v2.13", True),
    ("v{1,2}.*", "v3.0", False),
    ("1.?.*", "1.2.3", True),
    ("1.?.*", "1.22.3", False),
    ("*-rc*", "v1-rc1", True),
    ("release-[0-9]*", "release-2024", True),
    ("release-[0-9]*", "release-x", False),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), PATTERNS)
def test_patterns_match_as_doublestar(pattern: str, name: str, expected: bool) -> None:
    as_repository = Matcher([Selector("matches", "**")], [Selector("repoMatches", pattern)])
    as_tag = Matcher([Selector("matches", pattern)], [Selector("repoMatches", "**")])
    assert as_repository.selects(name, "t") is expected
    if "/" not in name:  # a tag has no slash
        assert as_tag.selects("app", name) is expected


def rule(tags: list[tuple[str, str]], repositories: list[tuple[str, str]]) -> Matcher:
    return Matcher([Selector(d, p) for d, p in tags], [Selector(d, p) for d, p in repositories])


def test_excludes_select_what_the_pattern_does_not_match() -> None:
    not_latest = rule([("excludes", "latest")], [("repoMatches", "**")])
    assert not_latest.selects("app", "v1") and not not_latest.selects("app", "latest")
    not_tmp = rule([("matches", "**")], [("repoExcludes", "tmp/**")])
    assert not_tmp.selects("app", "v1") and not not_tmp.selects("tmp/x", "v1")
    assert not_tmp.selects("tmp", "v1")  # tmp/** does not match tmp itself


def test_every_selector_of_a_rule_must_agree() -> None:
    releases = rule([("matches", "v*"), ("excludes", "*-rc*")], [("repoMatches", "**")])
    assert releases.selects("app", "v1.2")
    assert not releases.selects("app", "v1.2-rc1")
    assert not releases.selects("app", "latest")
    scoped = rule([("matches", "**")], [("repoMatches", "team/**"), ("repoExcludes", "**/dev")])
    assert scoped.selects("team/app", "x") and not scoped.selects("team/dev", "x")


def test_a_rule_without_selectors_selects_nothing() -> None:
    assert not Matcher([], [Selector("repoMatches", "**")]).selects("app", "v1")
    assert not Matcher([Selector("matches", "**")], []).selects("app", "v1")


def test_first_immutable_keeps_the_order_given() -> None:
    matchers = [rule([("matches", "v*")], [("repoMatches", "**")])]
    assert first_immutable(matchers, "app", ["latest", "v2", "v1"]) == "v2"
    assert first_immutable(matchers, "app", ["latest"]) is None
    assert first_immutable([], "app", ["v1"]) is None


def test_the_refusal_is_harbors_and_names_the_repository_without_its_project() -> None:
    assert short_name("library/team/app") == "team/app"
    assert short_name("library") == ""
    assert (
        refusal_message(short_name("library/team/app"), "v1")
        == "Failed to process request due to 'team/app:v1' configured as immutable."
    )


def body(**changes: Any) -> dict[str, Any]:
    rule_json: dict[str, Any] = {
        "action": "immutable",
        "template": "immutable_template",
        "priority": 0,
        "disabled": False,
        "params": {},
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
    }
    rule_json.update(changes)
    return rule_json


def tags(*selectors: dict[str, Any]) -> dict[str, Any]:
    return body(tag_selectors=list(selectors))


def test_harbors_json_is_read() -> None:
    spec = rule_from_json(body(priority=3, disabled=True, params={"a": {}}))
    assert spec.tag_selectors == (Selector("matches", "v*"),)
    assert spec.repository_selectors == (Selector("repoMatches", "**"),)
    assert (spec.priority, spec.disabled, dict(spec.params)) == (3, True, {"a": {}})
    assert spec.scope_selectors_json() == body()["scope_selectors"]
    assert spec.tag_selectors_json() == body()["tag_selectors"]
    assert spec.describe() == "tags matching v* in repositories matching **"
    # what Harbor's clients may leave out: action, template, kind; extras are taken and dropped
    minimal = rule_from_json(
        {
            "scope_selectors": {"repository": [{"decoration": "repoMatches", "pattern": "**"}]},
            "tag_selectors": [{"decoration": "excludes", "pattern": "latest", "extras": "{}"}],
        }
    )
    assert (minimal.action, minimal.template, minimal.disabled) == (
        "immutable",
        "immutable_template",
        False,
    )
    assert matcher_of(minimal).selects("x", "v1") and not matcher_of(minimal).selects("x", "latest")


def test_the_fingerprint_is_what_the_rule_selects() -> None:
    one = rule_from_json(
        tags(
            {"decoration": "matches", "pattern": "v*"},
            {"decoration": "excludes", "pattern": "*-rc"},
        )
    )
    other_order = rule_from_json(
        tags(
            {"decoration": "excludes", "pattern": "*-rc"},
            {"decoration": "matches", "pattern": "v*"},
        )
    )
    disabled = RuleSpec(one.tag_selectors, one.repository_selectors, disabled=True, priority=9)
    assert one.fingerprint == other_order.fingerprint == disabled.fingerprint
    assert one.fingerprint != rule_from_json(body()).fingerprint


REPO = {"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}
BAD: list[tuple[dict[str, Any], str]] = [
    (body(action="retain"), "action must be 'immutable'"),
    (body(template="latestPushedK"), "template must be 'immutable_template'"),
    (body(disabled="yes"), "disabled must be a boolean"),
    (body(priority="1"), "priority must be a whole number"),
    (body(priority=True), "priority must be a whole number"),
    (body(priority=2**40), "priority is out of range"),
    (body(params=[]), "params must be an object"),
    (body(scope_selectors=None), "scope_selectors is required"),
    (body(scope_selectors=[]), "scope_selectors is required"),
    (body(scope_selectors={}), "scope_selectors is required"),
    (
        body(scope_selectors={"repository": [REPO], "namespace": [REPO]}),
        "only 'repository' is supported, got 'namespace'",
    ),
    (body(scope_selectors={"repository": []}), "scope_selectors.repository is required"),
    (body(scope_selectors={"repository": "**"}), "scope_selectors.repository is required"),
    (
        body(scope_selectors={"repository": [{**REPO, "decoration": "matches"}]}),
        "scope_selectors.repository[0].decoration must be repoMatches or repoExcludes",
    ),
    (body(tag_selectors=None), "tag_selectors is required"),
    (body(tag_selectors=[]), "tag_selectors is required"),
    (body(tag_selectors=["v*"]), "tag_selectors[0] must be an object"),
    (tags({"kind": "regex", "decoration": "matches", "pattern": "v.*"}), "kind must be doublestar"),
    (tags({"decoration": "repoMatches", "pattern": "v*"}), "must be matches or excludes"),
    (tags({"pattern": "v*"}), "tag_selectors[0].decoration must be matches or excludes"),
    (tags({"decoration": "matches"}), "tag_selectors[0].pattern must be a string"),
    (tags({"decoration": "matches", "pattern": ""}), "tag_selectors[0].pattern is required"),
    (tags({"decoration": "matches", "pattern": "  "}), "tag_selectors[0].pattern is required"),
    (tags({"decoration": "matches", "pattern": 5}), "pattern must be a string"),
    (
        tags({"decoration": "matches", "pattern": "v" * (MAX_PATTERN + 1)}),
        f"at most {MAX_PATTERN} characters",
    ),
    (tags({"decoration": "matches", "pattern": "v\n1"}), "must not contain control characters"),
    (
        tags({"decoration": "matches", "pattern": "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}"}),
        "is not a valid pattern",
    ),
    (tags({"decoration": "matches", "pattern": "v*", "extras": 1}), "extras must be a string"),
    (
        tags(*[{"decoration": "matches", "pattern": f"v{n}"} for n in range(MAX_SELECTORS + 1)]),
        f"at most {MAX_SELECTORS} selectors",
    ),
]


@pytest.mark.parametrize(("given", "message"), BAD, ids=[m for _, m in BAD])
def test_a_wrong_field_is_a_400_naming_it(given: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        rule_from_json(given)
    assert message in refused.value.message
