"""What the SQL checks that run a tool share: ``sql-style`` (sqlfluff) and ``safety`` (squawk)
each run their tool through ``tool_findings``, once for all the files they take.

A tool check's module says which files it takes (``selects``), what to run (``command``) and
how to read the tool's JSON report (``results``: per file, a list of violations
``{"rule", "line", "message", "warning"}``). Here:

- a file that does not parse (``sql_parse.parses``) gets no finding of a tool: one typo, one
  finding (``sql-parse``'s), not echoed by every tool;
- violations are cached per file under the build directory (``CACHE_DIR``), keyed by the SQL,
  the tool's configuration files, the versions of the distributions the check names
  (``PACKAGES``) and the source of the modules that read the tool's report, so an unchanged
  revision is never linted twice; an entry is written whole or not at all, and one that cannot
  be read back (cut short, not the violations) is linted afresh;
- violations become findings on the revision file, ending with ``(<sql file>:<line>)``; a rule
  the revision acknowledges (``# mks-db: allow <rule>: <reason>``), for a check that takes
  acknowledgements (``ACKNOWLEDGED``, as ``safety``), becomes a warning at the declaration's line.

The SQL checks run together, one thread each (``mks_db.checks.judge``).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from mks_db.checks import sql_parse
from mks_db.database import process
from mks_db.engine import declarations, render, revision_source
from mks_db.engine.evidence import RenderedSql
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered, write_atomically
from mks_db.errors import ConfigurationError
from mks_db.findings import ERROR, WARNING, Finding

CACHE_DIR = ".lint-cache"


def tool_findings(check: ModuleType, project: Project, evidence: RenderedSql) -> list[Finding]:
    """The findings of ``check``'s tool on the rendered files it ``selects``, but those that do
    not parse: from the cache, the tool run once over the files the cache lacks."""
    cache = _Cache(evidence.out / CACHE_DIR)
    root = project.root
    files = [r for r in evidence.rendered if not r.error and check.selects(r)]
    key = _config_key(check, root)
    found = {r.path: cache.get(check.CHECK, key, r) for r in files}
    todo = [r for r in files if found[r.path] is None]
    raw = _run_tool(check, root, todo) if todo else {}
    for r in todo:
        found[r.path] = raw.get(r.path.resolve(), [])
        cache.put(check.CHECK, key, r, found[r.path])
    parsed = [r for r in files if sql_parse.parses(r.sql)]
    return [f for r in parsed for f in _to_findings(project, r, check, found[r.path])]


def _run_tool(check: ModuleType, root: Path, files: list[Rendered]) -> dict[Path, list[dict]]:
    """Run a check's tool over ``files`` from ``root``; its violations per file."""
    name, *args = check.command(root, files)
    command = [_tool(name), *args, *(str(r.path) for r in files)]
    # Its exit status says whether it found anything; its JSON report says what.
    result = process.run(command, name, error=ConfigurationError, check=False, cwd=root)
    try:
        report = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise ConfigurationError(
            f"{name} failed ({process.status(result)}):{process.last_lines(result)}"
        ) from None
    return check.results(root, files, report)


def _tool(name: str) -> str:
    """The tool's executable: this environment's (beside the running Python) first."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise ConfigurationError(f"{name} is not installed; install the project with pip install -e '.[dev]'")
    return found


def _statement_line(r: Rendered, line: int | None) -> int | None:
    """The line of the revision file whose call produced the SQL at ``line`` of ``r``'s file
    (the call naming the object the statement names); None when it cannot be told."""
    if not line:
        return None
    return revision_source.line_naming(r.revision.path, revision_source.names_in_sql(r.sql, line))


def _to_findings(project: Project, r: Rendered, check: ModuleType, raw: list[dict]) -> list[Finding]:
    """``check``'s violations on ``r`` as findings on its revision file."""
    allowed = declarations.of_file(r.revision.path).allowed_rules() if check.ACKNOWLEDGED else {}
    findings = []
    for v in raw:
        where = f"{r.path.name}:{v['line']}" if v["line"] else r.path.name
        message = f"{v['message']} ({where})"
        severity = WARNING if v["warning"] else ERROR
        ack = allowed.get(v["rule"])
        if ack and ack.reason:
            severity, message = WARNING, f"{message}; acknowledged in the revision: {ack.reason}"
        elif ack:
            message += (
                f" (the '# mks-db: allow {v['rule']}' declaration on line {ack.line} is ignored: "
                "write the reason after a colon)"
            )
        findings.append(
            Finding(
                check.CHECK,
                severity,
                r.revision.revision,
                message,
                project.relpath(r.revision.path),
                ack.line if ack else _statement_line(r, v["line"]),
                v["rule"],
            )
        )
    return findings


def _config_key(check: ModuleType, root: Path) -> str:
    """The versions of the check's ``PACKAGES`` (the tool and what reads its report), its
    configuration files, and the source of the modules that turn the tool's report into cached
    violations (the check's, ``render``'s for the lines people wrote, and this one): a change to
    any of them lints afresh."""
    digest = hashlib.sha256(" ".join(f"{p} {version(p)}" for p in check.PACKAGES).encode())
    for source in (check.__file__, render.__file__, __file__):
        digest.update(Path(source).read_bytes())
    for config in check.config_files(root):
        digest.update(config.read_bytes() if config.is_file() else b"-")
    return digest.hexdigest()


class _Cache:
    """Violations per (check, configuration, SQL), one small JSON file each."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, check: str, key: str, r: Rendered) -> Path:
        digest = hashlib.sha256(f"{check}\n{key}\n{r.sql}".encode()).hexdigest()
        return self.directory / f"{digest}.json"

    def get(self, check: str, key: str, r: Rendered) -> list[dict] | None:
        """The cached violations; None (a miss) for an entry that is missing, unreadable, cut
        short or not a list of violations, never an error."""
        try:
            raw = json.loads(self._path(check, key, r).read_text(encoding="utf-8"))
        except (OSError, ValueError):  # ValueError: not UTF-8, or not JSON
            return None
        if isinstance(raw, list) and all(isinstance(v, dict) and v.keys() >= _FIELDS for v in raw):
            return raw
        return None

    def put(self, check: str, key: str, r: Rendered, raw: list[dict]) -> None:
        """Store the violations, whole or not at all (``write_atomically``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        write_atomically(self._path(check, key, r), json.dumps(raw))


_FIELDS = {"rule", "line", "message", "warning"}  # what a cached violation holds
