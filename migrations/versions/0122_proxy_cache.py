"""proxy-cache projects

Revision ID: 0122_proxy_cache
Revises: 0121_replication
Create Date: 2026-12-01 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0122_proxy_cache"
down_revision = "0121_replication"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_projects",
        sa.Column(
            "project_id",
            sa.Integer(),
            sa.ForeignKey("projects.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("registry_id", sa.Integer(), nullable=False),
    )
    op.create_index("ix_proxy_projects_registry_id", "proxy_projects", ["registry_id"])


def downgrade() -> None:
    op.drop_index("ix_proxy_projects_registry_id", table_name="proxy_projects")
    op.drop_table("proxy_projects")
