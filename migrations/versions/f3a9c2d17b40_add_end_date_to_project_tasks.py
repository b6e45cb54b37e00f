"""add end_date to project_tasks

The models always had ``ProjectTask.end_date``, but a typo kept it out of the table production's
``create_all`` built, so production has never had the column. A nullable column without a
default: PostgreSQL adds it without rewriting the table.

Revision ID: f3a9c2d17b40
Revises: e1f2a3b4c5d6
Create Date: 2025-09-08 14:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "f3a9c2d17b40"
down_revision: str | Sequence[str] | None = "e1f2a3b4c5d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("project_tasks", sa.Column("end_date", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("project_tasks", "end_date")
