"""The immutability rules' table (migration ``0103_immutable_rules``).

A rule keeps Harbor's fields as they are given (``tag_selectors``, ``scope_selectors``,
``params``...) and a ``fingerprint`` of what it selects: a project cannot hold the same rule
twice (Harbor keeps its rules unique per project the same way, on their JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class ImmutableRule(Base):
    """One of a project's tag immutability rules (Harbor's ``ImmutableRule``)."""

    __tablename__ = "immutable_rules"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint", name="uq_immutable_rules_project_rule"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    action: Mapped[str] = mapped_column(String(32), default="immutable")
    template: Mapped[str] = mapped_column(String(64), default="immutable_template")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # [{kind, decoration, pattern}] and {"repository": [{kind, decoration, pattern}]}
    tag_selectors: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    scope_selectors: Mapped[dict[str, list[dict[str, str]]]] = mapped_column(JSON, default=dict)
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 of the selectors
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    update_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
