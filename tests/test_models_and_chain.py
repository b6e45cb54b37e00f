"""The models and the revision chain, proved on a real PostgreSQL.

One server per session (the embedded PostgreSQL 16, or DATABASE_URL's), one scratch database
per test. Schemas are compared through a normalised catalogue dump (see :func:`catalogue`).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from mks.models import MANAGED_SCHEMAS, Base
from mks_db.server import Server, open_server, scratch_database
from production_schema import production_metadata
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.orm import configure_mappers
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
INITIAL = "c1104acd2fa6"
MFA = "d4e5f6a7b8c9"
MS365 = "e1f2a3b4c5d6"
END_DATE = "f3a9c2d17b40"
DEFAULTS = "8b1e5d2c9a37"
SEED = "2c7d4e9f1a58"
HEAD = "9d3f6b8e2c14"
MS365_PERMISSIONS = {
    "ms365_sync.read",
    "ms365_sync.create",
    "ms365_sync.update",
    "ms365_sync.delete",
    "ms365_sync.execute",
}
TABLES_AT_HEAD = {
    "public": {
        "alembic_version",
        "knowledge",
        "sop",
        "regulations",
        "incidents",
        "consultations",
        "approvals",
        "notifications",
        "notification_reads",
        "projects",
        "project_tasks",
        "experts",
        "expert_ratings",
        "ms365_sync_config",
        "ms365_sync_history",
        "ms365_file_mapping",
    },
    "auth": {"users", "roles", "permissions", "user_roles", "role_permissions"},
    "audit": {"access_logs", "change_logs", "distribution_logs"},
}


# --- fixtures -------------------------------------------------------------------------------


# moves to conftest
@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    with open_server(os.environ.get("DATABASE_URL")) as server:
        yield server


@pytest.fixture
def db_url(pg_server: Server) -> Iterator[URL]:
    with scratch_database(pg_server, label="chain") as url:
        yield url


# --- helpers --------------------------------------------------------------------------------


def alembic_config(url: URL | None = None, output: io.StringIO | None = None) -> Config:
    """The project's alembic.ini, pointed at ``url`` (offline when None)."""
    config = Config(str(ROOT / "alembic.ini"), output_buffer=output)
    if url is not None:
        rendered = url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def connect(url: URL) -> Connection:
    return create_engine(url, poolclass=NullPool).connect()


def run(url: URL, sql: str, **params: Any) -> list[tuple]:
    """Run one statement in its own transaction; the rows, if it returns any."""
    with connect(url) as conn, conn.begin():
        result = conn.execute(text(sql), params)
        return [tuple(row) for row in result] if result.returns_rows else []


def current_revision(url: URL) -> str | None:
    with connect(url) as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    # env.py's filter, plus the exclusion of alembic_version: env.py names version_table_schema
    # "public" while autogenerate reflects the default schema as None, so alembic does not
    # recognise its own table and reports it as removed (see the report on env.py).
    if type_ == "schema":
        return name is None or name in MANAGED_SCHEMAS
    if type_ == "table":
        return not (name == "alembic_version" and parent_names.get("schema_name") is None)
    return True


def model_differences(url: URL) -> list[Any]:
    """What autogenerate would change to make the database match the models (env.py's options)."""
    with connect(url) as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "target_metadata": Base.metadata,
                "include_schemas": True,
                "include_name": _include_name,
                "version_table_schema": "public",
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        return compare_metadata(context, Base.metadata)


def catalogue(url: URL) -> Snapshot:
    """The normalised catalogue of the pipeline (``mks_db.catalog``), without alembic_version."""
    with connect(url) as conn:
        return snapshot(conn)


def assert_same_catalogue(actual: Snapshot, expected: Snapshot, what: str) -> None:
    """Fail with one line per object that differs."""
    differences = diff(expected, actual)
    assert not differences, what + ":\n" + "\n".join(differences)


def column_order(url: URL) -> dict[str, list[str]]:
    """Each table's columns in their physical order (the catalogue ignores order)."""
    order: dict[str, list[str]] = {}
    rows = run(
        url,
        "SELECT table_schema || '.' || table_name, column_name FROM information_schema.columns "
        "WHERE table_schema IN ('public', 'auth', 'audit') "
        "ORDER BY table_schema, table_name, ordinal_position",
    )
    for table, column in rows:
        order.setdefault(table, []).append(column)
    return order


def tables_by_schema(url: URL) -> dict[str, set[str]]:
    rows = run(
        url,
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE table_schema IN ('public', 'auth', 'audit') AND table_type = 'BASE TABLE'",
    )
    found: dict[str, set[str]] = {}
    for schema, table in rows:
        found.setdefault(schema, set()).add(table)
    return found


def grants(url: URL) -> set[tuple[str, str]]:
    return set(
        run(
            url,
            "SELECT r.name, p.name FROM auth.role_permissions AS rp "
            "JOIN auth.roles AS r ON r.id = rp.role_id "
            "JOIN auth.permissions AS p ON p.id = rp.permission_id",
        )
    )


def names(url: URL, table: str) -> list[str]:
    return sorted(name for (name,) in run(url, f"SELECT name FROM {table}"))


# --- the models -----------------------------------------------------------------------------


def test_models_map_23_tables_in_the_three_schemas() -> None:
    configure_mappers()
    found: dict[str, set[str]] = {}
    for table in Base.metadata.tables.values():
        found.setdefault(table.schema or "public", set()).add(table.name)
    expected = {schema: set(tables) for schema, tables in TABLES_AT_HEAD.items()}
    expected["public"].discard("alembic_version")
    assert found == expected
    assert sum(len(tables) for tables in found.values()) == 23


def test_upgrade_head_from_empty_builds_all_23_tables_and_matches_the_models(db_url: URL) -> None:
    command.upgrade(alembic_config(db_url), "head")

    assert current_revision(db_url) == HEAD
    assert tables_by_schema(db_url) == TABLES_AT_HEAD
    assert model_differences(db_url) == []


def test_database_built_like_production_matches_the_initial_revision_and_upgrades_to_head(
    pg_server: Server,
) -> None:
    with (
        scratch_database(pg_server, label="production") as production,
        scratch_database(pg_server, label="migrated") as migrated,
    ):
        # Production: schemas made by hand, tables by create_all, then stamped.
        with connect(production) as conn, conn.begin():
            conn.execute(text("CREATE SCHEMA auth"))
            conn.execute(text("CREATE SCHEMA audit"))
            production_metadata().create_all(conn)
        command.stamp(alembic_config(production), INITIAL)
        command.upgrade(alembic_config(migrated), INITIAL)

        assert_same_catalogue(
            catalogue(production), catalogue(migrated), "production vs c1104acd2fa6"
        )

        command.upgrade(alembic_config(production), "head")
        command.upgrade(alembic_config(migrated), "head")
        assert current_revision(production) == HEAD
        assert model_differences(production) == []
        assert_same_catalogue(catalogue(production), catalogue(migrated), "both at head")


def test_downgrade_base_leaves_only_an_empty_alembic_version(db_url: URL) -> None:
    empty = catalogue(db_url)
    config = alembic_config(db_url)
    command.upgrade(config, "head")

    command.downgrade(config, "base")

    after = catalogue(db_url)
    # Alembic keeps its version table (empty) in public; nothing else of the project remains.
    assert after["schemas"] == empty["schemas"] == [("public",)]
    assert after["relations"] == [("public", "alembic_version", "r")]
    assert after["columns"] == [
        ("public.alembic_version", 1, "version_num", "character varying(32)", True, None, "", "")
    ]
    assert after["constraints"] == [
        (
            "public",
            "alembic_version_pkc",
            "p",
            "public.alembic_version",
            "-",
            "PRIMARY KEY (version_num)",
        )
    ]
    for key in ("sequences", "types", "functions", "triggers"):
        assert after[key] == empty[key] == [], key
    assert run(db_url, "SELECT count(*) FROM public.alembic_version") == [(0,)]


def test_each_downgrade_restores_the_catalogue_its_upgrade_started_from(db_url: URL) -> None:
    config = alembic_config(db_url)
    chain = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert [script.revision for script in chain] == [
        INITIAL,
        MFA,
        MS365,
        END_DATE,
        DEFAULTS,
        SEED,
        HEAD,
    ]

    for script in chain:
        before = catalogue(db_url)
        command.upgrade(config, script.revision)
        command.downgrade(config, "-1")
        assert current_revision(db_url) == script.down_revision
        assert_same_catalogue(catalogue(db_url), before, f"downgrade of {script.revision}")
        command.upgrade(config, script.revision)

    assert model_differences(db_url) == []


def test_ms365_downgrade_revokes_the_admin_grants_before_deleting_the_permissions(
    db_url: URL,
) -> None:
    config = alembic_config(db_url)
    command.upgrade(config, MFA)
    run(db_url, "INSERT INTO auth.roles (name, created_at) VALUES ('admin', now())")

    command.upgrade(config, MS365)
    assert grants(db_url) == {("admin", name) for name in MS365_PERMISSIONS}

    command.downgrade(config, MFA)
    assert grants(db_url) == set()
    assert names(db_url, "auth.permissions") == []
    assert names(db_url, "auth.roles") == ["admin"]
    assert "ms365_sync_config" not in tables_by_schema(db_url)["public"]


def test_seed_is_idempotent_when_roles_permissions_and_grants_already_exist(db_url: URL) -> None:
    config = alembic_config(db_url)
    command.upgrade(config, DEFAULTS)
    run(db_url, "INSERT INTO auth.roles (name, description) VALUES ('admin', 'by hand')")
    run(db_url, "INSERT INTO auth.roles (name) VALUES ('editor')")
    run(
        db_url,
        "INSERT INTO auth.permissions (name, resource, action) "
        "VALUES ('knowledge.read', 'knowledge', 'read')",
    )
    run(
        db_url,
        "INSERT INTO auth.role_permissions (role_id, permission_id) "
        "SELECT r.id, p.id FROM auth.roles r, auth.permissions p "
        "WHERE r.name = 'editor' AND p.name = 'knowledge.read'",
    )

    command.upgrade(config, SEED)
    seeded = grants(db_url)
    # Run the seed a second time over its own result.
    command.stamp(config, DEFAULTS)
    command.upgrade(config, SEED)

    assert names(db_url, "auth.roles") == ["admin", "editor", "viewer"]
    assert run(db_url, "SELECT description FROM auth.roles WHERE name = 'admin'") == [("by hand",)]
    assert run(db_url, "SELECT count(*), count(DISTINCT name) FROM auth.permissions") == [(45, 45)]
    assert grants(db_url) == seeded
    by_role: dict[str, set[str]] = {}
    for role, permission in seeded:
        by_role.setdefault(role, set()).add(permission)
    assert len(by_role["admin"]) == 45
    assert by_role["admin"] >= MS365_PERMISSIONS
    assert {"knowledge.read", "knowledge.create", "knowledge.update"} <= by_role["editor"]
    assert not any(p.endswith(".delete") or p.startswith("users.") for p in by_role["editor"])
    assert by_role["viewer"] == {p for p in by_role["editor"] if p.endswith(".read")}


def test_seed_downgrade_keeps_a_role_a_user_holds_and_a_permission_still_granted(
    db_url: URL,
) -> None:
    config = alembic_config(db_url)
    command.upgrade(config, SEED)
    run(
        db_url,
        "INSERT INTO auth.users (username, email, password_hash) "
        "VALUES ('sato', 'sato@example.jp', 'x')",
    )
    run(
        db_url,
        "INSERT INTO auth.user_roles (user_id, role_id) "
        "SELECT u.id, r.id FROM auth.users u, auth.roles r "
        "WHERE u.username = 'sato' AND r.name = 'editor'",
    )
    run(db_url, "INSERT INTO auth.roles (name) VALUES ('auditor')")
    run(
        db_url,
        "INSERT INTO auth.role_permissions (role_id, permission_id) "
        "SELECT r.id, p.id FROM auth.roles r, auth.permissions p "
        "WHERE r.name = 'auditor' AND p.name = 'users.read'",
    )

    command.downgrade(config, DEFAULTS)

    assert names(db_url, "auth.roles") == ["auditor", "editor"]
    assert run(
        db_url,
        "SELECT u.username, r.name FROM auth.user_roles ur "
        "JOIN auth.users u ON u.id = ur.user_id JOIN auth.roles r ON r.id = ur.role_id",
    ) == [("sato", "editor")]
    assert grants(db_url) == {("auditor", "users.read")}
    # The ms365_sync permissions belong to e1f2a3b4c5d6 and stay.
    assert names(db_url, "auth.permissions") == sorted({"users.read", *MS365_PERMISSIONS})


def test_offline_sql_renders_the_whole_chain_both_ways() -> None:
    upgrade_sql = io.StringIO()
    command.upgrade(alembic_config(output=upgrade_sql), "base:head", sql=True)
    downgrade_sql = io.StringIO()
    command.downgrade(alembic_config(output=downgrade_sql), "head:base", sql=True)

    up = upgrade_sql.getvalue()
    assert "CREATE SCHEMA auth" in up
    assert "ON CONFLICT (name) DO NOTHING" in up
    assert "CREATE INDEX CONCURRENTLY idx_knowledge_created_by" in up
    assert "COMMIT" in up
    down = downgrade_sql.getvalue()
    assert "DROP INDEX CONCURRENTLY idx_knowledge_created_by" in down
    assert "DROP SCHEMA auth" in down
