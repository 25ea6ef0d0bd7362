"""Log lines that cannot be forged and carry no credentials: one record, one line.

A user name, a path or a header a client sent may hold a newline, a carriage return or an
escape sequence; written raw, it would start a line of its own (a fake audit entry) or repaint
the terminal. :class:`SafeFormatter` wraps a handler's formatter and escapes the formatted
message (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u2028``, ...) before the handler's format
applies; the traceback, written by harborlite's own code, keeps its lines.

harborlite never logs a password, a token or an ``Authorization`` header on purpose; what a
library's error message may carry is scrubbed from the whole line as a second net
(:func:`scrub`): a JWT, the credentials of ``Bearer``/``Basic``, a ``password=``-like pair and
the password of a URL (``postgresql://u:PASSWORD@host``) become ``***``.

:func:`install` puts it on every handler there is: the root logger's and those of loggers
with handlers of their own (uvicorn's), which covers ``harborlite.access``,
``harborlite.audit`` and everything else. When the root handler writes JSON
(``HARBORLITE_LOG_FORMAT=json``), every other handler is made to write JSON too.
"""

from __future__ import annotations

import copy
import logging
import re

from harborlite.observability.json_logs import JsonFormatter

_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_TABLE = {
    code: _NAMED.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _CONTROLS
}

_SECRETS = re.compile(
    r"(?P<jwt>\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]+)"
    r"|(?P<scheme>\b(?:Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    r"|(?P<key>(?:password|passwd|secret|secret_key|access_token|refresh_token|token"
    r"|authorization|x-amz-security-token|x-amz-credential|x-amz-signature)"
    r"[\"']?\s*[:=]\s*[\"']?)(?!\*\*\*)(?:(?:Bearer|Basic)\s+)?[^\s\"'&,;]+"
    r"|(?P<userinfo>://[^/\s:@\"']+:)[^/\s@\"']+(?=@)",
    re.IGNORECASE,
)


def escape(text: str) -> str:
    """``text`` with newlines and every other control character written as escapes."""
    return text.translate(_TABLE)


def _hidden(match: re.Match[str]) -> str:
    kept = match.group("scheme") or match.group("key") or match.group("userinfo") or ""
    return kept + "***"


# every text the pattern can match holds one of these, lowered: an ASCII line without any
# (an access line, nearly always) is not searched (the search cost ~75 us a line)
_MAY_HOLD_SECRET = ("eyj", "bearer", "basic", "pass", "secret", "token", "authoriz", "x-amz", "://")


def scrub(text: str) -> str:
    """``text`` with what looks like a credential replaced by ``***``."""
    if text.isascii():  # (beyond ASCII, case-insensitive matching folds more than lower())
        lowered = text.lower()
        if not any(word in lowered for word in _MAY_HOLD_SECRET):
            return text
    return _SECRETS.sub(_hidden, text)


class SafeFormatter(logging.Formatter):
    """Formats as ``inner`` does, with the record's message escaped and credentials scrubbed."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        safe = escape(message)
        if safe == message:
            return scrub(self.inner.format(record))
        shown = copy.copy(record)  # other handlers (and their formatters) see the original
        shown.msg, shown.args = safe, None
        return scrub(self.inner.format(shown))


def writes_json() -> bool:
    """Whether the root logger's handlers write JSON lines (``configure_logging`` chose it)."""
    return any(
        isinstance(handler.formatter, SafeFormatter)
        and isinstance(handler.formatter.inner, JsonFormatter)
        for handler in logging.getLogger().handlers
    )


def install() -> None:
    """Wrap the formatter of every handler of every logger (idempotent); in JSON mode, make
    each of them write JSON."""
    json_lines = writes_json()
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            formatter = handler.formatter
            if json_lines:
                if not (
                    isinstance(formatter, SafeFormatter)
                    and isinstance(formatter.inner, JsonFormatter)
                ):
                    handler.setFormatter(SafeFormatter(JsonFormatter()))
            elif not isinstance(formatter, SafeFormatter):
                handler.setFormatter(SafeFormatter(formatter))
