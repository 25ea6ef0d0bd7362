"""``HARBORLITE_LOG_FORMAT=json``: every log record as one JSON object on one line.

Always ``time`` (UTC, RFC 3339 with milliseconds), ``level``, ``logger`` and ``message``; a
record written while a request is answered adds that request's ``request_id``, ``client_ip``
and ``route`` (:mod:`harborlite.observability.context`); an access line (``harborlite.access``)
adds what it passed as ``extra``: ``user``, ``method``, ``path``, ``status``, ``duration_ms``,
``via``, ``reason``. A traceback is the ``exception`` field. Non-ASCII is written as ``\\u``
escapes, so no character of a client's (a newline, U+2028) can end the line.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from harborlite.observability.context import current_request

# attributes a record may carry (``extra=``) that become fields of their own
REQUEST_FIELDS = (
    "request_id",
    "user",
    "client_ip",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "via",
    "reason",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request = current_request.get()
        if request is not None:
            line["request_id"] = request.request_id
            line["client_ip"] = request.client_ip
            line["route"] = f"{request.method} {request.path}"
        fields = record.__dict__
        for name in REQUEST_FIELDS:
            if name in fields:
                line[name] = fields[name]
        if "route" not in line and "method" in line and "path" in line:
            line["route"] = f"{line['method']} {line['path']}"
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str)
