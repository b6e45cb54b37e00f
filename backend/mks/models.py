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
  ARRAY, JSONB and INET. Each is declared once, below ("column types"): a column names its type
  in its annotation (``Mapped[str_100 | None]``), so a type is changed in one place, and its
  ``mapped_column()`` holds only what is particular to it (a key, a foreign key, a default).
  ``Mapped[X | None]`` is a nullable column, ``Mapped[X]`` a NOT NULL one.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
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
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

MANAGED_SCHEMAS = ("public", "auth", "audit")

NAMING_CONVENTION: dict[str, str] = {
    "pk": "%(table_name)s_pkey",
    "uq": "%(table_name)s_%(column_0_N_name)s_key",
    "fk": "%(table_name)s_%(column_0_name)s_fkey",
    "ix": "%(table_name)s_%(column_0_N_name)s_idx",
    "ck": "%(table_name)s_%(constraint_name)s_check",
}

USERS_ID = "auth.users.id"


# --- column types ---------------------------------------------------------------------------

intpk = Annotated[int, mapped_column(primary_key=True)]  # integer, a serial: production's keys
user_fk = Annotated[int, mapped_column(ForeignKey(USERS_ID))]
jsonb = Annotated[Any, mapped_column(JSONB)]

# A timestamp the database sets to the transaction's now() on INSERT ...
timestamp_now = Annotated[datetime.datetime, mapped_column(server_default=func.now())]
# ... and that the ORM also sets on every UPDATE (updated_at).
timestamp_now_on_update = Annotated[
    datetime.datetime, mapped_column(server_default=func.now(), onupdate=func.now())
]

# varchar(n), one type per length the schema uses.
str_20 = Annotated[str, mapped_column(String(20))]
str_32 = Annotated[str, mapped_column(String(32))]
str_50 = Annotated[str, mapped_column(String(50))]
str_64 = Annotated[str, mapped_column(String(64))]
str_100 = Annotated[str, mapped_column(String(100))]
str_200 = Annotated[str, mapped_column(String(200))]
str_255 = Annotated[str, mapped_column(String(255))]
str_300 = Annotated[str, mapped_column(String(300))]
str_500 = Annotated[str, mapped_column(String(500))]
str_1000 = Annotated[str, mapped_column(String(1000))]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # The plain Python types, each with the one column type it has in this schema. int, bool
    # and datetime.date keep SQLAlchemy's defaults (integer, boolean, date). An unbounded str
    # is text: a varchar column has a length, so it names one of the str_<n> types above.
    type_annotation_map = {
        str: Text,
        datetime.datetime: DateTime(timezone=False),  # production's timestamps are naive
        list[str]: ARRAY(String),
        list[int]: ARRAY(Integer),
    }


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

    id: Mapped[intpk]
    username: Mapped[str_100] = mapped_column(unique=True)
    email: Mapped[str_255] = mapped_column(unique=True)
    password_hash: Mapped[str_255]
    full_name: Mapped[str_200 | None]
    department: Mapped[str_100 | None]
    position: Mapped[str_100 | None]
    is_active: Mapped[bool | None] = mapped_column(server_default=TRUE)
    last_login: Mapped[datetime.datetime | None]
    mfa_secret: Mapped[str_32 | None]
    mfa_enabled: Mapped[bool | None] = mapped_column(server_default=FALSE)
    mfa_backup_codes: Mapped[jsonb | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]

    roles: Mapped[list[Role]] = relationship(secondary="auth.user_roles", back_populates="users")


class Role(Base):
    __tablename__ = "roles"
    __table_args__ = {"schema": "auth"}

    id: Mapped[intpk]
    name: Mapped[str_100] = mapped_column(unique=True)
    description: Mapped[str | None]
    created_at: Mapped[timestamp_now | None]

    users: Mapped[list[User]] = relationship(secondary="auth.user_roles", back_populates="roles")
    permissions: Mapped[list[Permission]] = relationship(
        secondary="auth.role_permissions", back_populates="roles"
    )


class Permission(Base):
    __tablename__ = "permissions"
    __table_args__ = {"schema": "auth"}

    id: Mapped[intpk]
    name: Mapped[str_100] = mapped_column(unique=True)
    resource: Mapped[str_100]
    action: Mapped[str_50]
    description: Mapped[str | None]

    roles: Mapped[list[Role]] = relationship(secondary="auth.role_permissions", back_populates="permissions")


class UserRole(Base):
    __tablename__ = "user_roles"
    __table_args__ = {"schema": "auth"}

    user_id: Mapped[user_fk] = mapped_column(primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("auth.roles.id"), primary_key=True)
    created_at: Mapped[timestamp_now | None]


class RolePermission(Base):
    __tablename__ = "role_permissions"
    __table_args__ = {"schema": "auth"}

    role_id: Mapped[int] = mapped_column(ForeignKey("auth.roles.id"), primary_key=True)
    permission_id: Mapped[int] = mapped_column(ForeignKey("auth.permissions.id"), primary_key=True)
    created_at: Mapped[timestamp_now | None]


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

    id: Mapped[intpk]
    title: Mapped[str_500]
    summary: Mapped[str]
    content: Mapped[str | None]
    category: Mapped[str_100]
    tags: Mapped[list[str] | None]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("draft"))
    priority: Mapped[str_20 | None] = mapped_column(server_default=_string_default("medium"))
    project: Mapped[str_100 | None]
    owner: Mapped[str_200]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]
    created_by_id: Mapped[user_fk | None]
    updated_by_id: Mapped[user_fk | None]


class SOP(Base):
    __tablename__ = "sop"
    __table_args__ = (
        Index("idx_sop_category", "category"),
        Index("idx_sop_status", "status"),
        Index("idx_sop_title", "title"),
        Index("idx_sop_version", "version"),
    )

    id: Mapped[intpk]
    title: Mapped[str_500]
    category: Mapped[str_100]
    version: Mapped[str_50]
    revision_date: Mapped[datetime.date]
    target: Mapped[str_200 | None]
    tags: Mapped[list[str] | None]
    content: Mapped[str]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("active"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("sop.id"))
    attachments: Mapped[jsonb | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]
    created_by_id: Mapped[user_fk | None]
    updated_by_id: Mapped[user_fk | None]

    supersedes: Mapped[SOP | None] = relationship(remote_side="SOP.id")


class Regulation(Base):
    __tablename__ = "regulations"

    id: Mapped[intpk]
    title: Mapped[str_500]
    issuer: Mapped[str_200]
    category: Mapped[str_100]
    revision_date: Mapped[datetime.date]
    applicable_scope: Mapped[list[str] | None]
    summary: Mapped[str]
    content: Mapped[str | None]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("active"))
    effective_date: Mapped[datetime.date | None]
    url: Mapped[str_1000 | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("idx_incident_project", "project"),
        Index("idx_incident_severity", "severity"),
        Index("idx_incident_status", "status"),
        Index("idx_incident_date", "incident_date"),
    )

    id: Mapped[intpk]
    title: Mapped[str_500]
    description: Mapped[str]
    project: Mapped[str_100]
    incident_date: Mapped[datetime.date]
    severity: Mapped[str_50]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("reported"))
    corrective_actions: Mapped[jsonb | None]
    root_cause: Mapped[str | None]
    tags: Mapped[list[str] | None]
    location: Mapped[str_300 | None]
    involved_parties: Mapped[list[str] | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]
    reporter_id: Mapped[user_fk | None]


class Consultation(Base):
    __tablename__ = "consultations"

    id: Mapped[intpk]
    title: Mapped[str_500]
    question: Mapped[str]
    category: Mapped[str_100]
    priority: Mapped[str_20 | None] = mapped_column(server_default=_string_default("medium"))
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("pending"))
    requester_id: Mapped[user_fk | None]
    expert_id: Mapped[user_fk | None]
    answer: Mapped[str | None]
    answered_at: Mapped[datetime.datetime | None]
    knowledge_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge.id"))
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[intpk]
    title: Mapped[str_500]
    type: Mapped[str_100]
    description: Mapped[str | None]
    requester_id: Mapped[user_fk | None]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("pending"))
    priority: Mapped[str_20 | None] = mapped_column(server_default=_string_default("medium"))
    related_entity_type: Mapped[str_50 | None]
    related_entity_id: Mapped[int | None]
    approval_flow: Mapped[jsonb | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]
    approved_at: Mapped[datetime.datetime | None]
    approver_id: Mapped[user_fk | None]


# --- public: notifications ------------------------------------------------------------------


class Notification(Base):
    __tablename__ = "notifications"

    id: Mapped[intpk]
    title: Mapped[str_500]
    message: Mapped[str]
    type: Mapped[str_50]
    target_users: Mapped[list[int] | None]
    target_roles: Mapped[list[str] | None]
    delivery_channels: Mapped[list[str] | None]
    related_entity_type: Mapped[str_50 | None]
    related_entity_id: Mapped[int | None]
    created_at: Mapped[timestamp_now | None]
    sent_at: Mapped[datetime.datetime | None]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("pending"))


class NotificationRead(Base):
    __tablename__ = "notification_reads"

    id: Mapped[intpk]
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    user_id: Mapped[user_fk | None]
    read_at: Mapped[timestamp_now | None]


# --- public: projects and experts -----------------------------------------------------------


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (
        Index("idx_project_code", "code"),
        Index("idx_project_status", "status"),
        Index("idx_project_type", "type"),
        Index("idx_project_manager", "manager_id"),
    )

    id: Mapped[intpk]
    name: Mapped[str_200]
    code: Mapped[str_50] = mapped_column(unique=True)
    description: Mapped[str | None]
    type: Mapped[str_50]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("planning"))
    start_date: Mapped[datetime.date | None]
    end_date: Mapped[datetime.date | None]
    budget: Mapped[int | None]
    location: Mapped[str_200 | None]
    manager_id: Mapped[user_fk | None]
    progress_percentage: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]

    tasks: Mapped[list[ProjectTask]] = relationship(back_populates="project")


class ProjectTask(Base):
    __tablename__ = "project_tasks"
    __table_args__ = (
        Index("idx_task_project", "project_id"),
        Index("idx_task_status", "status"),
        Index("idx_task_assigned", "assigned_to_id"),
    )

    id: Mapped[intpk]
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    title: Mapped[str_200]
    description: Mapped[str | None]
    status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("pending"))
    priority: Mapped[str_20 | None] = mapped_column(server_default=_string_default("medium"))
    assigned_to_id: Mapped[user_fk | None]
    start_date: Mapped[datetime.date | None]
    end_date: Mapped[datetime.date | None]
    estimated_hours: Mapped[int | None]
    actual_hours: Mapped[int | None]
    progress_percentage: Mapped[int | None] = mapped_column(server_default=ZERO)
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]

    project: Mapped[Project] = relationship(back_populates="tasks")


class Expert(Base):
    __tablename__ = "experts"
    __table_args__ = (
        Index("idx_expert_user", "user_id"),
        Index("idx_expert_specialization", "specialization"),
        Index("idx_expert_rating", "rating"),
    )

    id: Mapped[intpk]
    user_id: Mapped[user_fk]
    specialization: Mapped[str_100]
    experience_years: Mapped[int | None] = mapped_column(server_default=ZERO)
    certifications: Mapped[list[str] | None]
    rating: Mapped[int | None] = mapped_column(server_default=ZERO)
    consultation_count: Mapped[int | None] = mapped_column(server_default=ZERO)
    response_time_avg: Mapped[int | None]
    is_available: Mapped[bool | None] = mapped_column(server_default=TRUE)
    bio: Mapped[str | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]

    ratings: Mapped[list[ExpertRating]] = relationship(back_populates="expert")


class ExpertRating(Base):
    __tablename__ = "expert_ratings"
    __table_args__ = (
        Index("idx_rating_expert", "expert_id"),
        Index("idx_rating_consultation", "consultation_id"),
    )

    id: Mapped[intpk]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    requester_id: Mapped[user_fk]
    consultation_id: Mapped[int] = mapped_column(ForeignKey("consultations.id"))
    rating: Mapped[int]
    comment: Mapped[str | None]
    created_at: Mapped[timestamp_now | None]

    expert: Mapped[Expert] = relationship(back_populates="ratings")


# --- public: Microsoft 365 (SharePoint) sync ------------------------------------------------


class MS365SyncConfig(Base):
    __tablename__ = "ms365_sync_config"
    __table_args__ = (
        Index("idx_ms365_sync_config_enabled", "is_enabled"),
        Index("idx_ms365_sync_config_next_sync", "next_sync_at"),
    )

    id: Mapped[intpk]
    name: Mapped[str_200]
    description: Mapped[str | None]
    site_id: Mapped[str_200]
    drive_id: Mapped[str_200]
    folder_path: Mapped[str_500 | None] = mapped_column(server_default=_string_default("/"))
    file_extensions: Mapped[list[str] | None] = mapped_column(
        server_default=text("'{pdf,docx,xlsx,txt}'::character varying[]")
    )
    sync_schedule: Mapped[str_100 | None] = mapped_column(server_default=_string_default("0 2 * * *"))
    is_enabled: Mapped[bool | None] = mapped_column(server_default=TRUE)
    last_sync_at: Mapped[datetime.datetime | None]
    next_sync_at: Mapped[datetime.datetime | None]
    sync_strategy: Mapped[str_50 | None] = mapped_column(server_default=_string_default("incremental"))
    metadata_mapping: Mapped[jsonb | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]
    created_by_id: Mapped[user_fk | None]
    updated_by_id: Mapped[user_fk | None]

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

    id: Mapped[intpk]
    config_id: Mapped[int] = mapped_column(ForeignKey("ms365_sync_config.id", ondelete="CASCADE"))
    sync_started_at: Mapped[datetime.datetime]
    sync_completed_at: Mapped[datetime.datetime | None]
    status: Mapped[str_50]
    files_processed: Mapped[int | None] = mapped_column(server_default=ZERO)
    files_created: Mapped[int | None] = mapped_column(server_default=ZERO)
    files_updated: Mapped[int | None] = mapped_column(server_default=ZERO)
    files_skipped: Mapped[int | None] = mapped_column(server_default=ZERO)
    files_failed: Mapped[int | None] = mapped_column(server_default=ZERO)
    error_message: Mapped[str | None]
    error_details: Mapped[jsonb | None]
    execution_time_seconds: Mapped[int | None]
    triggered_by: Mapped[str_50 | None] = mapped_column(server_default=_string_default("scheduler"))
    triggered_by_user_id: Mapped[user_fk | None]
    created_at: Mapped[timestamp_now | None]

    config: Mapped[MS365SyncConfig] = relationship(back_populates="sync_history")


class MS365FileMapping(Base):
    __tablename__ = "ms365_file_mapping"
    __table_args__ = (
        Index("idx_ms365_file_mapping_config", "config_id"),
        Index("idx_ms365_file_mapping_sp_file_id", "sharepoint_file_id"),
        Index("idx_ms365_file_mapping_knowledge", "knowledge_id"),
        Index("idx_ms365_file_mapping_status", "sync_status"),
    )

    id: Mapped[intpk]
    config_id: Mapped[int] = mapped_column(ForeignKey("ms365_sync_config.id", ondelete="CASCADE"))
    sharepoint_file_id: Mapped[str_200] = mapped_column(unique=True)
    sharepoint_file_name: Mapped[str_500]
    sharepoint_file_path: Mapped[str_1000 | None]
    sharepoint_modified_at: Mapped[datetime.datetime | None]
    sharepoint_size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    knowledge_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge.id", ondelete="SET NULL"))
    sync_status: Mapped[str_50 | None] = mapped_column(server_default=_string_default("pending"))
    last_synced_at: Mapped[datetime.datetime | None]
    checksum: Mapped[str_64 | None]
    file_metadata: Mapped[jsonb | None]
    error_message: Mapped[str | None]
    created_at: Mapped[timestamp_now | None]
    updated_at: Mapped[timestamp_now_on_update | None]

    config: Mapped[MS365SyncConfig] = relationship(back_populates="file_mappings")


# --- audit ----------------------------------------------------------------------------------


class AccessLog(Base):
    __tablename__ = "access_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[intpk]
    user_id: Mapped[user_fk | None]
    username: Mapped[str_100 | None]
    action: Mapped[str_100]
    resource: Mapped[str_100 | None]
    resource_id: Mapped[int | None]
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None]
    created_at: Mapped[timestamp_now | None]


class ChangeLog(Base):
    __tablename__ = "change_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[intpk]
    user_id: Mapped[user_fk | None]
    username: Mapped[str_100 | None]
    table_name: Mapped[str_100]
    record_id: Mapped[int | None]
    action: Mapped[str_50]
    old_values: Mapped[jsonb | None]
    new_values: Mapped[jsonb | None]
    created_at: Mapped[timestamp_now | None]


class DistributionLog(Base):
    __tablename__ = "distribution_logs"
    __table_args__ = {"schema": "audit"}

    id: Mapped[intpk]
    notification_id: Mapped[int | None] = mapped_column(ForeignKey("notifications.id"))
    user_id: Mapped[user_fk | None]
    delivery_channel: Mapped[str_50 | None]
    status: Mapped[str_50 | None]
    sent_at: Mapped[datetime.datetime | None]
    read_at: Mapped[datetime.datetime | None]
    created_at: Mapped[timestamp_now | None]
