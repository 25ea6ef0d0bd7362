"""Administration > Registries, for system administrators: the endpoints replication and
proxy-cache projects talk to, with their health; create, edit, delete, test the connection.

The use cases are the domain's (:mod:`harborlite.endpoints.operations`, ``health``); the forms
and sentences are the portal's. The password is never shown: its field stays empty, and an
empty field keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.auth.permissions import Action
from harborlite.endpoints import health, operations
from harborlite.endpoints import queries as endpoints
from harborlite.errors import HarborliteError
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.sealing import SecretBox

BACK = "/admin/registries"
PAGE_SIZE = 20
TYPE_LABELS = {
    "harbor": "Harbor / harborlite",
    "docker-registry": "Docker Registry (any OCI registry)",
    "docker-hub": "Docker Hub",
}


def _admin(call: PageCall, action: Action) -> None:
    call.require_system("registry", action)


def _secrets(call: PageCall) -> SecretBox:
    return SecretBox.for_data_dir(call.services.settings.data_dir)


def _wake(call: PageCall) -> None:
    if call.services.jobs is not None:
        call.services.jobs.wakeup.set()


def _body(form: FormData, *, creating: bool) -> dict[str, Any]:
    """The form as the API's body: empty fields are absent (an empty password keeps it)."""
    body: dict[str, Any] = {
        "name": text_field(form, "name"),
        "url": text_field(form, "url"),
        "description": text_field(form, "description"),
        "insecure": form.get("insecure") in ("on", "true"),
        "ca_certificate": text_field(form, "ca_certificate") or None,
    }
    rate = text_field(form, "rate_per_second")
    try:
        body["rate_per_second"] = float(rate) if rate else None
    except ValueError:
        body["rate_per_second"] = rate  # refused with the domain's sentence
    user, password = text_field(form, "access_key"), form.get("access_secret")
    secret = password if isinstance(password, str) and password else None
    if creating:
        body["type"] = text_field(form, "type")
        if user:
            body["credential"] = {"type": "basic", "access_key": user, "access_secret": secret}
    else:
        body["access_key"] = user
        if secret is not None:
            body["access_secret"] = secret
    return body


async def registries_page(request: Request) -> Response:
    page = page_number(request)
    async with page_call(request) as call:
        _admin(call, "list")
        rows, total = await endpoints.list_registries(
            call.session, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return render(
        request,
        "admin_registries.html",
        nav="admin",
        admin_tab="registries",
        view="list",
        registries=rows,
        types=TYPE_LABELS,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def create(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "create")
        form = await checked_form(request)
        try:
            row = await operations.create_registry(
                call.session, _body(form, creating=True), _secrets(call), by=call.actor
            )
            await health.queue_check(call.session, row.id)
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
        name = row.name
    _wake(call)
    return redirect(request, BACK, notice=f"Registry {name} created; checking its health.")


async def edit_page(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call, "read")
        row = await operations.registry_of(call.session, int(request.path_params["id"]))
    return render(
        request,
        "admin_registries.html",
        nav="admin",
        admin_tab="registries",
        view="edit",
        registry=row,
        types=TYPE_LABELS,
    )


async def update(request: Request) -> Response:
    registry_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "update")
        form = await checked_form(request)
        back = f"{BACK}/{registry_id}"
        try:
            row = await operations.registry_of(call.session, registry_id)
            await operations.update_registry(
                call.session, row, _body(form, creating=False), _secrets(call), by=call.actor
            )
            await health.queue_check(call.session, row.id)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        name = row.name
    _wake(call)
    return redirect(request, BACK, notice=f"Registry {name} saved; checking its health.")


async def test_connection(request: Request) -> Response:
    """Ping now and record the verdict (no session held while the remote answers)."""
    registry_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "read")
        await checked_form(request)
        row = await operations.registry_of(call.session, registry_id)
        name = row.name
    status = await health.refresh(call.services.sessions, registry_id, _secrets(call))
    if status == health.HEALTHY:
        return redirect(request, BACK, notice=f"Registry {name} answers: healthy.")
    async with call.services.sessions() as session:
        found = await endpoints.get_registry(session, registry_id)
        why = found.status_message if found is not None else ""
    return redirect(request, BACK, error=f"Registry {name} is unhealthy: {why}")


async def delete(request: Request) -> Response:
    registry_id = int(request.path_params["id"])
    async with page_call(request) as call:
        _admin(call, "delete")
        await checked_form(request)
        try:
            row = await operations.registry_of(call.session, registry_id)
            name = row.name
            await operations.delete_registry(call.session, registry_id, by=call.actor)
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
    return redirect(request, BACK, notice=f"Registry {name} deleted.")


ROUTES = [
    Route("/admin/registries", registries_page, methods=["GET"]),
    Route("/admin/registries", create, methods=["POST"]),
    Route("/admin/registries/{id:int}", edit_page, methods=["GET"]),
    Route("/admin/registries/{id:int}", update, methods=["POST"]),
    Route("/admin/registries/{id:int}/ping", test_connection, methods=["POST"]),
    Route("/admin/registries/{id:int}/delete", delete, methods=["POST"]),
]
