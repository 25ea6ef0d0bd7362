"""The webhook tables: a project's policies and one delivery task per (event, policy, target).

An event a policy wants becomes one job execution (kind ``WEBHOOK``, Harbor's execution) with
one :class:`WebhookTask` per target (Harbor's task): the exact body sent, how often it was
tried, the last response code and how long the last attempt took."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class WebhookPolicy(Base):
    """Harbor's ``WebhookPolicy``; ``targets`` as the API shows them (``[{type, address,
    auth_header, skip_cert_verify, payload_format}]``). ``secret`` signs every body (beyond
    Harbor); it is shown once, when made, never in lists."""

    __tablename__ = "webhook_policies"
    __table_args__ = (
        UniqueConstraint("project_id", "name", name="uq_webhook_policies_project_name"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    event_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(128))
    creator: Mapped[str] = mapped_column(String(255), default="")
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookTask(Base):
    """One delivery of one event to one target of a policy."""

    __tablename__ = "webhook_tasks"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    policy_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_policies.id", ondelete="CASCADE"), index=True
    )
    execution_id: Mapped[int] = mapped_column(Integer, index=True)  # job_executions.id
    event_type: Mapped[str] = mapped_column(String(32))
    target_type: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(Text)
    payload_format: Mapped[str] = mapped_column(String(16), default="Default")
    content_type: Mapped[str] = mapped_column(String(64), default="application/json")
    payload: Mapped[str] = mapped_column(Text)  # the exact body sent
    status: Mapped[str] = mapped_column(String(16), default="Pending")
    status_message: Mapped[str] = mapped_column(Text, default="")
    status_code: Mapped[int] = mapped_column(Integer, default=0)  # the last response's; 0: none
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)  # the last attempt's
    run_count: Mapped[int] = mapped_column(Integer, default=0)
    log: Mapped[str] = mapped_column(Text, default="")
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    start_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    end_time: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
