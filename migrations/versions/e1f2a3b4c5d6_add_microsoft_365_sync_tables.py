"""add Microsoft 365 sync tables

Three tables for importing SharePoint documents as knowledge: the sync configurations, the
history of their runs and the mapping of each SharePoint file to its knowledge entry. A
configuration's history and mappings are deleted with it; a mapping survives its knowledge
entry (``knowledge_id`` becomes NULL).

The five ``ms365_sync.*`` permissions are inserted (if absent) and granted to the ``admin`` role
if that role exists; revision 2c7d4e9f1a58 seeds the roles and grants them again.

Revision ID: e1f2a3b4c5d6
Revises: d4e5f6a7b8c9
Create Date: 2025-08-25 11:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "e1f2a3b4c5d6"
down_revision: str | Sequence[str] | None = "d4e5f6a7b8c9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INSERT_PERMISSIONS = """
INSERT INTO auth.permissions (name, resource, action, description)
VALUES
    ('ms365_sync.read', 'ms365_sync', 'read', 'View Microsoft 365 sync configurations and history'),
    ('ms365_sync.create', 'ms365_sync', 'create', 'Create Microsoft 365 sync configurations'),
    ('ms365_sync.update', 'ms365_sync', 'update', 'Change Microsoft 365 sync configurations'),
    ('ms365_sync.delete', 'ms365_sync', 'delete', 'Delete Microsoft 365 sync configurations'),
    ('ms365_sync.execute', 'ms365_sync', 'execute', 'Run a Microsoft 365 sync now')
ON CONFLICT (name) DO NOTHING
"""

# auth.role_permissions.created_at has no server default yet (8b1e5d2c9a37 adds it): set it here.
GRANT_TO_ADMIN = """
INSERT INTO auth.role_permissions (role_id, permission_id, created_at)
SELECT r.id, p.id, now()
FROM auth.roles AS r
JOIN auth.permissions AS p ON p.resource = 'ms365_sync'
WHERE r.name = 'admin'
  AND p.name IN (
      'ms365_sync.read', 'ms365_sync.create', 'ms365_sync.update',
      'ms365_sync.delete', 'ms365_sync.execute'
  )
ON CONFLICT (role_id, permission_id) DO NOTHING
"""

# Every role's grants of these permissions go, not only admin's: the permissions are deleted next.
REVOKE_ALL = """
DELETE FROM auth.role_permissions
WHERE permission_id IN (
    SELECT id FROM auth.permissions
    WHERE name IN (
        'ms365_sync.read', 'ms365_sync.create', 'ms365_sync.update',
        'ms365_sync.delete', 'ms365_sync.execute'
    )
)
"""

DELETE_PERMISSIONS = """
DELETE FROM auth.permissions
WHERE name IN (
    'ms365_sync.read', 'ms365_sync.create', 'ms365_sync.update',
    'ms365_sync.delete', 'ms365_sync.execute'
)
"""


def upgrade() -> None:
    op.create_table(
        "ms365_sync_config",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("site_id", sa.String(length=200), nullable=False),
        sa.Column("drive_id", sa.String(length=200), nullable=False),
        sa.Column(
            "folder_path",
            sa.String(length=500),
            server_default=sa.text("'/'::character varying"),
            nullable=True,
        ),
        sa.Column(
            "file_extensions",
            postgresql.ARRAY(sa.String()),
            server_default=sa.text("'{pdf,docx,xlsx,txt}'::character varying[]"),
            nullable=True,
        ),
        sa.Column(
            "sync_schedule",
            sa.String(length=100),
            server_default=sa.text("'0 2 * * *'::character varying"),
            nullable=True,
        ),
        sa.Column("is_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=True),
        sa.Column("last_sync_at", sa.DateTime(), nullable=True),
        sa.Column("next_sync_at", sa.DateTime(), nullable=True),
        sa.Column(
            "sync_strategy",
            sa.String(length=50),
            server_default=sa.text("'incremental'::character varying"),
            nullable=True,
        ),
        sa.Column("metadata_mapping", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["auth.users.id"], name=op.f("ms365_sync_config_created_by_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["auth.users.id"], name=op.f("ms365_sync_config_updated_by_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ms365_sync_config_pkey")),
    )
    op.create_index("idx_ms365_sync_config_enabled", "ms365_sync_config", ["is_enabled"])
    op.create_index("idx_ms365_sync_config_next_sync", "ms365_sync_config", ["next_sync_at"])

    op.create_table(
        "ms365_sync_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("sync_started_at", sa.DateTime(), nullable=False),
        sa.Column("sync_completed_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=False),
        sa.Column("files_processed", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("files_created", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("files_updated", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("files_skipped", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("files_failed", sa.Integer(), server_default=sa.text("0"), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("error_details", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("execution_time_seconds", sa.Integer(), nullable=True),
        sa.Column(
            "triggered_by",
            sa.String(length=50),
            server_default=sa.text("'scheduler'::character varying"),
            nullable=True,
        ),
        sa.Column("triggered_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["ms365_sync_config.id"],
            name=op.f("ms365_sync_history_config_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["triggered_by_user_id"],
            ["auth.users.id"],
            name=op.f("ms365_sync_history_triggered_by_user_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ms365_sync_history_pkey")),
    )
    op.create_index("idx_ms365_sync_history_config", "ms365_sync_history", ["config_id"])
    op.create_index("idx_ms365_sync_history_status", "ms365_sync_history", ["status"])
    op.create_index("idx_ms365_sync_history_started", "ms365_sync_history", ["sync_started_at"])

    op.create_table(
        "ms365_file_mapping",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("config_id", sa.Integer(), nullable=False),
        sa.Column("sharepoint_file_id", sa.String(length=200), nullable=False),
        sa.Column("sharepoint_file_name", sa.String(length=500), nullable=False),
        sa.Column("sharepoint_file_path", sa.String(length=1000), nullable=True),
        sa.Column("sharepoint_modified_at", sa.DateTime(), nullable=True),
        sa.Column("sharepoint_size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("knowledge_id", sa.Integer(), nullable=True),
        sa.Column(
            "sync_status",
            sa.String(length=50),
            server_default=sa.text("'pending'::character varying"),
            nullable=True,
        ),
        sa.Column("last_synced_at", sa.DateTime(), nullable=True),
        sa.Column("checksum", sa.String(length=64), nullable=True),
        sa.Column("file_metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.Column("updated_at", sa.DateTime(), server_default=sa.text("now()"), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["ms365_sync_config.id"],
            name=op.f("ms365_file_mapping_config_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["knowledge_id"],
            ["knowledge.id"],
            name=op.f("ms365_file_mapping_knowledge_id_fkey"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("ms365_file_mapping_pkey")),
        sa.UniqueConstraint("sharepoint_file_id", name=op.f("ms365_file_mapping_sharepoint_file_id_key")),
    )
    op.create_index("idx_ms365_file_mapping_config", "ms365_file_mapping", ["config_id"])
    op.create_index("idx_ms365_file_mapping_sp_file_id", "ms365_file_mapping", ["sharepoint_file_id"])
    op.create_index("idx_ms365_file_mapping_knowledge", "ms365_file_mapping", ["knowledge_id"])
    op.create_index("idx_ms365_file_mapping_status", "ms365_file_mapping", ["sync_status"])

    op.execute(sa.text(INSERT_PERMISSIONS))
    op.execute(sa.text(GRANT_TO_ADMIN))


def downgrade() -> None:
    # Grants first (they reference the permissions), then the permissions, then the tables,
    # dependants first; a table's indexes and sequence go with it.
    op.execute(sa.text(REVOKE_ALL))
    op.execute(sa.text(DELETE_PERMISSIONS))
    op.drop_table("ms365_file_mapping")
    op.drop_table("ms365_sync_history")
    op.drop_table("ms365_sync_config")
