"""scanners, scans and their reports

Revision ID: 0110_scanning
Revises: 0109_cosign_keys
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0110_scanning"
down_revision = "0109_cosign_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scanners",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uuid", sa.String(length=64), nullable=False, unique=True),
        sa.Column("name", sa.String(length=255), nullable=False, unique=True),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False, unique=True),
        sa.Column("auth", sa.String(length=32), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("skip_cert_verify", sa.Boolean(), nullable=False),
        sa.Column("use_internal_addr", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "project_scanners",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "scanner_id",
            sa.Integer(),
            sa.ForeignKey("scanners.id", ondelete="CASCADE"),
            nullable=False,
        ),
    )
    op.create_table(
        "scan_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("uuid", sa.String(length=64), nullable=False, unique=True),
        sa.Column("digest", sa.String(length=80), nullable=False),
        sa.Column("mime_type", sa.String(length=128), nullable=False),
        sa.Column("repository", sa.String(length=255), nullable=False),
        sa.Column("scanner_uuid", sa.String(length=64), nullable=False),
        sa.Column("scanner", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("execution_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.String(length=255), nullable=False),
        sa.Column("report", sa.JSON(), nullable=True),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("digest", "mime_type", name="uq_scan_reports_digest_mime"),
    )
    op.create_index("ix_scan_reports_digest", "scan_reports", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_scan_reports_digest", table_name="scan_reports")
    op.drop_table("scan_reports")
    op.drop_table("project_scanners")
    op.drop_table("scanners")
