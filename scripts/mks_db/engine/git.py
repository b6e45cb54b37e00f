"""The few questions the commands ask git: the repository's root, the remote's default branch,
whether a ref exists, which files changed against a ref, a file as a ref holds it, the release
(tag) each revision file first came out in, the commit checked out.

A failing git command that the caller cannot do without is a configuration error (exit 2)
naming the command and git's own last line; the rest answer None or False.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from mks_db.database import process
from mks_db.errors import ConfigurationError


def run(cwd: Path, *args: str) -> str:
    """git's standard output; ConfigurationError when git fails."""
    return _git(cwd, *args, check=True).stdout


def root(start: Path) -> Path:
    """The top of the working tree ``start`` is in."""
    return Path(run(start, "rev-parse", "--show-toplevel").strip())


def default_branch(cwd: Path) -> str | None:
    """The remote's default branch as a ref (``origin/main``): what ``origin/HEAD`` points to
    (set by ``git clone``), else ``origin/main`` or ``origin/master`` when one exists; None
    outside a repository or without a remote."""
    found = _git(cwd, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD")
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    return next((ref for ref in ("origin/main", "origin/master") if ref_exists(cwd, ref)), None)


def ref_exists(cwd: Path, ref: str) -> bool:
    """Whether ``ref`` names a commit."""
    return _git(cwd, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode == 0


def changed_files(cwd: Path, since: str, paths: list[Path]) -> set[Path]:
    """Files under ``paths`` added or modified against ``since`` (committed or not), or
    untracked, as resolved paths."""
    top = root(cwd)
    names = [str(p) for p in paths]
    listing = run(top, "diff", "--name-only", "--diff-filter=AM", since, "--", *names)
    untracked = run(top, "ls-files", "--others", "--exclude-standard", "--", *names)
    return {(top / line).resolve() for line in (listing + untracked).splitlines() if line.strip()}


def show(cwd: Path, ref: str, name: str) -> str | None:
    """File ``name`` (relative to the root) as ``ref`` holds it; None when it holds none."""
    result = _git(cwd, "show", f"{ref}:{name}")
    return result.stdout if result.returncode == 0 else None


def where_revision_was(cwd: Path, revision: str, paths: list[Path]) -> tuple[str, str] | None:
    """Where git last had the revision file of id ``revision`` under ``paths`` (any branch):
    (its path from the repository's root, a commit that holds it); None when git never had it
    (or this is no repository)."""
    try:
        top = root(cwd)
    except ConfigurationError:  # not a repository
        return None
    listing = _git(
        top, "log", "--all", "--format=commit %H", "--name-only", f"-S{revision}", "--", *map(str, paths)
    )
    commit = None
    for line in listing.stdout.splitlines():  # newest first: the commit that added, changed or deleted it
        if line.startswith("commit "):
            commit = line.split()[1]
        elif line.strip().endswith(".py") and commit:
            for holder in (commit, f"{commit}^"):  # a deleting commit: its parent still has the file
                shown = _git(top, "show", f"{holder}:{line.strip()}")
                if shown.returncode == 0 and revision in shown.stdout:
                    return line.strip(), _git(top, "rev-parse", holder).stdout.strip()
    return None


def releases(cwd: Path, paths: list[Path], tags: str) -> dict[Path, str]:
    """The release each file under ``paths`` came out in: the first tag matching the pattern
    ``tags`` (``v*``) that holds the commit that added it ("" for a committed file no such tag
    holds yet), by resolved path, for the files there now; a renamed file keeps the commit that
    added it first. Empty outside a repository or in one without such tags."""
    try:
        top = root(cwd)
    except ConfigurationError:  # not a repository
        return {}
    if not _git(top, "tag", "--list", tags).stdout.strip():
        return {}
    log = ("log", "--reverse", "-M", "--diff-filter=AR", "--name-status", "--format=commit %H", "--")
    listing = _git(top, *log, *(str(p.resolve()) for p in paths))
    added: dict[str, str] = {}  # path from the root -> the commit that first added it
    commit = ""
    for line in listing.stdout.splitlines():  # oldest first
        if line.startswith("commit "):
            commit = line.split()[1]
        elif commit and line.strip():
            status, *names = line.split("\t")
            added.setdefault(names[-1], added.get(names[0], commit) if status.startswith("R") else commit)
    commits = sorted(set(added.values()))
    if not commits:
        return {}
    # name-rev names a commit after the nearest tag that holds it (v1.1.0~3): its first release.
    named = _git(top, "name-rev", "--tags", f"--refs={tags}", "--name-only", *commits).stdout.split()
    first = {
        c: "" if n == "undefined" else re.split(r"[~^]", n)[0] for c, n in zip(commits, named, strict=False)
    }
    files = {(top / path).resolve(): commit for path, commit in added.items()}
    return {path: first.get(commit, "") for path, commit in files.items() if path.exists()}


def head_commit() -> str | None:
    """The commit being deployed: the workflow's ``GITHUB_SHA``, else the checkout's HEAD."""
    if os.environ.get("GITHUB_SHA"):
        return os.environ["GITHUB_SHA"]
    return _git(Path.cwd(), "rev-parse", "HEAD").stdout.strip() or None


def _git(cwd: Path, *args: str, check: bool = False) -> subprocess.CompletedProcess:
    return process.run(
        ["git", *args],
        f"git {' '.join(args[:2])}",
        error=ConfigurationError,
        hint="; check the ref given to --since",
        check=check,
        detail=lambda result: process.last_lines(result, 1),
        cwd=cwd,
    )
