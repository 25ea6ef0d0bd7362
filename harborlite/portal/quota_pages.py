"""Storage quotas in the portal: the bar on a project's page, and Administration's Project
Quotas (every project's usage and limit, the default for new projects, a recount). The rules
are :mod:`harborlite.quotas`'; the sentences are the portal's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.errors import BadRequest, HarborliteError, NotFound
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.formatting import human_size
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.projects import queries as projects
from harborlite.quotas import operations, queries
from harborlite.quotas.limits import MAX_STORAGE
from harborlite.quotas.models import UNLIMITED
from harborlite.quotas.recount import recount
from harborlite.quotas.usage import upload_window
from harborlite.services import Services

PAGE_SIZE = 25
BACK = "/admin/quotas"
WARNING = 85.0  # percent: Harbor's quota warning
UNITS = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4}
_AMOUNT = re.compile(r"^\d+(\.\d+)?$")


@dataclass(frozen=True)
class QuotaBar:
    """A project's usage against its limit, as the bar draws it."""

    used: int
    hard: int

    @property
    def unlimited(self) -> bool:
        return self.hard == UNLIMITED

    @property
    def percent(self) -> float:
        """How full, 0 to 100 (an unlimited quota draws no fill)."""
        if self.unlimited:
            return 0.0
        return min(100.0, 100.0 * self.used / self.hard) if self.hard > 0 else 100.0

    @property
    def level(self) -> str:
        """``ok``, ``warning`` (85 % and above) or ``full`` (at or past the limit)."""
        if self.unlimited:
            return "ok"
        if self.used >= self.hard:
            return "full"
        return "warning" if self.percent >= WARNING else "ok"

    @property
    def color(self) -> str:
        return {"ok": "#0f766e", "warning": "#d97706", "full": "#dc2626"}[self.level]

    @property
    def summary(self) -> str:
        if self.unlimited:
            return f"{human_size(self.used)} used, no limit"
        return f"{human_size(self.used)} of {human_size(self.hard)} ({self.percent:.0f} %)"


def _window(services: Services) -> timedelta:
    return upload_window(services.settings.gc_time_window_minutes)


async def quota_bar(session: AsyncSession, services: Services, project_id: int) -> QuotaBar:
    """The bar of a project's page."""
    quota, used = await operations.project_quota(session, project_id, window=_window(services))
    return QuotaBar(used=used, hard=quota.hard_storage)


def limit_parts(hard: int) -> tuple[str, str]:
    """A limit as the form shows it: an amount in the largest unit it has a whole number of
    (``("10", "GiB")``), or empty (GiB) for unlimited."""
    if hard <= 0:
        return "", "GiB"
    for unit, size in reversed(UNITS.items()):
        if hard % size == 0:
            return str(hard // size), unit
    return f"{hard / 1024:.3f}".rstrip("0").rstrip("."), "KiB"


def limit_field(form: FormData) -> int:
    """A limit from a form: ``unlimited`` ticked, or an amount and a unit (KiB to TiB)."""
    if form.get("unlimited") in ("on", "true", "1"):
        return UNLIMITED
    amount = text_field(form, "amount")
    unit = text_field(form, "unit", default="GiB")
    if not _AMOUNT.match(amount) or unit not in UNITS:
        raise BadRequest("Enter the limit as a number of KiB, MiB, GiB or TiB, or tick Unlimited.")
    value = int(float(amount) * UNITS[unit])
    if value <= 0 or value > MAX_STORAGE:
        raise BadRequest("A limit is more than 0 bytes and at most 1024 TiB.")
    return value


def _admin(call: PageCall) -> None:
    if not operations.may_manage(call.viewer.principal):
        call.require_system("user", "create")  # says "This page is for system administrators."


async def quotas_page(request: Request) -> Response:
    page = page_number(request)
    async with page_call(request) as call:
        _admin(call)
        views, total = await operations.list_quotas(
            call.session,
            project_id=None,
            sort=request.query_params.get("sort") or "-used.storage",
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
            window=_window(call.services),
        )
        default = await operations.default_limit(call.session)
    return render(
        request,
        "admin_quotas.html",
        nav="admin",
        admin_tab="quotas",
        rows=[(view, QuotaBar(view.used, view.hard)) for view in views],
        default=default,
        units=list(UNITS),
        limit_parts=limit_parts,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def set_default(request: Request) -> Response:
    async with page_call(request) as call:
        _admin(call)
        form = await checked_form(request)
        try:
            hard = limit_field(form)
            await operations.set_default_limit(call.session, hard, by=call.actor)
        except HarborliteError as error:
            return redirect(request, BACK, error=sentence(error))
    shown = "unlimited" if hard == UNLIMITED else human_size(hard)
    return redirect(request, BACK, notice=f"New projects get a quota of {shown}.")


async def change_quota(request: Request) -> Response:
    quota_id = request.path_params["quota_id"]
    action = request.path_params["action"]
    async with page_call(request) as call:
        _admin(call)
        form = await checked_form(request)
        quota = await queries.get_quota(call.session, quota_id)
        project = await projects.get_project(call.session, quota.project_id) if quota else None
        if quota is None or project is None:
            raise NotFound("That quota does not exist any more.")
        name = project.name
        try:
            if action == "limit":
                hard = limit_field(form)
                await operations.set_limit(
                    call.session, quota, hard, project=project, by=call.actor
                )
                shown = "unlimited" if hard == UNLIMITED else human_size(hard)
                notice = f"The quota of {name} is now {shown}."
            elif action == "recount":
                services = call.services
                result = await recount(
                    call.session,
                    services.upstream,
                    services.storage,
                    project.id,
                    window=_window(services),
                )
                notice = (
                    f"{name} was recounted from the registry: {human_size(result.after)} "
                    f"(was {human_size(result.before)})."
                )
                if result.unreadable:
                    notice += f" {len(result.unreadable)} manifests could not be read."
            else:
                raise NotFound("No such action.")
        except BadRequest as error:
            return redirect(request, BACK, error=sentence(error))
    return redirect(request, BACK, notice=notice)


ROUTES = [
    Route("/admin/quotas", quotas_page, methods=["GET"]),
    Route("/admin/quotas/default", set_default, methods=["POST"]),
    Route("/admin/quotas/{quota_id:int}/{action}", change_quota, methods=["POST"]),
]
