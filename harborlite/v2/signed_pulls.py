"""Signed-only pulls at ``/v2/``: a manifest GET or HEAD in a project with
``enable_content_trust_cosign`` is refused unless the image is signed with cosign (and, when
the project has trusted keys, signed with one of them), with Harbor's answer: 412
``PROJECTPOLICYVIOLATION``, ``The image is not signed by cosign.``, or the sentence naming
which check a signature failed.

The decisions are :mod:`harborlite.signatures.policy`'s; a project without the setting costs
one dictionary lookup, and a policy-checked pull of an image judged before costs one more. When
a project's cached policy expires, the requests in flight share one read of it
(:class:`~harborlite.http.single_flight.SingleFlight`).
"""

from __future__ import annotations

from harborlite.auth.tokens import Claims
from harborlite.http.single_flight import SingleFlight
from harborlite.services import Services
from harborlite.signatures.cache import ProjectPolicy
from harborlite.signatures.policy import BYPASS_ACTIONS, signed_pulls
from harborlite.v2.challenge import Refusal
from harborlite.v2.routes import Route

STATUS, CODE = 412, "PROJECTPOLICYVIOLATION"
_BYPASS = frozenset(BYPASS_ACTIONS)
# a project's policy read once when its cached entry expires under load, not once per request
_READS: SingleFlight[ProjectPolicy] = SingleFlight()


def _granted(claims: Claims, name: str) -> frozenset[str]:
    actions: set[str] = set()
    for entry in claims.access:
        if entry.type == "repository" and entry.name == name:
            actions.update(entry.actions)
    return frozenset(actions)


async def refused_manifest_pull(services: Services, route: Route, claims: Claims) -> Refusal | None:
    """``route`` is a manifest GET or HEAD the token covers; a Refusal, or None to go on."""
    cache = services.manifests

    def generation(repository: str) -> int | None:
        return cache.generation(repository) if cache.enabled else None

    decisions = signed_pulls(services.sessions, services.upstream, generation)
    granted = _granted(claims, route.name)
    if granted & _BYPASS:  # as decisions.refusal would say, before any read
        return None
    policies, project = decisions.policies, route.project
    policy = await _READS.run((policies, project), lambda: policies.policy(project))
    if not policy.required:
        return None
    why = await decisions.refusal(project, route.name, route.reference, granted)
    return Refusal(STATUS, CODE, why) if why is not None else None
