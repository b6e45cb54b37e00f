"""``mks-db rebase [--onto HEAD]``: two heads joined into one line, for teams that keep a
linear history (``[tool.mks-db] linear-history``). No database; one file changes.

Two branches each added revisions on the same parent (the fork). This branch's first revision
is re-pointed onto the other head: its ``down_revision`` (and the ``Revises:`` line of its
docstring, as ``alembic revision`` writes it) names the other head instead of the fork, and
nothing else in any file changes. Which head is this branch's: the one whose revisions the base
branch (``base-ref``, else the remote's default branch) does not hold, or the one ``--onto``
does not name.
"""

from __future__ import annotations

import argparse
import ast
import re
from dataclasses import dataclass
from pathlib import Path

from mks_db.checks.heads import check_heads
from mks_db.commands.common import checked_project
from mks_db.config import Settings
from mks_db.engine import git
from mks_db.engine.project import Project
from mks_db.engine.revision_files import RevisionFile, revision_files
from mks_db.errors import ConfigurationError
from mks_db.report.model import Report


def run(args: argparse.Namespace, settings: Settings, report: Report) -> None:
    project = checked_project(settings, report)
    base = settings.base_ref or git.default_branch(project.root)
    change = plan(project, base, args.onto)
    if change is None:
        report.lines.append("one head: nothing to rebase")
        return
    apply(change)
    report.lines.append(
        f"{change.revision.revision} ({project.relpath(change.revision.path)}) now revises {change.onto} "
        f"instead of {change.fork}: one head, {change.head}; check the branch's revisions on the new "
        "parent: mks-db check --since " + (base or "<the base branch>")
    )
    report.findings += check_heads(project, revision_files(project, fresh=True), settings.linear_history)
    report.revisions = len(project.revisions_in_order())


@dataclass(frozen=True)
class Rebased:
    revision: RevisionFile  # the branch's first revision, now on ``onto``
    fork: str  # its parent before
    onto: str  # the other head, its parent now
    head: str  # the one head left (this branch's)


def plan(project: Project, base: str | None, onto: str | None = None) -> Rebased | None:
    """What ``rebase`` would change; None when the graph has one head. ConfigurationError (one
    line, what to do) when it cannot tell the branches apart or they cannot be put in line."""
    files = revision_files(project)
    graph = {f.revision: f for f in files}
    parents = {p for f in files for p in f.parents}
    heads = sorted(r for r in graph if r not in parents)
    if len(heads) < 2:
        return None
    if len(heads) > 2:
        raise ConfigurationError(
            f"{len(heads)} heads ({', '.join(heads)}): rebase joins two; pass --onto HEAD"
        )
    ours, theirs = _sides(project, heads, graph, base, onto)
    mine = _ancestry(graph, ours) - _ancestry(graph, theirs)  # this branch's own revisions
    merges = [r for r in mine if len(graph[r].parents) > 1]
    if merges:
        raise ConfigurationError(
            f"this branch has the merge revision {', '.join(sorted(merges))}: delete it, then "
            "run mks-db rebase"
        )
    firsts = [graph[r] for r in mine if not set(graph[r].parents) & mine]
    if len(firsts) != 1 or len(firsts[0].parents) != 1:
        raise ConfigurationError(
            f"this branch's revisions ({', '.join(sorted(mine))}) do not start from one parent: "
            "re-point their down_revision by hand"
        )
    return Rebased(firsts[0], firsts[0].parents[0], theirs, ours)


def apply(change: Rebased) -> None:
    """Rewrite the first revision's ``down_revision`` (and its docstring's ``Revises:``)."""
    path = change.revision.path
    source = path.read_text(encoding="utf-8")
    node = _down_revision_value(source, path)
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1]) + _chars(
        lines[node.lineno - 1], node.col_offset
    )
    end = sum(len(line) for line in lines[: node.end_lineno - 1]) + _chars(
        lines[node.end_lineno - 1], node.end_col_offset
    )
    quote = source[start] if source[start] in "'\"" else '"'
    source = source[:start] + f"{quote}{change.onto}{quote}" + source[end:]
    source = re.sub(
        rf"^(Revises:[ \t]*){re.escape(change.fork)}[ \t]*$",
        rf"\g<1>{change.onto}",
        source,
        count=1,
        flags=re.M,
    )
    path.write_text(source, encoding="utf-8")


def _sides(
    project: Project, heads: list[str], graph: dict[str, RevisionFile], base: str | None, onto: str | None
) -> tuple[str, str]:
    """(this branch's head, the other head)."""
    if onto is not None:
        if onto not in heads:
            raise ConfigurationError(f"--onto {onto} is not a head; the heads are {', '.join(heads)}")
        return next(h for h in heads if h != onto), onto
    root = git.root(project.root)
    if base is None or not git.ref_exists(root, base):
        raise ConfigurationError(
            f"two heads ({', '.join(heads)}) and no base branch to tell which is this branch's "
            "(base-ref, origin/HEAD): pass --onto HEAD, the head to build on"
        )
    listed = git.run(root, "ls-tree", "-r", "--name-only", base, "--", *map(str, project.version_locations()))
    on_base = {(root / name).resolve() for name in listed.splitlines()}
    merged = [h for h in heads if graph[h].path.resolve() in on_base]
    if len(merged) != 1:
        raise ConfigurationError(
            f"{base} holds {'both' if merged else 'neither'} of the heads {', '.join(heads)}: "
            "pass --onto HEAD, the head to build on"
        )
    return next(h for h in heads if h not in merged), merged[0]


def _ancestry(graph: dict[str, RevisionFile], head: str) -> set[str]:
    found, todo = set(), [head]
    while todo:
        rev = todo.pop()
        if rev in found or rev not in graph:
            continue
        found.add(rev)
        todo += graph[rev].parents
    return found


def _down_revision_value(source: str, path: Path) -> ast.expr:
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        target = node.target if isinstance(node, ast.AnnAssign) else target
        if isinstance(target, ast.Name) and target.id == "down_revision" and node.value is not None:
            if not isinstance(node.value, ast.Constant):
                break
            return node.value
    raise ConfigurationError(f"{path}: down_revision is not a plain string; edit it by hand")


def _chars(line: str, byte_offset: int) -> int:
    """The character index of ``byte_offset`` (ast counts UTF-8 bytes) in ``line``."""
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8"))
