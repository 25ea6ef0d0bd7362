"""The ``prevent_vul`` pull policy: may this image be pulled, given its scan?

A project with ``prevent_vul: "true"`` refuses (412 ``PROJECTPOLICYVIOLATION``, Harbor's
``server/middleware/vulnerable`` texts) a manifest pull of an image

- never scanned: ``current image without vulnerability scanning cannot be pulled ...``;
- whose scan did not succeed (pending, running, failed, stopped):
  ``current image with "<status>" status of vulnerability scanning cannot be pulled ...``;
- whose worst vulnerability not exempted by the allowlist is at least the project's
  ``severity``: ``current image with <n> vulnerabilities cannot be pulled ...``, ``<n>``
  counting every vulnerability the allowlist does not exempt (Harbor counts them all, not only
  those at or above the threshold).

The allowlist is the system's when the project's ``reuse_sys_cve_allowlist`` is ``"true"`` or
absent (Harbor's default), else the project's own; an expired one exempts nothing. A missing or
unknown ``severity`` counts as ``Unknown`` (Harbor parses it so): everything but ``None``-rated
findings blocks.

:func:`refusal` is the pure decision; :class:`PolicyCache` keeps each project's policy for
:data:`TTL_SECONDS`, dropped at once by a change made in this process (project settings and
allowlists signal :func:`harborlite.signatures.cache.note_change`, whose count it watches:
one change signal for every project pull policy).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.scanning.queries import ScanOverview, severity_rank
from harborlite.signatures import cache as signature_cache
from harborlite.vulnerabilities import queries
from harborlite.vulnerabilities.allowlists import EMPTY, Allowlist
from harborlite.vulnerabilities.models import CveAllowlist

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000
# Harbor's project severities, as its messages spell them
SEVERITY_WORDS = {
    "none": "None",
    "unknown": "Unknown",
    "negligible": "Negligible",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
}

_RULE = "'Prevent images with vulnerability severity of \"{severity}\" or higher from running.'"
NOT_SCANNED = (
    "current image without vulnerability scanning cannot be pulled due to configured policy in "
    + _RULE
    + " To continue with pull, please contact your project administrator for help."
)
NOT_SUCCEEDED = (
    'current image with "{status}" status of vulnerability scanning cannot be pulled due to '
    "configured policy in "
    + _RULE
    + " To continue with pull, please contact your project administrator for help."
)
TOO_VULNERABLE = (
    "current image with {count} vulnerabilities cannot be pulled due to configured policy in "
    + _RULE
    + " To continue with pull, please contact your project administrator to exempt matched "
    "vulnerabilities through configuring the CVE allowlist."
)


@dataclass(frozen=True)
class VulnerabilityPolicy:
    prevent: bool  # prevent_vul
    severity: str  # the threshold, Harbor's word: "None" ... "Critical"
    allowlist: Allowlist  # the one that applies: the system's or the project's


NO_POLICY = VulnerabilityPolicy(False, "Unknown", EMPTY)


def _allowlist(row: CveAllowlist | None) -> Allowlist:
    if row is None:
        return EMPTY
    return Allowlist(frozenset(row.items or ()), row.expires_at)


def policy_of(
    metadata: dict[str, str], project_list: CveAllowlist | None, system_list: CveAllowlist | None
) -> VulnerabilityPolicy:
    """The policy a project's settings and the allowlists make."""
    prevent = str(metadata.get("prevent_vul", "")).lower() == "true"
    severity = SEVERITY_WORDS.get(str(metadata.get("severity", "")).lower(), "Unknown")
    reuse = str(metadata.get("reuse_sys_cve_allowlist", "true")).lower() == "true"
    chosen = system_list if reuse else project_list
    return VulnerabilityPolicy(prevent, severity, _allowlist(chosen))


def _rank(severity: object) -> int:
    return severity_rank(str(severity or "Unknown").capitalize())


def refusal(
    policy: VulnerabilityPolicy,
    overview: ScanOverview | None,
    vulnerabilities: Sequence[dict[str, Any]] | None,
    now: float,
) -> str | None:
    """Why the image may not be pulled under ``policy``, or None. ``overview``: its scan
    (None: never scanned); ``vulnerabilities``: the report's items; ``now``: Unix seconds."""
    if not policy.prevent:
        return None
    severity = policy.severity
    if overview is None:
        return NOT_SCANNED.format(severity=severity)
    if overview.scan_status != "Success":
        return NOT_SUCCEEDED.format(status=overview.scan_status, severity=severity)
    counted = [
        item
        for item in vulnerabilities or ()
        if not policy.allowlist.exempts(str(item.get("id") or ""), now)
    ]
    if not counted:
        return None
    worst = max(_rank(item.get("severity")) for item in counted)
    if worst >= _rank(severity):
        return TOO_VULNERABLE.format(count=len(counted), severity=severity)
    return None


class PolicyCache:
    """Each project's :class:`VulnerabilityPolicy`, read once per :data:`TTL_SECONDS`."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = TTL_SECONDS):
        self.sessions = sessions
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, VulnerabilityPolicy]] = {}

    async def policy(self, project: str) -> VulnerabilityPolicy:
        now = time.monotonic()
        entry = self._entries.get(project)
        if entry is not None and entry[0] > now and entry[1] == signature_cache.policy_generation():
            return entry[2]
        # before the read: a change meanwhile makes it stale
        generation = signature_cache.policy_generation()
        async with self.sessions() as session:
            rows = await queries.policy_rows(session, project)
        policy = NO_POLICY if rows is None else policy_of(*rows)
        if self.ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[project] = (now + self.ttl, generation, policy)
        return policy


_CACHES: WeakKeyDictionary[async_sessionmaker[AsyncSession], PolicyCache] = WeakKeyDictionary()


def policy_cache(sessions: async_sessionmaker[AsyncSession]) -> PolicyCache:
    """The cache of the app whose session factory is ``sessions``."""
    found = _CACHES.get(sessions)
    if found is None:
        found = _CACHES[sessions] = PolicyCache(sessions)
    return found
