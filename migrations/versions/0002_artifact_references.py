"""artifact references: which index names which child manifest

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "artifact_references",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("child_digest", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(["parent_id"], ["artifacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["child_id"], ["artifacts.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "parent_id", "child_digest", name="uq_artifact_references_parent_child"
        ),
    )
    with op.batch_alter_table("artifact_references", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_artifact_references_parent_id"), ["parent_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_artifact_references_child_id"), ["child_id"], unique=False
        )
    _backfill()


def _backfill() -> None:
    """Rows for the indexes already in the artifact index (their references JSON)."""
    bind = op.get_bind()
    artifacts = sa.table(
        "artifacts",
        sa.column("id", sa.Integer),
        sa.column("repository_id", sa.Integer),
        sa.column("digest", sa.String),
        sa.column("references", sa.JSON),
    )
    references = sa.table(
        "artifact_references",
        sa.column("parent_id", sa.Integer),
        sa.column("child_id", sa.Integer),
        sa.column("child_digest", sa.String),
    )
    rows = bind.execute(
        sa.select(artifacts.c.id, artifacts.c.repository_id, artifacts.c.digest)
    ).all()
    by_digest = {(repo, digest): artifact_id for artifact_id, repo, digest in rows}
    for artifact_id, repo, raw in bind.execute(
        sa.select(artifacts.c.id, artifacts.c.repository_id, artifacts.c.references)
    ).all():
        refs: Any = json.loads(raw) if isinstance(raw, str) else raw
        seen: set[str] = set()
        for ref in refs or []:
            digest = ref.get("child_digest") if isinstance(ref, dict) else None
            if not digest or digest in seen:
                continue
            seen.add(digest)
            bind.execute(
                references.insert().values(
                    parent_id=artifact_id,
                    child_id=by_digest.get((repo, digest)),
                    child_digest=digest,
                )
            )


def downgrade() -> None:
    with op.batch_alter_table("artifact_references", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_references_child_id"))
        batch_op.drop_index(batch_op.f("ix_artifact_references_parent_id"))
    op.drop_table("artifact_references")
