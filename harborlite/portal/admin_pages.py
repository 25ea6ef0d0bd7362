"""Administration, for system administrators: users, the global audit log, system information."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite import __version__, health
from harborlite.accounts import operations
from harborlite.accounts import queries as accounts
from harborlite.artifacts.repositories import storage_used
from harborlite.db.models import AuditLog
from harborlite.errors import HarborliteError, NotFound
from harborlite.portal import queries
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import page_call
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.sessions.store import end_user_sessions

PAGE_SIZE = 25
OPERATIONS = ("create", "delete", "update", "push", "pull", "login", "logout")


async def users_page(request: Request) -> Response:
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with page_call(request) as call:
        call.require_system("user", "list")
        users, total = await accounts.list_users(
            call.session, username=search or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return render(
        request,
        "admin_users.html",
        nav="admin",
        admin_tab="users",
        users=users,
        search=search,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def create_user(request: Request) -> Response:
    back = "/admin/users"
    async with page_call(request) as call:
        call.require_system("user", "create")
        form = await checked_form(request)
        username = text_field(form, "username")
        password = form.get("password")
        if not isinstance(password, str):
            return redirect(request, back, error="Enter a password.")
        try:
            await operations.create_user(
                call.session,
                username=username,
                password=password,
                email=text_field(form, "email"),
                realname=text_field(form, "realname"),
                sysadmin=form.get("sysadmin") in ("on", "true", "1"),
                by=call.actor,
            )
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
    return redirect(request, back, notice=f"User {username} was created.")


async def change_user(request: Request) -> Response:
    """Set or unset the admin flag, disable or enable, reset the password, or delete: one form
    per action."""
    action = request.path_params["action"]
    back = "/admin/users"
    async with page_call(request) as call:
        call.require_system("user", "delete" if action == "delete" else "update")
        form = await checked_form(request)
        user = await accounts.get_user(call.session, request.path_params["user_id"])
        if user is None:
            raise NotFound("That user does not exist any more.")
        if action not in ("admin", "disable", "enable", "password", "delete"):
            raise NotFound("No such action.")
        username, viewer, credentials = user.username, call.viewer, call.services.credentials
        password = form.get("password")
        if action == "password" and not isinstance(password, str):
            return redirect(request, back, error="Enter the new password.")
        try:
            if action == "admin":
                flag = form.get("sysadmin") == "true"
                await operations.set_sysadmin(
                    call.session,
                    user,
                    flag,
                    principal=viewer.principal,
                    by=call.actor,
                    credentials=credentials,
                )
                notice = f"{username} is {'now' if flag else 'no longer'} a system administrator."
            elif action in ("disable", "enable"):
                await operations.set_disabled(
                    call.session,
                    user,
                    action == "disable",
                    principal=viewer.principal,
                    by=call.actor,
                    credentials=credentials,
                )
                notice = f"User {username} was {action}d."
            elif action == "password" and isinstance(password, str):
                await operations.set_password(
                    call.session,
                    user,
                    password,
                    principal=viewer.principal,
                    by=call.actor,
                    credentials=credentials,
                )
                await end_user_sessions(call.session, user.id)
                notice = f"The password of {username} was reset."
            else:
                await operations.delete_user(
                    call.session,
                    user,
                    principal=viewer.principal,
                    by=call.actor,
                    credentials=credentials,
                )
                notice = f"User {username} was deleted."
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
    return redirect(request, back, notice=notice)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


async def logs_page(request: Request) -> Response:
    params = request.query_params
    filters = {
        "username": params.get("username", "").strip(),
        "operation": params.get("operation", "").strip(),
        "resource": params.get("resource", "").strip(),
        "from": params.get("from", "").strip(),
        "to": params.get("to", "").strip(),
    }
    conditions: list[ColumnElement[bool]] = []
    if filters["username"]:
        conditions.append(AuditLog.username == filters["username"])
    if filters["operation"] in OPERATIONS:
        conditions.append(AuditLog.operation == filters["operation"])
    if filters["resource"]:
        escaped = filters["resource"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(AuditLog.resource.like(f"%{escaped}%", escape="\\"))
    start, end = _day(filters["from"]), _day(filters["to"])
    if start is not None:
        conditions.append(
            AuditLog.op_time >= datetime(start.year, start.month, start.day, tzinfo=UTC)
        )
    if end is not None:
        after = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
        conditions.append(AuditLog.op_time < after)
    page = page_number(request)
    async with page_call(request) as call:
        call.require_system("audit-log", "list")
        entries, total = await queries.audit_page(
            call.session,
            conditions,
            selective=bool(filters["resource"] or filters["username"]),
            offset=(page - 1) * PAGE_SIZE,
            limit=PAGE_SIZE,
        )
    return render(
        request,
        "admin_logs.html",
        nav="admin",
        admin_tab="logs",
        entries=entries,
        filters=filters,
        operations=OPERATIONS,
        pager=Pager(request, page, PAGE_SIZE, total),
    )


async def system_page(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("configuration", "read")
        svc = call.services
        totals = await queries.totals(call.session, None)
        users = await accounts.count_users(call.session)
        storage = await storage_used(call.session)
    # probed with no session held: a registry that hangs must not hold a connection
    database = await health.database(svc.sessions)
    registry = await health.registry(svc.upstream, svc.supervisor)
    where = "embedded (supervised by harborlite)" if svc.supervisor else svc.settings.registry_url
    uptime = timedelta(seconds=int(datetime.now(UTC).timestamp() - svc.started_at))
    return render(
        request,
        "admin_system.html",
        nav="admin",
        admin_tab="system",
        version=__version__,
        database={"kind": svc.engine.dialect.name, **_shown(database)},
        registry={"where": where or "", **_shown(registry)},
        totals=totals,
        users=users,
        storage=storage,
        uptime=uptime,
        settings=svc.settings,
    )


def _shown(component: health.Component) -> dict[str, str | bool]:
    return {"healthy": component.healthy, "error": component.error}


async def admin_home(request: Request) -> Response:
    async with page_call(request) as call:
        call.require_system("user", "list")
    return redirect(request, "/admin/users")


ROUTES = [
    Route("/admin", admin_home, methods=["GET"]),
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users/{user_id:int}/{action}", change_user, methods=["POST"]),
    Route("/admin/logs", logs_page, methods=["GET"]),
    Route("/admin/system", system_page, methods=["GET"]),
]
