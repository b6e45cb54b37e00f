"""The heads check, without a database and without running revision files: each file's
``revision`` and ``down_revision`` are read from its syntax tree.

**The problem.** Two branches that each add a revision on the same parent leave two heads, and
``alembic upgrade head`` refuses to run; so do two files with the same id, a ``down_revision``
naming no revision (a typo, a file lost in a rebase) and a cycle.

**Unsafe** (anti-pattern): two revisions with the same parent::

    # b1.py                          # c1.py
    revision = "b1"                  revision = "c1"
    down_revision = "a1"             down_revision = "a1"

    error heads b1 [multiple-heads]: 2 heads: b1 (...), c1 (...) (a1 splits into b1, c1,
    never merged); merge them: python3 -m alembic merge heads -m "merge <what the branches do>"

**Safe** (best practice): a merge revision with both heads as parents
(``python3 -m alembic merge heads``)::

    revision = "d1"
    down_revision = ("b1", "c1")

Teams that keep one line of revisions say so (``[tool.mks-db] linear-history = true``): then a
merge revision is a finding too, and two heads are joined by ``mks-db rebase``, which
re-points the branch's first revision onto the other head (``mks_db.commands.rebase``).

Rules: ``duplicate-id``, ``missing-parent``, ``cycle`` (a broken graph: nothing can be
migrated, and heads are not counted), ``multiple-heads`` (each head, with the branch points
never merged), ``merge-revision`` (with ``linear-history``) and, against a base ref,
``behind-base`` (``check_behind_base``: a new revision whose parent is older than the base ref's
head).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from mks_db.engine import git
from mks_db.engine.evidence import Graph
from mks_db.engine.project import Project
from mks_db.engine.revision_files import RevisionFile, revision_files
from mks_db.findings import ERROR, Finding

BROKEN_GRAPH = {"duplicate-id", "missing-parent", "cycle"}  # nothing can be migrated then
MERGE_FIX = 'python3 -m alembic merge heads -m "merge <what the branches do>"'
REBASE_FIX = "mks-db rebase (it re-points this branch's first revision onto the other head)"


def joining_fix(linear: bool) -> str:
    """How two heads are joined: a merge revision, or with ``linear-history``, ``mks-db rebase``."""
    return REBASE_FIX if linear else MERGE_FIX


def judge(project: Project, evidence: Graph) -> list[Finding]:
    """The graph's findings (``check_heads``); against ``evidence.base``, also the new revisions
    that do not build on its head (``check_behind_base``)."""
    found = check_heads(project, evidence.files, evidence.linear)
    if evidence.base:
        found += check_behind_base(project, evidence.base, evidence.files, evidence.linear)
    return found


def check_heads(
    project: Project, files: list[RevisionFile] | None = None, linear: bool = False
) -> list[Finding]:
    """Findings of check ``heads`` for the project's revision graph; ``linear`` (the setting
    ``linear-history``): merge revisions are findings too, and two heads are fixed by
    ``mks-db rebase``."""
    files = revision_files(project) if files is None else files
    by_id: dict[str, list[RevisionFile]] = defaultdict(list)
    for rev in files:
        by_id[rev.revision].append(rev)
    graph = {rev_id: same[0] for rev_id, same in by_id.items()}
    broken = _broken_graph(project, by_id, graph)
    if broken:
        return broken  # with a broken graph, counting heads would only repeat the cause
    return _heads(project, graph, linear) + (_merges(project, graph) if linear else [])


def _finding(project: Project, rule: str, message: str, rev: RevisionFile) -> Finding:
    return Finding("heads", ERROR, rev.revision, message, project.relpath(rev.path), rev.line, rule)


def _broken_graph(
    project: Project, by_id: dict[str, list[RevisionFile]], graph: dict[str, RevisionFile]
) -> list[Finding]:
    """What makes the graph unusable: an id used by several files, a parent no file defines, a
    cycle."""
    findings = []
    for rev_id, same in by_id.items():
        if len(same) > 1:
            paths = ", ".join(project.relpath(r.path) for r in same)
            message = (
                f"revision id {rev_id} is used by {len(same)} files ({paths}); "
                "give all but one a new id (python3 -m alembic revision makes one)"
            )
            findings.append(_finding(project, "duplicate-id", message, same[1]))
    for rev in graph.values():
        for parent in rev.parents:
            if parent not in graph:
                message = (
                    f"{rev.revision} has down_revision {parent!r}, which no revision file "
                    "defines; point it at an existing revision (python3 -m alembic heads)"
                )
                findings.append(_finding(project, "missing-parent", message, rev))
    cycle = _find_cycle(graph)
    if cycle:
        message = (
            "revisions form a cycle: " + " -> ".join(cycle) + "; one down_revision must point "
            "at an earlier revision"
        )
        findings.append(_finding(project, "cycle", message, graph[cycle[0]]))
    return findings


def _heads(project: Project, graph: dict[str, RevisionFile], linear: bool) -> list[Finding]:
    """A finding on each head when there is more than one, naming where the line split."""
    children: dict[str, list[str]] = defaultdict(list)
    for rev in graph.values():
        for parent in rev.parents:
            children[parent].append(rev.revision)
    heads = sorted(r for r in graph if not children.get(r))
    if len(heads) < 2:
        return []
    listing = ", ".join(f"{h} ({project.relpath(graph[h].path)})" for h in heads)
    splits = [
        f"{p} splits into {', '.join(sorted(c))}"
        for p, c in sorted(children.items())
        if len(c) > 1 and p in graph
    ]
    where = f" ({'; '.join(splits)}, never merged)" if splits else ""
    fix = ("join them: " if linear else "merge them: ") + joining_fix(linear)
    message = f"{len(heads)} heads: {listing}{where}; {fix}"
    return [_finding(project, "multiple-heads", message, graph[head]) for head in heads]


def _merges(project: Project, graph: dict[str, RevisionFile]) -> list[Finding]:
    """A finding on each merge revision, where ``linear-history`` keeps one line."""
    return [
        _finding(
            project,
            "merge-revision",
            f"{rev.revision} merges {', '.join(rev.parents)}, and [tool.mks-db] "
            f"linear-history = true keeps one line of revisions: delete this file, then {REBASE_FIX}",
            rev,
        )
        for rev in graph.values()
        if len(rev.parents) > 1
    ]


def _find_cycle(graph: dict[str, RevisionFile]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for parent in graph[node].parents:
            if parent not in graph:
                continue
            if state.get(parent) == 1:
                return path[path.index(parent) :] + [parent]
            if parent not in state:
                found = visit(parent)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def check_behind_base(
    project: Project, base: str, files: list[RevisionFile] | None = None, linear: bool = False
) -> list[Finding]:
    """Heads findings for new revisions that revise something older than the base ref's head:
    someone merged a revision meanwhile, and after this branch merges the chain has two heads.
    None when the chain here has one head: a merge revision (``alembic merge heads``, the
    guide's fix) has joined the branch to the base's head. ``files`` are the project's
    revision files, when the caller has read them already."""
    on_base = _paths_on_base(project, base)
    files = revision_files(project) if files is None else files
    if _has_one_head(files):
        return []  # one head: whatever revises an older revision has been merged back in
    old = {f.revision: f for f in files if f.path.resolve() in on_base}
    base_heads = _base_heads(old)
    findings = []
    for new in (f for f in files if f.path.resolve() not in on_base):
        behind = [p for p in new.parents if p in old and p not in base_heads]
        if behind:
            findings.append(_behind_base(project, base, new, behind, base_heads, linear))
    return findings


def _paths_on_base(project: Project, base: str) -> set[Path]:
    """The files of the project's version locations on git ref ``base``, as resolved paths."""
    root = git.root(project.root)
    return {
        (root / name).resolve()
        for name in git.run(
            root, "ls-tree", "-r", "--name-only", base, "--", *[str(p) for p in project.version_locations()]
        ).splitlines()
    }


def _has_one_head(files: list[RevisionFile]) -> bool:
    """Whether exactly one of the revision ``files`` is revised by none of the others."""
    every_parent = {parent for f in files for parent in f.parents}
    return len([f for f in files if f.revision not in every_parent]) == 1


def _base_heads(revisions: dict[str, RevisionFile]) -> list[str]:
    """The ids, sorted, of the ``revisions`` that none of them revises."""
    children = {parent for f in revisions.values() for parent in f.parents}
    return sorted(r for r in revisions if r not in children)


def _behind_base(
    project: Project, base: str, new: RevisionFile, behind: list[str], base_heads: list[str], linear: bool
) -> Finding:
    """The heads error for the ``new`` revision, which revises ``behind`` (older than the heads
    of ``base``): the fix is ``mks-db rebase`` when ``linear``, else a merge revision."""
    return Finding(
        "heads",
        ERROR,
        new.revision,
        f"{new.revision} revises {', '.join(behind)}, but {base} is at "
        f"{', '.join(base_heads)}: merged, the chain would have two heads; set "
        f"down_revision = {base_heads[0]!r} (or run "
        f"{'mks-db rebase' if linear else 'python3 -m alembic merge heads'})",
        project.relpath(new.path),
        new.line,
        "behind-base",
    )
