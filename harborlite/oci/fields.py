"""Checking JSON documents strictly: one error type, field checks with precise messages (the
documents themselves are read by :mod:`~harborlite.oci.json_reader`)."""

from __future__ import annotations

from typing import Any, TypeVar

_T = TypeVar("_T")


class ManifestError(ValueError):
    """A manifest, config or reference that cannot be accepted; the message says why."""


def _field(body: dict[str, Any], key: str, kind: type[_T], what: str) -> _T:
    if key not in body or body[key] is None:
        raise ManifestError(f"{what} is missing '{key}'")
    value = body[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ManifestError(f"{what} '{key}' must be {_KIND_NAMES.get(kind, kind.__name__)}")
    return value


_KIND_NAMES: dict[type, str] = {
    int: "an integer",
    str: "a string",
    list: "a list",
    dict: "an object",
}


def _optional_str(body: dict[str, Any], key: str, what: str) -> str | None:
    if body.get(key) is None:
        return None
    return _field(body, key, str, what)
