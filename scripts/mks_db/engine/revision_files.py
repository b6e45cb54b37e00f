"""The revision files as their syntax says: each file's ``revision`` and ``down_revision``,
read without importing the revisions (a file whose ids are computed is run as Alembic would run
it). What the graph's checks (``heads``, ``immutability``, the hook's ``static``) and ``rebase``
read, once per unchanged file."""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from mks_db.engine.project import Project
from mks_db.errors import ConfigurationError


@dataclass(frozen=True)
class RevisionFile:
    revision: str
    parents: tuple[str, ...]
    path: Path
    line: int


def read_revision_file(path: Path) -> RevisionFile | None:
    """``revision`` and ``down_revision`` of a revision file, from its syntax tree.

    Returns None for a Python file that declares no ``revision`` (not a revision file).
    Raises ConfigurationError when the file does not parse or the values are not literals.
    A file is parsed once while it is unchanged (``check`` reads the graph three times).
    """
    stat = path.stat()
    return _read_unchanged(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=4096)
def _read_unchanged(path: Path, mtime_ns: int, size: int) -> RevisionFile | None:  # noqa: ARG001 - the key
    return parse_revision_source(path.read_text(encoding="utf-8"), path)


def parse_revision_source(source: str, path: Path) -> RevisionFile | None:
    """``read_revision_file`` for source text (``path`` names it in messages)."""
    try:
        tree = ast.parse(source, filename=str(path))
    except SyntaxError as exc:
        raise ConfigurationError(
            f"revision file {path}:{exc.lineno} does not parse ({exc.msg}); fix it, then run again"
        ) from None
    values: dict[str, tuple[object, int]] = {}
    evaluated: dict[str, object] | None = None
    for node in tree.body:
        target = value = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
            try:
                values[target.id] = (ast.literal_eval(value), node.lineno)
            except ValueError:  # computed (an expression, a name): read as Alembic reads it
                evaluated = evaluated if evaluated is not None else _run_revision_module(source, path)
                values[target.id] = (evaluated.get(target.id), node.lineno)
    if "revision" not in values:
        return None
    revision, line = values["revision"]
    parents = values.get("down_revision", (None, line))[0]
    if parents is None:
        parents = ()
    elif isinstance(parents, str):
        parents = (parents,)
    return RevisionFile(str(revision), tuple(parents), path, line)


def _run_revision_module(source: str, path: Path) -> dict[str, object]:
    """The names a revision file defines, by running it as Alembic does when it loads the
    file (only when its ids are not literals); ConfigurationError naming the file when it
    raises or its ids are not strings."""
    namespace: dict[str, object] = {
        "__name__": f"mks_db_revision_{abs(hash(str(path)))}",
        "__file__": str(path),
    }
    try:
        exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - Alembic imports it the same way
    except Exception as exc:  # the revision's own code
        raise ConfigurationError(
            f"revision file {path} raised while computing its revision ids: {type(exc).__name__}: {exc}"
        ) from None
    for name in ("revision", "down_revision"):
        value = namespace.get(name)
        ok = (
            value is None
            or isinstance(value, str)
            or (isinstance(value, tuple | list) and all(isinstance(v, str) for v in value))
        )
        if not ok:
            raise ConfigurationError(
                f"revision file {path}: {name} is {value!r}, not a string, a tuple of strings or None"
            )
    return namespace


def revision_files(project: Project, fresh: bool = False) -> list[RevisionFile]:
    """Every revision file of the project; ``fresh``: read anew, not from the cache (after a
    file was rewritten within the same second, with the same size)."""
    files = []
    for directory in project.version_locations():
        for path in sorted(directory.glob("*.py")):
            found = (
                parse_revision_source(path.read_text(encoding="utf-8"), path)
                if fresh
                else read_revision_file(path)
            )
            if found:
                files.append(found)
    return files
