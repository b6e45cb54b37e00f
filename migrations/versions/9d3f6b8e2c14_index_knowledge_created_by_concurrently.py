"""index knowledge.created_by_id concurrently

"Knowledge written by this user" queries scan ``knowledge`` without an index on
``created_by_id``.

``knowledge`` is one of the largest tables and is written all day. A plain ``CREATE INDEX``
holds a SHARE lock for the whole build, blocking every INSERT, UPDATE and DELETE on it;
``CREATE INDEX CONCURRENTLY`` builds without blocking writes. CONCURRENTLY cannot run inside a
transaction block, hence the autocommit block: it commits the revisions before this one (env.py
gives each revision its own transaction) and runs the statement on its own. The downgrade drops
the index the same way, since a plain DROP INDEX takes an ACCESS EXCLUSIVE lock on the table.

If a concurrent build fails (a deadlock, a cancelled statement), PostgreSQL leaves an INVALID
index behind: drop it with ``DROP INDEX CONCURRENTLY idx_knowledge_created_by`` and upgrade again.

Revision ID: 9d3f6b8e2c14
Revises: 2c7d4e9f1a58
Create Date: 2025-11-10 16:00:00.000000

"""

from collections.abc import Sequence

from alembic import op

# mks-db: allow prefer-robust-stmts: IF NOT EXISTS would silently keep an INVALID index left by a failed concurrent build; failing loudly is safer (see the docstring for the fix)

# revision identifiers, used by Alembic.
revision: str = "9d3f6b8e2c14"
down_revision: str | Sequence[str] | None = "2c7d4e9f1a58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index(
            "idx_knowledge_created_by",
            "knowledge",
            ["created_by_id"],
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(
            "idx_knowledge_created_by",
            table_name="knowledge",
            postgresql_concurrently=True,
        )
