"""The immutability check: a revision file that exists on the base ref must not change.

**The problem.** Production has already run what the base ref holds: an edit to one of its
revision files never reaches production, and every database built later from the edited file
differs from production.

**Unsafe** (anti-pattern): on a branch, ``b2`` (already on main) gets a server default::

    op.add_column("account", sa.Column("age", sa.Integer(), server_default="0"))  # was without

    error immutability b2: revision file migrations/versions/b2.py was changed after it
    reached main: production has run it; restore it and put the change in a new revision

**Safe** (best practice): the change in a new revision; ``b2`` keeps its code::

    revision = "c3"
    down_revision = "b2"

    def upgrade():
        op.alter_column("account", "age", existing_type=sa.Integer(), server_default="0")

Allowed: changes to comments, docstrings and formatting only (the file's syntax tree without
docstrings is the same), under its name or a new one. Anything else, or deleting the file, is
an error naming it. Against the same ref, a new revision whose parent is not the ref's head is
a ``heads`` error, rule ``behind-base`` (``mks_db.checks.heads.check_behind_base``).
"""

from __future__ import annotations

import ast
from pathlib import Path

from mks_db.engine import git
from mks_db.engine.evidence import Graph
from mks_db.engine.project import Project
from mks_db.engine.revision_files import parse_revision_source
from mks_db.findings import ERROR, Finding


def judge(project: Project, evidence: Graph) -> list[Finding]:
    """Against ``evidence.base``, the merged revision files changed or deleted; none without a base."""
    return check_immutability(project, evidence.base) if evidence.base else []


def check_immutability(project: Project, base: str) -> list[Finding]:
    """Findings for revision files changed or deleted against git ref ``base``."""
    root = git.root(project.root)
    locations = [str(p) for p in project.version_locations()]
    listing = git.run(root, "diff", "--name-status", "--diff-filter=MDR", base, "--", *locations)
    findings = []
    for line in listing.splitlines():
        status, *names = line.split("\t")
        old_name = names[0]
        path = root / names[-1]
        if not old_name.endswith(".py"):
            continue
        old_source = git.show(root, base, old_name)
        if old_source is None or "revision" not in old_source:
            continue
        revision = _revision_id(old_source, old_name)
        if status.startswith("D") or not path.is_file():
            what = "was deleted"
        elif _same_code(old_source, path.read_text(encoding="utf-8")):
            continue  # comments, docstrings or formatting only, under its name or a new one
        else:
            what = "was changed" if status.startswith("M") else f"was renamed to {names[-1]}"
        findings.append(
            Finding(
                "immutability",
                ERROR,
                revision,
                f"revision file {old_name} {what} after it reached {base}: production has run it; "
                "restore it and put the change in a new revision (python3 -m alembic revision -m ...)",
                project.relpath(path) if path.exists() else old_name,
            )
        )
    return findings


def _revision_id(source: str, name: str) -> str | None:
    found = parse_revision_source(source, Path(name))
    return found.revision if found else None


def _same_code(old: str, new: str) -> bool:
    """Whether two sources differ only in comments, docstrings and formatting."""
    try:
        return _code(old) == _code(new)
    except SyntaxError:
        return False


def _code(source: str) -> str:
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree, include_attributes=False)
