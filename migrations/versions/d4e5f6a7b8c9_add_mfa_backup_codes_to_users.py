"""add mfa backup codes to users

The hashed one-time backup codes of a user who enabled MFA; NULL until codes are generated.
A nullable column without a default: PostgreSQL adds it without rewriting ``auth.users``.

Revision ID: d4e5f6a7b8c9
Revises: c1104acd2fa6
Create Date: 2025-07-14 10:30:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "d4e5f6a7b8c9"
down_revision: str | Sequence[str] | None = "c1104acd2fa6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("mfa_backup_codes", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="auth",
    )


def downgrade() -> None:
    op.drop_column("users", "mfa_backup_codes", schema="auth")
