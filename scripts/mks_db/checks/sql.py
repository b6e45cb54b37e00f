"""``mks-db lint``: the rendered SQL of the chosen revisions, checked by ``sql-parse``,
``sql-style`` and ``safety`` together, each finding mapped to the revision file the SQL came from.

The checks are one module each (``sql_parse``, ``sql_style``, ``safety``: what they find and
why); this module only runs them together:

- ``sql-parse`` first, in process, on every rendered file; a file that does not parse gets no
  other finding (one typo, one finding: not echoed by every tool);
- the two external tools in parallel, one thread and one process each for all their files:
  sqlfluff (``sql-style``, where the project configures it) and squawk (``safety``). Each
  check module says which files it takes (``selects``), what to run (``command``) and how to
  read the tool's JSON report (``results``: per file, a list of violations
  ``{"rule", "line", "message", "warning"}``);
- their violations are cached per file under the build directory (``CACHE_DIR``), keyed by the
  SQL, the tool's configuration files, the tool's version and the check module's source, so an
  unchanged revision is never linted twice;
- violations become findings on the revision file, ending with ``(<sql file>:<line>)``; a
  ``safety`` rule the revision acknowledges (``# mks-db: allow <rule>: <reason>``) becomes a
  warning at the declaration's line.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import shutil
import sys
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from mks_db.checks import safety, sql_parse, sql_style
from mks_db.database import process
from mks_db.engine import declarations
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered
from mks_db.errors import ConfigurationError
from mks_db.findings import ERROR, WARNING, Finding

CACHE_DIR = ".lint-cache"


def lint(
    project: Project,
    rendered: list[Rendered],
    out_dir: Path,
    offline: bool = False,
    session_timeouts: set[str] | None = None,
) -> list[Finding]:
    """Findings of ``sql-parse``, ``sql-style`` and ``safety`` for the rendered files.

    ``offline``: the project runs its SQL offline, so a revision that cannot render is an error.
    ``session_timeouts``: the time bounds env.py gave the migrating session, as the walk
    measured them (None: not measured); they decide squawk's timeout rules.
    """
    cache = _Cache(out_dir / CACHE_DIR)
    root = project.root
    findings = [sql_parse.unrendered(project, r, offline) for r in rendered if r.error]
    rendered = [r for r in rendered if not r.error]
    tools = [safety] if not sql_style.configured(root) else [sql_style, safety]
    parse_findings = {r.path: sql_parse.parse(project, r) for r in rendered}
    unparsable = {path for path, found in parse_findings.items() if found}
    findings += [f for found in parse_findings.values() for f in found]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(tools)) as pool:
        runs = []
        for check in tools:
            files = [r for r in rendered if check.selects(r)]
            key = _config_key(check, root)
            todo = [r for r in files if cache.get(check.CHECK, key, r) is None]
            runs.append((check, files, key, todo, pool.submit(_run, check, root, todo) if todo else None))
        for check, files, key, todo, future in runs:
            raw = future.result() if future else {}
            for r in todo:
                cache.put(check.CHECK, key, r, raw.get(r.path.resolve(), []))
            for r in files:
                if r.path not in unparsable:
                    findings += _to_findings(project, r, check.CHECK, cache.get(check.CHECK, key, r))
    return safety.judge_timeouts(findings, session_timeouts)


def _run(check: ModuleType, root: Path, files: list[Rendered]) -> dict[Path, list[dict]]:
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


def _to_findings(project: Project, r: Rendered, check: str, raw: list[dict]) -> list[Finding]:
    allowed = declarations.of_file(r.revision.path).allowed_rules()
    findings = []
    for v in raw:
        where = f"{r.path.name}:{v['line']}" if v["line"] else r.path.name
        message = f"{v['message']} ({where})"
        severity = WARNING if v["warning"] else ERROR
        ack = allowed.get(v["rule"]) if check == safety.CHECK else None
        if ack and ack.reason:
            severity, message = WARNING, f"{message}; acknowledged in the revision: {ack.reason}"
        elif ack:
            message += (
                f" (the '# mks-db: allow {v['rule']}' declaration on line {ack.line} is ignored: "
                "write the reason after a colon)"
            )
        findings.append(
            Finding(
                check,
                severity,
                r.revision.revision,
                message,
                project.relpath(r.revision.path),
                ack.line if ack else None,
                v["rule"],
            )
        )
    return findings


def _config_key(check: ModuleType, root: Path) -> str:
    """The tool's version, its configuration files and the check module (which reads the tool's
    report into cached violations): a change to any of them lints afresh."""
    digest = hashlib.sha256(f"{check.PACKAGE} {version(check.PACKAGE)}".encode())
    digest.update(Path(check.__file__).read_bytes())
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
        path = self._path(check, key, r)
        return json.loads(path.read_text()) if path.is_file() else None

    def put(self, check: str, key: str, r: Rendered, raw: list[dict]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._path(check, key, r).write_text(json.dumps(raw))
