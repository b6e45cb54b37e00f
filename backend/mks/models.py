"""The Mirai Knowledge Systems schema: 23 tables in the schemas public, auth and audit.

These models describe the database at the migration head exactly; ``alembic check`` finds no
difference between them and a database upgraded to head. Some rules keep it that way:

* Production's tables were first built by ``create_all`` with unnamed constraints, so the naming
  convention reproduces PostgreSQL's own default names (``users_pkey``, ``users_email_key``,
  ``knowledge_created_by_id_fkey``). Indexes carry production's explicit ``idx_*`` names.
* Every default lives in the database (``server_default``), spelled the way PostgreSQL reports it
  back (``'draft'::character varying``, ``true``, ``0``, ``now()``), so a comparison of models
  and catalogue is exact without asking the server to evaluate either side.
* Tables of the public schema have no explicit schema (it is the default schema; naming it
  would make autogenerate see every public table as new).
* Column types are production's: Integer keys, ``String(n)``, naive ``DateTime``, PostgreSQL's
  ARRAY, JSONB and INET.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TextClause,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, mapped_column, relationship

MANAGED_SCHEMAS = ("public", "auth", "audit")

NAMING_CONVENTION: dict[str, str] = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}

USERS_ID = "auth.users.id"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _now_column(**kwargs: Any) -> MappedColumn[Any]:
    """A naive timestamp defaulting to the transaction's ``now()``."""
    return mapped_column(DateTime, server_default=func.now(), **kwargs)


def _created_at() -> MappedColumn[Any]:
    return _now_column()


def _updated_at() -> MappedColumn[Any]:
    """Set by the database on INSERT and by the ORM on every UPDATE."""
    return _now_column(onupdate=func.now())


def _string_default(value: str) -> TextClause:
    """The server default of a varchar column, as PostgreSQL reports it back."""
    quoted = value.replace("'", "''")
    return text(f"'{quoted}'::character varying")


ZERO = text("0")
TRUE = text("true")
FALSE = text("false")


# --- auth -----------------------------------------------------------------------------------


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"schema": "auth"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[str | None] = mapped_column(String(100))
    is_active: Mapped[bool | None] = mapped_column(Boolean, server_default=TRUE)
    last_login: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    mfa_secret: Mapped[str | None] = mapped_column(String(32))
    mfa_enabled: Mapped[bool | None] = mapped_column(Boolean, server_default=FALSE)
    mfa_backup_codes: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()

    roles: Mapped[list[Role]] = relationship(secondary="auth.user_roles", back_populates="users")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = {"schema": "auth"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime | None] = _created_at()

    users: Mapped[list[User]] = relationship(secondary="auth.user_roles", back_populates="roles")
    permissions: Mapped[list[Permission]] = relationship(
        secondary="auth.role_permissions", back_populates="roles"
    )


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = {"schema": "auth"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    resource: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    description: Mapped[str | None] = mapped_column(Text)

    roles: Mapped[list[Role]] = relationship(secondary="auth.role_permissions", back_populates="permissions")


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = {"schema": "auth"}

    user_id: Mapped[int] = mapped_column(Integer, ForeignKey(USERS_ID), primary_key=True)
    role_id: Mapped[int] = mapped_column(Integer, ForeignKey("auth.roles.id"), primary_key=True)
    created_at: Mapped[datetime.datetime | None] = _created_at()


class RolePermission(Base):
    __tablename__ = "role_permissions"
    __table_args__ = {"schema": "auth"}

    role_id: Mapped[int] = mapped_column(Integer, ForeignKey("auth.roles.id"), primary_key=True)
    permission_id: Mapped[int] = mapped_column(Integer, ForeignKey("auth.permissions.id"), primary_key=True)
    created_at: Mapped[datetime.datetime | None] = _created_at()


# --- public: knowledge and rules ------------------------------------------------------------


class Knowledge(Base):
    __tablename__ = "knowledge"
    __table_args__ = (
        Index("idx_knowledge_category", "category"),
        Index("idx_knowledge_status", "status"),
        Index("idx_knowledge_updated", "updated_at"),
        Index("idx_knowledge_title", "title"),
        Index("idx_knowledge_owner", "owner"),
        Index("idx_knowledge_project", "project"),
        Index("idx_knowledge_created_by", "created_by_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100))
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("draft"))
    priority: Mapped[str | None] = mapped_column(String(20), server_default=_string_default("medium"))
    project: Mapped[str | None] = mapped_column(String(100))
    owner: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    updated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))


class SOP(Base):
    __tablename__ = "sop"
    __table_args__ = (
        Index("idx_sop_category", "category"),
        Index("idx_sop_status", "status"),
        Index("idx_sop_title", "title"),
        Index("idx_sop_version", "version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    category: Mapped[str] = mapped_column(String(100))
    version: Mapped[str] = mapped_column(String(50))
    revision_date: Mapped[datetime.date] = mapped_column(Date)
    target: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("active"))
    supersedes_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("sop.id"))
    attachments: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    updated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))

    supersedes: Mapped[SOP | None] = relationship(remote_side=[id])


class Regulation(Base):
    __tablename__ = "regulations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(100))
    revision_date: Mapped[datetime.date] = mapped_column(Date)
    applicable_scope: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    summary: Mapped[str] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("active"))
    effective_date: Mapped[datetime.date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("idx_incident_project", "project"),
        Index("idx_incident_severity", "severity"),
        Index("idx_incident_status", "status"),
        Index("idx_incident_date", "incident_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text)
    project: Mapped[str] = mapped_column(String(100))
    incident_date: Mapped[datetime.date] = mapped_column(Date)
    severity: Mapped[str] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("reported"))
    corrective_actions: Mapped[Any | None] = mapped_column(JSONB)
    root_cause: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    location: Mapped[str | None] = mapped_column(String(300))
    involved_parties: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()
    reporter_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    question: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(100))
    priority: Mapped[str | None] = mapped_column(String(20), server_default=_string_default("medium"))
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("pending"))
    requester_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    expert_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    knowledge_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("knowledge.id"))
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    type: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    requester_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("pending"))
    priority: Mapped[str | None] = mapped_column(String(20), server_default=_string_default("medium"))
    related_entity_type: Mapped[str | None] = mapped_column(String(50))
    related_entity_id: Mapped[int | None] = mapped_column(Integer)
    approval_flow: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()
    approved_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    approver_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))


# --- public: notifications ------------------------------------------------------------------


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(50))
    target_users: Mapped[list[int] | None] = mapped_column(ARRAY(Integer))
    target_roles: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    delivery_channels: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    related_entity_type: Mapped[str | None] = mapped_column(String(50))
    related_entity_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("pending"))


class NotificationRead(Base):
    __tablename__ = "notification_reads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("notifications.id"))
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    read_at: Mapped[datetime.datetime | None] = _now_column()


# --- public: projects and experts -----------------------------------------------------------


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("idx_project_code", "code"),
        Index("idx_project_status", "status"),
        Index("idx_project_type", "type"),
        Index("idx_project_manager", "manager_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    type: Mapped[str] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("planning"))
    start_date: Mapped[datetime.date | None] = mapped_column(Date)
    end_date: Mapped[datetime.date | None] = mapped_column(Date)
    budget: Mapped[int | None] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    progress_percentage: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()

    tasks: Mapped[list[ProjectTask]] = relationship(back_populates="project")


class ProjectTask(Base):
    __tablename__ = "project_tasks"
    __table_args__ = (
        Index("idx_task_project", "project_id"),
        Index("idx_task_status", "status"),
        Index("idx_task_assigned", "assigned_to_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(Integer, ForeignKey("projects.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("pending"))
    priority: Mapped[str | None] = mapped_column(String(20), server_default=_string_default("medium"))
    assigned_to_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    start_date: Mapped[datetime.date | None] = mapped_column(Date)
    end_date: Mapped[datetime.date | None] = mapped_column(Date)
    estimated_hours: Mapped[int | None] = mapped_column(Integer)
    actual_hours: Mapped[int | None] = mapped_column(Integer)
    progress_percentage: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()

    project: Mapped[Project] = relationship(back_populates="tasks")


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (
        Index("idx_expert_user", "user_id"),
        Index("idx_expert_specialization", "specialization"),
        Index("idx_expert_rating", "rating"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey(USERS_ID))
    specialization: Mapped[str] = mapped_column(String(100))
    experience_years: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    certifications: Mapped[list[str] | None] = mapped_column(ARRAY(String))
    rating: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    consultation_count: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    response_time_avg: Mapped[int | None] = mapped_column(Integer)
    is_available: Mapped[bool | None] = mapped_column(Boolean, server_default=TRUE)
    bio: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()

    ratings: Mapped[list[ExpertRating]] = relationship(back_populates="expert")


class ExpertRating(Base):
    __tablename__ = "expert_ratings"
    __table_args__ = (
        Index("idx_rating_expert", "expert_id"),
        Index("idx_rating_consultation", "consultation_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    expert_id: Mapped[int] = mapped_column(Integer, ForeignKey("experts.id"))
    requester_id: Mapped[int] = mapped_column(Integer, ForeignKey(USERS_ID))
    consultation_id: Mapped[int] = mapped_column(Integer, ForeignKey("consultations.id"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime | None] = _created_at()

    expert: Mapped[Expert] = relationship(back_populates="ratings")


# --- public: Microsoft 365 (SharePoint) sync ------------------------------------------------


class MS365SyncConfig(Base):
    __tablename__ = "ms365_sync_config"
    __table_args__ = (
        Index("idx_ms365_sync_config_enabled", "is_enabled"),
        Index("idx_ms365_sync_config_next_sync", "next_sync_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    site_id: Mapped[str] = mapped_column(String(200))
    drive_id: Mapped[str] = mapped_column(String(200))
    folder_path: Mapped[str | None] = mapped_column(String(500), server_default=_string_default("/"))
    file_extensions: Mapped[list[str] | None] = mapped_column(
        ARRAY(String), server_default=text("'{pdf,docx,xlsx,txt}'::character varying[]")
    )
    sync_schedule: Mapped[str | None] = mapped_column(
        String(100), server_default=_string_default("0 2 * * *")
    )
    is_enabled: Mapped[bool | None] = mapped_column(Boolean, server_default=TRUE)
    last_sync_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    next_sync_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    sync_strategy: Mapped[str | None] = mapped_column(
        String(50), server_default=_string_default("incremental")
    )
    metadata_mapping: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()
    created_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    updated_by_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))

    # The database deletes a configuration's history and mappings (ON DELETE CASCADE).
    sync_history: Mapped[list[MS365SyncHistory]] = relationship(back_populates="config", passive_deletes=True)
    file_mappings: Mapped[list[MS365FileMapping]] = relationship(
        back_populates="config", passive_deletes=True
    )


class MS365SyncHistory(Base):
    __tablename__ = "ms365_sync_history"
    __table_args__ = (
        Index("idx_ms365_sync_history_config", "config_id"),
        Index("idx_ms365_sync_history_status", "status"),
        Index("idx_ms365_sync_history_started", "sync_started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_id: Mapped[int] = mapped_column(Integer, ForeignKey("ms365_sync_config.id", ondelete="CASCADE"))
    sync_started_at: Mapped[datetime.datetime] = mapped_column(DateTime)
    sync_completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(50))
    files_processed: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    files_created: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    files_updated: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    files_skipped: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    files_failed: Mapped[int | None] = mapped_column(Integer, server_default=ZERO)
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[Any | None] = mapped_column(JSONB)
    execution_time_seconds: Mapped[int | None] = mapped_column(Integer)
    triggered_by: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("scheduler"))
    triggered_by_user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    created_at: Mapped[datetime.datetime | None] = _created_at()

    config: Mapped[MS365SyncConfig] = relationship(back_populates="sync_history")


class MS365FileMapping(Base):
    __tablename__ = "ms365_file_mapping"
    __table_args__ = (
        Index("idx_ms365_file_mapping_config", "config_id"),
        Index("idx_ms365_file_mapping_sp_file_id", "sharepoint_file_id"),
        Index("idx_ms365_file_mapping_knowledge", "knowledge_id"),
        Index("idx_ms365_file_mapping_status", "sync_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    config_id: Mapped[int] = mapped_column(Integer, ForeignKey("ms365_sync_config.id", ondelete="CASCADE"))
    sharepoint_file_id: Mapped[str] = mapped_column(String(200), unique=True)
    sharepoint_file_name: Mapped[str] = mapped_column(String(500))
    sharepoint_file_path: Mapped[str | None] = mapped_column(String(1000))
    sharepoint_modified_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    sharepoint_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    knowledge_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("knowledge.id", ondelete="SET NULL"))
    sync_status: Mapped[str | None] = mapped_column(String(50), server_default=_string_default("pending"))
    last_synced_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    checksum: Mapped[str | None] = mapped_column(String(64))
    file_metadata: Mapped[Any | None] = mapped_column(JSONB)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime | None] = _created_at()
    updated_at: Mapped[datetime.datetime | None] = _updated_at()

    config: Mapped[MS365SyncConfig] = relationship(back_populates="file_mappings")


# --- audit ----------------------------------------------------------------------------------


class AccessLog(Base):
    __tablename__ = "access_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    username: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(100))
    resource: Mapped[str | None] = mapped_column(String(100))
    resource_id: Mapped[int | None] = mapped_column(Integer)
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime.datetime | None] = _created_at()


class ChangeLog(Base):
    __tablename__ = "change_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    username: Mapped[str | None] = mapped_column(String(100))
    table_name: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(50))
    old_values: Mapped[Any | None] = mapped_column(JSONB)
    new_values: Mapped[Any | None] = mapped_column(JSONB)
    created_at: Mapped[datetime.datetime | None] = _created_at()


class DistributionLog(Base):
    __tablename__ = "distribution_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notification_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("notifications.id"))
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey(USERS_ID))
    delivery_channel: Mapped[str | None] = mapped_column(String(50))
    status: Mapped[str | None] = mapped_column(String(50))
    sent_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    read_at: Mapped[datetime.datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime.datetime | None] = _created_at()
