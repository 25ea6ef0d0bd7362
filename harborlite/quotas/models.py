"""The quota tables. Models only declare; the queries are in :mod:`harborlite.quotas.queries`.

``quota_blobs`` holds what a project's pushes brought: each blob once per project, and each
manifest's own bytes (``manifest``). ``pending_since`` is when a push last touched the row: a
row counts while that is recent (an upload or a manifest in flight), and always when an
artifact of the project holds it (the manifest is an artifact of the index, or one names it in
``quota_references``). A row whose push was abandoned stops counting once the window passes;
one whose artifact was deleted has ``pending_since`` cleared and stops counting at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow

UNLIMITED = -1


class Quota(Base):
    """Harbor's quota of a project: its hard storage limit in bytes (``-1``: unlimited)."""

    __tablename__ = "quotas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    hard_storage: Mapped[int] = mapped_column(BigInteger, default=UNLIMITED)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaBlob(Base):
    """A blob (or a manifest's bytes) a project holds, with its size."""

    __tablename__ = "quota_blobs"
    __table_args__ = (
        UniqueConstraint("project_id", "digest", name="uq_quota_blobs_project_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(255))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    manifest: Mapped[bool] = mapped_column(Boolean, default=False)
    pending_since: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class QuotaReference(Base):
    """A manifest of a project naming a blob (its config, a layer, an index's child)."""

    __tablename__ = "quota_references"
    __table_args__ = (
        UniqueConstraint(
            "project_id", "manifest_digest", "blob_digest", name="uq_quota_references_edge"
        ),
        Index("ix_quota_references_blob", "project_id", "blob_digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    manifest_digest: Mapped[str] = mapped_column(String(255))
    blob_digest: Mapped[str] = mapped_column(String(255))


class Configuration(Base):
    """A system configuration value (Harbor's ``/configurations``): ``storage_per_project``."""

    __tablename__ = "configurations"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
