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
  SQL, the tool's configuration files, the versions of the distributions the check names
  (``PACKAGES``) and the source of the modules that read the tool's report, so an unchanged
  revision is never linted twice; an entry is written whole
  or not at all, and one that cannot be read back (cut short, not the violations) is linted
  afresh;
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
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from types import ModuleType

from mks_db.checks import safety, sql_parse, sql_style
from mks_db.database import process
from mks_db.engine import declarations, render, revision_source
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered, write_atomically
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
        runs = [_ToolRun.start(pool, check, root, rendered, cache) for check in tools]
        for run in runs:
            findings += run.findings(project, cache, unparsable)
    return safety.judge_timeouts(findings, session_timeouts)


@dataclass
class _ToolRun:
    """One check's tool over the files it selects: what the cache holds, and a run of the
    tool (in ``future``) for the files it does not."""

    check: ModuleType
    files: list[Rendered]
    key: str
    cached: dict[Path, list[dict] | None]
    todo: list[Rendered]
    future: concurrent.futures.Future | None

    @classmethod
    def start(
        cls,
        pool: concurrent.futures.Executor,
        check: ModuleType,
        root: Path,
        rendered: list[Rendered],
        cache: _Cache,
    ) -> _ToolRun:
        """The run of ``check``'s tool over the ``rendered`` files it selects that ``cache`` lacks."""
        files = [r for r in rendered if check.selects(r)]
        key = _config_key(check, root)
        cached = {r.path: cache.get(check.CHECK, key, r) for r in files}
        todo = [r for r in files if cached[r.path] is None]
        return cls(
            check, files, key, cached, todo, pool.submit(_run_tool, check, root, todo) if todo else None
        )

    def findings(self, project: Project, cache: _Cache, unparsable: set[Path]) -> list[Finding]:
        """The findings on each file but the ``unparsable`` ones, once the tool has run (its
        new violations cached)."""
        raw = self.future.result() if self.future else {}
        for r in self.todo:
            self.cached[r.path] = raw.get(r.path.resolve(), [])
            cache.put(self.check.CHECK, self.key, r, self.cached[r.path])
        files = [r for r in self.files if r.path not in unparsable]
        return [f for r in files for f in _to_findings(project, r, self.check.CHECK, self.cached[r.path])]


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
