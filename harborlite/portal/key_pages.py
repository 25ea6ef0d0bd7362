"""A project's trusted cosign keys in the portal: the card on the Configuration tab that lists
them (name, algorithm, fingerprint, creator, time) and adds and deletes them.

The card is for those who may update the project (its admins, and system administrators), as
the keys' use cases in :mod:`harborlite.signatures.operations` require; everyone else neither
sees it nor may post to it. The refusals (a PEM harborlite cannot use, a key trusted already,
too many keys) come back as the page's flash error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.auth.permissions import Need, ProjectAccess
from harborlite.db.models import Project
from harborlite.errors import HarborliteError
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, redirect, text_field
from harborlite.signatures import operations
from harborlite.signatures import queries as keys
from harborlite.signatures.models import CosignKey

MANAGE: Need = ("project", "update")


@dataclass(frozen=True)
class KeysCard:
    visible: bool
    keys: list[CosignKey] = field(default_factory=list)
    limit: int = operations.MAX_KEYS

    @property
    def full(self) -> bool:
        return len(self.keys) >= self.limit


async def cosign_keys_section(
    call: PageCall, project: Project, access: ProjectAccess
) -> dict[str, Any]:
    """The card's context (``cosign_keys``) for the Configuration tab's template."""
    if not call.may(access, MANAGE):
        return {"cosign_keys": KeysCard(False)}
    return {"cosign_keys": KeysCard(True, await keys.list_keys(call.session, project.id))}


def _back(name: str) -> str:
    return f"/projects/{name}/configuration#cosign-keys"


async def add_key(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, MANAGE, "manage its trusted cosign keys")
        try:
            row = await operations.add_key(
                call.session,
                project,
                text_field(form, "public_key"),
                text_field(form, "name"),
                by=call.actor,
            )
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
        added = f"Key {row.name or row.fingerprint[:16]} ({row.algorithm}) is trusted now."
    return redirect(request, _back(name), notice=added)


async def delete_key(request: Request) -> Response:
    name = request.path_params["project"]
    async with page_call(request) as call:
        await checked_form(request)
        project, access = await call.project(name)
        call.require(access, MANAGE, "manage its trusted cosign keys")
        try:
            row = await operations.key_of(call.session, project, request.path_params["key"])
            label = row.name or row.fingerprint[:16]
            await operations.delete_key(call.session, project, row.id, by=call.actor)
        except HarborliteError as error:
            return redirect(request, _back(name), error=sentence(error))
    return redirect(request, _back(name), notice=f"Key {label} is not trusted any more.")


BASE = "/projects/{project}/configuration/cosign-keys"

ROUTES = [
    Route(BASE, add_key, methods=["POST"]),
    Route(BASE + "/{key:int}/delete", delete_key, methods=["POST"]),
]
