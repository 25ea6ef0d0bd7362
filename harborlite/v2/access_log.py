"""One line per ``/v2/`` request on ``harborlite.access``, written once the answer is out.

``via`` says who answered: ``cache`` (this process's memory), ``redis`` (the shared level),
``storage`` (a blob read from the registry's filesystem), ``direct`` (a blob upload
harborlite wrote into the registry's storage itself), ``proxy`` (the registry),
``harborlite`` (``/v2/`` itself and the catalog) or ``refused`` (harborlite said no: the line
ends with the reason, quoted). It is also counted (``harborlite_registry_answers_total``).

The line's parts also go with the record as fields (``extra``), which the JSON log format
writes as their own keys: ``user``, ``client_ip``, ``method``, ``path``, ``status``,
``duration_ms``, ``via``, ``reason`` and ``request_id``; the text line is unchanged.
"""

from __future__ import annotations

import json
import logging
import time

from starlette.types import Scope

from harborlite.http.origin import header, origin_of
from harborlite.services import services_of

log = logging.getLogger("harborlite.access")


def access_logged(
    scope: Scope, status: int, started: float, user: str, via: str, reason: str = ""
) -> None:
    state = scope.get("state")
    if state and "services" in state:
        services_of(scope).metrics.answered_by(via)
    if log.isEnabledFor(logging.INFO):
        duration = (time.perf_counter() - started) * 1000
        request_id = header(scope, b"x-request-id") or "-"
        shown_user = user or "anonymous"
        log.info(
            "%s %s %s %.1fms user=%s via=%s rid=%s%s",
            scope["method"],
            scope["path"],
            status,
            duration,
            shown_user,
            via,
            request_id,
            f" reason={json.dumps(reason)}" if reason else "",
            extra={
                "request_id": request_id,
                "user": shown_user,
                "client_ip": origin_of(scope).client_ip,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration, 1),
                "via": via,
                "reason": reason,
            },
        )
