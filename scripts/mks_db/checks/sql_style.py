"""The sql-style check: sqlfluff on the SQL that people wrote in the revisions, where the project
configures sqlfluff (a ``.sqlfluff``, or a sqlfluff section in pyproject.toml, setup.cfg or
tox.ini).

**The problem.** Data revisions carry hand-written SQL that is read once in review and then runs
on production. A statement whose result depends on chance (a ``LIMIT`` without ``ORDER BY``)
can change different rows on each database; ambiguous joins hide what a backfill really does.

**Unsafe** (anti-pattern)::

    def upgrade():
        op.execute(
            "UPDATE account SET email = lower(email)"
            " WHERE id IN (SELECT id FROM account LIMIT 1000)"
        )

    error sql-style b2 [AM09]: LIMIT and OFFSET are used without ORDER BY, which may lead
    to non-deterministic results.

**Safe** (best practice): say which rows::

    def upgrade():
        op.execute(
            "UPDATE account SET email = lower(email)"
            " WHERE id IN (SELECT id FROM account ORDER BY id LIMIT 1000)"
        )

Only the text given to ``op.execute`` is judged, as the rendered file's header records it
(``mks_db.engine.render.written_lines``): DDL that Alembic generated has no style of its own, so
a file without such text is not linted and findings on generated lines are dropped. sqlfluff
never skips a file silently: an override configuration lifts its size limit, and a file missing
from its report (a ``.sqlfluffignore``) is an error, rule ``skipped``.

``judge`` runs sqlfluff where the project configures it, through ``mks_db.checks.sql``, which
reads: ``selects``, ``config_files``, ``command`` (what to run) and ``results`` (its JSON
report, read as violations).
"""

from __future__ import annotations

import sys
from pathlib import Path

from mks_db.checks import sql
from mks_db.engine import workers
from mks_db.engine.evidence import RenderedSql
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered, written_lines
from mks_db.findings import Finding

CHECK = "sql-style"
ACKNOWLEDGED = False  # '# mks-db: allow <rule>' is for safety's rules
PACKAGES = ("sqlfluff",)  # the distributions whose versions key the cached results

_NO_SKIP = (
    "[sqlfluff]\n# set by mks-db: sqlfluff must never skip a file for its size\n"
    "large_file_skip_byte_limit = 0\n"
)


def judge(project: Project, evidence: RenderedSql) -> list[Finding]:
    """sqlfluff's findings on the text people wrote, where the project configures sqlfluff."""
    if not configured(project.root):
        return []
    return sql.tool_findings(sys.modules[__name__], project, evidence)


def configured(root: Path) -> bool:
    """Whether the project configures sqlfluff (only then does ``sql-style`` apply)."""
    return (root / ".sqlfluff").is_file() or any(
        "[tool.sqlfluff" in text or "[sqlfluff" in text
        for text in (p.read_text(encoding="utf-8", errors="replace") for p in _section_files(root))
    )


def selects(r: Rendered) -> bool:
    """Whether ``r`` holds SQL that people wrote (a file without the record counts whole)."""
    return written_lines(r.sql) != set()


def config_files(root: Path) -> list[Path]:
    """The files whose content decides sqlfluff's results (present or not)."""
    return [root / ".sqlfluff", root / ".sqlfluffignore", *_section_files(root)]


def _section_files(root: Path) -> list[Path]:
    """The files besides ``.sqlfluff`` where sqlfluff reads a configuration section."""
    return [p for p in (root / "pyproject.toml", root / "setup.cfg", root / "tox.ini") if p.is_file()]


def command(root: Path, files: list[Rendered]) -> list[str]:
    """sqlfluff's command line, without the files; it runs from the project's root, so it reads
    the project's configuration as usual, with an override on top that forbids skipping files
    over its size limit (written beside the rendered files)."""
    override = files[0].path.parent / ".sqlfluff-no-skip"
    override.write_text(_NO_SKIP, encoding="utf-8")
    return [
        "sqlfluff",
        "lint",
        "--format",
        "json",
        "--nofail",
        "--disable-progress-bar",
        "--dialect",
        "postgres",
        "--config",
        str(override),
        # Parallel across files once there are enough to pay for the workers' start-up.
        "--processes",
        str(max(1, min(workers.cpus(), len(files) // 20))),
    ]


def results(root: Path, files: list[Rendered], report: list) -> dict[Path, list[dict]]:
    """The violations per file (resolved path) on the lines people wrote; a file sqlfluff did
    not report is one violation, rule ``skipped``."""
    written = {r.path.resolve(): written_lines(r.sql) for r in files}
    out: dict[Path, list[dict]] = {}
    for file_report in report:
        path = (root / file_report["filepath"]).resolve()
        by_hand = written.get(path)
        out[path] = [
            {
                "rule": v["code"],
                "line": v.get("start_line_no"),
                "message": v["description"],
                "warning": bool(v.get("warning")),
            }
            for v in file_report["violations"]
            if by_hand is None or v.get("start_line_no") is None or v["start_line_no"] in by_hand
        ]
    for r in files:
        if r.path.resolve() not in out:
            out[r.path.resolve()] = [
                {
                    "rule": "skipped",
                    "line": None,
                    "warning": False,
                    "message": "sqlfluff did not lint this file (skipped)",
                }
            ]
    return out
