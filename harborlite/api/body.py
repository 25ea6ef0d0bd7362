"""Reading a REST request's input: the JSON body (bounded in depth) and its fields, path numbers."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request

from harborlite.db.models import MAX_KEY
from harborlite.errors import BadRequest, NotFound

MAX_ID = MAX_KEY  # the database's integer keys: larger ones are simply not there
MAX_JSON_DEPTH = 32  # Harbor's bodies nest 3 levels; json.loads itself gives up near 1000


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is empty, not JSON, not an object, or nested
    deeper than :data:`MAX_JSON_DEPTH` (its size is bounded by ``http/guard.py``)."""
    raw = await request.body()
    if not raw:
        raise BadRequest("request body is empty: a JSON object is required")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    if _depth_over(value, MAX_JSON_DEPTH):
        raise _too_deep()
    return value


def _too_deep() -> BadRequest:
    return BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")


def _depth_over(value: object, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` deep (without
    recursion: the value may be as deep as json.loads allows)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def field_str(body: dict[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def field_bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{key} must be a boolean")


def path_int(request: Request, key: str) -> int:
    raw = request.path_params[key]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise BadRequest(f"{key} must be positive")
    if value > MAX_ID:  # no row has it (and PostgreSQL would refuse to compare it)
        raise NotFound(f"nothing has the {key} {value}")
    return value
