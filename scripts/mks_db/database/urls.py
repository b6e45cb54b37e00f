"""Database URLs: parsing with one clear error, and masking for anything that is printed.

The one parser of database URLs in this repository: the backend's settings use it too."""

from __future__ import annotations

import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from mks_db.errors import ConfigurationError

_PASSWORD_IN_TEXT = re.compile(r"(://[^:/@\s]*:)[^@\s]*(@)")


def parse_url(text: str, *, source: str = "DATABASE_URL") -> URL:
    """Parse a PostgreSQL URL, or raise ConfigurationError with one line naming ``source``.

    ``postgres://`` (the scheme some hosts hand out) is accepted as ``postgresql://``.
    The message never repeats the URL's password.
    """
    raw = text.strip()
    if raw.startswith("postgres://"):
        raw = "postgresql://" + raw[len("postgres://") :]
    try:
        url = make_url(raw)
    except ArgumentError:
        # Not echoed, even masked: text that is not a URL may be a password pasted alone.
        raise ConfigurationError(
            f"{source} is not a database URL; expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        ) from None
    if url.get_backend_name() != "postgresql":
        raise ConfigurationError(
            f"{source} names a {url.get_backend_name()!r} database; "
            "expected PostgreSQL: postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
        )
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    return url


def mask_url(url: URL | str) -> str:
    """The URL as text with its password replaced by ``***``."""
    if isinstance(url, str):
        return mask_text(url)
    return url.render_as_string(hide_password=True)


def mask_text(text: str) -> str:
    """Replace every ``user:password@`` found in free text (an error message, a log line)."""
    return _PASSWORD_IN_TEXT.sub(r"\1***\2", text)
