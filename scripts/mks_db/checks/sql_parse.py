"""The sql-parse check: every revision's offline SQL renders, and parses with PostgreSQL's own
grammar (pglast, in process).

**The problem.** Raw SQL in ``op.execute(...)`` is only a string to Python: a typo shows up when
the migration runs on a database. A revision that cannot produce its SQL offline cannot be read
as SQL in review, nor linted.

**Unsafe** (anti-pattern)::

    def upgrade():
        op.execute("UPDATE account SET email = lower(email) WHER id > 0")

    error sql-parse b2: the upgrade SQL does not parse (b2.upgrade.sql:13): syntax error at or near "WHER"

**Safe** (best practice): the statement spelled right; a downgrade that cannot exist declared
``# mks-db: irreversible: <reason>`` (its rendering failure is then a warning)::

    def upgrade():
        op.execute("UPDATE account SET email = lower(email) WHERE id > 0")

A file that does not parse gets no ``sql-style`` or ``safety`` findings (``mks_db.checks.sql``):
one typo, one finding.
"""

from __future__ import annotations

import functools

import pglast

from mks_db.engine import declarations
from mks_db.engine.evidence import RenderedSql
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered
from mks_db.findings import ERROR, WARNING, Finding


def judge(project: Project, evidence: RenderedSql) -> list[Finding]:
    """A finding for each step that could not be rendered, then for each file that does not parse."""
    rendered = evidence.rendered
    found = [unrendered(project, r, evidence.offline) for r in rendered if r.error]
    return found + [f for r in rendered if not r.error for f in parse(project, r)]


@functools.lru_cache(maxsize=1024)
def _parse_error(sql: str) -> pglast.parser.ParseError | None:
    """The parser's error on ``sql``, None when it parses (each SQL is parsed once: the tool
    checks ask too, see ``parses``)."""
    try:
        pglast.parser.parse_sql(sql)
    except pglast.parser.ParseError as exc:
        return exc
    return None


def parses(sql: str) -> bool:
    """Whether ``sql`` parses with PostgreSQL's grammar."""
    return _parse_error(sql) is None


def unrendered(project: Project, r: Rendered, offline: bool) -> Finding:
    """The finding for a step that raised while it rendered (``r.error`` is set).

    An error when the project runs its SQL offline (``offline``), except for the downgrade of a
    revision declared irreversible; otherwise a warning.
    """
    irreversible = declarations.of_file(r.revision.path).accepted("irreversible")
    error = offline and not (irreversible and r.direction == "downgrade")
    why = "" if offline else " (a warning: set [tool.mks-db] offline = true if production runs SQL offline)"
    return Finding(
        "sql-parse",
        ERROR if error else WARNING,
        r.revision.revision,
        f"the {r.direction} SQL cannot be rendered offline: {r.error}{why}",
        project.relpath(r.revision.path),
    )


def parse(project: Project, r: Rendered) -> list[Finding]:
    """One error when ``r.sql`` does not parse, naming the SQL file and line where the parser
    stopped; none when it parses."""
    exc = _parse_error(r.sql)
    if exc is None:
        return []
    index = exc.args[1] if len(exc.args) > 1 else None  # (message, character index)
    line = r.sql.count("\n", 0, index) + 1 if isinstance(index, int) else None
    where = f"{r.path.name}:{line}" if line else r.path.name
    return [
        Finding(
            "sql-parse",
            ERROR,
            r.revision.revision,
            f"the {r.direction} SQL does not parse ({where}): {exc.args[0]}",
            project.relpath(r.revision.path),
        )
    ]
