"""listing indexes: an artifact's tags newest first, a repository's artifacts newest first

Revision ID: 0130_listing_indexes
Revises: 0123_webhooks
Create Date: 2026-12-01 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0130_listing_indexes"
down_revision = "0123_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_tags_artifact_push_time", "tags", ["artifact_id", "push_time", "id"], unique=False
    )
    op.create_index(
        "ix_artifacts_repository_push_time_id",
        "artifacts",
        ["repository_id", "push_time", "id"],
        unique=False,
    )
    op.create_index(
        "ix_artifacts_repository_manifest_media_type",
        "artifacts",
        ["repository_id", "manifest_media_type"],
        unique=False,
    )
    op.create_index(
        "ix_artifacts_repository_size_id",
        "artifacts",
        ["repository_id", "size", "id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_artifacts_repository_size_id", table_name="artifacts")
    op.drop_index("ix_artifacts_repository_manifest_media_type", table_name="artifacts")
    op.drop_index("ix_artifacts_repository_push_time_id", table_name="artifacts")
    op.drop_index("ix_tags_artifact_push_time", table_name="tags")
