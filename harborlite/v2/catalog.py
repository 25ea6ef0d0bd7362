"""``/v2/_catalog`` from harborlite's index, filtered to what the caller may see."""

from __future__ import annotations

from urllib.parse import parse_qs, quote

from starlette.types import Scope, Send

from harborlite.accounts.authentication import principal_of
from harborlite.accounts.queries import get_user_by_name
from harborlite.artifacts.repositories import catalog, visible_project_ids
from harborlite.auth.permissions import system_can
from harborlite.auth.tokens import Claims
from harborlite.services import Services
from harborlite.v2.challenge import send_error, send_json

DEFAULT_PAGE = 100
MAX_PAGE = 1000


async def serve_catalog(services: Services, scope: Scope, send: Send, claims: Claims) -> None:
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    last = params.get("last", [None])[0]
    raw_n = params.get("n", [None])[0]
    try:
        n = DEFAULT_PAGE if raw_n in (None, "") else int(str(raw_n))
    except ValueError:
        await send_error(send, 400, "PAGINATION_NUMBER_INVALID", "n must be a whole number")
        return
    if n < 0:
        await send_error(send, 400, "PAGINATION_NUMBER_INVALID", "n must not be negative")
        return
    n = min(n, MAX_PAGE)
    async with services.sessions() as session:
        user = await get_user_by_name(session, claims.subject) if claims.subject else None
        if user is not None and user.disabled:
            user = None
        principal = principal_of(user)
        project_ids = (
            None
            if system_can(principal, "project", "read")
            else (await visible_project_ids(session, principal.user_id))
        )
        names = await catalog(session, project_ids=project_ids, last=last, limit=n + 1) if n else []
    headers: list[tuple[bytes, bytes]] = []
    if len(names) > n:
        names = names[:n]
        link = f'</v2/_catalog?last={quote(names[-1], safe="/")}&n={n}>; rel="next"'
        headers.append((b"link", link.encode()))
    await send_json(send, {"repositories": names}, headers)
