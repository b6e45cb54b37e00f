"""Run ``mks-db check`` on the Alembic chains that widely used packages ship, and count its verdicts.

    python bench/real_chains.py [--only NAME] [--venv PATH] [--database-url URL] [--timeout SECONDS]

Opt-in: nothing here runs in the test suite. The packages are installed, unmodified, in a
separate virtual environment (default ``/tmp/realchains-venv``) together with ``mks-db``::

    python3 -m venv /tmp/realchains-venv
    /tmp/realchains-venv/bin/pip install -q -e . optuna mlflow-skinny dagster

For each chain, a temporary directory gets an ``alembic.ini`` that configures Alembic exactly as
the package's own code does (see ``CHAINS``); ``mks-db check --format json`` (the venv's console
script) then runs there with ``DATABASE_URL`` unset, so it starts its embedded PostgreSQL, unless
``--database-url`` names a server. Per chain it prints the revisions, the wall time, the exit
status and the findings counted by severity, check and rule, and writes the full JSON report to
``build/real-chains/<name>.json`` (``build/`` is ignored by git) with ``summary.json`` beside it.

A chain that cannot be set up (package missing), runs past ``--timeout`` or prints no JSON gets
one ``FAILED`` line with the reason, and the next chain runs. The exit status is 0 when every
chain produced a report, whatever its findings (judging them is a human's job: see the "Real
chains" section of ``docs/benchmarks.md``), and 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "real-chains"
DEFAULT_VENV = Path("/tmp/realchains-venv")
# mks-db replaces it with each scratch database's URL; only the driver matters.
PLACEHOLDER_URL = "postgresql+psycopg2://localhost/placeholder"


@dataclass(frozen=True)
class Chain:
    """One package's Alembic chain and how the package itself configures Alembic for it.

    ``ini`` is the package's own alembic.ini (relative to the package directory), which the
    package loads with ``alembic.config.Config``; ``script_location`` is what the package then
    sets programmatically (``None``: it keeps the ini's value, a ``package:path`` location);
    ``set_url`` is whether it also sets ``sqlalchemy.url`` (mks-db serves the scratch URL either
    way, through ``sqlalchemy.url``, ``$DATABASE_URL`` and ``config.attributes['connection']``).
    """

    name: str
    module: str
    dists: tuple[str, ...]
    ini: str
    script_location: str | None
    set_url: bool
    how: str


CHAINS = (
    Chain(
        name="optuna",
        module="optuna",
        dists=("optuna",),
        ini="storages/_rdb/alembic.ini",
        script_location="storages/_rdb/alembic",
        set_url=True,
        how="RDBStorage._create_alembic_config: Config(_rdb/alembic.ini), then set_main_option "
        "script_location=<_rdb>/alembic and sqlalchemy.url=<storage url>",
    ),
    Chain(
        name="mlflow",
        module="mlflow",
        dists=("mlflow", "mlflow-skinny"),
        ini="store/db_migrations/alembic.ini",
        script_location="store/db_migrations",
        set_url=True,
        how="mlflow.store.db.utils._get_alembic_config: Config(db_migrations/alembic.ini), then "
        "script_location=<mlflow>/store/db_migrations and sqlalchemy.url=<db url>; "
        "_upgrade_db passes config.attributes['connection']",
    ),
    Chain(
        name="dagster",
        module="dagster",
        dists=("dagster",),
        ini="_core/storage/runs/sqlite/alembic/alembic.ini",
        script_location=None,
        set_url=False,
        how="dagster._core.storage.sql.get_alembic_config: Config(<storage>/alembic/alembic.ini), "
        "script_location=dagster:_core/storage/alembic; run_alembic_upgrade passes "
        "config.attributes['connection']",
    ),
)


def locate(python: Path, chain: Chain) -> tuple[Path, str, str]:
    """The package's directory, its distribution name and version, as the venv's Python sees them."""
    probe = (
        "import importlib.util, importlib.metadata as md, json, sys\n"
        f"spec = importlib.util.find_spec({chain.module!r})\n"
        "if spec is None: sys.exit('not installed')\n"
        "found = []\n"
        f"for d in {list(chain.dists)!r}:\n"
        "    try: found.append((d, md.version(d)))\n"
        "    except md.PackageNotFoundError: pass\n"
        "dist, version = found[0] if found else ('?', '?')\n"
        "print(json.dumps([spec.submodule_search_locations[0], dist, version]))\n"
    )
    done = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{chain.module} is not importable in {python}: {done.stderr.strip()[-300:]}")
    where, dist, version = json.loads(done.stdout)
    return Path(where), dist, version


def write_ini(chain: Chain, package: Path, workdir: Path) -> Path:
    """Write the package's alembic.ini into ``workdir`` with the options the package sets in code."""
    source = package / chain.ini
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep logging keys as written
    with source.open(encoding="utf-8") as handle:
        parser.read_file(handle)
    if chain.script_location is not None:
        parser.set("alembic", "script_location", str(package / chain.script_location))
    if chain.set_url or parser.has_option("alembic", "sqlalchemy.url"):
        parser.set("alembic", "sqlalchemy.url", PLACEHOLDER_URL)
    ini = workdir / "alembic.ini"
    with ini.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return ini


def run_check(mks_db: Path, workdir: Path, database_url: str | None, timeout: float):
    """Run ``mks-db check --format json`` in ``workdir``.

    Returns (exit status, report or None, stderr tail, seconds); the status is None on a timeout.
    """
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["NO_COLOR"] = "1"
    argv = [str(mks_db), "check", "-c", "alembic.ini", "--format", "json"]
    if database_url:
        argv += ["--database-url", database_url]
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM lets mks-db drop its scratch databases; the whole group goes if it hangs.
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        return None, None, f"timed out after {timeout:.0f}s", time.monotonic() - started
    seconds = time.monotonic() - started
    try:
        report = json.loads(out)
    except ValueError:
        report = None
    return proc.returncode, report, err.strip()[-2000:], seconds


def tally(report: dict) -> dict[str, int]:
    """Findings counted by ``severity check [rule]``, most frequent first."""
    counts = collections.Counter(
        f"{f['severity']} {f['check']}" + (f" [{f['rule']}]" if f.get("rule") else "")
        for f in report.get("findings", [])
    )
    return dict(counts.most_common())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", choices=[c.name for c in CHAINS], help="run only this chain (repeatable)"
    )
    parser.add_argument(
        "--venv",
        type=Path,
        default=DEFAULT_VENV,
        help=f"the venv holding mks-db and the packages (default {DEFAULT_VENV})",
    )
    parser.add_argument("--database-url", help="a server for the scratch databases (default: embedded)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per chain (default 1800)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the JSON reports go (default {OUT})")
    args = parser.parse_args(argv)

    python, mks_db = args.venv / "bin" / "python", args.venv / "bin" / "mks-db"
    if not mks_db.exists():
        parser.error(f"{mks_db} not found; create the venv as this script's docstring shows")
    args.out.mkdir(parents=True, exist_ok=True)
    summary, failed = {}, False
    for chain in CHAINS:
        if args.only and chain.name not in args.only:
            continue
        try:
            package, dist, version = locate(python, chain)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"{chain.name}: FAILED: {exc}", flush=True)
            failed = True
            continue
        with tempfile.TemporaryDirectory(prefix=f"realchain-{chain.name}-") as tmp:
            workdir = Path(tmp)
            write_ini(chain, package, workdir)
            status, report, err, seconds = run_check(mks_db, workdir, args.database_url, args.timeout)
        label = f"{chain.name} ({dist} {version})"
        if report is None:
            print(f"{label}: FAILED: exit {status}, no JSON report ({err or 'no stderr'})", flush=True)
            summary[chain.name] = {"dist": dist, "version": version, "exit": status, "error": err}
            failed = True
            continue
        (args.out / f"{chain.name}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        counts = tally(report)
        errors = sum(n for k, n in counts.items() if k.startswith("error "))
        warnings = sum(n for k, n in counts.items() if k.startswith("warning "))
        print(
            f"{label}: {report.get('revisions')} revisions, {seconds:.1f}s, exit {status}, "
            f"{errors} errors, {warnings} warnings",
            flush=True,
        )
        if report.get("error"):
            print(f"  stopped: {report['error']}", flush=True)
        for key, n in counts.items():
            print(f"  {n:4d}  {key}", flush=True)
        summary[chain.name] = {
            "dist": dist,
            "version": version,
            "package": str(package),
            "configured_as": chain.how,
            "revisions": report.get("revisions"),
            "seconds": round(seconds, 1),
            "exit": status,
            "error": report.get("error"),
            "counts": counts,
        }
    # --only updates its chains' entries and keeps the others'.
    summary_path = args.out / "summary.json"
    previous = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    summary_path.write_text(json.dumps({**previous, **summary}, indent=2) + "\n", encoding="utf-8")
    print(f"reports: {args.out}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
