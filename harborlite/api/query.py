"""Harbor's ``q`` and ``sort`` query parameters, turned into SQL conditions and orderings.

``q`` holds terms joined by ``,``: ``k=v`` exact, ``k=~v`` fuzzy, ``k=[a~b]`` range (either end
may be empty), ``k={a b}`` any of, ``k=(a b)`` all of. Values may be quoted with ``"`` or ``'``;
times are ``2020-04-09 02:36:00`` or ISO 8601. ``sort`` is ``field,-field``.

Each resource says which keys it accepts (:class:`Field`); an unknown key or a value of the wrong
type is refused with 400, naming the key, instead of being silently ignored. So is a ``q`` of
more than :data:`MAX_Q_TERMS` terms, a term of more than :data:`MAX_TERM_VALUES` values, or a
``sort`` of more than :data:`MAX_SORT_FIELDS` fields: each term is a condition of the SQL
statement, and thousands of them exceed what the databases take.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_
from starlette.requests import Request

from harborlite.errors import BadRequest

MAX_Q_TERMS = 32
MAX_TERM_VALUES = 100
MAX_SORT_FIELDS = 16

Kind = Literal["exact", "fuzzy", "range", "any", "all"]
FieldType = Literal["str", "int", "bool", "time"]


@dataclass(frozen=True)
class Term:
    key: str
    kind: Kind
    values: tuple[str | None, ...]  # range: (low, high), either may be None


@dataclass(frozen=True)
class Field:
    """A filterable (and sortable) column of a resource."""

    column: Any  # an SQLAlchemy column or column expression
    type: FieldType = "str"


# the largest value of the database's integer columns (32-bit on PostgreSQL)
MAX_INT = 2**31 - 1


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside ``[]``, ``{}``, ``()`` or quotes."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for char in text:
        if quote:
            if char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{(":
            depth += 1
        elif char in "]})":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [part for part in (p.strip() for p in parts) if part]


def parse_q(text: str | None) -> list[Term]:
    if not text:
        return []
    if "\x00" in text:  # no name holds one, and PostgreSQL refuses it in a text parameter
        raise BadRequest("q must not contain a NUL character")
    parts = _split_top_level(text)
    if len(parts) > MAX_Q_TERMS:
        raise BadRequest(f"q has {len(parts)} terms: at most {MAX_Q_TERMS} terms are taken")
    terms: list[Term] = []
    for part in parts:
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadRequest(f"invalid query {part!r}: expected key=value")
        raw = raw.strip()
        if raw.startswith("~"):
            terms.append(Term(key, "fuzzy", (_unquote(raw[1:]),)))
        elif raw.startswith("[") and raw.endswith("]"):
            low, tilde, high = raw[1:-1].partition("~")
            if not tilde:
                raise BadRequest(f"invalid range {raw!r} for {key}: expected [min~max]")
            terms.append(Term(key, "range", (_unquote(low) or None, _unquote(high) or None)))
        elif raw.startswith("{") and raw.endswith("}"):
            terms.append(Term(key, "any", _values(key, raw)))
        elif raw.startswith("(") and raw.endswith(")"):
            terms.append(Term(key, "all", _values(key, raw)))
        else:
            terms.append(Term(key, "exact", (_unquote(raw),)))
    return terms


def _values(key: str, raw: str) -> tuple[str, ...]:
    """The values of ``{a b}`` or ``(a b)``."""
    values = raw[1:-1].split()
    if len(values) > MAX_TERM_VALUES:
        raise BadRequest(
            f"{key} lists {len(values)} values: at most {MAX_TERM_VALUES} values are taken"
        )
    return tuple(_unquote(v) for v in values)


def parse_time(value: str, key: str) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    for candidate in (text, text.replace(" ", "T", 1)):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise BadRequest(f"{key}: {value!r} is not a time (use 2020-04-09 02:36:00 or ISO 8601)")


def convert(value: str, field: Field, key: str) -> object:
    if field.type == "int":
        try:
            number = int(value)
        except ValueError:
            raise BadRequest(f"{key} must be a whole number, got {value!r}") from None
        if not -MAX_INT <= number <= MAX_INT:  # the database's integer columns hold no more
            raise BadRequest(f"{key} must be between {-MAX_INT} and {MAX_INT}, got {value}")
        return number
    if field.type == "bool":
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise BadRequest(f"{key} must be true or false, got {value!r}")
    if field.type == "time":
        return parse_time(value, key)
    return value


def _condition(term: Term, field: Field) -> ColumnElement[bool]:
    column = field.column
    if term.kind == "fuzzy":
        if field.type != "str":
            raise BadRequest(f"{term.key} does not support fuzzy matching (~)")
        return column.contains(term.values[0] or "", autoescape=True)  # type: ignore[no-any-return]
    if term.kind == "range":
        low, high = term.values
        parts = []
        if low is not None:
            parts.append(column >= convert(low, field, term.key))
        if high is not None:
            parts.append(column <= convert(high, field, term.key))
        if not parts:
            raise BadRequest(f"range for {term.key} needs a minimum or a maximum")
        return and_(*parts)
    if term.kind == "any":
        return column.in_([convert(v or "", field, term.key) for v in term.values])  # type: ignore[no-any-return]
    if term.kind == "all":
        return and_(*(column == convert(v or "", field, term.key) for v in term.values))
    return column == convert(term.values[0] or "", field, term.key)  # type: ignore[no-any-return]


def conditions(
    terms: Sequence[Term], fields: Mapping[str, Field], *, handled: Sequence[str] = ()
) -> list[ColumnElement[bool]]:
    """SQL conditions for ``terms``; keys in ``handled`` are left to the caller."""
    result: list[ColumnElement[bool]] = []
    for term in terms:
        if term.key in handled:
            continue
        field = fields.get(term.key)
        if field is None:
            supported = ", ".join(sorted({*fields, *handled}))
            raise BadRequest(f"unsupported query key {term.key!r}; supported: {supported}")
        result.append(_condition(term, field))
    return result


def parse_sort(text: str | None, fields: Mapping[str, Field], default: Sequence[Any]) -> list[Any]:
    """Order-by clauses for ``sort=field,-field``; ``default`` when no sort is given."""
    if not text:
        return list(default)
    items = [item for item in (raw.strip() for raw in text.split(",")) if item]
    if len(items) > MAX_SORT_FIELDS:
        raise BadRequest(
            f"sort has {len(items)} fields: at most {MAX_SORT_FIELDS} fields are taken"
        )
    clauses: list[Any] = []
    for item in items:
        descending = item.startswith("-")
        name = item.lstrip("-+").strip()
        if name.endswith(" desc"):
            name, descending = name[:-5].strip(), True
        field = fields.get(name)
        if field is None:
            raise BadRequest(f"cannot sort by {name!r}; sortable: {', '.join(sorted(fields))}")
        clauses.append(field.column.desc() if descending else field.column.asc())
    return clauses + list(default)


def q_of(request: Request) -> list[Term]:
    return parse_q(request.query_params.get("q"))


def flag(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(f"{name} must be true or false, got {raw!r}")
