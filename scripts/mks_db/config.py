"""The pipeline's settings from ``[tool.mks-db]`` in the working directory's pyproject.toml.

Flags override them; secrets never live here (they come from the environment). An unknown key
is a configuration error, so a typo does not silently fall back to a default.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from mks_db.errors import ConfigurationError

KNOWN = {
    "alembic-config": "the project's alembic.ini, relative to pyproject.toml",
    "format": "the default report format: human, json or github",
    "base-ref": "the branch merged revisions live on, for the pre-commit hook (e.g. origin/main)",
    "offline": "true when production runs the rendered SQL (alembic --sql): unrenderable is an error",
    "statement-timeout": "the longest a statement may run in a scratch database (default 60s)",
    "lock-timeout": "the longest a statement may wait for a lock in a scratch database (default 10s)",
    "deploy": "a table of deploy settings (backup-dir, lock-timeout, stop-command, ...)",
    "locks": "a table of lock-analysis settings (rows, budget-seconds, rewrite-rows, production-rows)",
}


def load_options(directory: Path | None = None) -> dict:
    """``[tool.mks-db]`` of ``directory``/pyproject.toml (default: the working directory)."""
    path = (directory or Path.cwd()) / "pyproject.toml"
    if not path.is_file():
        return {}
    try:
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("mks-db", {})
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML ({exc}); fix it, then run again") from None
    unknown = sorted(set(table) - set(KNOWN))
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown [tool.mks-db] setting {', '.join(unknown)}; known: {', '.join(KNOWN)}"
        )
    options = {key: value if isinstance(value, dict) else str(value) for key, value in table.items()}
    if "alembic-config" in options:
        options["alembic-config"] = str(path.parent / options["alembic-config"])
    return options
