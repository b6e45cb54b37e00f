"""``mks_db.deploy_history``: one row per deploy that survives the deploy's own death.

A deploy's row is committed before production is changed (outcome ``running``), moved on in
the same transaction as each revision it applies (``advance``, an Alembic ``on_version_apply``
callback: the row's ``revision_to`` is the revision that committed last, never one that did
not), and closed at the end (``ok``, ``failed`` or ``interrupted``, with the message). A
deploy killed outright (``kill -9``, a lost runner) leaves its row ``running``; since every
deploy holds the advisory lock ``LOCK_KEY`` for as long as it runs, a ``running`` row whose
lock nobody holds is one that ended without finishing (``unfinished``), and the next deploy
marks it ``interrupted`` (``close_unfinished``) before it does anything else.

The table lives in its own schema, never the application's. Rows written by earlier versions
of mks-db (outcomes ``success``/``failure``) stay as they are.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import text
from sqlalchemy.engine import Connection

from mks_db.errors import EXIT_FINDINGS, MksDbError

SCHEMA = "mks_db"  # mks-db's own schema in the target database: the history, nothing else
LOCK_KEY = 7_203_513_115  # pg_advisory_lock key of mks-db deploys ("mks-db" in spirit)

DDL = """
CREATE SCHEMA IF NOT EXISTS mks_db;
CREATE TABLE IF NOT EXISTS mks_db.deploy_history (
    id bigserial PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    revision_from text,
    revision_to text,
    target text,
    outcome text NOT NULL,
    steps jsonb NOT NULL,
    backup_file text,
    backup_sha256 text,
    git_commit text,
    actor text,
    message text,
    client text
);
ALTER TABLE mks_db.deploy_history ALTER COLUMN finished_at DROP NOT NULL;
ALTER TABLE mks_db.deploy_history ADD COLUMN IF NOT EXISTS client text;
"""

# 'running' rows whose deploy lock no session holds (bar the asking one, which may hold it
# itself: a deploy asks once it has the lock). Advisory locks belong to one database; a bigint
# key shows in pg_locks as classid (high 32 bits) and objid (low 32 bits) with objsubid 1.
# to_jsonb(h) reads columns an older table may not have yet, for plan, which never runs DDL.
UNFINISHED_SQL = """
SELECT h.id, h.started_at, h.actor, to_jsonb(h) ->> 'client', h.revision_from, h.revision_to
FROM mks_db.deploy_history h
WHERE h.outcome = 'running'
  AND NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint * 4294967296 + l.objid::bigint = :key
      AND l.pid <> pg_backend_pid())
ORDER BY h.id
"""


@dataclass(frozen=True)
class Unfinished:
    """A deploy whose row says ``running`` but whose lock is gone: its process ended mid-way."""

    id: int
    started_at: object  # datetime from the driver
    actor: str | None
    client: str | None
    revision_from: str | None
    revision_to: str | None

    def describe(self) -> str:
        """``the previous deploy (started T by A on H) ended without finishing after revision X``."""
        who = " ".join(p for p in (f"by {self.actor}" if self.actor else "", self.client or "") if p)
        started = f"{self.started_at:%Y-%m-%d %H:%M:%S %Z}".strip()
        if self.revision_to and self.revision_to != self.revision_from:
            where = f"after revision {self.revision_to}"
        else:
            where = f"before committing any revision (the database stayed at {self.revision_from or 'base'})"
        return f"the previous deploy (started {started} {who}) ended without finishing {where}"


class NotReadable(Exception):
    """The connection's role may not read the history (a read-only plan credential made before
    the first deploy); the message says what to grant."""


class DeployRefused(MksDbError):
    """A deploy or a restore did not start: another one holds the deploy lock. Nothing was changed."""

    exit_code = EXIT_FINDINGS


def take_lock(connection: Connection, wait_seconds: float, holder: str) -> None:
    """Take the deploy lock (an advisory lock of the database ``connection`` is on, held until
    it closes), waiting up to ``wait_seconds`` for ``holder`` ("another deploy") to let it go;
    DeployRefused then. Deploys and restores take it: neither runs while the other does."""
    deadline = time.monotonic() + wait_seconds
    while True:
        if connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar():
            return
        if time.monotonic() >= deadline:
            raise DeployRefused(
                f"{holder} holds the lock on this database (waited {wait_seconds:g}s); "
                "nothing was changed: try again when it has finished"
            )
        time.sleep(0.2)


def unfinished(connection: Connection) -> list[Unfinished]:
    """The deploys that ended without finishing, read only (no table: none). NotReadable when
    the table exists but the role may not read it."""
    # The catalogue, not to_regclass: naming the table needs USAGE on its schema.
    table = connection.execute(
        text(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'mks_db' AND c.relname = 'deploy_history'"
        )
    ).scalar()
    if table is None:
        return []
    readable = connection.execute(
        text("SELECT has_schema_privilege('mks_db', 'USAGE') AND has_table_privilege(:t, 'SELECT')"),
        {"t": table},
    ).scalar()
    if not readable:
        role = connection.execute(text("SELECT quote_ident(current_user)")).scalar()
        raise NotReadable(
            f"{role} may not read mks_db.deploy_history, so deploys that ended without finishing "
            f"are not shown: GRANT USAGE ON SCHEMA mks_db TO {role}; GRANT SELECT ON "
            f"mks_db.deploy_history TO {role}"
        )
    rows = connection.execute(text(UNFINISHED_SQL), {"key": LOCK_KEY}).all()
    return [Unfinished(*row) for row in rows]


def close_unfinished(connection: Connection) -> list[Unfinished]:
    """Mark every unfinished deploy ``interrupted`` and return them. The caller holds the
    deploy lock (so no deploy is running); ``connection`` is in autocommit mode. Without the
    table there is nothing to close, and nothing is created: the table is made by the first
    deploy that may change the database (``start``)."""
    found = unfinished(connection)
    for run in found:
        connection.execute(
            text(
                "UPDATE mks_db.deploy_history SET outcome = 'interrupted', message = :message "
                "WHERE id = :id AND outcome = 'running'"
            ),
            {"id": run.id, "message": run.describe() + " (found by the next deploy)"},
        )
    return found


def check_writable(connection: Connection) -> None:
    """Prove, before a deploy changes anything, that every write it will make to the history
    succeeds: in a transaction of ``connection`` (not in autocommit mode) rolled back at the
    end, the table is brought up to date and a row is started, moved on and closed as a
    deploy does. A table changed by hand (a column dropped or retyped, a trigger, a constraint,
    a revoked privilege) raises DBAPIError here, not after production is migrated."""
    transaction = connection.begin()
    try:
        ensure_table(connection)
        run_id = start(connection, {"frm": None, "target": "check", "file": None, "sha": None})
        step = SimpleNamespace(is_upgrade=True, up_revision_ids=("check",))
        advancer(run_id)(SimpleNamespace(connection=connection), step, ("check",), None)
        row = dict.fromkeys(("started", "frm", "file", "sha", "commit"))
        close(
            connection,
            run_id,
            {**row, "to": "check", "target": "check", "outcome": "ok", "steps": [], "message": "check"},
        )
    finally:
        transaction.rollback()


def ensure_table(connection: Connection) -> None:
    """Create the history table, or bring one of an earlier mks-db up to date."""
    connection.execute(text(DDL))


def start(connection: Connection, row: dict) -> int:
    """Insert and commit (``connection`` autocommits) the ``running`` row of a deploy; its id.

    ``row`` has frm, target, file, sha; the time is the server's, as every time in the table."""
    ensure_table(connection)
    return connection.execute(
        text("""INSERT INTO mks_db.deploy_history (started_at, revision_from, revision_to, target,
                outcome, steps, backup_file, backup_sha256, git_commit, actor, client)
                VALUES (clock_timestamp(), :frm, :frm, :target, 'running', '[]'::jsonb, :file, :sha,
                :commit, :actor, :client) RETURNING id"""),
        {**row, "commit": row.get("commit"), "actor": actor(), "client": client()},
    ).scalar_one()


def advancer(run_id: int) -> Callable[..., None]:
    """An ``on_version_apply`` callback that moves row ``run_id`` to the revision just applied,
    in the migration's own transaction (so the row never names a revision that rolled back)."""

    def advance(ctx, step, heads, run_args) -> None:  # Alembic's keyword arguments
        ctx.connection.execute(
            text(
                "UPDATE mks_db.deploy_history SET revision_to = :at, "
                "steps = steps || CAST(:step AS jsonb) WHERE id = :id"
            ),
            {
                "id": run_id,
                "at": ",".join(sorted(heads)) or None,
                "step": json.dumps(
                    [
                        {"revision": ",".join(step.up_revision_ids)}
                        | ({} if step.is_upgrade else {"direction": "downgrade"})
                    ]
                ),
            },
        )

    return advance


def close(connection: Connection, run_id: int | None, row: dict) -> None:
    """Close row ``run_id`` with the final outcome, or, when the deploy stopped before its row
    was started (``run_id`` None: a backup that failed), insert it closed.

    ``row`` has started, frm, to, target, outcome, steps (a list), file, sha, commit, message."""
    ensure_table(connection)
    values = {**row, "steps": json.dumps(row["steps"]), "actor": actor(), "client": client()}
    if run_id is None:
        connection.execute(
            text("""INSERT INTO mks_db.deploy_history (started_at, finished_at, revision_from,
                    revision_to, target, outcome, steps, backup_file, backup_sha256, git_commit,
                    actor, message, client)
                    VALUES (:started, clock_timestamp(), :frm, :to, :target, :outcome, CAST(:steps AS jsonb),
                    :file, :sha, :commit, :actor, :message, :client)"""),
            values,
        )
        return
    connection.execute(
        text("""UPDATE mks_db.deploy_history SET finished_at = clock_timestamp(), revision_to = :to,
                outcome = :outcome, steps = CAST(:steps AS jsonb), message = :message
                WHERE id = :id"""),
        {**values, "id": run_id},
    )


def actor() -> str:
    """Who deploys: the GitHub user who started the workflow, else the local user."""
    return os.environ.get("GITHUB_ACTOR") or getpass.getuser()


def client() -> str:
    """Where the deploy runs: ``on HOST (pid N)``."""
    return f"on {socket.gethostname()} (pid {os.getpid()})"
