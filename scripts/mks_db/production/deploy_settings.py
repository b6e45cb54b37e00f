"""``[tool.mks-db.deploy]``: production's deploy settings, every value checked before anything runs.

``from_table`` turns the table (with the flags of ``deploy`` and ``backup`` over it) into
``DeploySettings`` or raises ConfigurationError with one line per problem: an unknown key, a value
of the wrong type (``lock-retries = "3"``), out of range, or not one of its choices
(``on-failure = "rolback"``). The CLI calls it for every command, so a typo stops ``mks-db
heads`` as it stops a deploy, before the stop command, never after. Light on purpose (no
database, no Alembic): it is imported by every command.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mks_db import durations
from mks_db.errors import ConfigurationError

ON_FAILURE = ("stop", "rollback")
# Whether a deploy stops the application (stop: always, the guide's procedure) or leaves it
# running when every pending revision is online (auto: ``mks_db.production.online``).
SERVICE = ("stop", "auto")
VERIFY_MODES = ("restore", "list", "auto")


@dataclass
class DeploySettings:
    """The deploy section of ``[tool.mks-db]``, overridden by flags."""

    backup_dir: str = "backups"
    lock_wait_seconds: float = 30.0
    lock_timeout: str = "5s"
    statement_timeout: str = "5min"
    lock_retries: int = 3
    stop_command: str | None = None
    start_command: str | None = None
    health_url: str | None = None
    health_timeout_seconds: float = 60.0
    # The longest the stop or start command may run before the deploy gives up on it.
    command_timeout_seconds: float = 120.0
    on_failure: str = "stop"
    service: str = "stop"
    # How often the server checks that a migrating client is still there (PostgreSQL 14+;
    # empty: never), so a statement of a killed deploy does not run on.
    client_check_interval: str = "1s"
    # Retention after a successful deploy (mks_db.production.retention): the newest N backups of
    # the database, and/or those younger than D days; unset, nothing is removed.
    keep_backups: int | None = None
    keep_days: float | None = None
    # How the backup is proven before anything changes (mks_db.production.restore.verify_restorable):
    # restored into a scratch database and compared (restore), read back (list), or restore up
    # to 1 GiB and list above (auto).
    verify: str = "auto"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str | os.PathLike) and str(value).strip() else "text"


def _duration(value: Any) -> str | None:
    return (
        None
        if isinstance(value, str) and durations.milliseconds(value, "ms") is not None
        else "a duration such as 500ms, 5s or 5min"
    )


def _number(minimum: float, inclusive: bool, unit: str = "seconds") -> Any:
    def check(value: Any) -> str | None:
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if number and (value >= minimum if inclusive else value > minimum):
            return None
        return f"a number of {unit} {'of at least' if inclusive else 'above'} {minimum:g}"

    return check


def _whole(minimum: int) -> Any:
    def check(value: Any) -> str | None:
        if not isinstance(value, bool) and isinstance(value, int) and value >= minimum:
            return None
        return f"a whole number of {minimum} or more"

    return check


def _choice(choices: tuple[str, ...]) -> Any:
    return lambda value: None if value in choices else f"one of {', '.join(choices)}"


def _url(value: Any) -> str | None:
    ok = isinstance(value, str) and value.startswith(("http://", "https://"))
    return None if ok else "an http:// or https:// URL"


CHECKS = {
    "backup_dir": _text,
    "lock_wait_seconds": _number(0, inclusive=True),
    "lock_timeout": _duration,
    "statement_timeout": _duration,
    "lock_retries": _whole(0),
    "stop_command": _text,
    "start_command": _text,
    "health_url": _url,
    "health_timeout_seconds": _number(0, inclusive=False),
    "command_timeout_seconds": _number(0, inclusive=False),
    "on_failure": _choice(ON_FAILURE),
    "service": _choice(SERVICE),
    "client_check_interval": lambda value: None if value == "" else _duration(value),
    "keep_backups": _whole(1),
    "keep_days": _number(0, inclusive=False, unit="days"),
    "verify": _choice(VERIFY_MODES),
}


def from_table(table: Mapping[str, Any]) -> DeploySettings:
    """``DeploySettings`` from ``[tool.mks-db.deploy]`` (keys with dashes, flags already over them);
    ConfigurationError with one line per problem (see the module)."""
    known = {field.name for field in dataclasses.fields(DeploySettings)}
    assert known == set(CHECKS)  # a new setting gets its check
    values: dict[str, Any] = {}
    problems = []
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in known:
            problems.append(
                f"unknown [tool.mks-db.deploy] setting {key}; known: "
                + ", ".join(sorted(field.replace("_", "-") for field in known))
            )
            continue
        wanted = CHECKS[name](value)
        if wanted:
            problems.append(f"[tool.mks-db.deploy] {key} must be {wanted}, not {value!r}")
            continue
        values[name] = value
    if bool(values.get("stop_command")) != bool(values.get("start_command")):
        problems.append(
            "[tool.mks-db.deploy] stop-command and start-command go together: a deploy that stops "
            "the application must be able to start it again"
        )
    if problems:
        raise ConfigurationError("\n".join(problems))
    return DeploySettings(**values)
