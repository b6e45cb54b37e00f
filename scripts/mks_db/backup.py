"""``mks-db backup`` and ``mks-db restore``: pg_dump in custom format, verified before it counts.

A backup is only a backup once ``pg_restore --list`` has read it back: the file, its size and
its SHA-256 are then recorded beside it (``FILE.json``). ``restore`` refuses a file whose
checksum does not match its record, and asks before replacing a database.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.engine import URL

from mks_db.errors import ConfigurationError, InfrastructureError
from mks_db.server import postgres_bin_dir
from mks_db.urls import mask_text, mask_url


@dataclass(frozen=True)
class Backup:
    path: str
    bytes: int
    sha256: str
    database: str
    created: str


def tool(name: str) -> str:
    """A PostgreSQL client tool (pg_dump, pg_restore, psql): next to the embedded server's
    binaries, else on PATH."""
    for candidate in (postgres_bin_dir() / name, shutil.which(name)):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise InfrastructureError(f"{name} is not installed; install PostgreSQL's client tools")


def libpq_environment(url: URL) -> dict[str, str]:
    """The connection as libpq's variables: the password never appears in a command line."""
    env = {**os.environ}
    for variable, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[variable] = str(value)
    return env


def _run(command: list[str], url: URL, what: str) -> subprocess.CompletedProcess:
    env = libpq_environment(url)
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        detail = mask_text((result.stderr.strip().splitlines() or ["no message"])[-1])
        raise InfrastructureError(f"{what} of {mask_url(url)} failed: {detail}")
    return result


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(url: URL, directory: Path) -> Backup:
    """Dump the database ``url`` names into ``directory``, verify the file, record it.

    Raises InfrastructureError (nothing recorded, partial file removed) when pg_dump fails,
    the directory cannot be written, or pg_restore cannot read the file back.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InfrastructureError(f"cannot create the backup directory {directory}: {exc.strerror}") from None
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{url.database}-{stamp}.dump"
    try:
        _run([tool("pg_dump"), "--format=custom", "--file", str(path)], url, "pg_dump")
        _run([tool("pg_restore"), "--list", str(path)], url, "verifying the backup (pg_restore --list)")
    except InfrastructureError:
        path.unlink(missing_ok=True)
        raise
    record = Backup(str(path), path.stat().st_size, sha256(path), url.database or "", stamp)
    Path(f"{path}.json").write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record


def verify(path: Path) -> Backup:
    """The record of ``path`` if the file still matches it; ConfigurationError otherwise."""
    record_path = Path(f"{path}.json")
    if not path.is_file():
        raise ConfigurationError(f"no backup file {path}")
    if not record_path.is_file():
        raise ConfigurationError(f"{path} has no record ({record_path.name}): only verified backups restore")
    record = Backup(**json.loads(record_path.read_text()))
    if sha256(path) != record.sha256 or path.stat().st_size != record.bytes:
        raise ConfigurationError(
            f"{path} does not match its record (SHA-256 or size differ): the file changed since "
            "the backup was verified; refusing to restore it"
        )
    return record


def restore(path: Path, url: URL) -> Backup:
    """Replace the contents of the database ``url`` names with the verified backup ``path``."""
    record = verify(path)
    _run(
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
