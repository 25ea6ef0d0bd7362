"""The ``q`` and ``sort`` grammar, as a table of cases (pure: no server)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import sqlite

from harborlite.api.query import Field, Term, conditions, parse_q, parse_sort, parse_time
from harborlite.db.models import Artifact
from harborlite.errors import BadRequest

FIELDS = {
    "digest": Field(Artifact.digest),
    "size": Field(Artifact.size, "int"),
    "push_time": Field(Artifact.push_time, "time"),
}


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("", []),
        ("name=abc", [Term("name", "exact", ("abc",))]),
        ("name=~ab", [Term("name", "fuzzy", ("ab",))]),
        ("size=[1~10]", [Term("size", "range", ("1", "10"))]),
        ("size=[~10]", [Term("size", "range", (None, "10"))]),
        ("size=[1~]", [Term("size", "range", ("1", None))]),
        ("name={a b c}", [Term("name", "any", ("a", "b", "c"))]),
        ("name=(a b)", [Term("name", "all", ("a", "b"))]),
        ('name="a,b"', [Term("name", "exact", ("a,b",))]),
        ("name='x'", [Term("name", "exact", ("x",))]),
        (
            "op_time=[2020-04-09 02:36:00~2020-04-10 00:00:00],operation=push",
            [
                Term("op_time", "range", ("2020-04-09 02:36:00", "2020-04-10 00:00:00")),
                Term("operation", "exact", ("push",)),
            ],
        ),
        ("a=1, b=~2 ,", [Term("a", "exact", ("1",)), Term("b", "fuzzy", ("2",))]),
    ],
)
def test_q_is_parsed(text: str, terms: list[Term]) -> None:
    assert parse_q(text) == terms


@pytest.mark.parametrize("text", ["name", "=value", "size=[1 10]"])
def test_malformed_q_is_refused(text: str) -> None:
    with pytest.raises(BadRequest):
        parse_q(text)


def sql(terms: str) -> str:
    compiled = [
        str(c.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
        for c in conditions(parse_q(terms), FIELDS)
    ]
    return " AND ".join(compiled)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("digest=sha256:ab", "artifacts.digest = 'sha256:ab'"),
        ("digest=~50%_", "artifacts.digest LIKE '%' || '50/%/_' || '%' ESCAPE '/'"),
        ("size=[1~10]", "artifacts.size >= 1 AND artifacts.size <= 10"),
        ("size={1 2}", "artifacts.size IN (1, 2)"),
    ],
)
def test_terms_become_sql_conditions(q: str, expected: str) -> None:
    assert sql(q) == expected


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("nosuch=1", "unsupported query key 'nosuch'"),
        ("size=big", "size must be a whole number"),
        ("size=~1", "does not support fuzzy"),
        ("push_time=[yesterday~]", "is not a time"),
    ],
)
def test_bad_terms_are_refused_naming_the_key(q: str, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        conditions(parse_q(q), FIELDS)


def test_times_are_harbors_or_iso() -> None:
    expected = datetime(2020, 4, 9, 2, 36, tzinfo=UTC)
    assert parse_time("2020-04-09 02:36:00", "t") == expected
    assert parse_time("2020-04-09T02:36:00Z", "t") == expected


def test_sort_is_parsed_with_direction_and_refuses_unknown_fields() -> None:
    clauses = parse_sort("-size,digest", FIELDS, [])
    rendered = [str(c.compile(dialect=sqlite.dialect())) for c in clauses]
    assert rendered == ["artifacts.size DESC", "artifacts.digest ASC"]
    assert parse_sort(None, FIELDS, ["default"]) == ["default"]
    with pytest.raises(BadRequest, match="cannot sort by 'name'"):
        parse_sort("name", FIELDS, [])
