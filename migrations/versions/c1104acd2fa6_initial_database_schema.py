"""initial database schema

Production's schema as ``Base.metadata.create_all`` built it before Alembic: 20 tables in the
schemas public, auth and audit, with PostgreSQL's default constraint names, production's
``idx_*`` indexes and no server defaults (the application set defaults in Python then; revision
8b1e5d2c9a37 moves them into the database). The Microsoft 365 sync tables,
``auth.users.mfa_backup_codes`` and ``project_tasks.end_date`` came later.

Production databases are stamped at this revision rather than upgraded to it.

Revision ID: c1104acd2fa6
Revises:
Create Date: 2025-06-02 09:00:00.000000

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "c1104acd2fa6"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA auth")
    op.execute("CREATE SCHEMA audit")

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("position", sa.String(length=100), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=True),
        sa.Column("last_login", sa.DateTime(), nullable=True),
        sa.Column("mfa_secret", sa.String(length=32), nullable=True),
        sa.Column("mfa_enabled", sa.Boolean(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("users_pkey")),
        sa.UniqueConstraint("email", name=op.f("users_email_key")),
        sa.UniqueConstraint("username", name=op.f("users_username_key")),
        schema="auth",
    )
    op.create_table(
        "roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("roles_pkey")),
        sa.UniqueConstraint("name", name=op.f("roles_name_key")),
        schema="auth",
    )
    op.create_table(
        "permissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("permissions_pkey")),
        sa.UniqueConstraint("name", name=op.f("permissions_name_key")),
        schema="auth",
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["role_id"], ["auth.roles.id"], name=op.f("user_roles_role_id_fkey")),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("user_roles_user_id_fkey")),
        sa.PrimaryKeyConstraint("user_id", "role_id", name=op.f("user_roles_pkey")),
        schema="auth",
    )
    op.create_table(
        "role_permissions",
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("permission_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["permission_id"],
            ["auth.permissions.id"],
            name=op.f("role_permissions_permission_id_fkey"),
        ),
        sa.ForeignKeyConstraint(["role_id"], ["auth.roles.id"], name=op.f("role_permissions_role_id_fkey")),
        sa.PrimaryKeyConstraint("role_id", "permission_id", name=op.f("role_permissions_pkey")),
        schema="auth",
    )
    op.create_table(
        "knowledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("project", sa.String(length=100), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["auth.users.id"], name=op.f("knowledge_created_by_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["auth.users.id"], name=op.f("knowledge_updated_by_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("knowledge_pkey")),
    )
    op.create_index("idx_knowledge_category", "knowledge", ["category"])
    op.create_index("idx_knowledge_owner", "knowledge", ["owner"])
    op.create_index("idx_knowledge_project", "knowledge", ["project"])
    op.create_index("idx_knowledge_status", "knowledge", ["status"])
    op.create_index("idx_knowledge_title", "knowledge", ["title"])
    op.create_index("idx_knowledge_updated", "knowledge", ["updated_at"])
    op.create_table(
        "sop",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("revision_date", sa.Date(), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("attachments", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["auth.users.id"], name=op.f("sop_created_by_id_fkey")),
        sa.ForeignKeyConstraint(["supersedes_id"], ["sop.id"], name=op.f("sop_supersedes_id_fkey")),
        sa.ForeignKeyConstraint(["updated_by_id"], ["auth.users.id"], name=op.f("sop_updated_by_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("sop_pkey")),
    )
    op.create_index("idx_sop_category", "sop", ["category"])
    op.create_index("idx_sop_status", "sop", ["status"])
    op.create_index("idx_sop_title", "sop", ["title"])
    op.create_index("idx_sop_version", "sop", ["version"])
    op.create_table(
        "regulations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("issuer", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("revision_date", sa.Date(), nullable=False),
        sa.Column("applicable_scope", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("url", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("regulations_pkey")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("project", sa.String(length=100), nullable=False),
        sa.Column("incident_date", sa.Date(), nullable=False),
        sa.Column("severity", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("corrective_actions", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("root_cause", sa.Text(), nullable=True),
        sa.Column("tags", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("location", sa.String(length=300), nullable=True),
        sa.Column("involved_parties", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("reporter_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["reporter_id"], ["auth.users.id"], name=op.f("incidents_reporter_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("incidents_pkey")),
    )
    op.create_index("idx_incident_date", "incidents", ["incident_date"])
    op.create_index("idx_incident_project", "incidents", ["project"])
    op.create_index("idx_incident_severity", "incidents", ["severity"])
    op.create_index("idx_incident_status", "incidents", ["status"])
    op.create_table(
        "consultations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("expert_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("knowledge_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["expert_id"], ["auth.users.id"], name=op.f("consultations_expert_id_fkey")),
        sa.ForeignKeyConstraint(
            ["knowledge_id"], ["knowledge.id"], name=op.f("consultations_knowledge_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["auth.users.id"], name=op.f("consultations_requester_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("consultations_pkey")),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("requester_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("related_entity_type", sa.String(length=50), nullable=True),
        sa.Column("related_entity_id", sa.Integer(), nullable=True),
        sa.Column("approval_flow", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("approver_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["approver_id"], ["auth.users.id"], name=op.f("approvals_approver_id_fkey")),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["auth.users.id"], name=op.f("approvals_requester_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("approvals_pkey")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("target_users", postgresql.ARRAY(sa.Integer()), nullable=True),
        sa.Column("target_roles", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("delivery_channels", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("related_entity_type", sa.String(length=50), nullable=True),
        sa.Column("related_entity_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("notifications_pkey")),
    )
    op.create_table(
        "notification_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("notification_reads_notification_id_fkey"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("notification_reads_user_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("notification_reads_pkey")),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("type", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("budget", sa.Integer(), nullable=True),
        sa.Column("location", sa.String(length=200), nullable=True),
        sa.Column("manager_id", sa.Integer(), nullable=True),
        sa.Column("progress_percentage", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["manager_id"], ["auth.users.id"], name=op.f("projects_manager_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("projects_pkey")),
        sa.UniqueConstraint("code", name=op.f("projects_code_key")),
    )
    op.create_index("idx_project_code", "projects", ["code"])
    op.create_index("idx_project_manager", "projects", ["manager_id"])
    op.create_index("idx_project_status", "projects", ["status"])
    op.create_index("idx_project_type", "projects", ["type"])
    op.create_table(
        "project_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("priority", sa.String(length=20), nullable=True),
        sa.Column("assigned_to_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("estimated_hours", sa.Integer(), nullable=True),
        sa.Column("actual_hours", sa.Integer(), nullable=True),
        sa.Column("progress_percentage", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"], ["auth.users.id"], name=op.f("project_tasks_assigned_to_id_fkey")
        ),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name=op.f("project_tasks_project_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("project_tasks_pkey")),
    )
    op.create_index("idx_task_assigned", "project_tasks", ["assigned_to_id"])
    op.create_index("idx_task_project", "project_tasks", ["project_id"])
    op.create_index("idx_task_status", "project_tasks", ["status"])
    op.create_table(
        "experts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("specialization", sa.String(length=100), nullable=False),
        sa.Column("experience_years", sa.Integer(), nullable=True),
        sa.Column("certifications", postgresql.ARRAY(sa.String()), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("consultation_count", sa.Integer(), nullable=True),
        sa.Column("response_time_avg", sa.Integer(), nullable=True),
        sa.Column("is_available", sa.Boolean(), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("experts_user_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("experts_pkey")),
    )
    op.create_index("idx_expert_rating", "experts", ["rating"])
    op.create_index("idx_expert_specialization", "experts", ["specialization"])
    op.create_index("idx_expert_user", "experts", ["user_id"])
    op.create_table(
        "expert_ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("expert_id", sa.Integer(), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("consultation_id", sa.Integer(), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("expert_ratings_consultation_id_fkey"),
        ),
        sa.ForeignKeyConstraint(["expert_id"], ["experts.id"], name=op.f("expert_ratings_expert_id_fkey")),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["auth.users.id"], name=op.f("expert_ratings_requester_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("expert_ratings_pkey")),
    )
    op.create_index("idx_rating_consultation", "expert_ratings", ["consultation_id"])
    op.create_index("idx_rating_expert", "expert_ratings", ["expert_id"])
    op.create_table(
        "access_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("access_logs_user_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("access_logs_pkey")),
        schema="audit",
    )
    op.create_table(
        "change_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("table_name", sa.String(length=100), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=50), nullable=False),
        sa.Column("old_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("new_values", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("change_logs_user_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("change_logs_pkey")),
        schema="audit",
    )
    op.create_table(
        "distribution_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("delivery_channel", sa.String(length=50), nullable=True),
        sa.Column("status", sa.String(length=50), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("read_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["notifications.id"],
            name=op.f("distribution_logs_notification_id_fkey"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["auth.users.id"], name=op.f("distribution_logs_user_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("distribution_logs_pkey")),
        schema="audit",
    )


def downgrade() -> None:
    # Dependants before what they reference; a table's indexes and sequences go with it.
    op.drop_table("distribution_logs", schema="audit")
    op.drop_table("change_logs", schema="audit")
    op.drop_table("access_logs", schema="audit")
    op.drop_table("expert_ratings")
    op.drop_table("experts")
    op.drop_table("project_tasks")
    op.drop_table("projects")
    op.drop_table("notification_reads")
    op.drop_table("notifications")
    op.drop_table("approvals")
    op.drop_table("consultations")
    op.drop_table("incidents")
    op.drop_table("regulations")
    op.drop_table("sop")
    op.drop_table("knowledge")
    op.drop_table("role_permissions", schema="auth")
    op.drop_table("user_roles", schema="auth")
    op.drop_table("permissions", schema="auth")
    op.drop_table("roles", schema="auth")
    op.drop_table("users", schema="auth")
    op.execute("DROP SCHEMA audit")
    op.execute("DROP SCHEMA auth")
