"""Log lines that cannot be forged: one record, one line.

A user name, a path or a header a client sent may hold a newline, a carriage return or an
escape sequence; written raw, it would start a line of its own (a fake audit entry) or repaint
the terminal. :class:`SafeFormatter` wraps a handler's formatter and escapes the formatted
message (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\u2028``, ...) before the handler's format
applies; the traceback, written by harborlite's own code, keeps its lines.
:func:`install` puts it on every handler there is: the root logger's and those of loggers
with handlers of their own (uvicorn's), which covers ``harborlite.access``,
``harborlite.audit`` and everything else.
"""

from __future__ import annotations

import copy
import logging

_CONTROLS = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x2028, 0x2029]
_NAMED = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
_TABLE = {
    code: _NAMED.get(code) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
    for code in _CONTROLS
}


def escape(text: str) -> str:
    """``text`` with newlines and every other control character written as escapes."""
    return text.translate(_TABLE)


class SafeFormatter(logging.Formatter):
    """Formats as ``inner`` does, with the record's message escaped."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        safe = escape(message)
        if safe == message:
            return self.inner.format(record)
        shown = copy.copy(record)  # other handlers (and their formatters) see the original
        shown.msg, shown.args = safe, None
        return self.inner.format(shown)


def install() -> None:
    """Wrap the formatter of every handler of every logger (idempotent)."""
    loggers: list[logging.Logger] = [logging.getLogger()]
    loggers += [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            if not isinstance(handler.formatter, SafeFormatter):
                handler.setFormatter(SafeFormatter(handler.formatter))
