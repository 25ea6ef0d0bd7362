"""The retention policy table: one policy per project, its rules kept as Harbor's JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class RetentionPolicy(Base):
    """A project's tag retention policy (Harbor's ``RetentionPolicy``).

    ``rules`` holds the normalised rules as the API shows them (``[{id, priority, disabled,
    action, template, params, tag_selectors, scope_selectors}]``) and ``trigger`` Harbor's
    ``{kind: "Schedule", settings: {cron}, references: {}}``. The project's metadata
    ``retention_id`` names it, as in Harbor. Ids are never reused (a schedule or an execution
    left behind by a deleted policy can never run a newer one)."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        UniqueConstraint("project_id", name="uq_retention_policies_project"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    algorithm: Mapped[str] = mapped_column(String(16), default="or")
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
