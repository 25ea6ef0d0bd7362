"""``/service/token``: the Docker token service (GET with Basic, and the OAuth2 POST form).

A visible pipeline: parse the request, authenticate the caller, authorize (grant the allowed
subset of what was asked), sign.

Every pull and push starts here, so this is a lean ASGI app mounted ahead of Starlette's router
and the portal's middleware (see :mod:`harborlite.app`): a cached credential and cached roles
are answered without a database session, and the answer is written straight to ``send``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.types import Receive, Send
from starlette.types import Scope as AsgiScope

from harborlite.accounts.authentication import parse_basic, principal_of
from harborlite.accounts.passwords import password_stamp
from harborlite.accounts.queries import get_user_by_name
from harborlite.audit.events import LOGIN, Actor, AuditEvent, Origin, record
from harborlite.auth.issued import Issued, key_of
from harborlite.auth.permissions import (
    REGISTRY_ACTIONS,
    Principal,
    registry_actions,
    system_can,
)
from harborlite.auth.revocation import REPLICA
from harborlite.auth.scopes import Access, Scope, ScopeError, parse_scopes
from harborlite.auth.tokens import (
    TokenError,
    sign_refresh_token,
    verify_refresh_token,
)
from harborlite.errors import LockedOut, envelope
from harborlite.projects.queries import access_by_names
from harborlite.robots.authentication import SignedIn as Caller
from harborlite.robots.authentication import sign_in, stored_name
from harborlite.services import Services, services_of

log = logging.getLogger("harborlite.token")
# docker keeps a refresh token in config.json in place of the password, and a Kubernetes pull
# secret made from that file then carries no usable password (kubelet reads only ``auth``):
# docker (client_id=docker, GET with offline_token=true or POST with access_type=offline) gets
# none and stores the password, as Harbor's docker users expect
DOCKER = "docker"


@dataclass(frozen=True)
class TokenRequest:
    service: str | None
    scopes: list[Scope]
    username: str | None
    password: str | None
    refresh_token: str | None
    offline: bool
    via_post: bool


class TokenRefused(Exception):
    def __init__(
        self, status: int, code: str, message: str, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # a lockout: seconds until logins are taken again


class _LazySession:
    """A database session opened on first use: a cached caller needs none."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    def get(self) -> AsyncSession:
        if self._session is None:
            self._session = self._sessions()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def _headers_of(scope: AsgiScope) -> tuple[str | None, str]:
    """(Authorization, User-Agent) of the request; the first of each, as Starlette reads them."""
    authorization = None
    agent = None
    for key, value in scope["headers"]:
        if key == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif key == b"user-agent" and agent is None:
            agent = value.decode("latin-1")
    return authorization, agent or ""


async def _parse(scope: AsgiScope, receive: Receive, authorization: str | None) -> TokenRequest:
    if scope["method"] == "POST":
        request = Request(scope, receive)
        try:
            form = await request.form(max_files=0, max_fields=50, max_part_size=16 * 1024)
        except HTTPException as error:  # Starlette's form limits: answer in our envelope
            raise TokenRefused(400, "BAD_REQUEST", f"malformed form: {error.detail}") from None
        except MultiPartException as error:  # the same, outside a Starlette app
            raise TokenRefused(400, "BAD_REQUEST", f"malformed form: {error.message}") from None
        values = {k: str(v) for k, v in form.multi_items() if k != "scope"}
        scope_values = [str(v) for v in form.getlist("scope")]
        grant = values.get("grant_type", "")
        basic = parse_basic(authorization)
        if grant == "password":
            username, password = values.get("username"), values.get("password")
            if username is None or password is None:
                raise TokenRefused(
                    400, "BAD_REQUEST", "grant_type=password needs username and password"
                )
        elif grant == "refresh_token":
            if not values.get("refresh_token"):
                raise TokenRefused(
                    400, "BAD_REQUEST", "grant_type=refresh_token needs refresh_token"
                )
            username = password = None
        elif grant == "" and basic is not None:
            username, password = basic
        else:
            raise TokenRefused(
                400,
                "BAD_REQUEST",
                f"unsupported grant_type {grant!r}: use password or refresh_token",
            )
        refresh = values.get("refresh_token") if grant == "refresh_token" else None
        offline = values.get("access_type") == "offline" and values.get("client_id") != DOCKER
        service = values.get("service")
    else:
        query = scope["query_string"].decode("latin-1")
        params = parse_qsl(query, keep_blank_values=True) if query else []
        scope_values = [value for key, value in params if key == "scope"]
        single = dict(params)
        basic = parse_basic(authorization)
        username, password = basic if basic else (None, None)
        refresh = None
        # docker login asks so: GET ?account=U&client_id=docker&offline_token=true
        offline = (
            single.get("offline_token", "").lower() == "true" and single.get("client_id") != DOCKER
        )
        service = single.get("service")
    try:
        scopes = parse_scopes(scope_values)
    except ScopeError as error:
        raise TokenRefused(400, "BAD_REQUEST", str(error)) from None
    return TokenRequest(
        service=service,
        scopes=scopes,
        username=username,
        password=password,
        refresh_token=refresh,
        offline=offline,
        via_post=scope["method"] == "POST",
    )


def _login(username: str, origin: Origin) -> AuditEvent:
    """A login through the token service (``docker login`` asks for a token with no scope)."""
    return Actor(username, origin).event(LOGIN, "user", username)


async def _authenticate(
    services: Services, lazy: _LazySession, req: TokenRequest, origin: Origin
) -> Caller:
    if req.refresh_token is not None:
        try:
            username, stamp = verify_refresh_token(services.signer, req.refresh_token)
        except TokenError as error:
            raise TokenRefused(401, "UNAUTHORIZED", str(error)) from None
        user = await get_user_by_name(lazy.get(), username)
        if user is None or user.disabled or password_stamp(user.password_hash) != stamp:
            raise TokenRefused(401, "UNAUTHORIZED", "refresh token is no longer valid")
        return Caller(principal_of(user), user=user)
    if req.username is None or req.password is None:
        return Caller(principal_of(None))
    prefix = services.settings.robot_name_prefix
    cached = services.access.user(req.username)
    if (
        cached is not None
        and stored_name(req.username, prefix) is None
        and services.credentials.lookup(req.username, req.password, cached.password_hash)
        == cached.id
    ):  # verified moments ago, nothing changed since: no database, no hash
        retry = await services.failures.admitted(req.username, origin.client_ip)
        if retry is not None:  # a lockout holds for the right password too
            raise _locked(LockedOut(retry))
        return Caller(principal_of(cached), user=cached)
    try:
        caller = await sign_in(
            lazy.get(),
            services.credentials,
            services.failures,
            req.username,
            req.password,
            origin,
            prefix=prefix,
            via="token service",
        )
    except LockedOut as locked:
        raise _locked(locked) from None
    if caller is None:
        raise TokenRefused(401, "UNAUTHORIZED", "invalid username/password")
    if caller.user is not None:
        services.access.remember_user(caller.user)
    return caller


async def _grant(
    services: Services, lazy: _LazySession, principal: Principal, scopes: list[Scope]
) -> list[Access]:
    """What was asked ∩ what the caller may do. Unknown projects, and repository names the
    registry would reject, give empty actions."""
    projects = frozenset(s.name.split("/", 1)[0] for s in scopes if s.names_valid_repository)
    access_map = services.access.access(principal.key, projects)
    if access_map is None:
        access_map = await access_by_names(lazy.get(), principal, set(projects))
        services.access.remember_access(principal.key, projects, access_map)
    granted: list[Access] = []
    for scope in scopes:
        if scope.type == "repository" and not scope.names_valid_repository:
            # as a denied scope: no actions (the other scopes of the request still count)
            log.info("scope %r names no valid repository: nothing granted on it", str(scope))
            granted.append(Access("repository", scope.name, ()))
        elif scope.type == "repository":
            project = access_map.get(scope.name.split("/", 1)[0])
            may = registry_actions(principal, project)
            if "*" in scope.actions and may == frozenset(REGISTRY_ACTIONS):
                actions: tuple[str, ...] = ("*",)
            else:
                asked = REGISTRY_ACTIONS if "*" in scope.actions else scope.actions
                actions = tuple(a for a in asked if a in may)
            granted.append(Access("repository", scope.name, actions))
        elif scope.type == "registry" and scope.name == "catalog":
            may_list = system_can(principal, "catalog", "read")
            actions = ("*",) if may_list and "*" in scope.actions else ()
            granted.append(Access("registry", "catalog", actions))
        else:
            granted.append(Access(scope.type, scope.name, ()))
    return granted


async def _answer(
    send: Send, status: int, body: dict[str, Any], extra: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _locked(locked: LockedOut) -> TokenRefused:
    return TokenRefused(429, locked.code, locked.message, locked.retry_after)


async def _refuse(send: Send, error: TokenRefused) -> None:
    extra = [(b"www-authenticate", b'Basic realm="harborlite"')] if error.status == 401 else []
    if error.retry_after is not None:
        extra.append((b"retry-after", str(error.retry_after).encode()))
    await _answer(send, error.status, envelope(error.code, error.message), extra)


async def token_app(scope: AsgiScope, receive: Receive, send: Send) -> None:
    """The ASGI app of ``/service/token`` (GET, HEAD, POST)."""
    if scope["method"] not in ("GET", "HEAD", "POST"):
        body = envelope("METHOD_NOT_ALLOWED", "use GET, HEAD or POST")
        await _answer(send, 405, body, [(b"allow", b"GET, HEAD, POST")])
        return
    services = services_of(scope)
    authorization, agent = _headers_of(scope)
    client = scope.get("client")
    origin = Origin(client[0] if client else "", agent)
    lazy = _LazySession(services.sessions)
    try:
        req = await _parse(scope, receive, authorization)
        if req.service is not None and req.service != services.settings.token_service:
            raise TokenRefused(
                400,
                "BAD_REQUEST",
                f"unknown service {req.service!r}: this is {services.settings.token_service!r}",
            )
        # what other replicas took away is known before anything cached is trusted
        await services.revocations.catch_up(services.sessions)
        caller = await _authenticate(services, lazy, req, origin)
        principal = caller.principal
        if principal.anonymous and not req.scopes:
            raise TokenRefused(401, "UNAUTHORIZED", "authentication required")
        access = await _grant(services, lazy, principal, req.scopes)
        if not principal.anonymous and not req.scopes and req.refresh_token is None:
            session = lazy.get()
            record(session, _login(principal.username, origin))
            await session.commit()
    except TokenRefused as error:
        services.metrics.token_refused(error.code)
        await _refuse(send, error)
        return
    finally:
        await lazy.close()
    robot = caller.robot
    # a robot's token ends when the robot does
    not_after = robot.expires_at if robot is not None and robot.expires_at != -1 else None
    key = key_of(principal.username, access, not_after)
    issued = services.issued.get(key)
    if issued is None:
        issued = Issued(
            *services.signer.sign(principal.username, access, replica=REPLICA, not_after=not_after)
        )
        services.issued.put(key, issued)
    token, expires_in, issued_at = issued.token, issued.expires_in, issued.issued_at
    answer: dict[str, object] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    services.metrics.token_issued(
        "robot" if robot is not None else "anonymous" if principal.anonymous else "user"
    )
    user = caller.user
    if req.offline and user is not None:
        answer["refresh_token"] = sign_refresh_token(
            services.signer, user.username, password_stamp(user.password_hash)
        )
    elif req.refresh_token is not None:
        answer["refresh_token"] = req.refresh_token
    await _answer(send, 200, answer, [(b"cache-control", b"no-store")])
