"""The safety check: squawk on each revision's upgrade SQL (what production runs), for
statements that take a lock production cannot afford or fail on a table that holds rows.

**The problem.** A statement can be correct and still block production: ``CREATE INDEX``
without ``CONCURRENTLY`` blocks every write to the table for the whole build, and
``ADD COLUMN ... NOT NULL`` without a default fails on a table that holds rows. On a developer's
small database both finish at once.

**Unsafe** (anti-pattern)::

    def upgrade():
        op.create_index("ix_account_email", "account", ["email"])

    error safety b2 [require-concurrent-index-creation]: During normal index creation, table
    updates are blocked, but reads are still allowed. ...

**Safe** (best practice): build the index concurrently, in an autocommit block, alone in its
revision::

    def upgrade():
        with op.get_context().autocommit_block():
            op.create_index("ix_account_email", "account", ["email"], postgresql_concurrently=True)

Which rules, and how severe: the project's ``.squawk.toml`` decides, every finding an error
there; without one, squawk's rules less its opinions (``OPINION_RULES``), errors only for what
is certain from the SQL (``CERTAIN_RULES``), its lock advice warnings. A statement on a table
the same revision created locks nobody out, so its lock rules do not apply there. squawk's
timeout rules (``TIMEOUT_RULES``) are advice about the migrating session, which env.py sets up:
``judge_timeouts`` answers them by what the session really had when ``check``'s walk measured
it. ``# mks-db: allow <rule>: <reason>`` in the revision file acknowledges a rule
(``mks_db.checks.sql`` turns its findings into warnings).

``judge`` runs squawk through ``mks_db.checks.sql``, which reads: ``selects``,
``config_files``, ``command`` (what to run) and ``results`` (its JSON report, read as
violations).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import pglast

from mks_db.checks import sql
from mks_db.engine.evidence import RenderedSql
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered
from mks_db.findings import WARNING, Finding

CHECK = "safety"
ACKNOWLEDGED = True  # '# mks-db: allow <rule>: <reason>' makes a rule's finding a warning
# The distributions whose versions key the cached results: squawk, and pglast (``results``
# reads which statements act on a table the same SQL created).
PACKAGES = ("squawk-cli", "pglast")

# squawk's rules that give advice rather than prove a defect, so warnings: a migration
# session's timeouts are usually set by env.py for every statement, not by each revision's SQL.
# ``check`` measures whether env.py set them (see judge_timeouts); the setting each rule asks for:
TIMEOUT_RULES = {"require-lock-timeout": "lock_timeout", "require-statement-timeout": "statement_timeout"}
ADVICE_RULES = set(TIMEOUT_RULES)
# Opinions about column types and style, off unless the project configures squawk itself.
OPINION_RULES = (
    "prefer-bigint-over-int",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
)
# Rules that hold on a table created in the same revision too (the statement fails outright).
_ALWAYS = {"ban-concurrent-index-creation-in-transaction"}
# What squawk can tell for certain from the SQL breaks production: a NOT NULL column without a
# default fails on any table that holds rows, CONCURRENTLY fails inside a transaction. Without
# a .squawk.toml these are its only errors; its lock advice (index, constraint, type change,
# drop, rename) is a warning, since how long a lock is held depends on the table (the
# ``locks`` check measures it). A project with a .squawk.toml has chosen its rules: all are
# errors there.
CERTAIN_RULES = {"adding-required-field", "ban-concurrent-index-creation-in-transaction"}


def judge(project: Project, evidence: RenderedSql) -> list[Finding]:
    """squawk's findings on the upgrade SQL, its timeout rules answered by the session the walk
    measured (``judge_timeouts``)."""
    found = sql.tool_findings(sys.modules[__name__], project, evidence)
    return judge_timeouts(found, evidence.session_timeouts)


def selects(r: Rendered) -> bool:
    """Upgrade SQL only: a downgrade drops what its upgrade made."""
    return r.direction == "upgrade"


def config_files(root: Path) -> list[Path]:
    """The files whose content decides squawk's results (present or not)."""
    return [root / ".squawk.toml"]


def command(root: Path, files: list[Rendered]) -> list[str]:
    """squawk's command line, without the files."""
    command = ["squawk", "--reporter", "json", "--no-error-on-unmatched-pattern"]
    if (root / ".squawk.toml").is_file():
        return command + ["--config", str(root / ".squawk.toml")]
    return command + ["--exclude", ",".join(OPINION_RULES)]


def results(root: Path, files: list[Rendered], report: list) -> dict[Path, list[dict]]:
    """The violations per file (resolved path), less lock rules on tables the same SQL created."""
    configured = (root / ".squawk.toml").is_file()
    out: dict[Path, list[dict]] = {r.path.resolve(): [] for r in files}
    new_tables = {r.path.resolve(): statements_on_new_tables(r.sql) for r in files}
    for v in report:
        path = (root / v["file"]).resolve()
        line = v["line"] + 1 if isinstance(v.get("line"), int) else None
        if v["rule_name"] not in _ALWAYS and any(a <= (line or 0) <= b for a, b in new_tables.get(path, [])):
            continue  # a table nobody uses yet: its locks block no one
        out.setdefault(path, []).append(
            {
                "rule": v["rule_name"],
                "line": line,
                "warning": v["rule_name"] in ADVICE_RULES
                or not (configured or v["rule_name"] in CERTAIN_RULES),
                "message": f"{v['message']} {v.get('help') or ''}".strip(),
            }
        )
    return out


def statements_on_new_tables(sql: str) -> list[tuple[int, int]]:
    """The line ranges (1-based, inclusive) of statements on a table that an earlier statement
    of the same SQL created (the CREATE TABLE itself included)."""
    try:
        statements = pglast.parser.parse_sql(sql)
    except pglast.parser.ParseError:
        return []
    created: set[tuple[str, str]] = set()
    ranges = []
    for raw in statements:
        relation = getattr(raw.stmt, "relation", None)
        name = getattr(relation, "relname", None)
        if not name:
            continue
        key = (relation.schemaname or "public", name)
        if type(raw.stmt).__name__ == "CreateStmt":
            created.add(key)
        if key in created:
            start = raw.stmt_location + len(sql[raw.stmt_location :]) - len(sql[raw.stmt_location :].lstrip())
            end = raw.stmt_location + raw.stmt_len if raw.stmt_len else len(sql)
            ranges.append((sql.count("\n", 0, start) + 1, sql.count("\n", 0, end) + 1))
    return ranges


def judge_timeouts(findings: list[Finding], measured: set[str] | None) -> list[Finding]:
    """squawk asks every file to set its timeouts; what production needs is a migrating session
    that has them, however it got them. ``measured``: the settings env.py gave that session.
    Measured set: no finding; measured unset: the advice, saying so; not measured (None, as in
    ``lint`` alone): the advice, as read from the SQL. Other findings pass unchanged."""
    judged = []
    for f in findings:
        setting = TIMEOUT_RULES.get(f.rule or "") if f.check == CHECK else None
        if setting is None or measured is None:
            judged.append(f)
        elif setting not in measured:
            judged.append(
                replace(f, message=f"{f.message}; measured: env.py ran the migrations without {setting}")
            )
    return judged


# squawk's rules whose failure the walk measures: a NOT NULL column added to a table with rows.
MEASURED_RULES = {"adding-required-field", "adding-not-nullable-field"}


def judge_by_the_walk(findings: list[Finding], steps: list, unfilled: set[str]) -> list[Finding]:
    """squawk reads "NOT NULL without a default" from the SQL alone; the walk ran the upgrade on
    generated rows in every table it could fill. An upgrade that passed there (the column is
    filled in the same revision, or its table is new) makes such a finding a warning saying so;
    one that failed is confirmed (the ``upgrade`` check reports it too) and stays an error, as
    does one on a revision the walk did not run or whose tables it could not all fill
    (``unfilled``: those revisions). What counts is each revision's first upgrade, the one with
    the rows: the walk may upgrade it again on empty tables, or while rebuilding a database."""
    upgraded: dict[str, bool] = {}
    for step in steps:
        if step.action == "upgrade":
            upgraded.setdefault(step.revision, step.ok)
    judged = []
    for f in findings:
        measured = f.check == CHECK and f.rule in MEASURED_RULES and f.is_error
        if measured and upgraded.get(f.revision) and f.revision not in unfilled:
            f = replace(
                f,
                severity=WARNING,
                message=f"{f.message}; measured: the upgrade of {f.revision} passed with generated "
                "rows in every table (the column is filled in the revision, or its table is new)",
            )
        judged.append(f)
    return judged
