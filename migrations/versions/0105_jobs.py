"""background jobs: schedules and executions; the garbage collection's candidates

Revision ID: 0105_jobs
Revises: 0104_quotas
Create Date: 2026-12-01 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0105_jobs"
down_revision = "0104_quotas"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "job_schedules",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("schedule_type", sa.String(length=16), nullable=False),
        sa.Column("cron", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("next_run", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("kind", "ref", name="uq_job_schedules_kind_ref"),
    )
    op.create_index("ix_job_schedules_next_run", "job_schedules", ["next_run"])
    op.create_table(
        "job_executions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=32), nullable=False),
        sa.Column("heartbeat", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("stop_requested", sa.Boolean(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_job_executions_kind", "job_executions", ["kind"])
    op.create_index("ix_job_executions_status", "job_executions", ["status"])
    op.create_table(
        "gc_candidates",
        sa.Column("digest", sa.String(length=80), primary_key=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_gc_candidates_execution_id", "gc_candidates", ["execution_id"])


def downgrade() -> None:
    op.drop_index("ix_gc_candidates_execution_id", "gc_candidates")
    op.drop_table("gc_candidates")
    op.drop_index("ix_job_executions_status", "job_executions")
    op.drop_index("ix_job_executions_kind", "job_executions")
    op.drop_table("job_executions")
    op.drop_index("ix_job_schedules_next_run", "job_schedules")
    op.drop_table("job_schedules")
