"""How long audit entries take to write: from their INSERT to their transaction's commit.

:func:`~harborlite.audit.events.record` only adds the entry to the caller's session (it lands
with the change it describes), so its write is the flush and commit that follow.
:func:`time_audit_writes` listens to one app's session class (never every Session of the
process) and reports, for each commit that carried audit entries, the seconds from the first
flush holding them (or :func:`~harborlite.audit.events.record_many`'s INSERT) to the end of
the commit: what an audit-heavy request waits for the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

PENDING = "audit_pending"  # session.info: audit entries are in this transaction
STARTED = "audit_write_started"  # session.info: perf_counter() when they began to be written


def time_audit_writes(session_class: type[Session], observe: Callable[[float], None]) -> None:
    def before_flush(session: Session, *_: Any) -> None:
        if session.info.get(PENDING) and STARTED not in session.info:
            session.info[STARTED] = time.perf_counter()

    def after_commit(session: Session) -> None:
        started = session.info.pop(STARTED, None)
        session.info.pop(PENDING, None)
        if started is not None:
            observe(time.perf_counter() - started)

    def after_rollback(session: Session, *_: Any) -> None:
        session.info.pop(STARTED, None)
        session.info.pop(PENDING, None)

    event.listen(session_class, "before_flush", before_flush)
    event.listen(session_class, "before_commit", before_flush)  # a commit with nothing to flush
    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_soft_rollback", after_rollback)
