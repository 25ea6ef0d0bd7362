"""Token scopes: ``type[(class)]:name:action[,action]``, as the distribution spec writes them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from harborlite.oci.reference import valid_repository_name

_TYPE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")


class ScopeError(ValueError):
    pass


@dataclass(frozen=True)
class Scope:
    """One requested access: a resource and the actions asked on it."""

    type: str
    name: str
    actions: tuple[str, ...]
    resource_class: str | None = None

    def __str__(self) -> str:
        kind = f"{self.type}({self.resource_class})" if self.resource_class else self.type
        return f"{kind}:{self.name}:{','.join(self.actions)}"

    @property
    def names_valid_repository(self) -> bool:
        """A ``repository`` scope whose name the registry would accept (distribution's name
        grammar, at most 255 characters). Nothing is granted on any other name: a token must
        not carry rights on ``team/../secret/app``, whatever a registry would make of it."""
        return self.type == "repository" and valid_repository_name(self.name)


@dataclass(frozen=True)
class Access:
    """One granted entry of a token's ``access`` claim."""

    type: str
    name: str
    actions: tuple[str, ...]

    def claim(self) -> dict[str, object]:
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(text: str) -> Scope:
    """Parse one scope. The name may hold ``:`` (``host:port/repo``): type first, actions last."""
    first = text.find(":")
    last = text.rfind(":")
    if first < 0 or first == last:
        raise ScopeError(f"malformed scope {text!r}: expected type:name:actions")
    kind, name, actions_text = text[:first], text[first + 1 : last], text[last + 1 :]
    match = _TYPE.match(kind)
    if match is None:
        raise ScopeError(f"malformed scope {text!r}: bad resource type {kind!r}")
    if not name:
        raise ScopeError(f"malformed scope {text!r}: empty resource name")
    actions: list[str] = []
    for action in actions_text.split(","):
        action = action.strip()
        if action and action not in actions:
            actions.append(action)
    return Scope(
        type=match.group(1), name=name, actions=tuple(actions), resource_class=match.group(2)
    )


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Parse every ``scope`` parameter; each may hold several scopes separated by spaces.

    Scopes naming the same resource are merged, keeping the order of first appearance.
    """
    merged: dict[tuple[str, str], Scope] = {}
    for value in values:
        for part in value.split():
            scope = parse_scope(part)
            key = (scope.type, scope.name)
            if key in merged:
                old = merged[key]
                actions = old.actions + tuple(a for a in scope.actions if a not in old.actions)
                merged[key] = Scope(old.type, old.name, actions, old.resource_class)
            else:
                merged[key] = scope
    return list(merged.values())
