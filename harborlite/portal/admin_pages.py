"""Administration, for system administrators: users, the global audit log, system information."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, text
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite import __version__
from harborlite.accounts import queries as accounts
from harborlite.accounts.names import valid_email, valid_username
from harborlite.accounts.passwords import PasswordPolicyError, check_policy, hash_password
from harborlite.artifacts.queries import storage_used
from harborlite.audit.events import CREATE, DELETE, UPDATE, AuditEvent, record
from harborlite.db.models import AuditLog
from harborlite.errors import NotFound
from harborlite.portal import queries
from harborlite.portal.pages import (
    checked_form,
    origin,
    page_number,
    redirect,
    render,
    require_sysadmin,
    services,
    text_field,
)
from harborlite.portal.paging import Pager
from harborlite.sessions.store import end_user_sessions

PAGE_SIZE = 25
OPERATIONS = ("create", "delete", "update", "push", "pull", "login", "logout")


async def users_page(request: Request) -> Response:
    require_sysadmin(request)
    search = request.query_params.get("q", "").strip()
    page = page_number(request)
    async with services(request).sessions() as session:
        users, total = await accounts.list_users(
            session, username=search or None, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
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
    viewer = require_sysadmin(request)
    form = await checked_form(request)
    username = text_field(form, "username")
    email = text_field(form, "email")
    realname = text_field(form, "realname")
    password = form.get("password")
    sysadmin = form.get("sysadmin") in ("on", "true", "1")
    back = "/admin/users"
    if not valid_username(username):
        return redirect(
            request,
            back,
            error="A user name is 1 to 255 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit.",
        )
    if email and not valid_email(email):
        return redirect(request, back, error=f"“{email}” is not a valid email address.")
    if not isinstance(password, str):
        return redirect(request, back, error="Enter a password.")
    try:
        check_policy(password)
    except PasswordPolicyError as error:
        return redirect(request, back, error=f"The {error}.")
    async with services(request).sessions() as session:
        if await accounts.get_user_by_name(session, username) is not None:
            return redirect(request, back, error=f"A user named “{username}” already exists.")
        if email and await accounts.email_taken(session, email):
            return redirect(request, back, error=f"{email} is already used by another user.")
        await accounts.create_user(
            session,
            username=username,
            password_hash=await hash_password(password),
            email=email,
            realname=realname,
            sysadmin=sysadmin,
        )
        record(session, AuditEvent(viewer.username, CREATE, "user", username, origin(request)))
        await session.commit()
    return redirect(request, back, notice=f"User {username} was created.")


async def change_user(request: Request) -> Response:
    """Set or unset the admin flag, reset the password, or delete: one form per action."""
    viewer = require_sysadmin(request)
    form = await checked_form(request)
    action = request.path_params["action"]
    user_id = request.path_params["user_id"]
    back = "/admin/users"
    svc = services(request)
    async with svc.sessions() as session:
        user = await accounts.get_user(session, user_id)
        if user is None:
            raise NotFound("That user does not exist any more.")
        username = user.username
        if action == "admin":
            flag = form.get("sysadmin") == "true"
            if user.id == viewer.user_id and not flag:
                return redirect(
                    request, back, error="You cannot remove your own administrator rights."
                )
            await accounts.set_sysadmin(session, user, flag)
            detail, notice = (
                f"sysadmin={flag}",
                f"{username} is {'now' if flag else 'no longer'} a system administrator.",
            )
        elif action == "password":
            password = form.get("password")
            if not isinstance(password, str):
                return redirect(request, back, error="Enter the new password.")
            try:
                check_policy(password)
            except PasswordPolicyError as error:
                return redirect(request, back, error=f"The {error}.")
            await accounts.set_password(session, user, await hash_password(password))
            await end_user_sessions(session, user.id)
            detail, notice = "password reset", f"The password of {username} was reset."
        elif action == "delete":
            if user.id == viewer.user_id:
                return redirect(request, back, error="You cannot delete yourself.")
            await accounts.delete_user(session, user)
            detail, notice = "", f"User {username} was deleted."
        else:
            raise NotFound("No such action.")
        operation = DELETE if action == "delete" else UPDATE
        record(
            session,
            AuditEvent(
                viewer.username, operation, "user", username, origin(request), detail=detail
            ),
        )
        await session.commit()
    svc.credentials.forget(username)
    return redirect(request, back, notice=notice)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


async def logs_page(request: Request) -> Response:
    require_sysadmin(request)
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
    async with services(request).sessions() as session:
        entries, total = await queries.audit_page(
            session,
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
    require_sysadmin(request)
    svc = services(request)
    database = {"kind": svc.engine.dialect.name, "healthy": True, "error": ""}
    async with svc.sessions() as session:
        try:
            await session.execute(text("SELECT 1"))
        except Exception as error:  # shown as the database's status
            database.update(healthy=False, error=type(error).__name__)
        totals = await queries.totals(session, None)
        users = await queries.count_users(session)
        storage = await storage_used(session)
    registry = await _registry_health(request)
    uptime = timedelta(seconds=int(datetime.now(UTC).timestamp() - svc.started_at))
    return render(
        request,
        "admin_system.html",
        nav="admin",
        admin_tab="system",
        version=__version__,
        database=database,
        registry=registry,
        totals=totals,
        users=users,
        storage=storage,
        uptime=uptime,
        settings=svc.settings,
    )


async def _registry_health(request: Request) -> dict[str, str | bool]:
    svc = services(request)
    where = "embedded (supervised by harborlite)" if svc.supervisor else svc.settings.registry_url
    if svc.supervisor is not None:
        ok = svc.supervisor.healthy
        return {"healthy": ok, "where": where or "", "error": "" if ok else "not running"}
    try:
        status, _, _ = await svc.upstream.fetch("GET", "", "/v2/", ())
    except Exception as error:  # shown as the registry's status
        return {"healthy": False, "where": where or "", "error": str(error)}
    ok = status in (200, 401)
    return {"healthy": ok, "where": where or "", "error": "" if ok else f"answered {status}"}


async def admin_home(request: Request) -> Response:
    require_sysadmin(request)
    return redirect(request, "/admin/users")


ROUTES = [
    Route("/admin", admin_home, methods=["GET"]),
    Route("/admin/users", users_page, methods=["GET"]),
    Route("/admin/users", create_user, methods=["POST"]),
    Route("/admin/users/{user_id:int}/{action}", change_user, methods=["POST"]),
    Route("/admin/logs", logs_page, methods=["GET"]),
    Route("/admin/system", system_page, methods=["GET"]),
]
