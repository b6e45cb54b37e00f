"""The data-loss check: an upgrade keeps the rows and the column values the tables held.

**The problem.** An upgrade that destroys data: ``DROP TABLE`` or ``DROP COLUMN`` on something
that holds rows, a ``DELETE`` without the right ``WHERE``, or a rename that autogenerate wrote
as drop-and-add. On an empty development database nothing is lost, so nobody notices.

**Unsafe**::

    def upgrade():
        op.drop_column("account", "nickname")

**Safe**: keep the data (``op.alter_column(..., new_column_name=...)``, ``op.rename_table``, or
copy it elsewhere in the same revision before dropping it), or declare the intended loss with
its reason::

    # mks-db: data-loss: legacy_log was exported to the archive bucket in 2025-09

How it is judged: before each revision, every empty table gets generated rows (the walk's
moment ``Filled``: a table that takes none is a warning); after its upgrade (``Upgraded``), the
tables the step changed are recounted, and what they held before is compared with what they
hold now (``findings``): a table gone, fewer rows, or a column that held values gone is an
error, unless declared. Tables are matched by OID (then by name) and columns by attribute
number, so renames are no loss. Data that moved is not lost either: when every traceable
generated value of what was dropped or deleted is found in the tables the same step wrote to,
the finding is a warning that says where it went; when a statement of the step reads the
dropped table or column before the drop (a copy elsewhere, converted on the way, JSON
restructured say), it is a warning naming that statement: check that the values arrive; when
the revision's downgrade writes a dropped column again (from other data, a lookup by label), a
warning naming that statement. What production never held is not lost: with ``--since``, a
table or column the base's revisions lack (``Walk.released``), added and dropped again since;
with ``release-tags``, one the revision's own release added (``judge_by_releases``, after the
walk).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from alembic.script import Script

from mks_db.database.server import Server
from mks_db.engine import chain_walk, data, declarations, git, revision_source
from mks_db.engine.evidence import Filled, Moment, Upgraded
from mks_db.engine.project import Project
from mks_db.engine.walk import Walk
from mks_db.findings import ERROR, WARNING, Finding, one_line

LOSS_HINT = "; if intended, declare it in the revision file: '# mks-db: data-loss: <reason>'"


def judge(project: Project, evidence: Moment) -> list[Finding]:  # noqa: ARG001 - the walk's own
    """Before an upgrade, a warning per table that takes no generated rows (``Filled``); after
    it, what the tables no longer hold (``Upgraded``)."""
    match evidence:
        case Filled(walk=walk, revision=revision, unfilled=unfilled):
            return [_finding(walk, revision, problem, WARNING) for problem in unfilled]
        case Upgraded(walk=walk, revision=revision, outcome=outcome, held=held):
            return findings(walk, revision, held, outcome.written, declarations.of_file(revision.path))
    return []


def findings(
    walk: Walk,
    revision: Script,
    held: dict[int, data.TableData],
    written: frozenset[int],
    declared: declarations.Declarations,
) -> list[Finding]:
    """Data-loss findings of ``revision``'s upgrade, from what the changed tables ``held``
    before (``Walk.recount``) and hold now; ``written``: the tables the upgrade wrote rows in,
    where moved data is looked for."""
    if declared.accepted("data-loss") or walk.rows is None:
        return []
    hint = declared.hint("data-loss") or LOSS_HINT
    return [_verdict(walk, revision, loss, written, hint) for loss in _losses(walk, held)]


Loss = tuple[str, list[data.Column], int]  # (what is lost, the columns lost, the rows they were in)


def _losses(walk: Walk, held: dict[int, data.TableData]) -> list[Loss]:
    """What the tables ``held`` before the step and no longer hold: a table gone, rows deleted,
    a column that held values gone (not converted in place); none where production never held
    data (``Walk.released``)."""
    now = walk.rows.held
    by_name = {table.name: table for table in now.values()}
    released = walk.released  # None: every table and column may hold production's data
    losses: list[Loss] = []
    for oid, before in sorted(held.items(), key=lambda item: item[1].name):  # in the same order every run
        if not before.rows or released is not None and before.name not in released:
            continue  # empty, or new since the base: production never held rows there
        table = walk.tables_before.get(oid)
        columns = list(table.columns.values()) if table else []
        losses += _table_losses(before, now.get(oid) or by_name.get(before.name), columns, released)
    return losses


def _table_losses(
    before: data.TableData,
    after: data.TableData | None,
    columns: list[data.Column],
    released: frozenset[str] | None,
) -> list[Loss]:
    """What one table held ``before`` and not ``after`` (None: it is gone); ``columns``: its
    columns as they were."""
    if after is None:
        return [(f"drops table {before.name}, which held {before.rows} rows", columns, before.rows)]
    losses: list[Loss] = []
    if after.rows < before.rows:
        losses.append(
            (
                f"deletes {before.rows - after.rows} of {before.rows} rows from {before.name}",
                columns,
                before.rows,
            )
        )
    kept = {name for name, non_null in after.columns.values() if non_null}
    for attnum, (column, non_null) in before.columns.items():
        if released is not None and f"{before.name}.{column}" not in released:
            continue  # a column added since the base, dropped before it reaches production
        if non_null and attnum not in after.columns and column not in kept:  # not converted in place
            lost = [c for c in columns if c.attnum == attnum]
            losses.append((f"drops column {before.name}.{column}, which held data", lost, before.rows))
    return losses


def _verdict(walk: Walk, revision: Script, loss: Loss, written: frozenset[int], hint: str) -> Finding:
    """The finding on one ``loss``: a warning when the values moved to a table the step
    ``written`` to, a statement before the drop read them, the downgrade writes the column
    again, or the revision's message says it drops it; else an error ending with ``hint``."""
    what, columns, rows = loss
    upgrade = f"upgrade of {revision.revision} {what}"
    if moved := _moved_to(walk, columns, rows, written):
        message = f"{upgrade}; its values are now in {', '.join(moved)} (moved, not lost)"
    elif read := _read_first(walk.migrator.step_statements, what):
        message = (
            f"{upgrade}; a statement before the drop reads it ({read}): its values may have moved, "
            "converted; check that they arrive where they go"
        )
    elif (dropped := _dropped_column(what)) and (
        rebuilt := revision_source.rebuilt_in_downgrade(revision.path, *dropped)
    ):
        message = (
            f"{upgrade}; its downgrade writes it again (line {rebuilt[0]}: {rebuilt[1]}): check that "
            "those are all the values it held"
        )
    elif said := _said(revision, what):
        message = (
            f"{upgrade}; the revision's message says it means to ({said!r}); say why with "
            "# mks-db: data-loss: <reason>"
        )
    else:
        return _finding(walk, revision, f"{upgrade}{hint}", ERROR)
    return _finding(walk, revision, message, WARNING)


def judge_by_releases(project: Project, server: Server, found: list[Finding], tags: str) -> list[Finding]:
    """``found`` less the data-loss errors on what no release before the revision's own had, for
    a project whose production runs only releases, tagged ``tags`` ([tool.mks-db] release-tags):
    a table or column added and dropped again within one release (``git.releases``; revisions no
    such tag holds yet are the release to come) never held production's data. The schema at the
    end of the release before is built once per release asked about."""
    lost = {
        id(f): name
        for f in found
        if f.check == "data-loss" and f.is_error and (name := _lost_name(f.message))
    }
    tagged = git.releases(project.root, project.version_locations(), tags) if lost else {}
    if not tagged:
        return found
    order = project.revisions_in_order()
    before = _release_before(order, [tagged.get(Path(r.path).resolve(), "") for r in order])

    @functools.cache
    def held(last: int) -> frozenset[str]:  # what production at the end of that release had
        return chain_walk.names_at(project, server, order[: last + 1])

    return [
        f
        for f in found
        if id(f) not in lost or f.revision not in before or lost[id(f)] in held(before[f.revision])
    ]


def _release_before(order: list[Script], releases: list[str]) -> dict[str, int]:
    """Per revision of ``order`` (``releases[i]``: the release of ``order[i]``), the index of the
    last revision before it of another release: where the releases before its own ended (-1:
    none did)."""
    before: dict[str, int] = {}
    for i, revision in enumerate(order):
        if i == 0:
            before[revision.revision] = -1
        elif releases[i - 1] != releases[i]:
            before[revision.revision] = i - 1
        else:
            before[revision.revision] = before[order[i - 1].revision]
    return before


def _lost_name(message: str) -> str | None:
    """What a data-loss message says is dropped or deleted from (``schema.table[.column]``)."""
    named = re.search(r"(?:drops table|drops column|rows from) ([\w$.]+)", message)
    return named[1].rstrip(".,") if named else None


def _said(revision: Script, what: str) -> str | None:
    """The line of the revision's message (its docstring's first paragraph, as ``alembic
    revision -m`` writes it) that names what ``what`` drops together with a word for removing
    it (drop, remove, replace, delete): the loss is the revision's purpose; else None (and for
    rows deleted, which name no table or column so)."""
    name = re.search(r"(?:table|column) \S+?\.?([\w$]+)(?:,|$)", what)
    if name is None:
        return None
    for line in (revision.doc or "").splitlines() + (revision.module.__doc__ or "").splitlines()[:3]:
        words = set(re.findall(r"[\w$]+", line.lower()))
        if name.group(1).lower() in words and words & _REMOVING:
            return line.strip()
    return None


def _dropped_column(what: str) -> tuple[str, str] | None:
    """(table, column) of a dropped column as ``what`` names it (``drops column
    public.sports.img``: ``sports``, ``img``); None for anything else."""
    named = re.match(r"drops column [\w$]+\.([\w$]+)\.([\w$]+)", what)
    return (named[1], named[2]) if named else None


_REMOVING = {"drop", "drops", "remove", "removes", "removed", "replace", "replaces", "delete", "deletes"}


_READS = re.compile(r"^\s*(?:INSERT|UPDATE|WITH|SELECT|CREATE\s+TABLE\s+\S+\s+AS)\b", re.IGNORECASE)


def _read_first(statements: list[str], what: str) -> str | None:
    """A statement of the step that reads the table or column ``what`` says is dropped (a copy
    elsewhere, converted: ``INSERT ... SELECT``, ``UPDATE ... FROM``) before the statement that
    drops it; its start, or None. Only for a dropped table or column, not deleted rows."""
    named = re.match(r"drops (table|column) ([\w$.]+)", what)
    if not named:
        return None
    parts = named[2].split(".")[1:]  # schema.table[.column]
    words = [re.compile(rf"(?<![\w$]){re.escape(part)}(?![\w$])") for part in parts]
    drop = re.compile(r"^\s*(?:DROP\s+TABLE|ALTER\s+TABLE)\b", re.IGNORECASE)
    for statement in statements:
        if drop.match(statement) and all(word.search(statement) for word in words):
            return None  # the drop came first: nothing read it before
        if _READS.match(statement) and all(word.search(statement) for word in words):
            return one_line(statement, 120)
    return None


def _moved_to(walk: Walk, columns: list[data.Column], rows: int, written: frozenset[int]) -> list[str]:
    """The ``written`` tables that now hold every traceable generated value of ``columns``
    (empty when the values cannot be traced or are not all found)."""
    traceable = [c for c in columns if data.traceable(c)]
    tables = [walk.rows.tables[oid] for oid in written if oid in walk.rows.tables]
    if not traceable or not tables:
        return []
    with walk.migrator.idle() as connection:
        values = data.generated_values(connection, traceable, rows)
        found = data.holding(connection, tables, values)
    if not values or set().union(*found.values()) != set(values):
        return []
    return sorted(name for name, hits in found.items() if hits)


def _finding(walk: Walk, revision: Script, message: str, severity: str) -> Finding:
    """A finding at the line of the call that drops the column or table (or deletes from it)."""
    named = _lost_name(message)
    names = list(reversed(named.split(".")[1:])) if named else []  # schema.table[.column]
    line = revision_source.line_naming(revision.path, names)
    return Finding(
        "data-loss", severity, revision.revision, message, walk.project.relpath(revision.path), line
    )
