"""Static checks of revision files, for pre-commit: no database, no import, milliseconds.

**The problem.** A revision file without ``upgrade()`` or ``downgrade()``, or whose ``revision``
is not an identifier, breaks ``alembic upgrade`` or a rollback, and is cheapest to catch as it
is committed.

**Unsafe** (anti-pattern): a downgrade forgotten::

    revision = "b2"
    down_revision = "a1"

    def upgrade():
        op.add_column("account", sa.Column("age", sa.Integer()))

    error downgrade b2: no downgrade() function: every revision needs an upgrade() and an
    exact downgrade() (or '# mks-db: irreversible: <reason>' and a downgrade that raises)

**Safe** (best practice): both functions at module level, ``revision`` made of letters, digits
and ``_``::

    def downgrade():
        op.drop_column("account", "age")

Findings belong to the checks they protect (``heads`` for the identifiers, ``upgrade`` and
``downgrade`` for the functions); a ``down_revision`` naming no revision is the heads check's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mks_db.checks.heads import parse_revision_source
from mks_db.engine.project import Project
from mks_db.errors import ConfigurationError
from mks_db.findings import ERROR, Finding

REVISION_ID = re.compile(r"^[0-9A-Za-z_]+$")


def check_files(project: Project, paths: list[Path]) -> list[Finding]:
    """Findings for the revision files ``paths`` (other files are ignored)."""
    findings = []
    for path in paths:
        findings += _check_file(project, path)
    return findings


def _check_file(project: Project, path: Path) -> list[Finding]:
    source = path.read_text(encoding="utf-8")
    where = project.relpath(path)
    try:
        parsed = parse_revision_source(source, path)
    except ConfigurationError as exc:
        return [Finding("heads", ERROR, None, str(exc), where)]
    if parsed is None:
        return [
            Finding(
                "heads",
                ERROR,
                None,
                'no module-level `revision = "..."`: not an Alembic revision file',
                where,
            )
        ]
    problems = []
    if not REVISION_ID.match(parsed.revision):
        problems.append(
            ("heads", f"revision id {parsed.revision!r} is not an identifier (letters, digits, _)")
        )
    functions = {node.name for node in ast.parse(source).body if isinstance(node, ast.FunctionDef)}
    problems += [
        (
            name,
            f"no {name}() function: every revision needs an upgrade() and an exact downgrade() "
            "(or '# mks-db: irreversible: <reason>' and a downgrade that raises)",
        )
        for name in ("upgrade", "downgrade")
        if name not in functions
    ]
    return [
        Finding(check, ERROR, parsed.revision, message, where, parsed.line) for check, message in problems
    ]


def revision_paths(project: Project, names: list[str]) -> list[Path]:
    """The files among ``names`` that lie in the project's version locations."""
    locations = [p.resolve() for p in project.version_locations()]
    chosen = []
    for name in names:
        path = Path(name).resolve()
        if path.suffix == ".py" and path.exists() and any(path.is_relative_to(d) for d in locations):
            chosen.append(path)
    return chosen
