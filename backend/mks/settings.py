"""The backend's database settings, from the environment and ``backend/.env``.

``DATABASE_URL`` (or ``MKS_DATABASE_URL``) names the database; ``MKS_USE_POSTGRESQL`` tells the
application to use it; ``MKS_ALEMBIC_CONFIG`` names the alembic.ini of the deployed migrations
(the health check's head). ``backend/.env`` is read with python-dotenv; a variable set in the real
environment always wins over the file. A URL that is shown anywhere has its password masked.

``MKS_LOCK_TIMEOUT`` and ``MKS_STATEMENT_TIMEOUT`` bound every migration session (env.py); they
are read from the real environment only, which is what ``mks-db`` keys its rendered SQL on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import URL

from mks_db.database.urls import parse_url
from mks_db.errors import ConfigurationError

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
URL_VARIABLES = ("DATABASE_URL", "MKS_DATABASE_URL")
# The alembic.ini of the migrations deployed with the code: an installed package carries none.
ALEMBIC_CONFIG_VARIABLE = "MKS_ALEMBIC_CONFIG"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# PostgreSQL setting -> (variable, default): the timeouts of every migration session.
MIGRATION_TIMEOUTS = {
    "lock_timeout": ("MKS_LOCK_TIMEOUT", "5s"),
    "statement_timeout": ("MKS_STATEMENT_TIMEOUT", "5min"),
}
_DURATION = re.compile(r"(?P<number>[0-9]+)(?P<unit>ms|s|min|h|d)?")
_MILLISECONDS = {None: 1, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_MAX_MILLISECONDS = 2**31 - 1  # PostgreSQL keeps a timeout in milliseconds in a 32-bit integer


class SettingsError(ValueError):
    """A setting is malformed; the message is one line naming the variable and the fix."""


@dataclass(frozen=True)
class Settings:
    database_url: URL | None
    use_postgresql: bool

    @property
    def masked_database_url(self) -> str | None:
        """The URL with its password hidden, for logs and messages."""
        if self.database_url is None:
            return None
        return self.database_url.render_as_string(hide_password=True)


def _values(environ: Mapping[str, str] | None, env_file: Path | None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) over ``env_file`` (if it exists)."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    return values


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> Settings:
    """Read the settings: ``environ`` (default ``os.environ``) over ``env_file`` (if it exists)."""
    values = _values(environ, env_file)
    url = None
    for name in URL_VARIABLES:
        if values.get(name, "").strip():
            url = parse_database_url(values[name], name)
            break
    return Settings(
        database_url=url,
        use_postgresql=_parse_bool(values.get("MKS_USE_POSTGRESQL", ""), "MKS_USE_POSTGRESQL"),
    )


def configured_alembic_ini(
    environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE
) -> Path | None:
    """The alembic.ini ``MKS_ALEMBIC_CONFIG`` names (None: unset), read like ``load_settings``
    but on its own, so that a malformed DATABASE_URL does not hide where the migrations are."""
    value = _values(environ, env_file).get(ALEMBIC_CONFIG_VARIABLE, "").strip()
    return Path(value).expanduser() if value else None


def parse_database_url(text: str, variable: str = "DATABASE_URL") -> URL:
    """Parse a PostgreSQL URL that names a database, or raise SettingsError in one line (the
    parsing itself is the pipeline's, ``mks_db.database.urls``: one parser for both)."""
    try:
        url = parse_url(text, source=variable)
    except ConfigurationError as exc:
        raise SettingsError(str(exc)) from None
    if not url.database:
        raise SettingsError(f"{variable} names no database; add /DATABASE to the end of the URL")
    return url


def _parse_bool(text: str, variable: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise SettingsError(f"{variable}={text!r} is not a boolean; use true or false")


def migration_timeouts(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each timeout of ``MIGRATION_TIMEOUTS`` from ``environ`` (default ``os.environ``; unset or
    empty: its default), validated: the values reach the server and the offline SQL production
    runs, so a malformed one is one line naming its variable, never part of a statement."""
    values = os.environ if environ is None else environ
    return {
        setting: parse_duration(values.get(variable, "").strip() or default, variable)
        for setting, (variable, default) in MIGRATION_TIMEOUTS.items()
    }


def parse_duration(text: str, variable: str) -> str:
    """``text`` if it is a duration PostgreSQL accepts for a timeout (an integer with an optional
    unit ms, s, min, h or d; no unit means milliseconds), else SettingsError naming ``variable``."""
    match = _DURATION.fullmatch(text)
    if match is None:
        raise SettingsError(
            f"{variable}={text!r} is not a PostgreSQL duration; expected an integer with an optional "
            "unit ms, s, min, h or d, such as 500ms, 5s or 5min"
        )
    if int(match["number"]) * _MILLISECONDS[match["unit"]] > _MAX_MILLISECONDS:
        raise SettingsError(
            f"{variable}={text!r} is too long; PostgreSQL allows at most 2147483647ms (under 25d)"
        )
    return text
