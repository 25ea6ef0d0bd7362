"""The ``registries`` table (migration ``0120_registries``): remote registry endpoints.

The credential's secret is stored sealed (:mod:`harborlite.sealing`), never in clear.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class Registry(Base):
    """One remote registry: where it is, how to reach it, how it answered last."""

    __tablename__ = "registries"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    type: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    insecure: Mapped[bool] = mapped_column(Boolean, default=False)
    ca_certificate: Mapped[str | None] = mapped_column(Text, nullable=True)
    credential_type: Mapped[str] = mapped_column(String(16), default="basic")
    access_key: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    access_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    rate_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_message: Mapped[str] = mapped_column(Text, default="")
    checked_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
