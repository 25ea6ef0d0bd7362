"""``/v2/<name>/tags/list`` from harborlite's index, with the spec's paging.

distribution 2.8 ignores ``n`` and ``last`` (its paging came in 3.0) and reads every tag's link
file from storage; harborlite answers from the repository's names held in memory
(:mod:`harborlite.artifacts.tag_names`: what keeps them right, and how stale another replica's
change may be), ``n`` and ``last`` as the distribution spec says: at most ``n`` tags in lexical
order after ``last``, and a ``Link`` header with ``rel="next"`` when more follow."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, quote

from starlette.types import Scope, Send

from harborlite.artifacts.tag_names import cache_for
from harborlite.services import Services
from harborlite.v2.challenge import send_error, send_json_bytes
from harborlite.v2.routes import Route

MAX_PAGE = 10_000  # a larger n is cut to this (and the Link header says how to go on)


async def serve_tags_list(services: Services, scope: Scope, send: Send, route: Route) -> int:
    """Answer the tag list; the status sent."""
    params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    last = params.get("last", [None])[0] or None
    raw_n = params.get("n", [None])[0]
    limit: int | None = None
    if raw_n not in (None, ""):
        try:
            limit = int(str(raw_n))
        except ValueError:
            await send_error(send, 400, "PAGINATION_NUMBER_INVALID", "n must be a whole number")
            return 400
        if limit < 0:
            await send_error(send, 400, "PAGINATION_NUMBER_INVALID", "n must not be negative")
            return 400
        limit = min(limit, MAX_PAGE)
    names = await cache_for(services.sessions).get(route.name)
    if names is None:
        await send_error(
            send,
            404,
            "NAME_UNKNOWN",
            "repository name not known to registry",
            detail={"name": route.name},
        )
        return 404
    headers: list[tuple[bytes, bytes]] = []
    if limit is None and not last:
        listed = names.whole_json()  # the whole list, encoded once
    else:
        tags, more = names.after(last, limit)
        if more and limit is not None:
            after = quote(tags[-1], safe="") if tags else ""
            link = f'</v2/{route.name}/tags/list?last={after}&n={limit}>; rel="next"'
            headers.append((b"link", link.encode()))
        listed = json.dumps(tags).encode()
    # written directly: the names are strings, the page is the whole body
    body = b'{"name":%s,"tags":%s}' % (json.dumps(route.name).encode(), listed)
    await send_json_bytes(send, body, headers)
    return 200
