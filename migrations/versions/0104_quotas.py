"""project storage quotas: limits, the blobs and manifests each project holds, and the
system configuration (storage_per_project)

Revision ID: 0104_quotas
Revises: 0103_immutable_rules
Create Date: 2026-12-01 13:30:00

Existing projects get their quota (the system default, unlimited until set) when it is first
read or pushed to; their usage starts at what later pushes add: recount a project
(``POST /api/v2.0/quotas/{id}/recount``) to count what it held before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0104_quotas"
down_revision = "0103_immutable_rules"
branch_labels = None
depends_on = None


def _project_id() -> sa.Column[int]:
    return sa.Column(
        "project_id",
        sa.Integer(),
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("hard_storage", sa.BigInteger(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "quota_blobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        _project_id(),
        sa.Column("digest", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("manifest", sa.Boolean(), nullable=False),
        sa.Column("pending_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("project_id", "digest", name="uq_quota_blobs_project_digest"),
    )
    op.create_table(
        "quota_references",
        sa.Column("id", sa.Integer(), primary_key=True),
        _project_id(),
        sa.Column("manifest_digest", sa.String(length=255), nullable=False),
        sa.Column("blob_digest", sa.String(length=255), nullable=False),
        sa.UniqueConstraint(
            "project_id", "manifest_digest", "blob_digest", name="uq_quota_references_edge"
        ),
    )
    op.create_index("ix_quota_references_blob", "quota_references", ["project_id", "blob_digest"])
    op.create_table(
        "configurations",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("configurations")
    op.drop_index("ix_quota_references_blob", "quota_references")
    op.drop_table("quota_references")
    op.drop_table("quota_blobs")
    op.drop_table("quotas")
