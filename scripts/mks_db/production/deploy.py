"""``mks-db deploy``: the production procedure, made safe and repeatable.

In order: refuse on any plan problem; take an advisory lock (a second deploy waits a bounded
time, then fails without touching anything); back up with pg_dump and verify the file; run the
optional stop command; apply the revisions one per transaction with ``lock_timeout`` and
``statement_timeout`` (a lock timeout is retried with back-off; on any other failure the
database stays at the last revision that committed, or with ``on_failure="rollback"`` goes back
to where it started); verify the revision and the schema; run the optional start command and
poll the health URL; after a success, apply the backup retention (``mks_db.production.retention``).
The run is in ``mks_db.deploy_history`` (``mks_db.production.history``: its own schema, never the
application's) from the moment it may change production (after the backup) as ``running``,
moved on as each revision commits and closed at the end, so a deploy killed outright leaves a
row that says how far it got; the next deploy reports and closes such a row before anything
else. ``dry_run`` takes the lock and plans, and changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shlex
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.database.server import Server, describe_db_error, own_engine
from mks_db.database.urls import mask_url
from mks_db.engine import catalog, git
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import Project
from mks_db.errors import InfrastructureError, MksDbError
from mks_db.limits import LockLimits
from mks_db.production import history, identity, retention, service
from mks_db.production.backup import Backup, backup
from mks_db.production.deploy_settings import DeploySettings
from mks_db.production.plan import Plan, invalid_indexes, make_plan, read_target, schema_at
from mks_db.production.restore import verify_restorable


@dataclass
class Outcome:
    ok: bool
    message: str
    plan: Plan | None = None
    applied: list[dict] = field(default_factory=list)
    backup: Backup | None = None
    verified: str = ""  # how the backup was proven
    at_revision: tuple[str, ...] = ()
    source: str = "DATABASE_URL"  # where the URL came from, as messages call it
    url: str = ""  # masked
    previous: list[str] = field(default_factory=list)  # deploys that ended without finishing
    run_id: int | None = None  # this run's row in mks_db.deploy_history, once started
    retention: list[str] = field(default_factory=list)  # what retention removed or kept, and why
    # The application, once the stop command ran: "down" until the start command succeeds
    # ("up"); "restarted" when it was started again after a failure that left the database at
    # the revision it started from (the running code fits it).
    application: str = ""
    start_command: str | None = None
    application_error: str = ""  # why the start command failed, when it did
    service: str = ""  # what --service auto decided, and why
    # The INVALID indexes there were before the revisions ran: any other one is this run's.
    invalid_before: set[str] = field(default_factory=set, repr=False)

    def state(self) -> list[str]:
        """Where production stands after this run, and what to do next (the exact restore
        command whenever there is a backup): printed at every exit of a deploy."""
        total = len(self.plan.pending) if self.plan else 0
        done = self.plan.done if self.plan else "applied"
        at = ", ".join(self.at_revision) or "(none)"
        taken = f"backup {self.backup.path}" if self.backup else "no backup taken"
        lines = [
            f"production ({self.url}): {done} {len(self.applied)} of {total} revisions, "
            f"now at revision {at}; {taken}"
        ]
        rolled_back = bool(self.applied) and set(self.at_revision) == set(self.plan.current)
        if rolled_back:
            lines[0] += " (rolled back to where it started)"
        return lines + self._next_step(total, done, at, rolled_back) + self.service_lines()

    def _next_step(self, total: int, done: str, at: str, rolled_back: bool) -> list[str]:
        """What to do next, in one line (none when nothing is migrated and the application is
        down: ``service_lines`` say what to do); ``total`` revisions were pending, ``done``
        says what the deploy does to each, ``at`` is where the database is now."""
        if self.ok:
            undo = f"; to undo this deploy: {self.restore_command()}" if self.applied else ""
            return [f"next: nothing{undo}"]
        if self.applied and len(self.applied) == total and not rolled_back:
            return [
                f"next: every revision is {done} and stays so; fix what failed after them "
                f"(above), or go back to the backup: {self.restore_command()}"
            ]
        if self.applied and not rolled_back:
            return [
                "next: fix the failing revision and deploy again (it resumes after revision "
                f"{at}), or deploy --on-failure rollback, or go back to the backup: "
                f"{self.restore_command()}"
            ]
        if self.backup and self.application != "down":
            return [
                "next: nothing is migrated; fix the cause above and deploy again (to go back "
                f"to the backup anyway: {self.restore_command()})"
            ]
        if not self.backup:
            return ["next: nothing was changed; fix the cause above and deploy again"]
        return []

    def service_lines(self) -> list[str]:
        """What became of the application the stop command stopped (nothing when none ran)."""
        if self.application == "restarted":
            return [
                f"the application was started again (`{self.start_command}`): the database is at "
                "the revision it started from"
            ]
        if self.application != "down":
            return []
        failed = (
            f" and `{self.start_command}` failed: {self.application_error}" if self.application_error else ""
        )
        start = f"`{self.start_command}`" if self.start_command else "its start command"
        return [
            f"the application is DOWN: the deploy stopped it{failed}; start it with {start} once "
            "the database fits the code it runs (the revision above)"
        ]

    def restore_command(self) -> str:
        assert self.backup is not None
        command = f"mks-db restore {shlex.quote(self.backup.path)}"
        if self.source == "--database-url":
            return (
                f"{command} --database-url {shlex.quote(self.url)} (the same URL, password in place of ***)"
            )
        return f"{command} (with {self.source} as for this deploy)"


class DeployStopped(MksDbError):
    """A deploy stopped by an error after its plan was accepted; the message ends with the
    state production is in (``Outcome.state``) and the exit code is the error's."""

    def __init__(self, cause: MksDbError, outcome: Outcome) -> None:
        super().__init__("\n".join([str(cause), *outcome.state()]))
        self.exit_code = cause.exit_code
        self.outcome = outcome


def deploy(
    project: Project,
    url: URL,
    scratch: Server,
    settings: DeploySettings,
    to: str = "heads",
    dry_run: bool = False,
    source: str = "DATABASE_URL",
    notice: Callable[[str], None] | None = None,
    offline: bool = False,
    allow_downgrade: bool = False,
    limits: LockLimits | None = None,
) -> Outcome:
    """Bring the database ``url`` names to ``to`` (see the module's docstring).

    Returns the outcome (refused, nothing to do, applied, failed at a revision) with the state
    of production in ``Outcome.state()``. Raises InfrastructureError when the database cannot
    be reached, DeployRefused when another deploy holds the lock (nothing changed in either
    case), DeployStopped when the backup, the identity check, the stop or start command or the
    history record fails (its message states where production stands). ``source`` names where
    the URL came from (``--database-url`` or ``DATABASE_URL``) in messages. A deploy that
    ended without finishing before this one (its process killed) is passed to ``notice`` as
    soon as the lock is taken, before anything else, and marked ``interrupted`` (not in a dry
    run, which changes nothing). On Ctrl-C or SIGTERM the run is recorded ``interrupted`` and
    the KeyboardInterrupt propagates with the state lines in its ``deploy_state``.
    ``allow_downgrade``: a ``to`` behind the database runs the downgrades of the revisions it
    does not contain (``make_plan``), with the same backup, bounds, history and health check.
    ``settings.service`` "auto" judges each pending revision online or not at production's
    size (with the lock ``limits``) and leaves the application running when all are online.
    """
    retention.validate(settings.keep_backups, settings.keep_days)
    outcome = Outcome(False, "", source=source, url=mask_url(url))
    engine = own_engine(url, isolation_level="AUTOCOMMIT")
    lock = _lock_connection(engine, url, source)
    try:
        started = lock.execute(text("SELECT clock_timestamp()")).scalar_one()  # the server's clock
        history.take_lock(lock, settings.lock_wait_seconds, "another deploy")
        outcome.previous = _previous_runs(lock, dry_run)
        for line in outcome.previous:
            (notice or (lambda line: None))(line)
        judged = (limits or LockLimits()) if settings.service == "auto" else None
        outcome.plan = plan = make_plan(
            project, url, scratch, to, source, notice, settings.lock_timeout, offline, allow_downgrade, judged
        )
        outcome.at_revision = plan.current
        if not plan.ok:
            outcome.message = "refused: " + "; ".join(plan.problems)
            return outcome
        if dry_run or not plan.pending:
            outcome.ok, outcome.message = True, "dry run: nothing changed" if dry_run else "nothing to apply"
            return outcome
        _carry_out(project, url, scratch, settings, lock, outcome, started, to)
        return outcome
    finally:
        lock.close()
        engine.dispose()


def _lock_connection(engine: Engine, url: URL, source: str) -> Connection:
    """The connection of ``engine`` that takes the deploy lock; InfrastructureError naming
    ``source`` when the database cannot be reached (nothing changed)."""
    try:
        return engine.connect()
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot connect to {mask_url(url)} (given by {source}): {describe_db_error(exc)}; "
            f"nothing was changed: check {source}"
        ) from None


def _carry_out(
    project: Project,
    url: URL,
    scratch: Server,
    settings: DeploySettings,
    lock: Connection,
    outcome: Outcome,
    started,
    to: str,
) -> None:
    """Run the accepted plan (``_apply_plan``) and close its history row as the run ended; after a
    success, apply the backup retention. DeployStopped when the run or its record fails; on a
    signal the KeyboardInterrupt propagates with the state lines in its ``deploy_state``."""
    try:
        _apply_plan(project, url, scratch, settings, lock, outcome)
    except MksDbError as exc:
        outcome.ok, outcome.message = False, str(exc)
        with contextlib.suppress(DBAPIError):  # the error above is what counts
            _record(lock, started, outcome, to, "failed")
        raise DeployStopped(exc, outcome) from None
    except KeyboardInterrupt as exc:
        _record_interrupted(lock, url, started, outcome, to)
        exc.deploy_state = [f"deploy INTERRUPTED: {outcome.message}", *outcome.state()]
        raise
    try:
        _record(lock, started, outcome, to, "ok" if outcome.ok else "failed")
    except DBAPIError as exc:
        cause = InfrastructureError(
            f"recording the run in mks_db.deploy_history failed: {describe_db_error(exc)}"
        )
        raise DeployStopped(cause, outcome) from None
    if outcome.ok and outcome.backup:
        pruned = retention.prune(outcome.backup, settings.keep_backups, settings.keep_days)
        outcome.retention = pruned.lines(settings.keep_backups, settings.keep_days)


def _record_interrupted(lock: Connection, url: URL, started, outcome: Outcome, to: str) -> None:
    """After a signal: ``outcome`` says where the database is and why the run ended, the
    INVALID indexes the signal left are dropped (or named in the message), and the run is
    recorded ``interrupted``; each step best effort."""
    with contextlib.suppress(Exception):  # a second signal must not hide the first
        outcome.at_revision = _heads(lock)
    at = ", ".join(outcome.at_revision) or "base"
    outcome.ok, outcome.message = False, f"interrupted by a signal at revision {at}"
    with contextlib.suppress(Exception):  # an index build the signal cut short
        left = invalid_indexes(url) - outcome.invalid_before
        dropped = _drop_indexes(url, left, "2s")  # a short wait: a signal asks to end now
        outcome.message += "".join(f"; {line}" for line in dropped)
    with contextlib.suppress(Exception):
        _record(lock, started, outcome, to, "interrupted")


def _previous_runs(lock: Connection, dry_run: bool) -> list[str]:
    """Describe the deploys that ended without finishing; mark them interrupted unless
    ``dry_run`` (which may run with a credential that cannot read them: then a line says what
    to grant). The caller holds the deploy lock, so none of them is still running."""
    try:
        found = history.unfinished(lock) if dry_run else history.close_unfinished(lock)
    except history.NotReadable as exc:  # a dry run with the read-only plan credential
        return [str(exc)]
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot read or create mks_db.deploy_history: {describe_db_error(exc)}; nothing was "
            "changed: the deploy's user needs CREATE on the database (or the schema mks_db)"
        ) from None
    return [f"{run.describe()}{'' if dry_run else '; it is now marked interrupted'}" for run in found]


def _heads(connection: Connection) -> tuple[str, ...]:
    return tuple(sorted(MigrationContext.configure(connection).get_current_heads()))


def _apply_plan(
    project: Project, url: URL, scratch: Server, settings: DeploySettings, lock: Connection, outcome: Outcome
) -> None:
    """Back up, prove the backup is of this database, start the history row, stop, apply,
    verify, start, check health: ``outcome`` is filled as each step completes, so it is true
    whatever stops the run."""
    plan = outcome.plan
    outcome.service = _service_choice(settings, plan)
    if plan.online and settings.service == "auto":  # the running release keeps serving
        settings = dataclasses.replace(settings, stop_command=None, start_command=None)
    _check_history(url)
    outcome.backup = backup(url, Path(settings.backup_dir))
    outcome.verified = verify_restorable(outcome.backup, scratch, settings.verify)
    # The backup's snapshot was read through this URL too, but by another connection:
    # the database about to be migrated must be the one it was taken of.
    identity.require_same(outcome.backup.identity, identity.read(lock))
    # The row is started after the backup, so that the backup never holds a 'running' row.
    outcome.run_id = _start_record(lock, outcome)
    outcome.start_command = settings.start_command
    if settings.stop_command:  # down from the moment it is asked to stop (a failed stop too)
        outcome.application = "down"
    try:
        service.run_command(settings.stop_command, "stop command", settings.command_timeout_seconds)
        outcome.invalid_before = invalid_indexes(url)
        version = int(lock.execute(text("SHOW server_version_num")).scalar_one())
        applied = _apply(project, url, plan, settings, outcome.run_id, version, outcome.applied)
        outcome.ok, outcome.message = applied.ok, applied.message
        if outcome.service:  # which way the service went, and why, in the history too
            outcome.message += f"; {outcome.service}"
        outcome.at_revision = applied.at_revision
        if outcome.ok:
            _verify(project, url, scratch, plan, outcome)
        if outcome.ok:
            _start(settings, outcome)
            health = _poll_health(settings, plan.target)
            if health:
                outcome.ok, outcome.message = False, f"{outcome.message}; {health}"
    finally:
        _start_again_if_unchanged(lock, settings, outcome)


def _service_choice(settings: DeploySettings, plan: Plan) -> str:
    """What ``--service auto`` decided, and why (empty for ``stop``, the guide's procedure)."""
    if settings.service != "auto":
        return ""
    if plan.online:
        return (
            "service kept running: every revision is online ("
            + "; ".join(f"{v.revision}: {v.reason}" for v in plan.verdicts)
            + ")"
        )
    stopped = next((v for v in plan.verdicts if v.mode != "online"), None)
    why = f"{stopped.revision} {stopped.mode}: {stopped.reason}" if stopped else "nothing was judged"
    return f"service stopped for the migration: {why}"


def _start(settings: DeploySettings, outcome: Outcome) -> None:
    """Run the start command; ``outcome.application`` says whether the application is up."""
    try:
        service.run_command(settings.start_command, "start command", settings.command_timeout_seconds)
    except MksDbError as exc:
        outcome.application_error = str(exc)
        raise
    if outcome.application:
        outcome.application = "up"


def _start_again_if_unchanged(lock: Connection, settings: DeploySettings, outcome: Outcome) -> None:
    """After a failure (or a signal) with the application stopped: start it again when the
    database is at the revision the deploy started from (nothing committed, or rolled back),
    since the code it runs fits that schema; otherwise it stays down and the state says so."""
    if outcome.application != "down" or outcome.application_error or not settings.start_command:
        return
    try:
        at = _heads(lock)
    except Exception:  # noqa: BLE001 - unknown: leave it down, and say so
        return
    if set(at) != set(outcome.plan.current):
        return
    try:
        service.run_command(settings.start_command, "start command", settings.command_timeout_seconds)
    except MksDbError as exc:
        outcome.application_error = str(exc)
        return
    outcome.application = "restarted"


def _check_history(url: URL) -> None:
    """InfrastructureError, before anything changes, when the history cannot take this deploy's
    records (``history.check_writable``)."""
    engine = own_engine(url)
    try:
        with engine.connect() as connection:
            history.check_writable(connection)
    except DBAPIError as exc:
        raise InfrastructureError(
            f"mks_db.deploy_history cannot take this deploy's records ({describe_db_error(exc)}): "
            "it was changed by hand or its privileges revoked; nothing was changed: give it back "
            "its definition, or rename it (ALTER TABLE mks_db.deploy_history RENAME TO ...) and "
            "the deploy makes a new one"
        ) from None
    finally:
        engine.dispose()


def _start_record(lock: Connection, outcome: Outcome) -> int:
    try:
        return history.start(
            lock,
            {
                "frm": ",".join(outcome.plan.current) or None,
                "target": ",".join(outcome.plan.target),
                "file": outcome.backup.path,
                "sha": outcome.backup.sha256,
                "commit": git.head_commit(),
            },
        )
    except DBAPIError as exc:
        raise InfrastructureError(
            f"cannot record the start of the deploy in mks_db.deploy_history: {describe_db_error(exc)}"
        ) from None


def session_settings(settings: DeploySettings, version_num: int) -> dict[str, str]:
    """The migrating sessions' settings: the time bounds, and (PostgreSQL 14+) how often the
    server checks that the client is still there, so a statement of a killed deploy ends."""
    values = {"lock_timeout": settings.lock_timeout, "statement_timeout": settings.statement_timeout}
    if settings.client_check_interval and version_num >= 140000:
        values["client_connection_check_interval"] = settings.client_check_interval
    return values


def _apply(
    project: Project,
    url: URL,
    plan: Plan,
    settings: DeploySettings,
    run_id: int,
    version_num: int,
    applied: list[dict],
) -> Outcome:
    """Apply (or undo, ``plan.direction``) the pending revisions one at a time; stop (or roll
    back) at the first failure.
    ``applied`` (the caller's) grows as each revision commits; history row ``run_id`` moves
    on in each revision's own transaction."""
    values = session_settings(settings, version_num)
    saved = os.environ.get("PGOPTIONS")
    # For connections env.py opens itself; on the migrator's own connection the settings are
    # applied after env.py's (Migrator.session_settings), so they win over an env.py's SET.
    os.environ["PGOPTIONS"] = " ".join(f"-c {name}={value}" for name, value in values.items())
    try:
        with Migrator(project, url) as migrator:
            migrator.session_settings = values
            migrator.extra_callbacks = (history.advancer(run_id),)
            for revision in plan.pending:
                error = _apply_one(migrator, url, revision, plan.direction, settings, applied)
                if error:
                    at = applied[-1]["revision"] if applied else ",".join(plan.current) or "base"
                    message = (
                        f"revision {revision.revision} failed: {error}; the database is at "
                        f"{at}, the last revision that committed"
                    )
                    if settings.on_failure == "rollback":
                        message += _roll_back(migrator, project, plan, applied)
                    return Outcome(False, message, plan, applied, at_revision=tuple(sorted(migrator.heads())))
            return Outcome(
                True,
                f"{plan.done} {len(applied)} revisions",
                plan,
                applied,
                at_revision=tuple(sorted(migrator.heads())),
            )
    finally:
        if saved is None:
            os.environ.pop("PGOPTIONS", None)
        else:
            os.environ["PGOPTIONS"] = saved


def _apply_one(
    migrator: Migrator, url: URL, revision, direction: str, settings: DeploySettings, applied: list[dict]
) -> str | None:
    """Upgrade (or downgrade: ``direction``) ``revision``, retrying a lock timeout with
    back-off; None, or why it failed. A ``CREATE INDEX CONCURRENTLY`` that failed leaves an
    INVALID index behind, on which a retry would fail as "already exists": it is dropped
    first, or named with the command that does."""
    for attempt in range(settings.lock_retries + 1):
        started = time.perf_counter()
        before = invalid_indexes(url)
        try:
            getattr(migrator, direction)(revision)
        except DBAPIError as exc:
            interrupt.raise_if_requested()  # a statement cancelled by Ctrl-C: not the revision's fault
            left = _drop_indexes(url, invalid_indexes(url) - before, settings.lock_timeout)
            lock_wait = getattr(exc.orig, "pgcode", None) == "55P03"  # lock_not_available
            if lock_wait and attempt < settings.lock_retries and not left:
                time.sleep(min(2**attempt, 30))
                continue
            reason = describe_db_error(exc)
            if lock_wait:
                tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
                reason += f" (after {tries}; lock-timeout {settings.lock_timeout})"
            return reason + "".join(f"; {line}" for line in left)
        except Exception as exc:  # the revision's own code
            interrupt.raise_if_requested()
            return f"{type(exc).__name__}: {exc}"
        applied.append(
            {
                "revision": revision.revision,
                "seconds": round(time.perf_counter() - started, 3),
                "attempts": attempt + 1,
            }
            | ({"direction": direction} if direction == "downgrade" else {})
        )
        return None
    return None


def _drop_indexes(url: URL, names: set[str], lock_timeout: str) -> list[str]:
    """Drop the INVALID indexes ``names`` (``DROP INDEX CONCURRENTLY``, waiting at most
    ``lock_timeout``); a line for each that could not be, with the command that drops it."""
    left = []
    engine = own_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT set_config('lock_timeout', :t, false)"), {"t": lock_timeout})
            for name in sorted(names):
                try:
                    connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
                except DBAPIError as exc:
                    left.append(
                        f"it left the INVALID index {name}, which could not be dropped "
                        f"({describe_db_error(exc)}): once no transaction holds its table, run "
                        f"DROP INDEX CONCURRENTLY IF EXISTS {name}; then deploy again"
                    )
    finally:
        engine.dispose()
    return left


def _roll_back(migrator: Migrator, project: Project, plan: Plan, applied: list[dict]) -> str:
    """Undo what this run did, newest first: the downgrades of the revisions it applied, or
    the upgrades of those it undid."""
    by_id = {r.revision: r for r in plan.pending}
    back = "upgrade" if plan.direction == "downgrade" else "downgrade"
    try:
        for step in reversed(applied):
            getattr(migrator, back)(by_id[step["revision"]])
    except Exception as exc:
        return (
            f"; rolling back failed too ({type(exc).__name__}: {exc}); the database is at "
            f"{', '.join(sorted(migrator.heads()))}: restore the backup"
        )
    return f"; rolled back to the starting revision {', '.join(plan.current) or 'base'}"


def _verify(project: Project, url: URL, scratch: Server, plan: Plan, outcome: Outcome) -> Outcome:
    if set(outcome.at_revision) != set(plan.target):
        outcome.ok = False
        outcome.message += f"; but the database is at {outcome.at_revision}, not {plan.target}"
        return outcome
    live, _, _, _ = read_target(url, source=outcome.source)
    differences = catalog.diff(schema_at(project, scratch, plan.target), live)
    if differences:
        outcome.ok = False
        outcome.message += "; but the schema differs from the target's: " + "; ".join(differences[:10])
    return outcome


def _poll_health(settings: DeploySettings, target: tuple[str, ...]) -> str | None:
    """None when the health URL answers 200 with the target revision in time, else why not."""
    if not settings.health_url:
        return None
    deadline = time.monotonic() + settings.health_timeout_seconds
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(settings.health_url, timeout=5) as response:  # noqa: S310
                body = json.loads(response.read() or b"{}")
                revision = str((body.get("database") or {}).get("revision") or "")
                if response.status == 200 and set(revision.split(",")) == set(target):
                    return None
                last = f"{response.status} at revision {revision or 'unknown'}"
        except Exception as exc:  # HTTP errors, refused connections: keep polling
            last = getattr(exc, "code", None) and f"HTTP {exc.code}" or type(exc).__name__
        time.sleep(1)
    return (
        f"the health check {settings.health_url} did not answer 200 with the target revision "
        f"within {settings.health_timeout_seconds:g}s (last: {last}); the migration stays applied"
    )


def _record(connection: Connection, started, outcome: Outcome, target: str, status: str) -> None:
    """Close this run's history row (or write it closed, when it was never started)."""
    history.close(
        connection,
        outcome.run_id,
        {
            "started": started,
            "frm": ",".join(outcome.plan.current) or None,
            "to": ",".join(outcome.at_revision) or None,
            "target": target,
            "outcome": status,
            "steps": outcome.applied,
            "file": outcome.backup.path if outcome.backup else None,
            "sha": outcome.backup.sha256 if outcome.backup else None,
            "commit": git.head_commit(),
            "message": outcome.message,
        },
    )
