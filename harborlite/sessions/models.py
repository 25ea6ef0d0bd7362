"""The portal's one table: server-side login sessions (migration 0100_portal_sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class PortalSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "portal_sessions"
    __table_args__ = (
        UniqueConstraint("token_hash", name="uq_portal_sessions_token_hash"),
        Index("ix_portal_sessions_user_id", "user_id"),
        Index("ix_portal_sessions_last_seen", "last_seen"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    client_ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(512), default="")
    # the user's password stamp at login: a password changed anywhere ends the session
    password_stamp: Mapped[str] = mapped_column(String(32), default="")
