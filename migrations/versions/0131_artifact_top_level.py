"""artifact top-level flag: what lists show, maintained, read from one index

Revision ID: 0131_artifact_top_level
Revises: 0130_listing_indexes
Create Date: 2026-12-01 22:00:00

``artifacts.top_level`` is false for an index's child and for an accessory whose subject the
repository holds (``harborlite.artifacts.top_level``); computed here for the rows already
there. ``ix_artifacts_repository_top_level_push_time_id`` lists and counts them in order;
``ix_artifacts_digest`` finds a digest in any repository (the portal's scan overviews).
``artifact_listing_counts`` keeps each repository's number of top-level artifacts (a listing's
count in one row), counted here.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0131_artifact_top_level"
down_revision = "0130_listing_indexes"
branch_labels = None
depends_on = None

BACKFILL = """
UPDATE artifacts SET top_level = NOT (
    EXISTS (SELECT 1 FROM artifact_references r WHERE r.child_id = artifacts.id)
    OR (
        artifacts.subject_digest IS NOT NULL
        AND EXISTS (
            SELECT 1 FROM artifacts s
            WHERE s.repository_id = artifacts.repository_id
              AND s.digest = artifacts.subject_digest
        )
    )
)
"""


COUNTS = """
INSERT INTO artifact_listing_counts (repository_id, top_level)
SELECT repository_id, count(*) FROM artifacts WHERE top_level GROUP BY repository_id
"""


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite too: a batch copy would lose the table's AUTOINCREMENT)
    op.add_column(
        "artifacts",
        sa.Column("top_level", sa.Boolean(), server_default=sa.true(), nullable=False),
    )
    op.execute(BACKFILL)
    op.create_index(
        "ix_artifacts_repository_top_level_push_time_id",
        "artifacts",
        ["repository_id", "top_level", "push_time", "id"],
        unique=False,
    )
    op.create_index("ix_artifacts_digest", "artifacts", ["digest"], unique=False)
    op.create_table(
        "artifact_listing_counts",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("top_level", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["repository_id"], ["repositories.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("repository_id"),
    )
    op.execute(COUNTS)


def downgrade() -> None:
    op.drop_table("artifact_listing_counts")
    op.drop_index("ix_artifacts_digest", table_name="artifacts")
    op.drop_index("ix_artifacts_repository_top_level_push_time_id", table_name="artifacts")
    op.drop_column("artifacts", "top_level")
