"""An immutability rule: what it selects, read from Harbor's JSON, and how it matches.

A rule (Harbor's ``ImmutableRule``) selects repositories by ``scope_selectors.repository`` and
tags by ``tag_selectors``; each selector is ``{kind: "doublestar", decoration, pattern}``. A tag
is immutable when an enabled rule of its project selects both its repository and it.

Harbor's facts kept here (src/pkg/immutable/match/rule/match.go, src/lib/selector/selectors/
doublestar/selector.go, server/middleware/immutable/pushmf.go):

- the repository is matched **without its project**: in ``library/team/app`` the pattern sees
  ``team/app``; the refusal names it so too (``'team/app:v1'``);
- ``matches`` / ``repoMatches`` select what the pattern matches, ``excludes`` /
  ``repoExcludes`` what it does not;
- patterns are ``doublestar`` (bmatcuk/doublestar v1): ``*`` any run of characters but ``/``,
  ``**`` any number of whole path segments (``**/app`` matches ``app``, ``team/**`` does not
  match ``team``), ``?`` one character but ``/``, ``[abc]``, ``[a-z]``, ``[!a]``/``[^a]``, and
  ``{a,b}`` alternatives; a leading dot is an ordinary character. :data:`GLOB_FLAGS` give
  wcmatch exactly that (tests/immutability/test_rules.py holds the table of cases).

Beyond Harbor, on purpose: Harbor uses only the *first* tag selector and the first repository
selector of a rule and ignores the others; here every selector of a rule must agree (so a rule
"tags matching ``v*``, excluding ``v*-rc*``" does what it says). Harbor accepts any ``action``,
``template``, ``kind`` and decoration and a rule that then never matches; here they are refused
with a 400 naming the field.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wcmatch import glob

from harborlite.errors import BadRequest

ACTION = "immutable"
TEMPLATE = "immutable_template"
KIND = "doublestar"
TAG_DECORATIONS = ("matches", "excludes")
REPOSITORY_DECORATIONS = ("repoMatches", "repoExcludes")
REPOSITORY = "repository"  # the one key of scope_selectors

MAX_RULES = 15  # per project, as Harbor's documentation and portal say
MAX_SELECTORS = 5  # per list of a rule
MAX_PATTERN = 256  # characters
MAX_EXPANSIONS = 100  # patterns a pattern's {a,b} alternatives may expand to

# doublestar v1 semantics (see the module docstring); no negation, no extglob, no ``|`` split
GLOB_FLAGS = glob.GLOBSTAR | glob.BRACE | glob.DOTGLOB | glob.CASE


def refusal_message(repository: str, tag: str) -> str:
    """Harbor's words for a refused push or delete; ``repository`` without its project."""
    return f"Failed to process request due to '{repository}:{tag}' configured as immutable."


def short_name(repository: str) -> str:
    """``library/team/app`` -> ``team/app``: what patterns and refusals see."""
    return repository.partition("/")[2]


@dataclass(frozen=True)
class Selector:
    decoration: str
    pattern: str
    kind: str = KIND

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind, "decoration": self.decoration, "pattern": self.pattern}


@dataclass(frozen=True)
class RuleSpec:
    """What a rule says, validated: Harbor's fields, selectors in the order given."""

    tag_selectors: tuple[Selector, ...]
    repository_selectors: tuple[Selector, ...]
    disabled: bool = False
    priority: int = 0
    params: Mapping[str, Any] = field(default_factory=dict)
    action: str = ACTION
    template: str = TEMPLATE

    @property
    def fingerprint(self) -> str:
        """The same selectors (in any order) give the same fingerprint: one rule per project."""
        canonical = {
            "tags": sorted((s.decoration, s.pattern) for s in self.tag_selectors),
            "repositories": sorted((s.decoration, s.pattern) for s in self.repository_selectors),
        }
        return hashlib.sha256(json.dumps(canonical).encode()).hexdigest()

    def tag_selectors_json(self) -> list[dict[str, str]]:
        return [s.as_json() for s in self.tag_selectors]

    def scope_selectors_json(self) -> dict[str, list[dict[str, str]]]:
        return {REPOSITORY: [s.as_json() for s in self.repository_selectors]}

    def describe(self) -> str:
        """In words, for the audit log and the portal: ``tags matching v* in repositories
        matching **``."""
        tags, repositories = _words(self.tag_selectors), _words(self.repository_selectors)
        return f"tags {tags} in repositories {repositories}"


def _words(selectors: Sequence[Selector]) -> str:
    verbs = {"matches": "matching", "repoMatches": "matching"}
    return " and ".join(f"{verbs.get(s.decoration, 'excluding')} {s.pattern}" for s in selectors)


# --- reading Harbor's JSON -------------------------------------------------------------------


def _compiled(pattern: str) -> glob.WcMatcher[str]:
    return glob.compile(pattern, flags=GLOB_FLAGS, limit=MAX_EXPANSIONS)


def checked_pattern(pattern: object, where: str) -> str:
    """``pattern`` if it is a usable doublestar pattern, else a 400 saying why."""
    if not isinstance(pattern, str):
        raise BadRequest(f"{where}.pattern must be a string")
    if not pattern.strip():
        raise BadRequest(f"{where}.pattern is required (** selects everything)")
    if len(pattern) > MAX_PATTERN:
        raise BadRequest(f"{where}.pattern must be at most {MAX_PATTERN} characters")
    if not pattern.isprintable():
        raise BadRequest(f"{where}.pattern must not contain control characters")
    try:
        _compiled(pattern)
    except Exception as error:  # wcmatch's PatternLimitException is not public
        raise BadRequest(f"{where}.pattern {pattern!r} is not a valid pattern: {error}") from None
    return pattern


def _selector(raw: object, where: str, decorations: tuple[str, ...]) -> Selector:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object {{kind, decoration, pattern}}")
    kind = raw.get("kind", KIND)
    if kind != KIND:
        raise BadRequest(f"{where}.kind must be {KIND}, got {kind!r}")
    decoration = raw.get("decoration")
    if decoration not in decorations:
        raise BadRequest(
            f"{where}.decoration must be {' or '.join(decorations)}, got {decoration!r}"
        )
    extras = raw.get("extras")
    if extras is not None and not isinstance(extras, str):
        raise BadRequest(f"{where}.extras must be a string")
    return Selector(str(decoration), checked_pattern(raw.get("pattern"), where))


def _selectors(raw: object, where: str, decorations: tuple[str, ...]) -> tuple[Selector, ...]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest(
            f"{where} is required: a list of at least one selector {{kind, decoration, pattern}}"
        )
    if len(raw) > MAX_SELECTORS:
        raise BadRequest(f"{where} may hold at most {MAX_SELECTORS} selectors")
    return tuple(_selector(item, f"{where}[{n}]", decorations) for n, item in enumerate(raw))


def rule_from_json(body: Mapping[str, Any]) -> RuleSpec:
    """A rule from Harbor's ``ImmutableRule`` JSON (``id`` is the caller's business), or a 400
    naming the first field that is wrong."""
    action = body.get("action") or ACTION
    if action != ACTION:
        raise BadRequest(f"action must be {ACTION!r}, got {action!r}")
    template = body.get("template") or TEMPLATE
    if template != TEMPLATE:
        raise BadRequest(f"template must be {TEMPLATE!r}, got {template!r}")
    disabled = body.get("disabled", False)
    if not isinstance(disabled, bool):
        raise BadRequest("disabled must be a boolean")
    priority = body.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise BadRequest("priority must be a whole number")
    if not -(2**31) <= priority < 2**31:
        raise BadRequest("priority is out of range")
    params = body.get("params")
    params = {} if params is None else params
    if not isinstance(params, dict):
        raise BadRequest("params must be an object")
    scope = body.get("scope_selectors")
    if not isinstance(scope, dict) or REPOSITORY not in scope:
        raise BadRequest(
            'scope_selectors is required: {"repository": [{kind, decoration, pattern}]}'
        )
    others = sorted(str(key) for key in scope if key != REPOSITORY)
    if others:
        raise BadRequest(f"scope_selectors: only {REPOSITORY!r} is supported, got {others[0]!r}")
    return RuleSpec(
        tag_selectors=_selectors(body.get("tag_selectors"), "tag_selectors", TAG_DECORATIONS),
        repository_selectors=_selectors(
            scope[REPOSITORY], "scope_selectors.repository", REPOSITORY_DECORATIONS
        ),
        disabled=disabled,
        priority=priority,
        params=params,
        action=ACTION,
        template=TEMPLATE,
    )


def stored_selectors(raw: object) -> tuple[Selector, ...]:
    """Selectors as a row keeps them (written by :meth:`RuleSpec.tag_selectors_json`)."""
    if not isinstance(raw, list):
        return ()
    return tuple(
        Selector(str(item.get("decoration", "")), str(item.get("pattern", "")))
        for item in raw
        if isinstance(item, dict)
    )


# --- matching --------------------------------------------------------------------------------


class _Test:
    """One selector, compiled: whether a name passes it."""

    __slots__ = ("excludes", "matcher")

    def __init__(self, selector: Selector) -> None:
        self.excludes = selector.decoration in ("excludes", "repoExcludes")
        self.matcher = _compiled(selector.pattern)

    def passes(self, name: str) -> bool:
        return bool(self.matcher.match(name)) != self.excludes


class Matcher:
    """A rule compiled once: :meth:`selects` answers without compiling anything."""

    __slots__ = ("repositories", "rule_id", "tags")

    def __init__(
        self,
        tag_selectors: Sequence[Selector],
        repository_selectors: Sequence[Selector],
        rule_id: int = 0,
    ) -> None:
        self.rule_id = rule_id
        self.tags = [_Test(s) for s in tag_selectors]
        self.repositories = [_Test(s) for s in repository_selectors]

    def selects(self, repository: str, tag: str) -> bool:
        """Whether the rule makes ``tag`` of ``repository`` (without its project) immutable.
        A rule without selectors selects nothing (as Harbor's)."""
        if not self.tags or not self.repositories:
            return False
        return all(t.passes(repository) for t in self.repositories) and all(
            t.passes(tag) for t in self.tags
        )


def matcher_of(spec: RuleSpec, rule_id: int = 0) -> Matcher:
    return Matcher(spec.tag_selectors, spec.repository_selectors, rule_id)


def first_immutable(
    matchers: Sequence[Matcher], repository: str, tags: Sequence[str]
) -> str | None:
    """The first of ``tags`` (in the order given) an enabled rule makes immutable in
    ``repository`` (without its project), or None."""
    for tag in tags:
        if any(m.selects(repository, tag) for m in matchers):
            return tag
    return None
