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

A commit that adds a revision together with changes other than models (``mixed-commit``, a
warning) is hard to review and to revert on its own: the guide asks for migrations in a commit
of their own, with the model change they come from.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from mks_db.engine import git
from mks_db.engine.project import Project
from mks_db.engine.revision_files import parse_revision_source
from mks_db.errors import ConfigurationError
from mks_db.findings import ERROR, WARNING, Finding

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


def check_commit(project: Project) -> list[Finding]:
    """A warning when the staged commit adds a revision file together with files that are
    neither revisions nor models (a path with ``model`` in it); nothing outside a repository."""
    try:
        top = git.root(project.root)
        staged = git.run(top, "diff", "--cached", "--name-only", "--diff-filter=ACMRD").splitlines()
        added = git.run(top, "diff", "--cached", "--name-only", "--diff-filter=A").splitlines()
    except ConfigurationError:
        return []
    locations = [p.resolve() for p in project.version_locations()]

    def is_revision(name: str) -> bool:
        return name.endswith(".py") and any((top / name).resolve().is_relative_to(d) for d in locations)

    new = [name for name in added if is_revision(name)]
    others = [n for n in staged if not is_revision(n) and "model" not in n.lower()]
    if not new or not others:
        return []
    shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return [
        Finding(
            "heads",
            WARNING,
            None,
            f"this commit adds {', '.join(Path(n).name for n in new)} with other changes ({shown}): "
            "commit the migration on its own, with the model change it comes from (git restore "
            "--staged <the other files>), so it can be reviewed and reverted alone",
            project.relpath(top / new[0]),
            rule="mixed-commit",
        )
    ]
