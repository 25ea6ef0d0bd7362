"""The replication tables: policies (Harbor's ``ReplicationPolicy``) and the tasks of their
executions. An execution is a :class:`harborlite.db.models.JobExecution` of kind
``replication`` (``ref``: the policy's id); each artifact it copies or deletes is a task row,
so a resumed execution knows what it already did.

The endpoints are rows of the ``registries`` table (:mod:`harborlite.endpoints`), by foreign
key (an endpoint a policy uses cannot be deleted); ``None`` is the local harborlite, as in
Harbor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow
from harborlite.endpoints import models as _endpoints  # noqa: F401  (the registries table)


class ReplicationPolicy(Base):
    __tablename__ = "replication_policies"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(256), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    creator: Mapped[str] = mapped_column(String(255), default="")
    src_registry_id: Mapped[int | None] = mapped_column(ForeignKey("registries.id"), nullable=True)
    dest_registry_id: Mapped[int | None] = mapped_column(ForeignKey("registries.id"), nullable=True)
    dest_namespace: Mapped[str] = mapped_column(String(256), default="")
    dest_namespace_replace_count: Mapped[int] = mapped_column(Integer, default=-1)
    filters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    replicate_deletion: Mapped[bool] = mapped_column(Boolean, default=False)
    override: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    speed: Mapped[int] = mapped_column(Integer, default=-1)  # kbit/s per task; -1: no limit
    copy_by_chunk: Mapped[bool] = mapped_column(Boolean, default=False)
    single_active_replication: Mapped[bool] = mapped_column(Boolean, default=False)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReplicationTask(Base):
    """One artifact of one execution: copied (``copy``) or deleted (``deletion``)."""

    __tablename__ = "replication_tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    execution_id: Mapped[int] = mapped_column(
        ForeignKey("job_executions.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="Pending")
    operation: Mapped[str] = mapped_column(String(16), default="copy")
    resource_type: Mapped[str] = mapped_column(String(32), default="image")
    src_resource: Mapped[str] = mapped_column(String(512), default="")
    dst_resource: Mapped[str] = mapped_column(String(512), default="")
    reference: Mapped[str] = mapped_column(String(256), default="")  # digest, or ":tag"
    tags: Mapped[str] = mapped_column(Text, default="")  # the tags to copy, comma-separated
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    log: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
