"""One line per ``/v2/`` request on ``harborlite.access``, written once the answer is out.

``via`` says who answered: ``cache`` (this process's memory), ``redis`` (the shared level),
``storage`` (a blob read from the registry's filesystem), ``proxy`` (the registry),
``harborlite`` (``/v2/`` itself and the catalog) or ``refused`` (harborlite said no: the line
ends with the reason, quoted).
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import Scope

from harborlite.http.origin import header

log = logging.getLogger("harborlite.access")


def access_logged(
    scope: Scope, status: int, started: float, user: str, via: str, reason: str = ""
) -> None:
    if log.isEnabledFor(logging.INFO):
        log.info(
            "%s %s %s %.1fms user=%s via=%s rid=%s%s",
            scope["method"],
            scope["path"],
            status,
            (time.perf_counter() - started) * 1000,
            user or "anonymous",
            via,
            header(scope, b"x-request-id") or "-",
            f" reason={json.dumps(reason)}" if reason else "",
        )
