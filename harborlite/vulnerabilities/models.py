"""The ``cve_allowlists`` table (migration ``0111_cve_allowlists``): the system's allowlist
(``project_id`` NULL, ``scope`` ``"system"``) and one per project (``scope`` the project's id),
each a list of vulnerability ids and an optional expiry (Unix seconds)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow

SYSTEM_SCOPE = "system"


class CveAllowlist(Base):
    """Vulnerability ids a pull policy does not count, until ``expires_at`` (None: never)."""

    __tablename__ = "cve_allowlists"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32), unique=True)  # "system" or the project's id
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    expires_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
