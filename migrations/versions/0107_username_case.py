"""user names unique whatever their case

Revision ID: 0107_username_case
Revises: 0106_retention
Create Date: 2026-12-01 15:00:00

``Admin`` and ``admin`` were two users; from here they are one name (a unique index on
``lower(username)``, on PostgreSQL and SQLite alike). A database already holding such names
cannot take the index: the migration stops, naming them, and changes nothing, so that an
administrator renames or deletes all but one of each group first.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0107_username_case"
down_revision = "0106_retention"
branch_labels = None
depends_on = None

INDEX = "uq_users_username_lower"


class ClashingUserNames(RuntimeError):
    """Users whose names differ only in case: the unique index cannot be made."""


def clashes(connection: sa.engine.Connection) -> list[list[str]]:
    """Each group of user names that are one name ignoring case."""
    rows = connection.execute(
        sa.text(
            "SELECT username FROM users WHERE lower(username) IN "
            "(SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1) "
            "ORDER BY lower(username), username"
        )
    ).scalars()
    groups: dict[str, list[str]] = {}
    for name in rows:
        groups.setdefault(name.lower(), []).append(name)
    return list(groups.values())


def upgrade() -> None:
    found = clashes(op.get_bind())
    if found:
        shown = "; ".join(", ".join(group) for group in found)
        raise ClashingUserNames(
            "cannot make user names unique ignoring case: these users differ only in case: "
            f"{shown}. Rename or delete all but one of each (`harborlite` on the old version, "
            "or SQL), then start again"
        )
    op.create_index(INDEX, "users", [sa.text("lower(username)")], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="users")
