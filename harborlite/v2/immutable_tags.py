"""Tag immutability at ``/v2/``: a push that would move an immutable tag, or a delete of one,
is refused before the registry sees it, with Harbor's answer (412 ``PRECONDITION``,
``Failed to process request due to '<repo>:<tag>' configured as immutable.``).

The decisions are :mod:`harborlite.immutability.operations`'; the rules come from the app's
:class:`~harborlite.immutability.cache.RuleCache`, so a push of a tag no rule selects (and any
push to a project without rules) asks the database nothing. Pulls never come here.
"""

from __future__ import annotations

from harborlite.immutability import operations
from harborlite.immutability.cache import rule_cache
from harborlite.services import Services
from harborlite.v2.challenge import Refusal
from harborlite.v2.routes import Route

STATUS, CODE = 412, "PRECONDITION"


async def refused_manifest_push(services: Services, route: Route, digest: str) -> Refusal | None:
    """``route`` is a manifest PUT by tag whose body has ``digest``; a Refusal, or None to go
    on."""
    why = await operations.push_refusal(
        rule_cache(services.sessions), route.name, route.reference, digest
    )
    return Refusal(STATUS, CODE, why) if why is not None else None


async def refused_manifest_delete(services: Services, route: Route) -> Refusal | None:
    """``route`` is a manifest DELETE (by digest, or by tag); a Refusal, or None to go on."""
    why = await operations.delete_refusal(
        rule_cache(services.sessions), route.name, route.reference
    )
    return Refusal(STATUS, CODE, why) if why is not None else None
