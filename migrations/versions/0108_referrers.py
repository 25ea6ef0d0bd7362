"""OCI 1.1 referrers and Harbor's accessories: what each artifact refers to

Revision ID: 0108_referrers
Revises: 0107_username_case
Create Date: 2026-12-01 16:00:00

Artifacts learn their manifest's own size, their ``artifactType``, the digest of their
``subject`` (and how it is known) and Harbor's accessory type. Rows indexed before keep the
defaults (no subject) until ``harborlite reindex`` reads their manifests again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0108_referrers"
down_revision = "0107_username_case"
branch_labels = None
depends_on = None

INDEX = "ix_artifacts_repository_subject"


def upgrade() -> None:
    with op.batch_alter_table("artifacts") as batch:
        batch.add_column(
            sa.Column("manifest_size", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("artifact_type", sa.String(length=255), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("subject_digest", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("subject_source", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("accessory_type", sa.String(length=32), nullable=True))
    op.create_index(INDEX, "artifacts", ["repository_id", "subject_digest"])


def downgrade() -> None:
    op.drop_index(INDEX, table_name="artifacts")
    with op.batch_alter_table("artifacts") as batch:
        for column in (
            "accessory_type",
            "subject_source",
            "subject_digest",
            "artifact_type",
            "manifest_size",
        ):
            batch.drop_column(column)
