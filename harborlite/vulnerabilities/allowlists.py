"""A CVE allowlist as Harbor defines it: vulnerability ids a pull policy does not count, and
when that stops (``expires_at``, Unix seconds; None: never).

What a body may hold (:func:`checked_allowlist`), as Harbor's ``pkg/allowlist`` validator
checks it, and a little more: ``items`` a list of ``{"cve_id": "..."}``, each id given once
(Harbor: ``duplicate CVE ID in allowlist: <id>``). The id's form is not checked, as Harbor
does not (its CVE pattern check is switched off: scanners report ``GHSA-...``, ``RHSA-...``,
``DLA-...`` ids too), but an id is a non-empty word of at most :data:`MAX_ID` characters
without spaces. ``expires_at`` is a whole number of seconds in the future, or null (never).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harborlite.errors import BadRequest

MAX_ID = 128
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class Allowlist:
    """What a pull check needs of an allowlist."""

    ids: frozenset[str]
    expires_at: int | None = None

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def exempts(self, cve_id: str, now: float) -> bool:
        return not self.expired(now) and cve_id in self.ids


EMPTY = Allowlist(frozenset())


@dataclass(frozen=True)
class CheckedAllowlist:
    items: list[str]
    expires_at: int | None


def checked_allowlist(body: object, now: float | None = None) -> CheckedAllowlist:
    """The allowlist a request body describes; BadRequest naming what is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("the CVE allowlist must be an object with items and expires_at")
    unknown = sorted(
        set(body) - {"id", "project_id", "items", "expires_at", "creation_time", "update_time"}
    )
    if unknown:
        raise BadRequest(f"unknown CVE allowlist fields: {', '.join(unknown)}")
    raw_items = body.get("items")
    if raw_items is None:
        raw_items = []
    if not isinstance(raw_items, list):
        raise BadRequest('"items" must be a list of {"cve_id": "..."}')
    if len(raw_items) > MAX_ITEMS:
        raise BadRequest(f"a CVE allowlist holds at most {MAX_ITEMS} items")
    items: list[str] = []
    seen: set[str] = set()
    for item in raw_items:
        cve_id = item.get("cve_id") if isinstance(item, dict) else None
        if not isinstance(cve_id, str):
            raise BadRequest('each item of "items" must be {"cve_id": "<id>"}')
        cve_id = cve_id.strip()
        if not cve_id or len(cve_id) > MAX_ID or any(c.isspace() for c in cve_id):
            raise BadRequest(
                f"invalid CVE ID {cve_id!r}: a word of 1 to {MAX_ID} characters without spaces"
            )
        if cve_id in seen:
            raise BadRequest(f"duplicate CVE ID in allowlist: {cve_id}")
        seen.add(cve_id)
        items.append(cve_id)
    expires_at = body.get("expires_at")
    if expires_at is not None:
        if isinstance(expires_at, bool) or not isinstance(expires_at, int):
            raise BadRequest('"expires_at" must be a Unix time in seconds, or null (never)')
        if expires_at <= (time.time() if now is None else now):
            raise BadRequest('"expires_at" must be in the future, or null (never)')
    return CheckedAllowlist(items, expires_at)


def allowlist_json(
    *,
    row_id: int,
    project_id: int,
    items: list[str],
    expires_at: int | None,
    creation_time: datetime | None,
    update_time: datetime | None,
) -> dict[str, Any]:
    """Harbor's ``CVEAllowlist``: ``{id, project_id, expires_at, items: [{cve_id}],
    creation_time, update_time}`` (``expires_at`` left out when it never expires, the times
    when it was never set)."""
    shown: dict[str, Any] = {
        "id": row_id,
        "project_id": project_id,
        "items": [{"cve_id": cve_id} for cve_id in items],
    }
    for key, value in (("creation_time", creation_time), ("update_time", update_time)):
        if value is not None:  # an allowlist never set has neither (the document: strings)
            shown[key] = _iso(value)
    if expires_at is not None:
        shown["expires_at"] = expires_at
    return shown


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
