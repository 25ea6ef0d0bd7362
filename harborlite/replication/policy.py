"""A replication policy read from Harbor's JSON, checked as Harbor checks it.

Harbor's facts kept here (src/controller/replication/model/model.go ``Validate``):

- exactly one of ``src_registry`` and ``dest_registry`` is set (``null`` or ``{"id": 0}`` is
  the local side): "either src_registry or dest_registry should be empty and the other one
  shouldn't be empty";
- filters are ``name``, ``tag``, ``resource`` (a string value; ``resource`` is ``image``,
  ``artifact`` or ``chart``) and ``label`` (a list of strings); only ``tag`` and ``label``
  take a ``decoration`` (``matches`` or ``excludes``);
- triggers are ``manual``, ``event_based`` and ``scheduled``; a scheduled one needs a cron of 6
  fields whose first (seconds) is ``0`` and whose second (minutes) is not ``*``;
- ``dest_namespace_replace_count`` is -1 (legacy: the last path component kept), 0, 1, 2 or 3.

Beyond Harbor: a doublestar pattern that cannot be compiled is refused when the policy is saved
(Harbor fails the execution later), and ``speed`` must be -1 (no limit) or positive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from croniter import CroniterError, croniter

from harborlite.errors import BadRequest
from harborlite.retention.rules import glob_match, pattern_error

MANUAL, EVENT_BASED, SCHEDULED = "manual", "event_based", "scheduled"
TRIGGERS = (MANUAL, EVENT_BASED, SCHEDULED)
NAME, TAG, LABEL, RESOURCE = "name", "tag", "label", "resource"
MATCHES, EXCLUDES = "matches", "excludes"
RESOURCE_TYPES = ("image", "artifact", "chart")
MAX_NAME = 256
MAX_PATTERN = 1024
REPLACE_COUNTS = (-1, 0, 1, 2, 3)


@dataclass(frozen=True)
class Filter:
    type: str
    value: str | tuple[str, ...]
    decoration: str = ""

    def as_json(self) -> dict[str, Any]:
        value: Any = list(self.value) if isinstance(self.value, tuple) else self.value
        shown: dict[str, Any] = {"type": self.type, "value": value}
        if self.decoration:
            shown["decoration"] = self.decoration
        return shown


@dataclass(frozen=True)
class PolicySpec:
    """What a create or update asks for, checked (the registries' existence is the caller's)."""

    name: str
    description: str = ""
    src_registry_id: int | None = None
    dest_registry_id: int | None = None
    dest_namespace: str = ""
    dest_namespace_replace_count: int = -1
    filters: tuple[Filter, ...] = ()
    trigger: dict[str, Any] = field(default_factory=lambda: {"type": MANUAL})
    replicate_deletion: bool = False
    override: bool = True
    enabled: bool = True
    speed: int = -1
    copy_by_chunk: bool = False
    single_active_replication: bool = False

    @property
    def trigger_type(self) -> str:
        return str(self.trigger["type"])

    @property
    def cron(self) -> str:
        return str(self.trigger.get("trigger_settings", {}).get("cron", ""))


def _registry_id(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequest(f"{key} must be an object with an id")
    ident = value.get("id", 0)
    if isinstance(ident, bool) or not isinstance(ident, int) or ident < 0:
        raise BadRequest(f"{key}.id must be a registry id")
    return ident or None


def _bool(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"{key} must be a boolean")
    return value


def _int(body: dict[str, Any], key: str, default: int) -> int:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"{key} must be an integer")
    return value


def _str(body: dict[str, Any], key: str, limit: int = MAX_NAME) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    if len(value) > limit:
        raise BadRequest(f"{key} must be at most {limit} characters")
    return value


def checked_pattern(pattern: str) -> str:
    if len(pattern) > MAX_PATTERN or not pattern.isprintable():
        raise BadRequest(f"invalid filter pattern {pattern[:64]!r}")
    why = pattern_error(pattern)
    if why:
        raise BadRequest(f"invalid filter pattern {pattern!r}: {why}")
    try:
        glob_match(pattern, "probe")
    except Exception as error:  # wcmatch's own exceptions are not public
        raise BadRequest(f"invalid filter pattern {pattern!r}: {error}") from None
    return pattern


def filter_of(raw: object) -> Filter:
    if not isinstance(raw, dict):
        raise BadRequest("a filter must be an object with type and value")
    kind, value, decoration = raw.get("type"), raw.get("value"), raw.get("decoration") or ""
    if kind in (NAME, TAG, RESOURCE):
        if not isinstance(value, str):
            raise BadRequest("the type of filter value isn't string")
        if kind == RESOURCE and value not in RESOURCE_TYPES:
            raise BadRequest(f"invalid resource filter: {value}")
        if kind in (NAME, RESOURCE) and decoration:
            raise BadRequest("only tag and label filter support decoration")
        if kind != RESOURCE:
            checked_pattern(value)
        parsed: str | tuple[str, ...] = value
    elif kind == LABEL:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BadRequest("the type of label filter value isn't string slice")
        parsed = tuple(value)
    else:
        raise BadRequest("invalid filter type")
    if decoration not in ("", MATCHES, EXCLUDES):
        raise BadRequest(f"invalid filter decoration, :{decoration}")
    if kind in (TAG, LABEL) and not decoration:
        decoration = MATCHES
    return Filter(str(kind), parsed, str(decoration))


def trigger_of(raw: object) -> dict[str, Any]:
    if raw is None:
        return {"type": MANUAL, "trigger_settings": {"cron": ""}}
    if not isinstance(raw, dict):
        raise BadRequest("trigger must be an object with a type")
    kind = raw.get("type") or MANUAL
    if kind not in TRIGGERS:
        raise BadRequest("invalid trigger type")
    settings = raw.get("trigger_settings") or {}
    if not isinstance(settings, dict):
        raise BadRequest("trigger.trigger_settings must be an object")
    cron = settings.get("cron") or ""
    if not isinstance(cron, str):
        raise BadRequest("trigger.trigger_settings.cron must be a string")
    if kind == SCHEDULED:
        check_cron(cron)
    else:
        cron = ""
    return {"type": kind, "trigger_settings": {"cron": cron}}


def check_cron(cron: str) -> None:
    if not cron:
        raise BadRequest(f"the cron string cannot be empty when the trigger type is {SCHEDULED}")
    parts = cron.split(" ")
    try:
        if len(parts) != 6:
            raise ValueError("6 fields expected")
        croniter(cron, second_at_beginning=True)
    except (CroniterError, ValueError):
        raise BadRequest(f"invalid cron string for scheduled trigger: {cron}") from None
    if parts[0] != "0":
        raise BadRequest("the 1st field (indicating Seconds of time) of the cron setting must be 0")
    if parts[1] == "*":
        raise BadRequest(
            "the 2nd field (indicating Minutes of time) of the cron setting must not be *"
        )


def spec_of(body: dict[str, Any]) -> PolicySpec:
    """The policy ``body`` asks for; 400 with Harbor's text for what Harbor refuses."""
    name = _str(body, "name").strip()
    if not name:
        raise BadRequest("empty name")
    src, dest = _registry_id(body, "src_registry"), _registry_id(body, "dest_registry")
    if (src is None) == (dest is None):
        raise BadRequest(
            "either src_registry or dest_registry should be empty and the other one "
            "shouldn't be empty"
        )
    raw_filters = body.get("filters") or []
    if not isinstance(raw_filters, list):
        raise BadRequest("filters must be a list")
    filters = tuple(filter_of(raw) for raw in raw_filters)
    count = _int(body, "dest_namespace_replace_count", -1)
    if count not in REPLACE_COUNTS:
        raise BadRequest(f"invalid dest_namespace_replace_count {count}: one of -1, 0, 1, 2, 3")
    namespace = _str(body, "dest_namespace").strip().strip("/")
    if namespace and not all(part and part == part.strip() for part in namespace.split("/")):
        raise BadRequest(f"invalid dest_namespace {namespace!r}")
    speed = _int(body, "speed", -1)
    if speed < -1:
        raise BadRequest("speed must be -1 (no limit) or a positive number of kbit/s")
    speed = -1 if speed == 0 else speed  # Harbor: 0 and -1 both mean no limit
    deletion = _bool(body, "replicate_deletion", _bool(body, "deletion", False))
    return PolicySpec(
        name=name,
        description=_str(body, "description", 65536),
        src_registry_id=src,
        dest_registry_id=dest,
        dest_namespace=namespace,
        dest_namespace_replace_count=count,
        filters=filters,
        trigger=trigger_of(body.get("trigger")),
        replicate_deletion=deletion,
        override=_bool(body, "override", True),
        enabled=_bool(body, "enabled", True),
        speed=speed,
        copy_by_chunk=_bool(body, "copy_by_chunk", False),
        single_active_replication=_bool(body, "single_active_replication", False),
    )


def filters_of(rows: list[dict[str, Any]]) -> tuple[Filter, ...]:
    """The filters a policy row keeps (written by :func:`spec_of`, so trusted)."""
    return tuple(
        Filter(
            row["type"],
            tuple(row["value"]) if isinstance(row["value"], list) else row["value"],
            row.get("decoration", ""),
        )
        for row in rows
    )
