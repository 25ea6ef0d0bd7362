"""The pure rules of replication, as tables of cases: Harbor's policy validation (its texts),
the filters, and the destination names of ``dest_namespace`` with its flattening levels."""

from __future__ import annotations

from typing import Any

import pytest

from harborlite.errors import BadRequest
from harborlite.replication.copy import is_legacy_accessory_tag, legacy_tags
from harborlite.replication.policy import spec_of
from harborlite.replication.selection import Candidate, NamespaceError, destination, select

PUSH: dict[str, Any] = {"name": "p", "dest_registry": {"id": 1}}

REFUSED = [
    ({"name": ""}, "empty name"),
    (
        {"name": "p"},
        "either src_registry or dest_registry should be empty and the other one shouldn't be empty",
    ),
    (
        {"name": "p", "src_registry": {"id": 1}, "dest_registry": {"id": 2}},
        "either src_registry or dest_registry should be empty",
    ),
    (
        {"name": "p", "src_registry": {"id": 0}, "dest_registry": None},
        "either src_registry or dest_registry should be empty",
    ),
    ({**PUSH, "filters": [{"type": "bogus", "value": "x"}]}, "invalid filter type"),
    ({**PUSH, "filters": [{"type": "name", "value": 3}]}, "the type of filter value isn't string"),
    ({**PUSH, "filters": [{"type": "resource", "value": "vm"}]}, "invalid resource filter: vm"),
    (
        {**PUSH, "filters": [{"type": "name", "value": "a", "decoration": "matches"}]},
        "only tag and label filter support decoration",
    ),
    (
        {**PUSH, "filters": [{"type": "tag", "value": "a", "decoration": "maybe"}]},
        "invalid filter decoration, :maybe",
    ),
    (
        {**PUSH, "filters": [{"type": "label", "value": "a"}]},
        "the type of label filter value isn't string slice",
    ),
    ({**PUSH, "filters": [{"type": "tag", "value": "v[1"}]}, "invalid filter pattern"),
    ({**PUSH, "trigger": {"type": "sometimes"}}, "invalid trigger type"),
    (
        {**PUSH, "trigger": {"type": "scheduled", "trigger_settings": {"cron": ""}}},
        "the cron string cannot be empty when the trigger type is scheduled",
    ),
    (
        {**PUSH, "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 0 * * *"}}},
        "invalid cron string for scheduled trigger: 0 0 * * *",
    ),
    (
        {**PUSH, "trigger": {"type": "scheduled", "trigger_settings": {"cron": "5 0 * * * *"}}},
        "the 1st field (indicating Seconds of time) of the cron setting must be 0",
    ),
    (
        {**PUSH, "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 * * * * *"}}},
        "the 2nd field (indicating Minutes of time) of the cron setting must not be *",
    ),
    ({**PUSH, "dest_namespace_replace_count": 4}, "invalid dest_namespace_replace_count 4"),
    ({**PUSH, "speed": -5}, "speed must be -1"),
    ({**PUSH, "override": "yes"}, "override must be a boolean"),
]


@pytest.mark.parametrize(("body", "message"), REFUSED)
def test_refusals(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest) as refused:
        spec_of(body)
    assert message in refused.value.message


def test_accepted_policy_normalised() -> None:
    spec = spec_of(
        {
            "name": " pull ",
            "src_registry": {"id": 3},
            "dest_registry": {"id": 0},
            "dest_namespace": "/mirror/",
            "filters": [
                {"type": "name", "value": "library/**"},
                {"type": "tag", "value": "1.*"},
                {"type": "label", "value": ["prod"], "decoration": "excludes"},
                {"type": "resource", "value": "image"},
            ],
            "trigger": {"type": "scheduled", "trigger_settings": {"cron": "0 */5 * * * *"}},
            "speed": 0,
            "deletion": True,
        }
    )
    assert (spec.name, spec.src_registry_id, spec.dest_registry_id) == ("pull", 3, None)
    assert spec.dest_namespace == "mirror"
    assert [f.as_json() for f in spec.filters][1] == {
        "type": "tag",
        "value": "1.*",
        "decoration": "matches",
    }
    assert spec.cron == "0 */5 * * * *" and spec.speed == -1 and spec.replicate_deletion


NAMES = [
    ("a/b/c", "n", -1, "n/c"),
    ("a/b/c", "n", 0, "n/a/b/c"),
    ("a/b/c", "n", 1, "n/b/c"),
    ("a/b/c", "n", 2, "n/c"),
    ("a/b/c", "n", 3, "n"),
    ("library/nginx", "mirror", -1, "mirror/nginx"),
    ("library/nginx", "", 1, "library/nginx"),
    ("library/nginx", "x/y", 1, "x/y/nginx"),
]


@pytest.mark.parametrize(("repository", "namespace", "count", "expected"), NAMES)
def test_destination(repository: str, namespace: str, count: int, expected: str) -> None:
    assert destination(repository, namespace, count) == expected


def test_destination_count_beyond_the_components() -> None:
    with pytest.raises(NamespaceError, match="contains only 2 substrings"):
        destination("library/nginx", "n", 3)


def _filters(*raw: dict[str, Any]) -> Any:
    return spec_of({**PUSH, "filters": list(raw)}).filters


SELECTED = [
    # (filters, candidate, tags kept or None)
    ((), Candidate("library/a", "d", ("1",)), ("1",)),
    (({"type": "name", "value": "library/**"},), Candidate("library/x/y", "d", ("1",)), ("1",)),
    (({"type": "name", "value": "library/*"},), Candidate("library/x/y", "d", ("1",)), None),
    (({"type": "name", "value": "other/**"},), Candidate("library/a", "d", ("1",)), None),
    (({"type": "tag", "value": "1.*"},), Candidate("r/a", "d", ("1.2", "2.0")), ("1.2",)),
    (({"type": "tag", "value": "1.*"},), Candidate("r/a", "d", ("2.0",)), None),
    (
        ({"type": "tag", "value": "1.*", "decoration": "excludes"},),
        Candidate("r/a", "d", ("1.2", "2.0")),
        ("2.0",),
    ),
    (({"type": "tag", "value": "v*"},), Candidate("r/a", "d", ()), None),
    (({"type": "tag", "value": "**"},), Candidate("r/a", "d", ()), ()),
    (
        ({"type": "tag", "value": "v*", "decoration": "excludes"},),
        Candidate("r/a", "d", ()),
        (),
    ),
    (({"type": "tag", "value": "{1.0,2.0}"},), Candidate("r/a", "d", ("2.0", "3")), ("2.0",)),
    (({"type": "label", "value": ["prod"]},), Candidate("r/a", "d", ("1",), ("prod",)), ("1",)),
    (({"type": "label", "value": ["prod", "eu"]},), Candidate("r/a", "d", ("1",), ("prod",)), None),
    (
        ({"type": "label", "value": ["tmp"], "decoration": "excludes"},),
        Candidate("r/a", "d", ("1",), ("tmp",)),
        None,
    ),
    (({"type": "resource", "value": "image"},), Candidate("r/a", "d", ("1",), image=False), None),
    (
        ({"type": "resource", "value": "artifact"},),
        Candidate("r/a", "d", ("1",), image=False),
        ("1",),
    ),
]


@pytest.mark.parametrize(("raw", "candidate", "kept"), SELECTED)
def test_select(
    raw: tuple[dict[str, Any], ...], candidate: Candidate, kept: tuple[str, ...] | None
) -> None:
    chosen = select(_filters(*raw), candidate)
    assert (None if chosen is None else chosen.tags) == kept


def test_legacy_accessory_tags() -> None:
    digest = "sha256:" + "ab" * 32
    assert legacy_tags(digest)[0] == "sha256-" + "ab" * 32 + ".sig"
    assert all(is_legacy_accessory_tag(tag) for tag in legacy_tags(digest))
    assert not is_legacy_accessory_tag("v1.sig")
