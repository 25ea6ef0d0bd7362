"""Page links for long lists: numbers shown, and URLs that keep the other query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request


@dataclass(frozen=True)
class Pager:
    request: Request
    page: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first_item(self) -> int:
        return 0 if self.total == 0 else (self.page - 1) * self.size + 1

    @property
    def last_item(self) -> int:
        return min(self.total, self.page * self.size)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    def url(self, page: int) -> str:
        params = {k: v for k, v in self.request.query_params.items() if k != "page"}
        if page > 1:
            params["page"] = str(page)
        query = urlencode(params)
        return self.request.url.path + (f"?{query}" if query else "")
