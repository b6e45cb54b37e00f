"""``mks-db lint``: the rendered SQL of the chosen revisions, checked in three layers, each
finding mapped to the revision file the SQL came from.

- ``sql-parse``: every statement parses with PostgreSQL's own grammar (pglast, in process);
- ``sql-style``: sqlfluff, where the project asks for it (a ``.sqlfluff``, or a sqlfluff
  section in pyproject.toml, setup.cfg or tox.ini), on the SQL that people wrote (the text
  given to ``op.execute``, as the rendered file's header records it): style is a project's
  choice, and DDL that Alembic generated has none of its own (one process for all files; a
  file sqlfluff skips or cannot parse is an error, never a silent pass);
- ``safety``: squawk with the repository's ``.squawk.toml`` (without one: squawk's rules less
  its opinions, ``OPINION_RULES``), on upgrade SQL (what production runs). A statement on a
  table the same revision created locks nobody out, so its lock rules do not apply there.
  ``# mks-db: allow <rule>: <reason>`` in the revision file turns that rule's findings into
  acknowledged warnings. Its timeout rules are decided by what the migrating session really
  had, when ``check``'s walk measured it.

A revision that cannot be rendered offline is an error only for a project that says it runs
SQL offline (``[tool.mks-db] offline = true``); otherwise a warning.

The style and safety layers run in parallel. Results are cached per file under the build
directory, keyed by the SQL, the tool's configuration and the tool's version, so an unchanged
revision is never linted twice.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import pglast

from mks_db.engine import declarations, workers
from mks_db.engine.project import Project
from mks_db.engine.render import Rendered, written_lines
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
    findings = [_unrendered(project, r, offline) for r in rendered if r.error]
    rendered = [r for r in rendered if not r.error]
    layers = {}
    if style_configured(root):
        layers["sql-style"] = (
            _style,
            [r for r in rendered if written_lines(r.sql) != set()],  # SQL that people wrote
            _config_key([root / ".sqlfluff", root / ".sqlfluffignore", *_style_files(root)], "sqlfluff"),
        )
    layers |= {
        "safety": (
            _safety,
            [r for r in rendered if r.direction == "upgrade"],
            _config_key([root / ".squawk.toml"], "squawk-cli"),
        ),
    }
    parse_findings = {r.path: _parse(project, r) for r in rendered}
    unparsable = {path for path, found in parse_findings.items() if found}
    findings += [f for found in parse_findings.values() for f in found]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(layers)) as pool:
        futures = []
        for check, (run, files, key) in layers.items():
            todo = [r for r in files if cache.get(check, key, r) is None]
            futures.append((check, files, key, todo, pool.submit(run, root, todo) if todo else None))
        for check, files, key, todo, future in futures:
            raw = future.result() if future else {}
            for r in todo:
                cache.put(check, key, r, raw.get(r.path.resolve(), []))
            for r in files:
                if r.path not in unparsable:  # one typo, one finding: not echoed by every tool
                    findings += _to_findings(project, r, check, cache.get(check, key, r))
    return _judge_timeouts(findings, session_timeouts)


def _judge_timeouts(findings: list[Finding], measured: set[str] | None) -> list[Finding]:
    """squawk asks every file to set its timeouts; what production needs is a migrating session
    that has them, however it got them. Measured set: no finding; measured unset: the advice,
    saying so; not measured (``lint`` alone): the advice, as read from the SQL."""
    judged = []
    for f in findings:
        setting = TIMEOUT_RULES.get(f.rule or "")
        if setting is None or measured is None:
            judged.append(f)
        elif setting not in measured:
            judged.append(
                replace(f, message=f"{f.message}; measured: env.py ran the migrations without {setting}")
            )
    return judged


def style_configured(root: Path) -> bool:
    """Whether the project configures sqlfluff (then ``sql-style`` applies)."""
    return (root / ".sqlfluff").is_file() or any(
        "[tool.sqlfluff" in text or "[sqlfluff" in text
        for text in (p.read_text(encoding="utf-8", errors="replace") for p in _style_files(root))
    )


def _style_files(root: Path) -> list[Path]:
    """The files besides ``.sqlfluff`` where sqlfluff reads a configuration section."""
    return [p for p in (root / "pyproject.toml", root / "setup.cfg", root / "tox.ini") if p.is_file()]


def _unrendered(project: Project, r: Rendered, offline: bool) -> Finding:
    irreversible = declarations.of_file(r.revision.path).accepted("irreversible")
    error = offline and not (irreversible and r.direction == "downgrade")
    why = "" if offline else " (a warning: set [tool.mks-db] offline = true if production runs SQL offline)"
    return Finding(
        "sql-parse",
        ERROR if error else WARNING,
        r.revision.revision,
        f"the {r.direction} SQL cannot be rendered offline: {r.error}{why}",
        project.relpath(r.revision.path),
    )


def _parse(project: Project, r: Rendered) -> list[Finding]:
    try:
        pglast.parser.parse_sql(r.sql)
        return []
    except pglast.parser.ParseError as exc:
        index = exc.args[1] if len(exc.args) > 1 else None  # (message, character index)
        line = r.sql.count("\n", 0, index) + 1 if isinstance(index, int) else None
        where = f"{r.path.name}:{line}" if line else r.path.name
        return [
            Finding(
                "sql-parse",
                ERROR,
                r.revision.revision,
                f"the {r.direction} SQL does not parse ({where}): {exc.args[0]}",
                project.relpath(r.revision.path),
            )
        ]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        raise ConfigurationError(f"{name} is not installed; install the project with pip install -e '.[dev]'")
    return found


_NO_SKIP = (
    "[sqlfluff]\n# set by mks-db: sqlfluff must never skip a file for its size\n"
    "large_file_skip_byte_limit = 0\n"
)


def _style(root: Path, files: list[Rendered]) -> dict[Path, list[dict]]:
    """sqlfluff's violations per file; a file it skipped or did not report is a violation.

    sqlfluff reads the project's ``.sqlfluff`` as usual (it runs from the project's root); an
    extra configuration layered on top forbids skipping files over its size limit.
    """
    override = files[0].path.parent / ".sqlfluff-no-skip"
    override.write_text(_NO_SKIP, encoding="utf-8")
    command = [
        _tool("sqlfluff"),
        "lint",
        "--format",
        "json",
        "--nofail",
        "--disable-progress-bar",
        "--dialect",
        "postgres",
        "--config",
        str(override),
        # Parallel across files once there are enough to pay for the workers' start-up.
        "--processes",
        str(max(1, min(workers.cpus(), len(files) // 20))),
    ]
    reports = _run_json(command, files, root, "sqlfluff")
    written = {r.path.resolve(): written_lines(r.sql) for r in files}
    out: dict[Path, list[dict]] = {}
    for report in reports:
        path = (root / report["filepath"]).resolve()
        by_hand = written.get(path)
        out[path] = [
            {
                "rule": v["code"],
                "line": v.get("start_line_no"),
                "message": v["description"],
                "warning": bool(v.get("warning")),
            }
            for v in report["violations"]
            if by_hand is None or v.get("start_line_no") is None or v["start_line_no"] in by_hand
        ]
    for r in files:
        if r.path.resolve() not in out:
            out[r.path.resolve()] = [
                {
                    "rule": "skipped",
                    "line": None,
                    "warning": False,
                    "message": "sqlfluff did not lint this file (skipped)",
                }
            ]
    return out


def _run_json(command: list[str], files: list[Rendered], root: Path, tool: str) -> list:
    """Run a linter over ``files`` from ``root`` and return its JSON report."""
    result = subprocess.run(
        command + [str(r.path) for r in files], capture_output=True, text=True, cwd=root, check=False
    )
    try:
        return json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        detail = (result.stderr.strip() or result.stdout.strip())[-300:]
        raise ConfigurationError(f"{tool} failed: {detail}") from None


# squawk's rules that give advice rather than prove a defect, so warnings: a migration
# session's timeouts are usually set by env.py for every statement, not by each revision's SQL.
# ``check`` measures whether env.py set them (see _judge_timeouts); the setting each rule asks for:
TIMEOUT_RULES = {"require-lock-timeout": "lock_timeout", "require-statement-timeout": "statement_timeout"}
ADVICE_RULES = set(TIMEOUT_RULES)
# Opinions about column types and style, off unless the project configures squawk itself.
OPINION_RULES = (
    "prefer-bigint-over-int",
    "prefer-identity",
    "prefer-text-field",
    "prefer-timestamp-tz",
    "prefer-robust-stmts",
)
# Rules that hold on a table created in the same revision too (the statement fails outright).
_ALWAYS = {"ban-concurrent-index-creation-in-transaction"}
# What squawk can tell for certain from the SQL breaks production: a NOT NULL column without a
# default fails on any table that holds rows, CONCURRENTLY fails inside a transaction. Without
# a .squawk.toml these are its only errors; its lock advice (index, constraint, type change,
# drop, rename) is a warning, since how long a lock is held depends on the table (the
# ``locks`` check measures it). A project with a .squawk.toml has chosen its rules: all are
# errors there.
CERTAIN_RULES = {"adding-required-field", "ban-concurrent-index-creation-in-transaction"}


def _safety(root: Path, files: list[Rendered]) -> dict[Path, list[dict]]:
    command = [_tool("squawk"), "--reporter", "json", "--no-error-on-unmatched-pattern"]
    configured = (root / ".squawk.toml").is_file()
    if configured:
        command += ["--config", str(root / ".squawk.toml")]
    else:
        command += ["--exclude", ",".join(OPINION_RULES)]
    reports = _run_json(command, files, root, "squawk")
    out: dict[Path, list[dict]] = {r.path.resolve(): [] for r in files}
    new_tables = {r.path.resolve(): _statements_on_new_tables(r.sql) for r in files}
    for v in reports:
        path = (root / v["file"]).resolve()
        line = v["line"] + 1 if isinstance(v.get("line"), int) else None
        if v["rule_name"] not in _ALWAYS and any(a <= (line or 0) <= b for a, b in new_tables.get(path, [])):
            continue  # a table nobody uses yet: its locks block no one
        out.setdefault(path, []).append(
            {
                "rule": v["rule_name"],
                "line": line,
                "warning": v["rule_name"] in ADVICE_RULES
                or not (configured or v["rule_name"] in CERTAIN_RULES),
                "message": f"{v['message']} {v.get('help') or ''}".strip(),
            }
        )
    return out


def _statements_on_new_tables(sql: str) -> list[tuple[int, int]]:
    """The line ranges (1-based, inclusive) of statements on a table that an earlier statement
    of the same SQL created (the CREATE TABLE itself included)."""
    try:
        statements = pglast.parser.parse_sql(sql)
    except pglast.parser.ParseError:
        return []
    created: set[tuple[str, str]] = set()
    ranges = []
    for raw in statements:
        relation = getattr(raw.stmt, "relation", None)
        name = getattr(relation, "relname", None)
        if not name:
            continue
        key = (relation.schemaname or "public", name)
        if type(raw.stmt).__name__ == "CreateStmt":
            created.add(key)
        if key in created:
            start = raw.stmt_location + len(sql[raw.stmt_location :]) - len(sql[raw.stmt_location :].lstrip())
            end = raw.stmt_location + raw.stmt_len if raw.stmt_len else len(sql)
            ranges.append((sql.count("\n", 0, start) + 1, sql.count("\n", 0, end) + 1))
    return ranges


def _to_findings(project: Project, r: Rendered, check: str, raw: list[dict]) -> list[Finding]:
    allowed = declarations.of_file(r.revision.path).allowed_rules()
    findings = []
    for v in raw:
        where = f"{r.path.name}:{v['line']}" if v["line"] else r.path.name
        message = f"{v['message']} ({where})"
        severity = WARNING if v["warning"] else ERROR
        ack = allowed.get(v["rule"]) if check == "safety" else None
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


def _config_key(configs: list[Path], package: str) -> str:
    """The tool's version, its configuration files and this module (which turns the tool's
    output into cached results): a change to any of them lints afresh."""
    digest = hashlib.sha256(f"{package} {version(package)}".encode())
    digest.update(Path(__file__).read_bytes())
    for config in configs:
        digest.update(config.read_bytes() if config.is_file() else b"-")
    return digest.hexdigest()


class _Cache:
    """Lint results per (check, configuration, SQL), one small JSON file each."""

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
