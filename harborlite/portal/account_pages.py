"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.accounts.authentication import verify_credentials
from harborlite.accounts.passwords import (
    PasswordPolicyError,
    check_policy,
    hash_password,
    verify_password,
)
from harborlite.audit.events import LOGIN, LOGOUT, UPDATE, AuditEvent, record
from harborlite.portal.pages import (
    checked_form,
    origin,
    portal_of,
    redirect,
    render,
    require_viewer,
    safe_next,
    services,
    text_field,
    viewer_of,
)
from harborlite.sessions.csrf import ANON_CSRF_COOKIE
from harborlite.sessions.store import (
    SESSION_COOKIE,
    end_session,
    end_user_sessions,
    keep_after_password_change,
    new_token,
    start_session,
)


def _login_page(
    request: Request, *, status: int = 200, error: str = "", username: str = ""
) -> Response:
    token = request.cookies.get(ANON_CSRF_COOKIE) or new_token()
    response = render(
        request,
        "login.html",
        status=status,
        csrf=token,
        error=error,
        username=username,
        next=safe_next(request.query_params.get("next")),
    )
    if request.cookies.get(ANON_CSRF_COOKIE) != token:
        response.set_cookie(
            ANON_CSRF_COOKIE,
            token,
            path="/",
            httponly=True,
            samesite="lax",
            secure=portal_of(request).config.secure_cookies,
        )
    return response


async def login_form(request: Request) -> Response:
    if viewer_of(request) is not None:
        return redirect(request, safe_next(request.query_params.get("next")))
    return _login_page(request)


async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = text_field(form, "username")
    password = form.get("password")
    destination = safe_next(text_field(form, "next"))
    if not username or not isinstance(password, str) or not password:
        return _login_page(
            request, status=400, error="Enter your user name and password.", username=username
        )
    svc = services(request)
    await svc.failures.delay(username)  # repeated failures are slowed down
    async with svc.sessions() as session:
        user = await verify_credentials(session, svc.credentials, username, password)
        if user is None:
            svc.failures.failed(username)
            record(
                session,
                AuditEvent(
                    username,
                    LOGIN,
                    "user",
                    username,
                    origin(request),
                    success=False,
                    detail="invalid username/password (portal)",
                ),
            )
            await session.commit()
            return _login_page(
                request,
                status=401,
                error="Invalid user name or password.",
                username=username,
            )
        svc.failures.succeeded(username)
        where = origin(request)
        token, _ = await start_session(
            session, user, client_ip=where.client_ip, user_agent=where.user_agent
        )
        record(session, AuditEvent(user.username, LOGIN, "user", user.username, where))
        await session.commit()
    response = redirect(request, destination)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="lax",
        secure=portal_of(request).config.secure_cookies,
    )
    response.delete_cookie(ANON_CSRF_COOKIE, path="/")
    return response


async def logout(request: Request) -> Response:
    viewer = viewer_of(request)
    if viewer is not None:
        await checked_form(request)
        async with services(request).sessions() as session:
            await end_session(session, viewer.session_id)
            record(
                session,
                AuditEvent(viewer.username, LOGOUT, "user", viewer.username, origin(request)),
            )
            await session.commit()
    response = redirect(request, "/login", notice="You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def account(request: Request) -> Response:
    viewer = require_viewer(request)
    async with services(request).sessions() as session:
        user = await accounts.get_user(session, viewer.user_id)
    return render(request, "account.html", user=user, nav="account")


async def change_password(request: Request) -> Response:
    viewer = require_viewer(request)
    form = await checked_form(request)
    old = form.get("old_password")
    new = form.get("new_password")
    confirm = form.get("confirm_password")
    if not all(isinstance(v, str) and v for v in (old, new, confirm)):
        return redirect(request, "/account", error="Fill in all three password fields.")
    assert isinstance(old, str) and isinstance(new, str)
    if new != confirm:
        return redirect(request, "/account", error="The new passwords do not match.")
    try:
        check_policy(new)
    except PasswordPolicyError as error:
        return redirect(request, "/account", error=f"The new {error}.")
    svc = services(request)
    async with svc.sessions() as session:
        user = await accounts.get_user(session, viewer.user_id)
        if user is None:
            return redirect(request, "/login")
        if not await verify_password(old, user.password_hash):
            return redirect(request, "/account", error="The current password is wrong.")
        if await verify_password(new, user.password_hash):
            return redirect(
                request, "/account", error="The new password must differ from the old one."
            )
        await accounts.set_password(session, user, await hash_password(new))
        await end_user_sessions(session, user.id, keep=viewer.session_id)
        await keep_after_password_change(session, viewer.session_id, user)
        record(
            session,
            AuditEvent(
                viewer.username,
                UPDATE,
                "user",
                user.username,
                origin(request),
                detail="password changed",
            ),
        )
        await session.commit()
    svc.credentials.forget(viewer.username)
    return redirect(
        request, "/account", notice="Your password was changed. Other sessions were signed out."
    )


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(request, f"/login?next={quote(target, safe='')}")


ROUTES = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/account", account, methods=["GET"]),
    Route("/account/password", change_password, methods=["POST"]),
]
