"""The ``compat`` check: the release that is running keeps working while the new revisions are
applied, before the new release replaces it.

**The problem.** An online deploy migrates the database while the previous release still
serves requests. A revision that drops or renames a column that release reads, adds a
``NOT NULL`` column its INSERTs omit, narrows a type or adds a constraint its writes break,
makes every such request fail until the new release is running, or for good if the deploy
stops half-way.

**Unsafe** (anti-pattern): one release, while the running code still reads ``account.nickname``::

    op.drop_column("account", "nickname")

    error compat: Account.nickname: the running release's SELECT of public.account fails after
    b2: column "nickname" does not exist; an online deploy breaks it until the new release
    runs; two releases instead: ...

**Safe** (best practice): two releases, expand then contract. This release stops reading the column (it
leaves the models); the next release's revision drops it. A new required column is added
nullable (or with a server default) and backfilled; ``NOT NULL`` comes a release later,
through a ``CHECK (... IS NOT NULL) NOT VALID`` that is then validated.

**How it is judged.** The previous release's models (``mks_db.engine.release``: for a pull
request the models at its base, for a deploy those of the release production runs) are
exercised in a scratch database at the revisions that release knew, holding generated rows:
per mapped table, a SELECT of every column it reads, an INSERT of a row as it writes one (its
columns only; the database's defaults for the rest), an UPDATE and a DELETE of that row by
primary key, all rolled back. Then the new revisions are applied one at a time, and the same
statements run after each (new tables stay empty, as the running release never writes them):
a statement that worked before and fails now is an error naming the model attribute, the
revision, the database's error and the two-release way to make the same change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from alembic.script import Script
from pglast.visitors import referenced_relations
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from mks_db.database import interrupt
from mks_db.database.server import describe_db_error, describe_error, drop_database
from mks_db.engine import catalog, data, revision_source
from mks_db.engine.evidence import BaseRelease
from mks_db.engine.migrate import Migrator, at_revisions
from mks_db.engine.project import Project
from mks_db.engine.release import ModelTable, Release
from mks_db.engine.render import render_step
from mks_db.findings import ERROR, WARNING, Finding

# The two-release way to make each kind of change, by the SQLSTATE the running code meets.
EXPAND_CONTRACT = {
    "drop": "a column or table the running release uses goes in two releases: this one stops "
    "using it (remove it from the models; for a rename, add the new column and write both), the "
    "next one drops it",
    "not-null": "add the column nullable (or with a server default) and backfill it; once no "
    "running release omits it, add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET "
    "NOT NULL, in the next release",
    "constraint": "first release the code that writes only valid rows; then add the constraint "
    "NOT VALID and VALIDATE it in a later revision",
    "type": "add a column of the new type and write both from this release, backfill, and switch "
    "reads and drop the old column in the next (an enum label goes only once no release writes it)",
}
# A generated row that repeats a key the revision's own rows hold (seed data) says nothing of
# the release's code: its real rows carry keys of their own.
_UNIQUE_VIOLATION = "23505"
_KIND_OF = {"42703": "drop", "42P01": "drop", "23502": "not-null", "42804": "type", "42883": "type"}
_COLUMN = re.compile(r'column "([^"]+)"|column (?:[\w"]+\.)?([\w"]+) does not exist')


@dataclass(frozen=True)
class Failure:
    statement: str  # SELECT, INSERT, UPDATE, DELETE
    sqlstate: str
    reason: str


def judge(project: Project, evidence: BaseRelease) -> list[Finding]:
    """The previous release's statements in a database at the revisions it ``known``, then
    after each of the ``new`` revisions in turn; one error per statement that breaks.

    The database the server keeps at ``known`` (``check --since``: the walk's base, handed
    back) is used and handed back once the new revisions are undone and its schema is as it
    was (else dropped): ``reversible`` says the walk proved their downgrades restore it
    exactly, so it is not read again. Without one, a database is made at ``known``."""
    server, known, new, release = evidence.server, evidence.known, evidence.new, evidence.release
    reversible = evidence.reversible
    tables = _touched(project, new, release.tables)
    if not new or not tables:
        return []
    key = tuple(r.revision for r in known)
    kept = server.templates.pop(key, None)
    if kept is None:
        with at_revisions(project, server, known, "compat") as migrator:
            return _exercise_after_each(project, migrator, new, release, tables)
    handed_back = False
    try:
        with Migrator(project, server.database_url(kept), server.timeouts) as migrator:
            tracker = None
            if not reversible:  # the schema is read, to tell whether the downgrades restore it
                with migrator.idle() as connection:
                    tracker = catalog.Tracker(connection)
            found = _exercise_after_each(project, migrator, new, release, tables)
            handed_back = _undone(migrator, new, tracker)
    finally:
        if handed_back:
            server.templates[key] = kept
        else:
            drop_database(server, kept)
    return found


def _undone(migrator: Migrator, new: list[Script], tracker: catalog.Tracker | None) -> bool:
    """Downgrade what ``new`` applied, newest first: whether the schema is back as ``tracker``
    saw it (None: the downgrades are known to restore it), so that the database can serve the
    next check."""
    try:
        for revision in reversed(new):
            if revision.revision in migrator.heads():
                migrator.downgrade(revision)
    except Exception:  # noqa: BLE001 - a downgrade that fails: the database is not handed back
        interrupt.raise_if_requested()
        return False
    if tracker is None:
        return True
    start = tracker.fingerprint
    with migrator.idle():
        tracker.refresh()
    return tracker.fingerprint == start


def _exercise_after_each(
    project: Project, migrator: Migrator, new: list[Script], release: Release, tables: tuple[ModelTable, ...]
) -> list[Finding]:
    """Exercise ``tables`` in ``migrator``'s database, then after each of ``new``."""
    found: list[Finding] = []
    with migrator.idle() as connection:
        _fill(connection, tables)
        before = exercise(connection, tables)
    for revision in new:
        try:
            migrator.upgrade(revision)
        except Exception as exc:  # the upgrade check reports it; nothing after it can be judged
            interrupt.raise_if_requested()
            found.append(
                Finding(
                    "compat",
                    WARNING,
                    revision.revision,
                    f"{revision.revision} and the revisions after it were not checked against "
                    f"the running release ({release.label}): its upgrade fails ({describe_error(exc)})",
                    project.relpath(revision.path),
                )
            )
            break
        with migrator.idle() as connection:
            now = exercise(connection, tables)
        broken = {key: failure for key, failure in now.items() if key not in before}
        found += _findings(project, revision, release, broken)
        before.update(broken)  # each reported once, at the revision that broke it
    return found


def _touched(project: Project, new: list[Script], tables: tuple[ModelTable, ...]) -> tuple[ModelTable, ...]:
    """The release's tables that the ``new`` revisions' SQL (rendered offline) names; all of
    them when a revision cannot be rendered (its effect is then unknown)."""
    named: set[str] = set()
    for revision in new:
        try:
            relations = referenced_relations(render_step(project, revision, "upgrade"))
        except Exception:  # noqa: BLE001 - the revision's code, run offline, or SQL pglast refuses
            return tables
        named |= {name.rpartition(".")[2].strip('"') for name in relations}
    return tuple(t for t in tables if t.name.rpartition(".")[2].strip('"') in named)


def _fill(connection: Connection, tables: tuple[ModelTable, ...]) -> None:
    """Generated rows in ``tables`` and the tables their required foreign keys need, where
    they are empty (the rest of the schema is left as it is)."""
    everything = data.read_tables(connection, foreign_keys=False)
    wanted = {t.name for t in tables}
    needed = data.required_parents(
        connection, everything, [o for o, t in everything.items() if t.name in wanted]
    )
    held = data.inventory(connection, needed)
    data.insert_generated_rows(
        connection, {o: t for o, t in needed.items() if not held[o].rows}, data.ROWS_PER_TABLE, set()
    )
    connection.commit()


def exercise(connection: Connection, tables: tuple[ModelTable, ...]) -> dict[tuple[str, str], Failure]:
    """Run each table's SELECT, INSERT, UPDATE and DELETE as the release's code would, each in
    a savepoint of one transaction that is rolled back; the failures by (table, statement)."""
    failures: dict[tuple[str, str], Failure] = {}
    live = data.read_tables(connection)
    by_name = {table.name: table for table in live.values()}
    try:
        for table in tables:
            for statement, sql, params in _statements(connection, table, by_name.get(table.name)):
                try:
                    with connection.begin_nested():
                        result = connection.execute(text(sql), params)
                        if statement == "INSERT":  # its key, for the UPDATE and the DELETE
                            params.update(result.mappings().first() or {})
                except DBAPIError as exc:
                    interrupt.raise_if_requested()
                    sqlstate = getattr(exc.orig, "pgcode", None) or ""
                    if sqlstate != _UNIQUE_VIOLATION:
                        failures[table.name, statement] = Failure(statement, sqlstate, describe_db_error(exc))
    finally:
        connection.rollback()
    return failures


def _statements(connection: Connection, table: ModelTable, live: data.Table | None):
    """(statement, SQL, parameters) for the table's SELECT, INSERT, UPDATE and DELETE; the
    UPDATE and DELETE take the row the INSERT wrote (its key, returned); when the INSERT
    failed, the UPDATE takes an existing row and there is no DELETE."""
    columns = {c.name: c for c in live.columns.values()} if live else {}
    yield "SELECT", f"SELECT {', '.join(c.name for c in table.columns)} FROM {table.name} LIMIT 1", {}
    keys = {_param(c.name): c for c in table.columns if c.primary_key}
    params: dict[str, object] = {}  # the INSERT's RETURNING fills in the key
    yield "INSERT", _insert(table, columns, keys), params
    inserted = all(p in params for p in keys)
    if not keys or not (inserted or _a_row(connection, table, keys, params)):
        return
    yield from _update_and_delete(table, columns, keys, params, inserted)


def _update_and_delete(
    table: ModelTable,
    columns: dict[str, data.Column],
    keys: dict[str, object],
    params: dict[str, object],
    inserted: bool,
):
    """(statement, SQL, parameters) for the UPDATE of the row whose key ``params`` holds, when
    the release writes a column besides the key, and its DELETE, when the INSERT wrote it."""
    where = " AND ".join(f"{c.name} = :{p}" for p, c in keys.items())
    # Every column it writes gets a new value (a foreign key keeps its own; a column gone, NULL).
    changed = [c for c in table.columns if c.written and not c.primary_key]
    if changed:
        sets = ", ".join(f"{c.name} = {_new_value(columns.get(c.name), c.name)}" for c in changed)
        yield (
            "UPDATE",
            f"UPDATE {table.name} SET {sets} FROM (SELECT 1002 AS g) AS generated WHERE {where}",
            params,
        )
    if inserted:  # an existing row may have children (generated): a DELETE there is not alike
        yield "DELETE", f"DELETE FROM {table.name} WHERE {where}", params


def _insert(table: ModelTable, columns: dict[str, data.Column], keys: dict[str, object]) -> str:
    """The row the release's code writes: its columns, generated values, the key returned."""
    written = [c for c in table.columns if c.written]
    returning = f" RETURNING {', '.join(f'{c.name} AS {p}' for p, c in keys.items())}" if keys else ""
    if not written:
        return f"INSERT INTO {table.name} DEFAULT VALUES{returning}"
    values = ", ".join(_new_value(columns.get(c.name), c.name, keep_keys=False) for c in written)
    return (
        f"INSERT INTO {table.name} ({', '.join(c.name for c in written)}) "
        f"SELECT {values} FROM generate_series(1001, 1001) g{returning}"
    )


def _a_row(connection: Connection, table: ModelTable, keys: dict[str, object], params: dict) -> bool:
    """Put the key of an existing row in ``params``, for the UPDATE when the INSERT failed;
    False when there is none: the table holds no row, or it or its key is not there at all."""
    names = ", ".join(c.name for c in keys.values())
    try:
        with connection.begin_nested():
            first = connection.execute(text(f"SELECT {names} FROM {table.name} LIMIT 1")).first()
    except DBAPIError:  # the SELECT's own failure is the finding, if it is one
        interrupt.raise_if_requested()
        return False
    if first is not None:
        params.update(zip(keys, first, strict=True))
    return first is not None


def _new_value(live: data.Column | None, name: str, keep_keys: bool = True) -> str:
    """A generated value for the column ``live`` (NULL when the column is gone); with
    ``keep_keys``, a foreign key keeps the value it has (an UPDATE's)."""
    if live is None:
        return "NULL"
    return name if keep_keys and live.references else data.value_expression(live)


def _param(column: str) -> str:
    return "key_" + re.sub(r"\W", "_", column.strip('"'))


def _findings(
    project: Project, revision: Script, release: Release, broken: dict[tuple[str, str], Failure]
) -> list[Finding]:
    """One error per model attribute (or class) whose statements ``revision`` broke."""
    by_subject: dict[tuple[str, str, str], list[Failure]] = {}
    for (table_name, _), failure in broken.items():
        by_subject.setdefault(_subject(release, table_name, failure), []).append(failure)
    found = []
    for (table_name, subject, named), failures in by_subject.items():
        first = failures[0]
        statements = " and ".join(f.statement for f in failures)
        message = (
            f"{subject}: the running release's {statements} of {table_name} (the models of "
            f"{release.label}) fail{'s' if len(failures) == 1 else ''} after {revision.revision}: "
            f"{first.reason}; an online deploy breaks it until the new release runs; two releases "
            f"instead: {EXPAND_CONTRACT[_kind(first.sqlstate)]}"
        )
        line = revision_source.line_naming(revision.path, [named])
        found.append(
            Finding("compat", ERROR, revision.revision, message, project.relpath(revision.path), line)
        )
    return found


def _subject(release: Release, table_name: str, failure: Failure) -> tuple[str, str, str]:
    """(table, what the finding names: the model attribute whose column the error names, else
    the class, and the name to find in the revision file)."""
    table = next(t for t in release.tables if t.name == table_name)
    match = _COLUMN.search(failure.reason)
    column_name = (match.group(1) or match.group(2)).strip('"') if match else None
    column = next((c for c in table.columns if c.name.strip('"') == column_name), None)
    named = column_name or table.name.rpartition(".")[2].strip('"')
    return table.name, column.attribute if column else table.model, named


def _kind(sqlstate: str) -> str:
    """The kind of change (a key of ``EXPAND_CONTRACT``) an error of ``sqlstate`` comes from."""
    if sqlstate in _KIND_OF:
        return _KIND_OF[sqlstate]
    return {"23": "constraint", "22": "type"}.get(sqlstate[:2], "drop")
