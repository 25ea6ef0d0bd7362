"""Vulnerability-checked pulls at ``/v2/``: a manifest GET or HEAD in a project with
``prevent_vul`` is refused, with Harbor's 412 ``PROJECTPOLICYVIOLATION`` texts, unless the
image's scan allows it (:func:`harborlite.vulnerabilities.policy.refusal`).

As Harbor (``server/middleware/vulnerable`` and ``SkipPolicyChecking``) never blocks: a
scanner's pull (its token grants ``scanner-pull`` on the repository:
:mod:`harborlite.scanning.credentials`); a signer's fetch (push rights on the repository and a
``cosign`` or ``notation`` User-Agent: it reads the manifest it signs); a manifest that is
itself an accessory (a signature, an SBOM); an image index or a CNAB (their platform images are
checked when pulled); an artifact that is not an image (a chart: no image scanner reads it);
a reference the index does not hold (the registry answers 404 itself). Push rights alone do
not let a pull through, as in Harbor.

A project without ``prevent_vul`` costs one dictionary lookup; when its cached policy expires,
the requests in flight share one read (:class:`~harborlite.http.single_flight.SingleFlight`).
"""

from __future__ import annotations

import time

from starlette.types import Scope

from harborlite.auth.tokens import Claims
from harborlite.http.origin import header
from harborlite.http.single_flight import SingleFlight
from harborlite.oci.mediatypes import INDEX_MEDIA_TYPES
from harborlite.oci.reference import is_digest
from harborlite.scanning.credentials import is_scanner_pull
from harborlite.scanning.queries import overview_of, vulnerabilities_of
from harborlite.services import Services
from harborlite.v2.challenge import Refusal
from harborlite.v2.routes import Route
from harborlite.vulnerabilities import queries
from harborlite.vulnerabilities.policy import VulnerabilityPolicy, policy_cache, refusal

STATUS, CODE = 412, "PROJECTPOLICYVIOLATION"
SIGNERS = ("cosign", "notation")
SCANNED_TYPES = frozenset({"IMAGE"})
# a project's policy read once when its cache entry expires under load, not once per request
_READS: SingleFlight[VulnerabilityPolicy] = SingleFlight()


def _granted(claims: Claims, name: str) -> frozenset[str]:
    actions: set[str] = set()
    for entry in claims.access:
        if entry.type == "repository" and entry.name == name:
            actions.update(entry.actions)
    return frozenset(actions)


def _signer(scope: Scope, granted: frozenset[str]) -> bool:
    agent = (header(scope, b"user-agent") or "").lower()
    return "push" in granted and any(name in agent for name in SIGNERS)


async def refused_manifest_pull(
    services: Services, scope: Scope, route: Route, claims: Claims
) -> Refusal | None:
    """``route`` is a manifest GET or HEAD the token covers; a Refusal, or None to go on."""
    cache = policy_cache(services.sessions)
    project = route.project
    policy = await _READS.run((cache, project), lambda: cache.policy(project))
    if not policy.prevent:
        return None
    granted = _granted(claims, route.name)
    if is_scanner_pull(granted) or _signer(scope, granted):
        return None
    async with services.sessions() as session:
        found = await queries.artifact_of(
            session, route.name, route.reference, is_digest(route.reference)
        )
        if found is None:
            return None
        digest, kind, media_type, accessory = found
        if accessory or kind not in SCANNED_TYPES or media_type in INDEX_MEDIA_TYPES:
            return None
        overview = await overview_of(session, digest)
        items = await vulnerabilities_of(session, digest) if overview is not None else None
    why = refusal(policy, overview, items, time.time())
    return Refusal(STATUS, CODE, why) if why is not None else None
