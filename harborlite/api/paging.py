"""Harbor's paging: ``page`` and ``page_size``, bounded, and the ``X-Total-Count`` and ``Link``
headers of a page. (The ``q`` and ``sort`` syntax is :mod:`harborlite.api.query`'s.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse

from harborlite.errors import BadRequest

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000_000  # keeps offsets inside every database's integers


@dataclass(frozen=True)
class Page:
    page: int
    size: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.size


def _positive(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if value < 1:
        raise BadRequest(f"{name} must be at least 1")
    if value > MAX_PAGE:
        raise BadRequest(f"{name} must be at most {MAX_PAGE}")
    return value


def page_of(request: Request) -> Page:
    size = _positive(request, "page_size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise BadRequest(f"page_size must be at most {MAX_PAGE_SIZE}")
    return Page(page=_positive(request, "page", 1), size=size)


def paged_response(
    request: Request, items: Sequence[object], total: int, page: Page
) -> JSONResponse:
    """The list, with ``X-Total-Count`` and a ``Link`` header for prev/next pages."""
    links = []
    params = dict(request.query_params)

    def url(number: int) -> str:
        params.update(page=str(number), page_size=str(page.size))
        return f"<{request.url.path}?{urlencode(params)}>"

    if page.page > 1:
        links.append(f'{url(page.page - 1)}; rel="prev"')
    if page.offset + len(items) < total:
        links.append(f'{url(page.page + 1)}; rel="next"')
    headers = {"X-Total-Count": str(total)}
    if links:
        headers["Link"] = ", ".join(links)
    return JSONResponse(list(items), headers=headers)
