"""``/service/token``: the Docker token service (GET with Basic, and the OAuth2 POST form).

A visible pipeline: parse the request, authenticate the caller, authorize (grant the allowed
subset of what was asked), sign.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from harborlite.accounts.authentication import parse_basic, principal_of, verify_credentials
from harborlite.accounts.passwords import password_stamp
from harborlite.accounts.queries import get_user_by_name
from harborlite.audit.events import LOGIN, AuditEvent, Origin, record
from harborlite.auth.permissions import REGISTRY_ACTIONS, Principal, registry_actions
from harborlite.db.models import User
from harborlite.projects.queries import access_by_names
from harborlite.services import Services, services_of
from harborlite.token.keys import (
    TokenError,
    sign_refresh_token,
    verify_refresh_token,
)
from harborlite.token.scopes import Access, Scope, ScopeError, parse_scopes

log = logging.getLogger("harborlite.token")


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
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _refusal(error: TokenRefused) -> JSONResponse:
    headers = {}
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="harborlite"'
    return JSONResponse(
        {"errors": [{"code": error.code, "message": error.message}]},
        status_code=error.status,
        headers=headers,
    )


async def _parse(request: Request) -> TokenRequest:
    if request.method == "POST":
        try:
            form = await request.form(max_files=0, max_fields=50, max_part_size=16 * 1024)
        except HTTPException as error:  # Starlette's form limits: answer in our envelope
            raise TokenRefused(400, "BAD_REQUEST", f"malformed form: {error.detail}") from None
        values = {k: str(v) for k, v in form.multi_items() if k != "scope"}
        scope_values = [str(v) for v in form.getlist("scope")]
        grant = values.get("grant_type", "")
        basic = parse_basic(request.headers.get("authorization"))
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
        offline = values.get("access_type") == "offline"
        service = values.get("service")
    else:
        params = request.query_params
        scope_values = params.getlist("scope")
        basic = parse_basic(request.headers.get("authorization"))
        username, password = basic if basic else (None, None)
        refresh = None
        offline = params.get("offline_token", "").lower() == "true"
        service = params.get("service")
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
        via_post=request.method == "POST",
    )


async def _authenticate(
    services: Services, session: AsyncSession, req: TokenRequest, origin: Origin
) -> User | None:
    if req.refresh_token is not None:
        try:
            username, stamp = verify_refresh_token(services.signer, req.refresh_token)
        except TokenError as error:
            raise TokenRefused(401, "UNAUTHORIZED", str(error)) from None
        user = await get_user_by_name(session, username)
        if user is None or user.disabled or password_stamp(user.password_hash) != stamp:
            raise TokenRefused(401, "UNAUTHORIZED", "refresh token is no longer valid")
        return user
    if req.username is None or req.password is None:
        return None
    cached = services.access.user(req.username)
    if (
        cached is not None
        and services.credentials.lookup(req.username, req.password, cached.password_hash)
        == cached.id
    ):
        return cached  # verified moments ago, nothing changed since: no database, no hash
    await services.failures.delay(req.username)
    user = await verify_credentials(session, services.credentials, req.username, req.password)
    if user is not None:
        services.access.remember_user(user)
    if user is None:
        services.failures.failed(req.username)
        record(
            session,
            AuditEvent(
                username=req.username,
                operation=LOGIN,
                resource_type="user",
                resource=req.username,
                origin=origin,
                success=False,
                detail="invalid username/password (token service)",
            ),
        )
        await session.commit()
        raise TokenRefused(401, "UNAUTHORIZED", "invalid username/password")
    services.failures.succeeded(req.username)
    return user


async def _grant(
    services: Services, session: AsyncSession, principal: Principal, scopes: list[Scope]
) -> list[Access]:
    """What was asked ∩ what the caller may do. Unknown projects give empty actions."""
    projects = frozenset(s.name.split("/", 1)[0] for s in scopes if s.type == "repository")
    access_map = services.access.access(principal.user_id, projects)
    if access_map is None:
        access_map = await access_by_names(session, principal, set(projects))
        services.access.remember_access(principal.user_id, projects, access_map)
    granted: list[Access] = []
    for scope in scopes:
        if scope.type == "repository":
            project = access_map.get(scope.name.split("/", 1)[0])
            may = registry_actions(principal, project)
            if "*" in scope.actions and may == frozenset(REGISTRY_ACTIONS):
                actions: tuple[str, ...] = ("*",)
            else:
                asked = REGISTRY_ACTIONS if "*" in scope.actions else scope.actions
                actions = tuple(a for a in asked if a in may)
            granted.append(Access("repository", scope.name, actions))
        elif scope.type == "registry" and scope.name == "catalog":
            actions = ("*",) if principal.sysadmin and "*" in scope.actions else ()
            granted.append(Access("registry", "catalog", actions))
        else:
            granted.append(Access(scope.type, scope.name, ()))
    return granted


async def token_endpoint(request: Request) -> Response:
    services = services_of(request)
    client = request.client
    origin = Origin(client.host if client else "", request.headers.get("user-agent", ""))
    try:
        req = await _parse(request)
        if req.service is not None and req.service != services.settings.token_service:
            raise TokenRefused(
                400,
                "BAD_REQUEST",
                f"unknown service {req.service!r}: this is {services.settings.token_service!r}",
            )
        async with services.sessions() as session:
            user = await _authenticate(services, session, req, origin)
            if user is None and not req.scopes:
                raise TokenRefused(401, "UNAUTHORIZED", "authentication required")
            principal = principal_of(user)
            access = await _grant(services, session, principal, req.scopes)
            if user is not None and not req.scopes and req.refresh_token is None:
                record(
                    session,
                    AuditEvent(
                        username=user.username,
                        operation=LOGIN,
                        resource_type="user",
                        resource=user.username,
                        origin=origin,
                    ),
                )
                await session.commit()
    except TokenRefused as error:
        return _refusal(error)
    token, expires_in, issued_at = services.signer.sign(principal.username, access)
    body: dict[str, object] = {
        "token": token,
        "access_token": token,
        "expires_in": expires_in,
        "issued_at": datetime.fromtimestamp(issued_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if req.offline and user is not None:
        body["refresh_token"] = sign_refresh_token(
            services.signer, user.username, password_stamp(user.password_hash)
        )
    elif req.refresh_token is not None:
        body["refresh_token"] = req.refresh_token
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
