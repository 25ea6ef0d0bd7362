"""labels and the labels attached to artifacts

Revision ID: 0101_labels
Revises: 0101_session_password_stamp
Create Date: 2026-11-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0101_labels"
down_revision = "0101_session_password_stamp"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("color", sa.String(length=16), nullable=False),
        sa.Column("scope", sa.String(length=1), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "scope", "project_id", name="uq_labels_name_scope_project"),
    )
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_labels_project_id"), ["project_id"], unique=False)
    op.create_table(
        "artifact_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("artifact_id", sa.Integer(), nullable=False),
        sa.Column("label_id", sa.Integer(), nullable=False),
        sa.Column("creation_time", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["artifact_id"], ["artifacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["label_id"], ["labels.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("artifact_id", "label_id", name="uq_artifact_labels_artifact_label"),
    )
    with op.batch_alter_table("artifact_labels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifact_labels_label_id"), ["label_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("artifact_labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifact_labels_label_id"))
    op.drop_table("artifact_labels")
    with op.batch_alter_table("labels", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_labels_project_id"))
    op.drop_table("labels")
