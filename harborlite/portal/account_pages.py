"""Signing in and out, and changing one's own password."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.accounts import operations
from harborlite.accounts import queries as accounts
from harborlite.accounts.authentication import login as log_in
from harborlite.audit.events import LOGIN, LOGOUT, Actor, record
from harborlite.errors import HarborliteError, LockedOut
from harborlite.portal.call import origin_of, page_call
from harborlite.portal.pages import (
    checked_form,
    portal_of,
    redirect,
    render,
    safe_next,
    text_field,
    viewer_of,
)
from harborlite.services import services_of
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
    svc = services_of(request)
    where = origin_of(request)
    async with svc.sessions() as session:
        try:
            user = await log_in(
                session, svc.credentials, svc.failures, username, password, where, via="portal"
            )
        except LockedOut as locked:
            plural = "s" if locked.minutes > 1 else ""
            response = _login_page(
                request,
                status=429,
                error=f"Too many failed logins: try again in {locked.minutes} minute{plural}.",
                username=username,
            )
            response.headers["Retry-After"] = str(locked.retry_after)
            return response
        if user is None:
            return _login_page(
                request,
                status=401,
                error="Invalid user name or password.",
                username=username,
            )
        token, _ = await start_session(
            session, user, client_ip=where.client_ip, user_agent=where.user_agent
        )
        record(session, Actor(user.username, where).event(LOGIN, "user", user.username))
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
        async with page_call(request) as call:
            await end_session(call.session, viewer.session_id)
            record(call.session, call.actor.event(LOGOUT, "user", viewer.username))
    response = redirect(request, "/login", notice="You are signed out.")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def account(request: Request) -> Response:
    async with page_call(request) as call:
        user = await accounts.get_user(call.session, call.viewer.user_id)
    return render(request, "account.html", user=user, nav="account")


def sentence(error: HarborliteError) -> str:
    """An operation's refusal as a flash message: a capital first, a full stop last."""
    text = error.message[:1].upper() + error.message[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


async def change_password(request: Request) -> Response:
    async with page_call(request) as call:
        viewer = call.viewer
        form = await checked_form(request)
        old = form.get("old_password")
        new = form.get("new_password")
        confirm = form.get("confirm_password")
        if not (isinstance(old, str) and old and isinstance(new, str) and new and confirm):
            return redirect(request, "/account", error="Fill in all three password fields.")
        if new != confirm:
            return redirect(request, "/account", error="The new passwords do not match.")
        user = await accounts.get_user(call.session, viewer.user_id)
        if user is None:
            return redirect(request, "/login")
        try:
            await operations.set_password(
                call.session,
                user,
                new,
                old_password=old,
                principal=viewer.principal,
                by=call.actor,
                credentials=call.services.credentials,
            )
        except HarborliteError as error:
            return redirect(request, "/account", error=sentence(error))
        await end_user_sessions(call.session, user.id, keep=viewer.session_id)
        await keep_after_password_change(call.session, viewer.session_id, user)
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
