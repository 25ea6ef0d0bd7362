"""The ``cosign_keys`` table (migration ``0109_cosign_keys``): a project's trusted public keys.

A key is kept as the canonical PEM of its SubjectPublicKeyInfo with its fingerprint (SHA-256 of
the DER, hex); a project holds a key once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from harborlite.db.models import Base, UTCDateTime, utcnow


class CosignKey(Base):
    """One public key whose cosign signatures the project trusts."""

    __tablename__ = "cosign_keys"
    __table_args__ = (
        UniqueConstraint("project_id", "fingerprint", name="uq_cosign_keys_project_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255), default="")
    algorithm: Mapped[str] = mapped_column(String(32))
    fingerprint: Mapped[str] = mapped_column(String(64))
    pem: Mapped[str] = mapped_column(Text)
    creator: Mapped[str] = mapped_column(String(255), default="")
    creation_time: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
