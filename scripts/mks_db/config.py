"""The pipeline's settings: ``[tool.mks-db]`` in the working directory's pyproject.toml, then flags.

``load_settings(flags)`` reads the file once, checks every value in it and returns the
``Settings`` a command runs with; the commands never read the file or the flags for these
values themselves. A bad value, an unknown key or a file that is not TOML stops the command
(exit status 2) with one line per problem, so a typo never falls back to a default silently.
Secrets never live here: database URLs come from flags or the environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mks_db.database.installs import SUPPORTED_MAJORS
from mks_db.database.server import Timeouts, milliseconds
from mks_db.errors import ConfigurationError
from mks_db.limits import LockLimits
from mks_db.report import FORMATS

KNOWN = {
    "alembic-config": "the project's alembic.ini, relative to pyproject.toml",
    "format": "the default report format: human, json or github",
    "base-ref": "the branch merged revisions live on, for the pre-commit hook (e.g. origin/main)",
    "linear-history": "true for one line of revisions: no merge revision; mks-db rebase joins two heads",
    "forward-only": "true when the project never runs its downgrades: their findings are warnings",
    "release-tags": 'the git tags of the releases production runs (e.g. "v*"), when it runs no other',
    "offline": "true when production runs the rendered SQL (alembic --sql): unrenderable is an error",
    "statement-timeout": "the longest a statement may run in a scratch database (default 60s)",
    "lock-timeout": "the longest a statement may wait for a lock in a scratch database (default 10s)",
    "url-variables": "the environment variables env.py reads its database URL from (set to the scratch URL)",
    "flask-app": "the Flask application of a Flask-Migrate project, as flask --app names it",
    "base-metadata": "package.module:metadata the application creates before its first revision",
    "import-models": "modules the application imports before it migrates: their models join target_metadata",
    "extensions": 'extensions production has and no revision creates (e.g. ["postgis"])',
    "postgres": "production's PostgreSQL major (e.g. 17): the embedded server runs it where installed",
    "deploy": "a table of deploy settings (backup-dir, lock-timeout, stop-command, ...)",
    "locks": "a table of lock-analysis settings (rows, budget-seconds, rewrite-rows, production-rows)",
}
TABLES = ("deploy", "locks")

# The flags of `mks-db deploy` and `backup` that override [tool.mks-db.deploy]: flag -> key.
DEPLOY_FLAGS = {
    "on_failure": "on-failure",
    "backup_dir": "backup-dir",
    "lock_wait": "lock-wait-seconds",
    "verify": "verify",
    "service": "service",
}


@dataclass(frozen=True)
class Settings:
    """What a command runs with: ``[tool.mks-db]``, each value overridden by its flag."""

    alembic_config: str | None = None  # -c, else alembic-config; None: ./alembic.ini
    format: str = "human"  # --format, else format
    base_ref: str | None = None  # the hook's --base, else base-ref
    linear_history: bool = False  # linear-history: no merge revisions, mks-db rebase instead
    forward_only: bool = False  # forward-only: downgrade and roundtrip findings are warnings
    release_tags: str | None = None  # release-tags: production runs only these tags' revisions
    offline: bool = False  # production runs the rendered SQL: SQL that cannot render is an error
    timeouts: Timeouts = Timeouts()  # --statement-timeout/--lock-timeout, else the keys
    postgres: int | None = None  # --postgres, else postgres: production's PostgreSQL major
    url_variables: tuple[str, ...] = ()  # url-variables: env.py's own URL settings, redirected
    base_metadata: str | None = None  # base-metadata: the schema created before the chain
    extensions: tuple[str, ...] = ()  # extensions: made in every scratch database first
    import_models: tuple[str, ...] = ()  # import-models: imported before env.py runs
    flask_app: str | None = None  # --app, else flask-app, else FLASK_APP (Flask's discovery)
    # Of a project of several databases, the one being checked (set by ``commands.run`` for
    # each in turn; not a setting of its own).
    engine: str | None = None
    locks: LockLimits = LockLimits()
    # [tool.mks-db.deploy] as written (keys with dashes), with the flags of deploy and backup
    # over it; mks_db.production.deploy_settings.DeploySettings checks its keys, where deploy
    # and backup use it (the other commands do not import the production modules).
    deploy: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


class SettingsError(ConfigurationError):
    """Bad settings: the message has one line per problem. ``report_format`` is the format the
    report is still written in: the flag's, else the file's when it is valid, else human."""

    def __init__(self, problems: list[str], report_format: str) -> None:
        super().__init__("\n".join(problems))
        self.report_format = report_format


def load_settings(flags: Mapping[str, Any] | None = None, directory: Path | None = None) -> Settings:
    """The settings from ``directory``/pyproject.toml (default: the working directory; not
    searched for in parent directories) and ``flags`` (the parsed flags by their ``dest``;
    an absent or None flag leaves the file's value). Raises ``SettingsError``."""
    flags = {name: value for name, value in (flags or {}).items() if value is not None}
    path = (directory or Path.cwd()) / "pyproject.toml"
    table = _read_table(path, flags.get("format", "human"))
    unknown = sorted(set(table) - set(KNOWN))
    problems = _layout_problems(table, path, unknown)
    values = _single_values(table)
    file_format = _attempt(_format, values.get("format"), None, problems)
    offline, linear, forward = (
        _attempt(_boolean(f"[tool.mks-db] {key}"), values.get(key), False, problems)
        for key in ("offline", "linear-history", "forward-only")
    )
    release_tags = _attempt(_tag_pattern, values.get("release-tags"), None, problems)
    timeouts = _timeouts(values, flags, problems)
    postgres = _postgres_major(values, flags, problems)
    url_variables, extensions, import_models = _name_lists(table, problems)
    base_metadata = _attempt(
        _import_path("[tool.mks-db] base-metadata"), values.get("base-metadata"), None, problems
    )
    locks = _lock_limits(table.get("locks"), flags.get("rows"), problems)
    deploy = _deploy_settings(table, flags)
    report_format = flags.get("format") or (file_format if not unknown else None) or "human"
    if problems:
        raise SettingsError(problems, report_format)
    return Settings(
        alembic_config=_alembic_config(path, values, flags),
        format=report_format,
        base_ref=flags.get("base") or values.get("base-ref"),
        linear_history=linear,
        forward_only=forward,
        release_tags=release_tags,
        offline=offline,
        timeouts=timeouts,
        postgres=postgres,
        url_variables=url_variables,
        base_metadata=base_metadata,
        extensions=extensions,
        import_models=import_models,
        flask_app=flags.get("app") or values.get("flask-app"),
        locks=locks,
        deploy=MappingProxyType(deploy),
    )


def _layout_problems(table: Mapping[str, Any], path: Path, unknown: list[str]) -> list[str]:
    """The problems of the table's keys, one line each: the ``unknown`` ones, then each known
    key given a table where a value belongs, or a value where a table belongs."""
    problems: list[str] = []
    if unknown:
        problems.append(
            f"{path}: unknown [tool.mks-db] setting {', '.join(unknown)}; known: {', '.join(KNOWN)}"
        )
    for key, value in table.items():
        if key in KNOWN and isinstance(value, dict) != (key in TABLES):
            problems.append(
                f"[tool.mks-db] {key} must be a table ([tool.mks-db.{key}])"
                if key in TABLES
                else f"[tool.mks-db] {key} must be a value, not a table"
            )
    return problems


def _single_values(table: Mapping[str, Any]) -> dict[str, str]:
    """The known settings of the table that are single values (not tables or lists), as text."""
    return {
        key: str(value) for key, value in table.items() if key in KNOWN and not isinstance(value, dict | list)
    }


def _attempt(parse: Callable[[str], Any], value: str | None, default: Any, problems: list[str]) -> Any:
    """``parse(value)`` (``default`` when there is no value), or the default with its problem
    noted in ``problems``."""
    if value is None:
        return default
    try:
        return parse(value)
    except ConfigurationError as exc:
        problems.append(str(exc))
        return default


def _timeouts(values: Mapping[str, str], flags: Mapping[str, Any], problems: list[str]) -> Timeouts:
    """The scratch databases' time bounds: statement-timeout and lock-timeout, each overridden
    by its flag (``--statement-timeout``, ``--lock-timeout``); a bad one keeps the default."""
    statement, lock = "statement-timeout", "lock-timeout"
    statement_ms = _attempt(
        _milliseconds(f"[tool.mks-db] {statement}"), values.get(statement), Timeouts.statement_ms, problems
    )
    statement_ms = _attempt(
        _milliseconds(f"--{statement}"), flags.get("statement_timeout"), statement_ms, problems
    )
    lock_ms = _attempt(_milliseconds(f"[tool.mks-db] {lock}"), values.get(lock), Timeouts.lock_ms, problems)
    lock_ms = _attempt(_milliseconds(f"--{lock}"), flags.get("lock_timeout"), lock_ms, problems)
    return Timeouts(statement_ms, lock_ms)


def _postgres_major(values: Mapping[str, str], flags: Mapping[str, Any], problems: list[str]) -> int | None:
    """Production's PostgreSQL major: ``postgres``, overridden by ``--postgres``; None without either."""
    postgres = _attempt(_major("[tool.mks-db] postgres"), values.get("postgres"), None, problems)
    return _attempt(_major("--postgres"), flags.get("postgres"), postgres, problems)


def _name_lists(
    table: Mapping[str, Any], problems: list[str]
) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The lists of names: url-variables, extensions and import-models (each () when absent or bad)."""
    url_variables = _names(
        table.get("url-variables", []),
        problems,
        "url-variables",
        r"[A-Za-z_][A-Za-z0-9_]*",
        'environment variable names such as ["MYAPP_DB_URL"]',
    )
    extensions = _names(
        table.get("extensions", []), problems, "extensions", r"[\w-]+", 'extension names such as ["postgis"]'
    )
    import_models = _names(
        table.get("import-models", []),
        problems,
        "import-models",
        r"[\w.]+",
        'modules such as ["myapp.models"]',
    )
    return url_variables, extensions, import_models


def _deploy_settings(table: Mapping[str, Any], flags: Mapping[str, Any]) -> dict[str, Any]:
    """``[tool.mks-db.deploy]`` as written ({} when it is not a table), with the flags of deploy
    and backup (``DEPLOY_FLAGS``) over it."""
    deploy = dict(table["deploy"]) if isinstance(table.get("deploy"), dict) else {}
    deploy.update({key: flags[flag] for flag, key in DEPLOY_FLAGS.items() if flag in flags})
    return deploy


def _alembic_config(path: Path, values: Mapping[str, str], flags: Mapping[str, Any]) -> str | None:
    """The project's alembic.ini: ``-c``, else alembic-config relative to ``path``'s folder;
    None when neither is given."""
    return flags.get("config") or (
        str(path.parent / values["alembic-config"]) if "alembic-config" in values else None
    )


def _read_table(path: Path, report_format: str) -> dict[str, Any]:
    """``[tool.mks-db]`` of ``path`` ({} without the file)."""
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("mks-db", {})
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(
            [f"{path} is not valid TOML ({exc}); fix it, then run again"], report_format
        ) from None


def _format(value: str) -> str:
    if value not in FORMATS:
        raise ConfigurationError(f"[tool.mks-db] format must be one of {', '.join(FORMATS)}")
    return value


def _milliseconds(name: str) -> Callable[[str], int]:
    """A parser of durations (``90s``, ``5min``, ``500ms``; a bare number is seconds) into
    milliseconds; its error names ``name``."""
    return lambda value: milliseconds(value, name)


def _major(name: str) -> Callable[[str], int]:
    """A parser of a PostgreSQL major (``17``; ``"17"`` and ``17.6`` are read as 17 too)."""

    def parse(value: str) -> int:
        head = value.strip().split(".")[0]
        if not head.isdigit() or not 10 <= int(head) <= 99:
            supported = ", ".join(map(str, SUPPORTED_MAJORS))
            raise ConfigurationError(
                f"{name} must be a PostgreSQL major such as {SUPPORTED_MAJORS[-1]} (supported "
                f"today: {supported}), not {value!r}"
            )
        return int(head)

    return parse


def _import_path(name: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", value):
            raise ConfigurationError(
                f"{name} must name a MetaData as package.module:attribute, not {value!r}"
            )
        return value

    return parse


def _tag_pattern(value: str) -> str:
    """A git tag pattern (``v*``): no space, no leading dash (it would read as an option)."""
    if not value or value.startswith("-") or re.search(r"\s", value):
        raise ConfigurationError(
            f'[tool.mks-db] release-tags must be a tag pattern such as "v*", not {value!r}'
        )
    return value


def _names(value: Any, problems: list[str], key: str, pattern: str, what: str) -> tuple[str, ...]:
    """``key``: a list of names, each matching ``pattern``; else a problem saying it must be a
    list of ``what``."""
    if isinstance(value, list) and all(isinstance(v, str) and re.fullmatch(pattern, v) for v in value):
        return tuple(value)
    problems.append(f"[tool.mks-db] {key} must be a list of {what}, not {value!r}")
    return ()


def _boolean(name: str) -> Callable[[str], bool]:
    def parse(value: str) -> bool:
        if value.lower() not in ("true", "false"):
            raise ConfigurationError(f"{name} must be true or false, not {value.lower()!r}")
        return value.lower() == "true"

    return parse


def _lock_limits(table: Any, rows_flag: int | None, problems: list[str]) -> LockLimits:
    """``[tool.mks-db.locks]`` (rows, budget-seconds, rewrite-rows, production-rows), then ``--rows``."""
    configured = dict(table) if isinstance(table, dict) else {}
    default = LockLimits()

    def number(key: str, kind: type, default: Any, what: str) -> Any:
        value = configured.pop(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            problems.append(f"[tool.mks-db.locks] {key} must be {what}, not {value!r}")
            return default

    rows = number("rows", int, default.rows, "a whole number of rows")
    budget = number("budget-seconds", float, default.budget_seconds, "a number of seconds")
    rewrite_rows = number("rewrite-rows", int, default.rewrite_rows, "a whole number of rows")
    production = configured.pop("production-rows", {})
    production_rows: dict[str, int] = {}
    try:
        production_rows = {str(name): int(count) for name, count in production.items()}
    except (AttributeError, TypeError, ValueError):
        problems.append(
            '[tool.mks-db.locks] production-rows must be a table of "schema.table" = rows, '
            f"not {production!r}"
        )
    if configured:
        problems.append(f"unknown [tool.mks-db.locks] setting {', '.join(configured)}")
    return LockLimits(rows_flag or rows, budget, rewrite_rows, MappingProxyType(production_rows))
