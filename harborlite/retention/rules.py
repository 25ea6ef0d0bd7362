"""Harbor's retention rule algebra: templates, ``doublestar`` selectors, and what a policy keeps.

A rule applies to a repository when the repository (its name inside the project, as Harbor
matches it: ``nginx`` for ``library/nginx``) passes every one of the rule's repository
selectors. In that repository the rule's tag selectors narrow the artifacts (ANDed), and its
template keeps some of them:

==================== ==================================================================
``latestPushedK``    the K most recently pushed (an artifact's push time is its latest
                     push, or a tag's)
``latestPulledN``    the N most recently used
``nDaysSinceLastPush`` pushed within the last N days
``nDaysSinceLastPull`` used within the last N days
``always``           all of them
==================== ==================================================================

"Used" is the latest pull, or the latest push when that is later: an artifact pushed
yesterday and not pulled yet is not deleted by a pull-based rule for never having been pulled
(Harbor counts it as pulled in 1970 and deletes it: goharbor/harbor #13152, #18708, #20844).

The policy (algorithm ``or``) keeps the union of what its enabled rules keep in a repository and
deletes every other artifact there; a repository no enabled rule applies to is left alone. An
artifact is one candidate with all its tags: a tag selector selects it when any of its tags
matches (``matches``) or any does not (``excludes``); an untagged artifact is selected per the
selector's ``untagged`` extra (default: selected by ``matches``, not by ``excludes``, as Harbor).
So an artifact is kept when any of its tags is kept, never deleted through another tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from wcmatch import glob

from harborlite.errors import BadRequest
from harborlite.immutability.rules import GLOB_FLAGS, MAX_EXPANSIONS, checked_pattern

KIND = "doublestar"
MATCHES, EXCLUDES = "matches", "excludes"
REPO_MATCHES, REPO_EXCLUDES = "repoMatches", "repoExcludes"
RETAIN = "retain"

LATEST_PUSHED, LATEST_PULLED = "latestPushedK", "latestPulledN"
DAYS_SINCE_PUSH, DAYS_SINCE_PULL = "nDaysSinceLastPush", "nDaysSinceLastPull"
ALWAYS = "always"
COUNT_LIMIT = 32767  # Harbor: a count must be below math.MaxInt16
DAYS_LIMIT = 20190904  # Harbor's own bound on days

# template -> (what it keeps, the unit of its parameter or None)
TEMPLATES: dict[str, tuple[str, str | None]] = {
    LATEST_PUSHED: ("the most recently pushed # artifacts", "COUNT"),
    LATEST_PULLED: ("the most recently pulled # artifacts", "COUNT"),
    DAYS_SINCE_PUSH: ("pushed within the last # days", "DAYS"),
    DAYS_SINCE_PULL: ("pulled within the last # days", "DAYS"),
    ALWAYS: ("always", None),
}


@lru_cache(maxsize=4096)
def _matcher(pattern: str) -> glob.WcMatcher[str]:
    """doublestar as Harbor's (bmatcuk/doublestar v1), compiled once: the flags immutability
    rules use (:data:`harborlite.immutability.rules.GLOB_FLAGS`), so both read a pattern alike."""
    return glob.compile(pattern, flags=GLOB_FLAGS, limit=MAX_EXPANSIONS)


def glob_match(pattern: str, value: str) -> bool:
    """Whether ``value`` matches the doublestar ``pattern`` (an empty pattern matches all)."""
    if not pattern:
        return True
    return bool(_matcher(pattern).match(value))


def pattern_error(pattern: str) -> str:
    """Why doublestar would refuse ``pattern`` (an unclosed ``[`` or ``{``), or ``""``."""
    depth_brace, in_class, escaped = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "{":
            depth_brace += 1
        elif char == "}" and depth_brace:
            depth_brace -= 1
    if escaped:
        return "it ends with a lone backslash"
    if in_class:
        return "a '[' is not closed"
    if depth_brace:
        return "a '{' is not closed"
    return ""


@dataclass(frozen=True)
class Candidate:
    """One artifact of a repository as the rules see it (Unix seconds; 0: never)."""

    digest: str
    tags: tuple[str, ...]
    pushed: float
    pulled: float = 0.0
    created: float = 0.0
    artifact_id: int = 0
    labels: tuple[str, ...] = ()

    @property
    def used(self) -> float:
        """The latest pull, or the latest push when later (see the module's docstring)."""
        return max(self.pulled, self.pushed)


@dataclass(frozen=True)
class Selector:
    """A ``doublestar`` selector: on tags (``matches``/``excludes``, with ``untagged``) or on
    repositories (``repoMatches``/``repoExcludes``)."""

    decoration: str
    pattern: str
    untagged: bool = False

    def selects(self, candidate: Candidate) -> bool:
        if not candidate.tags:
            return self.untagged if self.decoration == MATCHES else not self.untagged
        if self.decoration == MATCHES:
            return any(glob_match(self.pattern, tag) for tag in candidate.tags)
        return any(not glob_match(self.pattern, tag) for tag in candidate.tags)

    def admits(self, repository: str) -> bool:
        matched = glob_match(self.pattern, repository)
        return matched if self.decoration == REPO_MATCHES else not matched

    def as_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "kind": KIND,
            "decoration": self.decoration,
            "pattern": self.pattern,
        }
        if self.decoration in (MATCHES, EXCLUDES):
            shown["extras"] = json.dumps({"untagged": self.untagged}, separators=(",", ":"))
        return shown


@dataclass(frozen=True)
class Rule:
    """One retention rule: a template with its parameter, its selectors, enabled or not."""

    id: int
    template: str
    value: int | None  # the count or the days; None for ``always``
    tag_selectors: tuple[Selector, ...]
    repository_selectors: tuple[Selector, ...]
    priority: int = 0
    disabled: bool = False
    extra_params: dict[str, Any] = field(default_factory=dict)

    def applies_to(self, repository: str) -> bool:
        """Enabled, and ``repository`` (the name inside the project) passes every scope
        selector."""
        return not self.disabled and all(s.admits(repository) for s in self.repository_selectors)

    def keeps(self, candidates: Sequence[Candidate], now: datetime) -> set[str]:
        """The digests this rule retains among ``candidates``."""
        selected = [c for c in candidates if all(s.selects(c) for s in self.tag_selectors)]
        return {c.digest for c in evaluate(self.template, self.value, selected, now)}

    def as_json(self) -> dict[str, Any]:
        params: dict[str, Any] = dict(self.extra_params)
        if self.value is not None:
            params[self.template] = self.value
        return {
            "id": self.id,
            "priority": self.priority,
            "disabled": self.disabled,
            "action": RETAIN,
            "template": self.template,
            "params": params,
            "tag_selectors": [s.as_json() for s in self.tag_selectors],
            "scope_selectors": {"repository": [s.as_json() for s in self.repository_selectors]},
        }

    def describe(self) -> str:
        """The rule in words, for logs and the portal: "retain the most recently pushed 3
        artifacts of repositories matching ** with tags matching v*"."""
        text, _ = TEMPLATES[self.template]
        text = text.replace("#", str(self.value)) if self.value is not None else "always"
        repositories = " and ".join(
            f"{'matching' if s.decoration == REPO_MATCHES else 'excluding'} {s.pattern}"
            for s in self.repository_selectors
        )
        tags = " and ".join(
            f"{'matching' if s.decoration == MATCHES else 'excluding'} {s.pattern}"
            + (" (untagged too)" if s.untagged else "")
            for s in self.tag_selectors
        )
        return f"retain {text}: repositories {repositories}, tags {tags}"


def evaluate(
    template: str, value: int | None, candidates: Sequence[Candidate], now: datetime
) -> list[Candidate]:
    """What ``template`` keeps of ``candidates`` (already selected). Ties in time are broken
    by creation time, then by digest, so a run and its dry run keep the same ones."""
    if template == ALWAYS:
        return list(candidates)
    count = value or 0
    if template == LATEST_PUSHED:
        ranked = sorted(candidates, key=lambda c: (c.pushed, c.created, c.digest), reverse=True)
        return ranked[:count]
    if template == LATEST_PULLED:
        ranked = sorted(candidates, key=lambda c: (c.used, c.pushed, c.digest), reverse=True)
        return ranked[:count]
    since = (now - timedelta(days=count)).timestamp()
    if template == DAYS_SINCE_PUSH:
        return [c for c in candidates if c.pushed >= since]
    if template == DAYS_SINCE_PULL:
        return [c for c in candidates if c.used >= since]
    raise ValueError(f"unknown template {template}")


def applicable(rules: Iterable[Rule], repository: str) -> list[Rule]:
    """The enabled rules whose scope takes ``repository`` (its name inside the project)."""
    return [rule for rule in rules if rule.applies_to(repository)]


def retained(rules: Sequence[Rule], candidates: Sequence[Candidate], now: datetime) -> set[str]:
    """Algorithm ``or``: the union of what ``rules`` (those that apply) keep."""
    kept: set[str] = set()
    for rule in rules:
        kept |= rule.keeps(candidates, now)
    return kept


# --- reading rules from Harbor's JSON ----------------------------------------------------------


def _int_param(template: str, raw: object) -> int:
    """Harbor's ``utils.ParseJSONInt``: a whole number (JSON numbers, or their text)."""
    if isinstance(raw, bool):
        raise BadRequest(f"{template} type error")
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
        raw = int(raw.strip())
    if not isinstance(raw, int):
        raise BadRequest(f"{template} type error")
    if raw < 0:
        raise BadRequest(f"{template} is less than zero")
    unit = TEMPLATES[template][1]
    if (unit == "COUNT" and raw >= COUNT_LIMIT) or (unit == "DAYS" and raw > DAYS_LIMIT):
        raise BadRequest(f"{template} is too large")
    return raw


def _untagged_of(decoration: str, extras: object, where: str) -> bool:
    default = decoration == MATCHES  # Harbor: matches keeps untagged ones unless told
    if extras in (None, ""):
        return default
    if not isinstance(extras, str):
        raise BadRequest(f'{where}.extras must be a JSON string such as "{{\\"untagged\\":true}}"')
    try:
        value = json.loads(extras)
    except ValueError:
        raise BadRequest(f"{where}.extras is not JSON: {extras!r}") from None
    if not isinstance(value, dict):
        raise BadRequest(f"{where}.extras must be a JSON object, got {extras!r}")
    untagged = value.get("untagged", default)
    if not isinstance(untagged, bool):
        raise BadRequest(f"{where}.extras: untagged must be true or false")
    return untagged


def parse_selector(raw: object, allowed: tuple[str, str], where: str) -> Selector:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    kind = raw.get("kind", KIND)
    if kind != KIND:
        raise BadRequest(f"{where}.kind {kind!r} is not supported: only {KIND!r}")
    decoration = raw.get("decoration")
    if decoration not in allowed:
        raise BadRequest(f"{where}.decoration must be {allowed[0]} or {allowed[1]}")
    pattern = checked_pattern(raw.get("pattern"), where)
    problem = pattern_error(pattern)
    if problem:
        raise BadRequest(f"{where}.pattern {pattern!r} is not a valid pattern: {problem}")
    extras = raw.get("extras")
    if decoration in (MATCHES, EXCLUDES):
        return Selector(str(decoration), pattern, _untagged_of(str(decoration), extras, where))
    return Selector(str(decoration), pattern)


def parse_rule(raw: object, number: int) -> Rule:
    """One rule of a policy body (``number`` counts from 0, for messages); BadRequest if
    Harbor would refuse it, or if it would select nothing a reader could predict (a rule
    without tag or repository selectors)."""
    where = f"rules[{number}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    action = raw.get("action", RETAIN)
    if action != RETAIN:
        raise BadRequest(f"{where}.action must be {RETAIN!r}, got {action!r}")
    template = raw.get("template")
    if not isinstance(template, str) or not template:
        raise BadRequest(f"{where}: empty rule template ID")
    if template not in TEMPLATES:
        raise BadRequest(f"rule evaluator {template} is not registered")
    params = raw.get("params") or {}
    if not isinstance(params, dict):
        raise BadRequest(f"{where}.params must be an object")
    value: int | None = None
    if TEMPLATES[template][1] is not None:
        if template not in params:
            raise BadRequest(f"missing required parameter {template} for rule {template}")
        value = _int_param(template, params[template])
    extra_params = {k: v for k, v in params.items() if k != template}
    tags = raw.get("tag_selectors")
    if not isinstance(tags, list) or not tags:
        raise BadRequest(f"{where}.tag_selectors is required: at least one selector")
    scope = raw.get("scope_selectors")
    if not isinstance(scope, dict) or set(scope) - {"repository"}:
        raise BadRequest(f"{where}.scope_selectors must be an object with a repository list")
    repositories = scope.get("repository")
    if not isinstance(repositories, list) or not repositories:
        raise BadRequest(f"{where}.scope_selectors.repository is required: at least one selector")
    disabled = raw.get("disabled", False)
    if not isinstance(disabled, bool):
        raise BadRequest(f"{where}.disabled must be true or false")
    priority = raw.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise BadRequest(f"{where}.priority must be a whole number")
    return Rule(
        id=number + 1,
        template=template,
        value=value,
        tag_selectors=tuple(
            parse_selector(s, (MATCHES, EXCLUDES), f"{where}.tag_selectors[{n}]")
            for n, s in enumerate(tags)
        ),
        repository_selectors=tuple(
            parse_selector(s, (REPO_MATCHES, REPO_EXCLUDES), f"{where}.scope_selectors[{n}]")
            for n, s in enumerate(repositories)
        ),
        priority=priority,
        disabled=disabled,
        extra_params=extra_params,
    )
