"""What a retention run would do to one repository, and the table its task log shows.

The candidates are a repository's top-level artifacts (an index's children are not candidates:
they go with their index, when nothing else names them and they carry no tag, as Harbor's
artifact deletion does). Each gets a verdict: ``RETAIN`` (a rule keeps it), ``DEL`` (deleted,
or, in a dry run, what a real run deletes), ``IMMUTABLE`` (no rule keeps it but an immutable tag
rule protects one of its tags: never deleted) or ``ERR`` (the deletion failed).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.queries import IS_CHILD
from harborlite.db.models import Artifact, Tag
from harborlite.labels.queries import labels_for
from harborlite.retention.rules import Candidate, Rule, retained

RETAIN, DELETE, IMMUTABLE, FAILED = "RETAIN", "DEL", "IMMUTABLE", "ERR"
CHUNK = 500  # ids per IN (...) list

Protected = Callable[[Sequence[str]], bool]
"""Whether an enabled immutable tag rule protects any of these tags (of one repository)."""


def nothing_protected(tags: Sequence[str]) -> bool:
    return False


def _seconds(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0


def candidate_of(artifact: Artifact, tags: Sequence[Tag], labels: Sequence[str] = ()) -> Candidate:
    """Harbor's candidate: pushed and pulled are the latest of the artifact's and its tags'."""
    pushed = max([_seconds(artifact.push_time), *(_seconds(t.push_time) for t in tags)])
    pulled = max([_seconds(artifact.pull_time), *(_seconds(t.pull_time) for t in tags)])
    return Candidate(
        digest=artifact.digest,
        tags=tuple(sorted(t.name for t in tags)),
        pushed=pushed,
        pulled=pulled,
        created=_seconds(artifact.push_time),
        artifact_id=artifact.id,
        labels=tuple(labels),
    )


async def candidates_of(session: AsyncSession, repository_id: int) -> list[Candidate]:
    """The repository's top-level artifacts with their tags and labels."""
    rows = await session.execute(
        select(Artifact)
        .where(Artifact.repository_id == repository_id, ~IS_CHILD)
        .order_by(Artifact.id)
    )
    found = list(rows.scalars())
    result: list[Candidate] = []
    for start in range(0, len(found), CHUNK):
        chunk = found[start : start + CHUNK]
        ids = [a.id for a in chunk]
        tags = await tag_rows.tags_for(session, ids)
        labels = await labels_for(session, ids)
        for artifact in chunk:
            names = [label.name for label in labels.get(artifact.id, [])]
            result.append(candidate_of(artifact, tags.get(artifact.id, []), names))
    return result


@dataclass
class Verdict:
    candidate: Candidate
    mark: str
    note: str = ""
    children: tuple[str, ...] = ()  # an index's untagged children its deletion takes along


def decide(
    rules: Sequence[Rule],
    candidates: Sequence[Candidate],
    now: datetime,
    protected: Protected = nothing_protected,
) -> list[Verdict]:
    """Every candidate's verdict, newest push first. Only artifacts no rule keeps are asked
    about immutability, and only tagged ones (an untagged artifact is never immutable)."""
    kept = retained(rules, candidates, now)
    verdicts: list[Verdict] = []
    ordered = sorted(candidates, key=lambda c: (c.pushed, c.created, c.digest), reverse=True)
    for candidate in ordered:
        if candidate.digest in kept:
            verdicts.append(Verdict(candidate, RETAIN))
        elif candidate.tags and protected(candidate.tags):
            verdicts.append(Verdict(candidate, IMMUTABLE, "an immutable tag rule protects it"))
        else:
            verdicts.append(Verdict(candidate, DELETE))
    return verdicts


# --- the task log's table ----------------------------------------------------------------------

HEADER = ("Digest", "Tag", "Kind", "Labels", "PushedTime", "PulledTime", "CreatedTime", "Retention")


def _shown(seconds: float) -> str:
    """Harbor's ``2006/01/02 15:04:05`` (UTC), empty for never."""
    if seconds <= 0:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y/%m/%d %H:%M:%S")


def table(verdicts: Sequence[Verdict]) -> str:
    """The verdicts as Harbor's task log shows them (tablewriter's look: side borders, a rule
    under the header), one row per artifact."""
    rows = [
        (
            v.candidate.digest,
            ",".join(v.candidate.tags),
            "image",
            ",".join(v.candidate.labels),
            _shown(v.candidate.pushed),
            _shown(v.candidate.pulled),
            _shown(v.candidate.created),
            v.mark,
        )
        for v in verdicts
    ]
    widths = [max(len(row[n]) for row in [HEADER, *rows]) for n in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(HEADER), rule, *(line(row) for row in rows)]) + "\n"
