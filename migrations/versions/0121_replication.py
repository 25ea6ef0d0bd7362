"""replication policies, executions and tasks

Revision ID: 0121_replication
Revises: 0120_registries
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0121_replication"
down_revision = "0120_registries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "replication_policies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=256), nullable=False, unique=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("creator", sa.String(length=255), nullable=False),
        sa.Column("src_registry_id", sa.Integer(), sa.ForeignKey("registries.id"), nullable=True),
        sa.Column("dest_registry_id", sa.Integer(), sa.ForeignKey("registries.id"), nullable=True),
        sa.Column("dest_namespace", sa.String(length=256), nullable=False),
        sa.Column("dest_namespace_replace_count", sa.Integer(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("replicate_deletion", sa.Boolean(), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("speed", sa.Integer(), nullable=False),
        sa.Column("copy_by_chunk", sa.Boolean(), nullable=False),
        sa.Column("single_active_replication", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "replication_tasks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "execution_id",
            sa.Integer(),
            sa.ForeignKey("job_executions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=32), nullable=False),
        sa.Column("src_resource", sa.String(length=512), nullable=False),
        sa.Column("dst_resource", sa.String(length=512), nullable=False),
        sa.Column("reference", sa.String(length=256), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_replication_tasks_execution_id", "replication_tasks", ["execution_id"])


def downgrade() -> None:
    op.drop_index("ix_replication_tasks_execution_id", table_name="replication_tasks")
    op.drop_table("replication_tasks")
    op.drop_table("replication_policies")
