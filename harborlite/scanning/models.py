"""The scanning tables (migration ``0110_scanning``): scanner registrations, a project's chosen
scanner, and scan reports kept per artifact digest and report mime type."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class Scanner(Base):
    """A registered scanner adapter (Harbor's ``ScannerRegistration``); ``uuid`` is its
    registration id. ``credential`` holds the access credential encrypted with the data
    folder's key (:mod:`harborlite.scanning.secrets`): it is never shown."""

    __tablename__ = "scanners"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    url: Mapped[str] = mapped_column(String(1024), unique=True)
    auth: Mapped[str] = mapped_column(String(32), default="")
    credential: Mapped[str] = mapped_column(Text, default="")
    skip_cert_verify: Mapped[bool] = mapped_column(Boolean, default=False)
    use_internal_addr: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProjectScanner(Base):
    """The scanner a project uses instead of the default."""

    __tablename__ = "project_scanners"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    scanner_id: Mapped[int] = mapped_column(ForeignKey("scanners.id", ondelete="CASCADE"))


class ScanReport(Base):
    """The latest scan of one artifact digest for one report mime type: its status, the job
    execution running it, and the report the adapter gave (``None`` until it succeeds)."""

    __tablename__ = "scan_reports"
    __table_args__ = (UniqueConstraint("digest", "mime_type", name="uq_scan_reports_digest_mime"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uuid: Mapped[str] = mapped_column(String(64), unique=True)
    digest: Mapped[str] = mapped_column(String(80), index=True)
    mime_type: Mapped[str] = mapped_column(String(128))
    repository: Mapped[str] = mapped_column(String(255), default="")
    scanner_uuid: Mapped[str] = mapped_column(String(64), default="")
    scanner: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="Pending")
    execution_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    request_id: Mapped[str] = mapped_column(String(255), default="")
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    log: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
