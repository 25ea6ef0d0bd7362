"""What the ``/v2/`` pull check keeps in memory: each project's policy, and verdicts.

A project's policy (``enable_content_trust_cosign`` and its trusted keys) is read once and kept
for :data:`TTL_SECONDS`; a change made by this process (:func:`note_change`: the metadata and
key use cases call it) drops every kept policy at once, and again when its transaction commits;
another replica's change is seen within :data:`TTL_SECONDS`.

A verdict is kept per repository, reference and key set, under the repository's manifest
generation (:meth:`harborlite.cache.manifests.ManifestCache.generation`): every manifest
write to the repository (a ``.sig`` pushed or deleted, a tag moved, on any replica when Redis
links them) moves it, and a key change makes another key set. With the manifest cache off
(Redis unreachable, so other replicas' writes may go unheard) nothing is kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.signatures import queries
from harborlite.signatures.keys import InvalidKey, TrustedKey, key_set_id, load_key
from harborlite.signatures.verdict import Verdict

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
SETTING = "enable_content_trust_cosign"


@dataclass(frozen=True)
class ProjectPolicy:
    required: bool  # only images signed with cosign may be pulled
    keys: tuple[TrustedKey, ...]  # with keys: signed with one of them
    key_set: str


NO_POLICY = ProjectPolicy(False, (), key_set_id(()))


class _Changes:
    generation = 0

    @classmethod
    def bump(cls, *_: Any) -> None:
        cls.generation += 1


def policy_generation() -> int:
    """How many project policy changes this process has seen: a cache of anything read from a
    project's settings keeps the value it read with, and is stale when this moved."""
    return _Changes.generation


def note_change(session: AsyncSession) -> None:
    """``session`` changed a project's signature policy (its setting or its keys)."""
    _Changes.bump()
    event.listen(session.sync_session, "after_commit", _Changes.bump, once=True)


def policy_of(metadata: dict[str, str], pems: list[str]) -> ProjectPolicy:
    keys: list[TrustedKey] = []
    for pem in pems:
        try:
            keys.append(load_key(pem))
        except InvalidKey:  # stored keys were checked; one unreadable now trusts nothing
            continue
    required = str(metadata.get(SETTING, "")).lower() == "true"
    return ProjectPolicy(required, tuple(keys), key_set_id(tuple(keys)))


class PolicyCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = TTL_SECONDS):
        self.sessions = sessions
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, ProjectPolicy]] = {}

    async def policy(self, project: str) -> ProjectPolicy:
        now = time.monotonic()
        entry = self._entries.get(project)
        if entry is not None and entry[0] > now and entry[1] == _Changes.generation:
            return entry[2]
        generation = _Changes.generation
        async with self.sessions() as session:
            rows = await queries.project_policy_rows(session, project)
        policy = NO_POLICY if rows is None else policy_of(*rows)
        if self.ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[project] = (now + self.ttl, generation, policy)
        return policy


class VerdictCache:
    def __init__(self, kept: int = MAX_ENTRIES) -> None:
        self.kept = kept
        self._entries: dict[tuple[str, str, str], tuple[int, Verdict]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, repository: str, reference: str, key_set: str, generation: int) -> Verdict | None:
        entry = self._entries.get((repository, reference, key_set))
        if entry is not None and entry[0] == generation:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def keep(
        self, repository: str, reference: str, key_set: str, generation: int, verdict: Verdict
    ) -> None:
        if len(self._entries) >= self.kept:
            self._entries.clear()
        self._entries[(repository, reference, key_set)] = (generation, verdict)
