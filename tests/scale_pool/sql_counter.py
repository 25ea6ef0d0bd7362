"""What the database is asked while a real ``harborlite serve`` answers marked requests.

Installed in the server process at its start (``counting/sitecustomize.py``): SQLAlchemy
listeners on every engine and pool count, for the requests that carry ``X-Count-Sql: <name>``
(and the tasks they start, the event subscribers: they inherit the request's context), the SQL
statements sent, the transactions begun, the connections checked out and the pings. ``GET
/__sql_counts/<name>`` answers a name's counts as JSON (the harborlite app never sees it).
"""

from __future__ import annotations

import contextvars
import json
from collections import Counter
from typing import Any

COUNTING: contextvars.ContextVar[Counter[str] | None] = contextvars.ContextVar(
    "counting", default=None
)
BY_NAME: dict[str, Counter[str]] = {}
HEADER = b"x-count-sql"
PATH = "/__sql_counts/"


def _add(key: str, statement: str | None = None) -> None:
    counter = COUNTING.get()
    if counter is not None:
        counter[key] += 1
        if statement is not None:
            counter["sql: " + " ".join(statement.split())] += 1


def install() -> None:
    from sqlalchemy import event
    from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    import harborlite.app

    def before_cursor_execute(*args: Any) -> None:
        _add("statements", args[2])

    event.listen(Engine, "before_cursor_execute", before_cursor_execute)
    event.listen(Engine, "begin", lambda connection: _add("transactions"))
    event.listen(Pool, "checkout", lambda *args: _add("checkouts"))
    do_ping = PGDialect_asyncpg.do_ping

    def counted_ping(self: Any, dbapi_connection: Any) -> bool:
        _add("pings")
        return bool(do_ping(self, dbapi_connection))

    PGDialect_asyncpg.do_ping = counted_ping  # type: ignore[method-assign]
    create_app = harborlite.app.create_app

    def counting_app(settings: Any) -> Any:
        return _Counting(create_app(settings))

    harborlite.app.create_app = counting_app  # type: ignore[assignment]


class _Counting:
    def __init__(self, app: Any) -> None:
        self.app = app

    def __getattr__(self, name: str) -> Any:  # the server's hooks on the app (sendfile)
        return getattr(self.app, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PATH):
            name = scope["path"][len(PATH) :]
            body = json.dumps(dict(BY_NAME.get(name, Counter()))).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if scope["type"] == "http":
            name = dict(scope["headers"]).get(HEADER)
            if name is not None:
                counter = BY_NAME.setdefault(name.decode(), Counter())
                token = COUNTING.set(counter)
                try:
                    await self.app(scope, receive, send)
                finally:
                    COUNTING.reset(token)
                return
        await self.app(scope, receive, send)
