"""Run ``mks-db check`` on the Alembic chains that widely used packages ship, and count its verdicts.

    python bench/real_chains.py [--only NAME] [--venv PATH] [--venv NAME=PATH]
                                [--database-url URL] [--timeout SECONDS]

Opt-in: nothing here runs in the test suite. The packages are installed, unmodified, in
virtual environments together with ``mks-db``: optuna, mlflow and dagster share one (default
``/tmp/realchains-venv``); a chain whose package's dependencies would fight theirs has a venv
of its own (``Chain.venv``, e.g. ``/tmp/realchains-fittrackee``)::

    python3 -m venv /tmp/realchains-venv
    /tmp/realchains-venv/bin/pip install -q -e . optuna mlflow-skinny dagster
    for p in fittrackee jupyterhub buildbot; do
        python3 -m venv /tmp/realchains-$p && /tmp/realchains-$p/bin/pip install -q -e . $p
    done

``--venv PATH`` replaces the shared venv, ``--venv NAME=PATH`` one chain's (repeatable).

For each chain, a temporary directory is set up as the package's own code configures Alembic
(see ``CHAINS``): a plain Alembic chain gets an ``alembic.ini``, the package's own with the
options the package sets in code (``%(here)s`` in it stays the package's folder); a
Flask-Migrate chain gets ``migrations`` (a link to the directory the package's own upgrade
command passes to Flask-Migrate) and the application named by ``FLASK_APP``, with the settings
the package's documentation asks for (``Chain.env``). What the package sets up in its database
before its chain runs, and no revision does, goes in a ``pyproject.toml`` there as mks-db's own
``[tool.mks-db]`` settings (``Chain.settings``): mlflow's ``base-metadata`` (the tables it makes
with ``create_all`` before ``alembic upgrade heads``), ``import-models`` (the model modules it
imports before it migrates) and ``forward-only`` (MLflow offers no way to run a downgrade, and
says so in a revision), fittrackee's ``extensions`` (PostGIS,
which fittrackee requires of its database, its README lists 3.4 to 3.6, and no revision creates:
the server ``--database-url`` names must have it installed). ``mks-db check --format json`` (the
venv's console script) then runs there with ``DATABASE_URL`` unset, so it starts its embedded
PostgreSQL, unless ``--database-url`` names a server. An application that connects to its own
database while it loads (``Chain.app_database``) is given one, ``DATABASE_URL`` naming a
database made for it on that server, or on a server this script starts first with mks-db's own
``open_server`` when there is no ``--database-url``; mks-db then gets that server as
``--database-url``. Per chain it prints the revisions, the wall time, the exit status and the
findings counted by severity, check and rule, and writes the full JSON report to
``build/real-chains/<name>.json`` (``build/`` is ignored by git) with ``summary.json`` beside
it.

A chain that cannot be set up (package missing), runs past ``--timeout`` or prints no JSON gets
one ``FAILED`` line with the reason, and the next chain runs. The exit status is 0 when every
chain produced a report, whatever its findings (judging them is a human's job: see the "Real
chains" section of ``docs/benchmarks.md``), and 1 otherwise.
"""

from __future__ import annotations

import argparse
import collections
import configparser
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
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

    A plain Alembic chain: ``ini`` is the package's own alembic.ini (relative to the package
    directory), which the package loads with ``alembic.config.Config``; ``script_location`` is
    what the package then sets programmatically (``None``: it keeps the ini's value, a
    ``package:path`` location or ``%(here)s``); ``set_url`` is whether it also sets
    ``sqlalchemy.url`` (mks-db serves the scratch URL either way, through ``sqlalchemy.url``,
    ``$DATABASE_URL`` and ``config.attributes['connection']``).

    A Flask-Migrate chain (``flask_app``, the ``FLASK_APP`` value): ``migrations`` is the
    directory (relative to the package) the package's own upgrade command passes to
    Flask-Migrate; mks-db loads the application as ``flask`` does and lends it the scratch
    database in place of its engine. ``app_database``: the application connects to
    ``DATABASE_URL`` while it loads, so it needs a database of its own to start at all.

    ``venv``: the venv the package is installed in, when not the shared one; ``env``: the
    settings the package's documentation asks for (``DATABASE_URL`` aside), as (name, value).

    ``settings``: ``[tool.mks-db]`` settings, as (key, value), written to a ``pyproject.toml`` in
    the working directory: what the package sets up in its database before the chain runs and no
    revision does (``base-metadata``: the schema it makes with ``metadata.create_all`` first;
    ``extensions``: extensions its installation needs, made by an administrator), and
    ``forward-only`` for a package that states it never runs its downgrades.

    ``releases``: the package's users run only its releases (a self-hosted application installed
    from the package index), and its ``settings`` say ``release-tags = "v*"``: the working
    directory becomes a git repository of the chain, a commit and a tag ``v<version>`` per
    release on the index up to the installed one, each holding that release's revision files
    (as the package's own repository tags its releases), then the installed ``migrations``.
    """

    name: str
    module: str
    dists: tuple[str, ...]
    how: str
    ini: str | None = None
    script_location: str | None = None
    set_url: bool = False
    flask_app: str | None = None
    migrations: str | None = None
    app_database: bool = False
    venv: Path | None = None
    env: tuple[tuple[str, str], ...] = ()
    settings: tuple[tuple[str, str | bool | int | tuple[str, ...]], ...] = ()
    releases: bool = False


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
        # mlflow.store.db.utils._initialize_tables: InitialBase.metadata.create_all(engine),
        # then _upgrade_db; the chain's first revision alters those tables. MLflow never runs
        # its downgrades: `mlflow db` has an `upgrade` command and none to downgrade, and
        # versions/cfd24bdc0731_update_run_status_constraint_with_killed.py:73-75 says "we
        # don't currently provide users a command/API for reverting a database migration,
        # instead recommending that they take a database backup before running the migration".
        # mlflow.store.db.utils imports its three model modules first (lines 33-35: "Import ORM
        # modules to register all table metadata with Base.metadata"); env.py imports none.
        settings=(
            ("base-metadata", "mlflow.store.tracking.dbmodels.initial_models:Base.metadata"),
            ("forward-only", True),
            (
                "import-models",
                (
                    "mlflow.store.model_registry.dbmodels.models",
                    "mlflow.store.tracking.dbmodels.models",
                    "mlflow.store.workspace.dbmodels.models",
                ),
            ),
        ),
        how="mlflow.store.db.utils._initialize_tables: InitialBase.metadata.create_all(engine) "
        "(InitialBase = mlflow.store.tracking.dbmodels.initial_models.Base), then _upgrade_db: "
        "Config(db_migrations/alembic.ini), script_location=<mlflow>/store/db_migrations and "
        "sqlalchemy.url=<db url>, config.attributes['connection'], upgrade heads; never a "
        "downgrade (forward-only): mlflow db has no downgrade command, and "
        "db_migrations/versions/cfd24bdc0731_update_run_status_constraint_with_killed.py:73-75: "
        "\"we don't currently provide users a command/API for reverting a database migration, "
        'instead recommending that they take a database backup before running the migration"',
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
    Chain(
        name="fittrackee",
        module="fittrackee",
        dists=("fittrackee",),
        flask_app="fittrackee",
        migrations="migrations",
        app_database=True,
        venv=Path("/tmp/realchains-fittrackee"),
        # ProductionConfig (APP_SETTINGS' default) reads DATABASE_URL, APP_SECRET_KEY and
        # UI_URL (a KeyError without it); create_app connects to DATABASE_URL at load.
        env=(("UI_URL", "https://example.com"), ("APP_SECRET_KEY", "realchains-not-a-secret")),
        # It requires PostGIS in its database (its README: PostGIS 3.4 to 3.6); no revision
        # creates the extension (59_fed271354410 adds Geometry columns).
        # Its users run its releases (pip install fittrackee, or its Docker images of a
        # release); 0bbe0c8372cf's docstring relies on it: "the migration will be released in
        # the same version as the previous migrations introducing elevation processing".
        settings=(("extensions", ("postgis",)), ("release-tags", "v*")),
        releases=True,
        how="PostGIS installed in the database (a requirement), then ftcli db upgrade: "
        "flask_migrate.upgrade(directory=<fittrackee>/migrations) in the context of "
        "fittrackee.create_app() (FLASK_APP=fittrackee finds that factory), "
        "APP_SETTINGS=fittrackee.config.ProductionConfig (the default), DATABASE_URL, UI_URL, "
        "APP_SECRET_KEY",
    ),
    Chain(
        name="jupyterhub",
        module="jupyterhub",
        dists=("jupyterhub",),
        ini="alembic.ini",
        script_location="alembic",
        set_url=True,
        venv=Path("/tmp/realchains-jupyterhub"),
        how="jupyterhub.dbutil.upgrade (jupyterhub upgrade-db): write_alembic_ini fills "
        "<jupyterhub>/alembic.ini's {alembic_dir}=<jupyterhub>/alembic and {db_url}, then "
        "alembic -c alembic.ini upgrade head (a new database gets Base.metadata.create_all and "
        "alembic stamp head instead: orm.new_session_factory)",
    ),
    Chain(
        name="buildbot",
        module="buildbot",
        dists=("buildbot",),
        ini="db/migrations/alembic.ini",
        script_location="db/migrations",
        set_url=False,
        venv=Path("/tmp/realchains-buildbot"),
        how="buildbot.db.model.Model.upgrade: Config(<buildbot>/db/migrations/alembic.ini) "
        "(script_location=%(here)s/, version_locations=%(here)s/versions), run on its own "
        "MigrationContext, without env.py (a new database gets Model.metadata.create_all and a "
        "stamp at head instead)",
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
    """Write the package's alembic.ini into ``workdir`` with the options the package sets in code.

    ``%(here)s`` in its ``[alembic]`` options is the package ini's folder, as Alembic reads
    the ini where the package keeps it."""
    source = package / chain.ini
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # keep logging keys as written
    with source.open(encoding="utf-8") as handle:
        parser.read_file(handle)
    for option, value in parser.items("alembic"):
        if "%(here)s" in value:
            parser.set("alembic", option, value.replace("%(here)s", str(source.parent)))
    if chain.script_location is not None:
        parser.set("alembic", "script_location", str(package / chain.script_location))
    if chain.set_url or parser.has_option("alembic", "sqlalchemy.url"):
        parser.set("alembic", "sqlalchemy.url", PLACEHOLDER_URL)
    ini = workdir / "alembic.ini"
    with ini.open("w", encoding="utf-8") as handle:
        parser.write(handle)
    return ini


def toml_value(value: str | bool | int | tuple[str, ...]) -> str:
    """``value`` as TOML: a string (JSON's escapes are TOML's), a boolean, an integer or a list."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(item) for item in value) + "]"


def write_settings(chain: Chain, workdir: Path) -> Path | None:
    """Write ``chain.settings`` as ``[tool.mks-db]`` of ``workdir``/pyproject.toml (nothing without any)."""
    if not chain.settings:
        return None
    lines = ["[tool.mks-db]", *(f"{key} = {toml_value(value)}" for key, value in chain.settings)]
    path = workdir / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def set_up(chain: Chain, package: Path, workdir: Path, python: Path, version: str) -> None:
    """Lay out ``workdir`` as the package runs its migrations: its alembic.ini, or for a
    Flask-Migrate chain ``migrations`` linked to the package's directory (``Migrate``'s
    default directory, which mks-db resolves, is then the one the package passes), or a copy
    of it at the end of the package's release history (``release_history``); and the chain's
    ``[tool.mks-db]`` settings in a pyproject.toml."""
    if chain.releases:
        release_history(chain, package, workdir, python, version)
    elif chain.flask_app:
        (workdir / "migrations").symlink_to(package / chain.migrations, target_is_directory=True)
    else:
        write_ini(chain, package, workdir)
    write_settings(chain, workdir)


def release_history(chain: Chain, package: Path, workdir: Path, python: Path, version: str) -> None:
    """Make ``workdir`` a git repository with a commit per release of the package on the index
    up to ``version`` (the installed one), oldest first, tagged ``v<version>`` and holding that
    release's revision files in ``migrations/versions``; then the installed ``migrations``
    directory itself. Wheels are kept in ``OUT/wheels/<chain>``."""
    from packaging.version import InvalidVersion, Version

    dist = chain.dists[0]
    listed = subprocess.run(
        [str(python), "-m", "pip", "index", "versions", dist], capture_output=True, text=True, timeout=300
    )
    found = re.search(r"Available versions: (.*)", listed.stdout)
    if not found:
        raise RuntimeError(f"pip index versions {dist}: {(listed.stderr or listed.stdout).strip()[-300:]}")
    versions = []
    for text in found[1].split(","):
        with contextlib.suppress(InvalidVersion):
            if not Version(text.strip()).is_prerelease and Version(text.strip()) <= Version(version):
                versions.append(Version(text.strip()))
    cache = OUT / "wheels" / chain.name
    cache.mkdir(parents=True, exist_ok=True)
    prefix = f"{chain.module}/{chain.migrations}/versions/"
    target = workdir / "migrations" / "versions"

    def git(*args: str) -> None:
        identity = ("-c", "user.name=real-chains", "-c", "user.email=real-chains@localhost")
        subprocess.run(["git", *identity, *args], cwd=workdir, check=True, capture_output=True, timeout=120)

    git("init", "-q", "-b", "main")
    for release in sorted(versions):
        wheel = next(cache.glob(f"{dist.replace('-', '_')}-{release}-*.whl"), None)
        if wheel is None:
            subprocess.run(
                [str(python), "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
                + [f"{dist}=={release}", "-d", str(cache)],
                capture_output=True,
                timeout=600,
            )
            wheel = next(cache.glob(f"{dist.replace('-', '_')}-{release}-*.whl"), None)
        if wheel is None:
            print(f"  {chain.name}: no wheel of {dist} {release} on the index; release left out", flush=True)
            continue
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                rest = name[len(prefix) :]
                if name.startswith(prefix) and rest.endswith(".py") and "/" not in rest:
                    (target / rest).write_bytes(archive.read(name))
        git("add", "-A")
        git("commit", "-q", "--allow-empty", "-m", f"{dist} {release}")
        git("tag", f"v{release}")
    shutil.rmtree(workdir / "migrations", ignore_errors=True)
    shutil.copytree(
        package / chain.migrations, workdir / "migrations", ignore=shutil.ignore_patterns("__pycache__")
    )
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", f"{dist} {version}, installed")


# Run with the chain's venv's Python: a server for an application that connects to its own
# database while it loads (``Chain.app_database``), the one --database-url names or else one
# started as mks-db starts its embedded server. It prints the server's URL and the URL of a
# database made for the application, then holds both until its standard input closes.
SERVE_APP_DATABASE = """
import sys, uuid
from sqlalchemy import text
from mks_db.database.server import admin_engine, open_server
name = "realchains_app_" + uuid.uuid4().hex[:8]
with open_server(sys.argv[1] or None) as server:
    with admin_engine(server.url).connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        print(server.url.render_as_string(hide_password=False), flush=True)
        app = server.url.set(drivername="postgresql", database=name)
        print(app.render_as_string(hide_password=False), flush=True)
        sys.stdin.read()
    finally:
        with admin_engine(server.url).connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
"""


class AppDatabase:
    """``SERVE_APP_DATABASE`` running: ``server_url`` and ``app_url`` while the block lasts."""

    def __init__(self, python: Path, database_url: str | None) -> None:
        self.argv = [str(python), "-c", SERVE_APP_DATABASE, database_url or ""]

    def __enter__(self) -> AppDatabase:
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.server_url = self.proc.stdout.readline().strip()
        self.app_url = self.proc.stdout.readline().strip()
        if not self.app_url:
            err = self.proc.communicate(timeout=60)[1].strip()
            raise RuntimeError(f"no server for the application's database: {err[-300:] or 'no stderr'}")
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.proc.communicate(input="", timeout=120)  # stdin closes: it drops and stops
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.communicate()


def run_check(
    mks_db: Path,
    workdir: Path,
    database_url: str | None,
    timeout: float,
    chain: Chain,
    app_url: str | None = None,
):
    """Run ``mks-db check --format json`` in ``workdir``, with the chain's settings in the
    environment (``DATABASE_URL`` only for an application's own database: ``app_url``).

    Returns (exit status, report or None, stderr tail, seconds); the status is None on a timeout.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "FLASK_APP")}
    env["NO_COLOR"] = "1"
    env.update(chain.env)
    argv = [str(mks_db), "check", "--format", "json"]
    if chain.flask_app:
        env["FLASK_APP"] = chain.flask_app
    else:
        argv += ["-c", "alembic.ini"]
    if app_url:
        env["DATABASE_URL"] = app_url
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


def venv_option(text: str) -> tuple[str | None, Path]:
    """``--venv PATH`` (the shared venv) or ``--venv NAME=PATH`` (chain NAME's)."""
    name, sep, path = text.partition("=")
    if not sep:
        return None, Path(text)
    if name not in {c.name for c in CHAINS}:
        raise argparse.ArgumentTypeError(f"no chain {name!r}; chains: {', '.join(c.name for c in CHAINS)}")
    return name, Path(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only", action="append", choices=[c.name for c in CHAINS], help="run only this chain (repeatable)"
    )
    parser.add_argument(
        "--venv",
        type=venv_option,
        action="append",
        default=[],
        metavar="[NAME=]PATH",
        help=f"the venv holding mks-db and the packages (default {DEFAULT_VENV}); NAME=PATH: "
        "chain NAME's (default: the chain's own, else the shared one); repeatable",
    )
    parser.add_argument("--database-url", help="a server for the scratch databases (default: embedded)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per chain (default 1800)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where the JSON reports go (default {OUT})")
    args = parser.parse_args(argv)

    shared = next((path for name, path in reversed(args.venv) if name is None), DEFAULT_VENV)
    per_chain = {name: path for name, path in args.venv if name is not None}
    args.out.mkdir(parents=True, exist_ok=True)
    summary, failed = {}, False
    for chain in CHAINS:
        if args.only and chain.name not in args.only:
            continue
        venv = per_chain.get(chain.name) or chain.venv or shared
        python, mks_db = venv / "bin" / "python", venv / "bin" / "mks-db"
        if not mks_db.exists():
            print(
                f"{chain.name}: FAILED: {mks_db} not found; create the venv as this script's docstring shows",
                flush=True,
            )
            failed = True
            continue
        try:
            package, dist, version = locate(python, chain)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            print(f"{chain.name}: FAILED: {exc}", flush=True)
            failed = True
            continue
        with contextlib.ExitStack() as stack:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix=f"realchain-{chain.name}-"))
            )
            set_up(chain, package, workdir, python, version)
            database_url, app_url = args.database_url, None
            if chain.app_database:
                try:
                    served = stack.enter_context(AppDatabase(python, args.database_url))
                except (RuntimeError, OSError) as exc:
                    print(f"{chain.name}: FAILED: {exc}", flush=True)
                    failed = True
                    continue
                database_url, app_url = served.server_url, served.app_url
            status, report, err, seconds = run_check(
                mks_db, workdir, database_url, args.timeout, chain, app_url
            )
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
            "venv": str(venv),
            "configured_as": chain.how,
            "environment": dict(chain.env),
            "settings": {key: list(v) if isinstance(v, tuple) else v for key, v in chain.settings},
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
