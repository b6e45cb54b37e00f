"""``mks-db restore``: a verified backup back into the database a URL names."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL

from mks_db.backup import Backup, verify
from mks_db.libpq import run_tool, tool


def restore(path: Path, url: URL) -> Backup:
    """Replace the contents of the database ``url`` names with the verified backup ``path``."""
    record = verify(path)
    run_tool(
        [
            tool("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            "--exit-on-error",
            "--dbname",
            url.database or "",
            str(path),
        ],
        url,
        "pg_restore",
    )
    return record
