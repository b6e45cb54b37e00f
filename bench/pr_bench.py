"""Pull-request latency: ``mks-db check --since HEAD`` against ``alembic upgrade head``, side by
side in one run, and the time to the first progress output of ``mks-db check`` on a terminal.

    python bench/pr_bench.py --sizes 200 500 [--repeat 2] [--profile]

One PostgreSQL server serves the whole run (``DATABASE_URL`` if set, else the embedded one
``mks-db`` itself would start); everything below names it with ``--database-url``, so starting
a server is never timed. For each N:

- a git repository in a temporary directory holds the N-revision chain of
  ``bench/make_chain.py``, committed; on top, uncommitted, the pull request:
  ``make_chain.write_pr_revision`` adds revision ``r{N+1}`` (``archived boolean NOT NULL
  DEFAULT false`` on the last table) and the column in the models;
- **check**: ``mks-db check --since HEAD --database-url URL --format json`` as a subprocess,
  the way CI runs it, with the rendered-SQL cache (``build/``) removed first, as on a fresh CI
  checkout. It reaches ``r{N}`` with one plain upgrade, walks ``r{N+1}``, compares the models
  at head, renders and lints the new revision, checks immutability against HEAD, and measures
  the new revision's locks (default 100,000 rows);
- **alembic upgrade head**: ``python -m alembic -c <ini> upgrade head`` as a subprocess into a
  fresh database on the same server (the same chain and env.py; the ini differs from the
  project's only by ``sqlalchemy.url``, which names that database);
- **first output**: ``mks-db check --since HEAD --database-url URL`` (human format) with its
  standard error on a pseudo-terminal (Python's ``pty``), timed from just before the process is
  started to the first byte read from the terminal (the progress line is written only to a
  terminal).

Each contender runs ``--repeat`` times per size, alternating, and the medians are compared as
the ratio check / upgrade. Times are wall-clock seconds of whole processes, interpreter
start-up included. ``--profile`` then runs the check once more at the largest N inside this
process, with a timer, a statement counter and an env.py-run counter around each phase (see
``PHASES``), and prints where the time goes; it also writes ``--profile-out`` (cProfile stats).

Nothing here is a pass/fail test: a missed target is printed, not raised.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import json
import os
import pty
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import make_chain  # noqa: E402
from sqlalchemy.engine import URL  # noqa: E402

from mks_db.database.server import Server, open_server, scratch_database  # noqa: E402
from mks_db.database.urls import mask_text  # noqa: E402

TARGET_RATIO = 2.0  # check --since <= 2x alembic upgrade head, at N = 500
TARGET_N = 500
TARGET_FIRST_OUTPUT = 1.0  # seconds to the first byte on the terminal
KINDS_FROM = 11  # PHASES from this index on are kinds of work, charged as "<phase> / <kind>"


def mks_db_command() -> list[str]:
    script = Path(sys.executable).parent / "mks-db"
    return [str(script)] if script.exists() else [sys.executable, "-m", "mks_db"]


def url_text(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def make_pull_request(n: int, work: Path) -> Path:
    """The chain committed in a new git repository, the PR revision on top uncommitted; the ini."""
    repo = work / f"pr-{n}"
    ini = make_chain.write_chain(n, repo)
    (repo / ".gitignore").write_text("build/\n__pycache__/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"{n} revisions")
    make_chain.write_pr_revision(n, repo)
    return ini


def upgrade_ini(ini: Path, url: URL, work: Path) -> Path:
    """A copy of the chain's alembic.ini that names ``url`` (absolute paths, outside the repo)."""
    here = str(ini.parent)
    text = ini.read_text().replace("%(here)s", here)
    text = text.replace("sqlalchemy.url =\n", f"sqlalchemy.url = {url_text(url).replace('%', '%%')}\n")
    target = work / f"upgrade-{ini.parent.name}.ini"
    target.write_text(text)
    return target


def time_upgrade(ini: Path, server: Server, work: Path) -> float:
    with scratch_database(server, "prupgrade") as url:
        command = [sys.executable, "-m", "alembic", "-c", str(upgrade_ini(ini, url, work)), "upgrade", "head"]
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, cwd=ini.parent, check=False)
        seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"alembic upgrade head failed:\n{mask_text(result.stderr[-3000:])}")
    return seconds


def check_command(ini: Path, server: Server, *extra: str) -> list[str]:
    return [
        *mks_db_command(),
        "check",
        "-c",
        str(ini),
        "--since",
        "HEAD",
        "--database-url",
        url_text(server.url),
        *extra,
    ]


def time_check(ini: Path, server: Server) -> tuple[float, dict]:
    shutil.rmtree(ini.parent / "build", ignore_errors=True)
    started = time.perf_counter()
    result = subprocess.run(
        check_command(ini, server, "--format", "json"), capture_output=True, text=True, cwd=ini.parent
    )
    seconds = time.perf_counter() - started
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        sys.exit(f"mks-db check failed (exit {result.returncode}):\n{mask_text(result.stderr[-3000:])}")
    walked = {"upgrade", "downgrade", "roundtrip", "data-loss", "drift"}
    broken = [f for f in report["findings"] if f["check"] in walked]
    if result.returncode not in (0, 1) or broken:
        sys.exit(f"mks-db check did not walk the PR (exit {result.returncode}): {json.dumps(broken)[:2000]}")
    return seconds, report


def found(finding: dict) -> str:
    return finding["check"] + (f"/{finding['rule']}" if finding["rule"] else "")


def time_first_output(ini: Path, server: Server) -> tuple[float, float, str]:
    """Seconds to the first byte on a terminal standard error, the whole run's seconds, and the
    first line the terminal showed."""
    shutil.rmtree(ini.parent / "build", ignore_errors=True)
    master, slave = pty.openpty()
    started = time.perf_counter()
    process = subprocess.Popen(
        check_command(ini, server),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        cwd=ini.parent,
    )
    os.close(slave)
    first = None
    received = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            if first is None:
                first = time.perf_counter() - started
            received += chunk
        elif process.poll() is not None:
            break
    process.wait()
    total = time.perf_counter() - started
    os.close(master)
    line = received.decode(errors="replace").split("\r")[1:2] or [""]
    return (first if first is not None else float("nan")), total, re.sub(r"\x1b\[K", "", line[0]).strip()


# --- the in-process profile of one check run ---------------------------------------------------


def profile_check(ini: Path, server: Server, out: Path) -> None:
    """Run the check in this process with exclusive timers, statement and env.py-run counters."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from mks_db import cli
    from mks_db.checks import drift
    from mks_db.commands import heads, lint, locks, roundtrip
    from mks_db.engine import catalog, data, lock_probe, migrate, walk

    phases = [  # (owner, attribute, label): a label is charged the time its callees don't take
        (heads, "check_graph", "heads and behind-base (git)"),
        (roundtrip, "roundtrip", "walk: scratch database, rows, steps not listed below"),
        (walk.Walk, "rebuild", "walk: prefix upgrade r0001..rN (one env.py run)"),
        (drift, "judge", "drift: autogenerate compare at head"),
        (lint, "lint_chosen", "lint: other (immutability, git)"),
        (lint, "write_sql", "lint: render the new revision offline (env.py --sql)"),
        (lint, "judge", "lint: the SQL checks (pglast, squawk) and immutability"),
        (locks, "measure", "locks: other (scratch databases from the template, drops)"),
        (lock_probe, "_measure", "locks: parents' upgrade into the template (one env.py run)"),
        (lock_probe, "_touched", "locks: which tables the revision touches"),
        (lock_probe, "_measure_once", "locks: the two measured runs (10^5 and 10^4 rows)"),
        (data.Rows, "fill", "rows: a few generated rows in every table"),
        (data, "bulk_fill", "rows: bulk fill of the touched tables"),
        (data, "read_tables", "catalogue: read_tables (columns, foreign keys)"),
        (data, "inventory", "catalogue: inventory (row counts)"),
        (catalog.Tracker, "reset", "catalogue: tracker full read"),
        (catalog.Tracker, "refresh", "catalogue: tracker refresh"),
        (migrate.Migrator, "run_env", "alembic: env.py runs and migration steps"),
    ]
    stack: list[list] = []
    seconds: dict[str, float] = collections.defaultdict(float)
    statements: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    env_runs: collections.Counter[str] = collections.Counter()
    calls: collections.Counter[str] = collections.Counter()
    top = "(outside the phases: start-up, project, report)"

    nested = {label for _, _, label in phases[KINDS_FROM:]}

    def phase() -> str:
        """The innermost phase that is not a kind of work."""
        return next((frame[0] for frame in reversed(stack) if frame[3] not in nested), top)

    def current() -> str:
        return stack[-1][0] if stack else top

    def wrap(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            key = f"{phase()} / {label}" if label in nested else label
            stack.append([key, time.perf_counter(), 0.0, label])
            calls[key] += 1
            try:
                return original(*args, **kwargs)
            finally:
                _, started, inner, _ = stack.pop()
                spent = time.perf_counter() - started
                seconds[key] += spent - inner
                if stack:
                    stack[-1][2] += spent

        setattr(owner, name, timed)

    for owner, name, label in phases:
        wrap(owner, name, label)
    run_env = ScriptDirectory.run_env

    def counted_run_env(self):
        env_runs[phase()] += 1
        return run_env(self)

    ScriptDirectory.run_env = counted_run_env

    @event.listens_for(Engine, "before_cursor_execute")
    def count(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        words = statement.lstrip().split(None, 2)
        kind = (
            " ".join(words[:2]).upper()
            if words[:1] and words[0].upper() in ("CREATE", "DROP")
            else (words[0].upper() if words else "?")
        )
        statements[current()][kind] += 1

    shutil.rmtree(ini.parent / "build", ignore_errors=True)
    argv = check_command(ini, server, "--format", "json")[len(mks_db_command()) :]
    started = time.perf_counter()
    profiler = cProfile.Profile()
    cwd = Path.cwd()
    os.chdir(ini.parent)
    saved = sys.stdout
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the JSON report is not needed here
        profiler.runcall(cli.main, argv)
    finally:
        sys.stdout.close()
        sys.stdout = saved
        os.chdir(cwd)
    wall = time.perf_counter() - started
    profiler.dump_stats(out)
    accounted = sum(seconds.values())
    seconds[top] += wall - accounted
    print(f"\nprofile of one `mks-db check --since HEAD` in process: {wall:.2f} s (cProfile on)")
    print(f"{'phase (exclusive time)':<75} {'s':>6} {'calls':>5} {'env.py':>6} {'stmts':>6}  statements")
    for label in sorted(seconds, key=seconds.get, reverse=True):
        kinds = statements.get(label, collections.Counter())
        shown = ", ".join(f"{k} {v}" for k, v in kinds.most_common(5))
        print(
            f"{label:<75} {seconds[label]:6.2f} {calls.get(label, 0):5d} {env_runs.get(label, 0):6d} "
            f"{sum(kinds.values()):6d}  {shown}"
        )
    print(f"cProfile stats: {out} (python -m pstats {out})")


# --- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500], metavar="N")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each contender per size (median)")
    parser.add_argument("--profile", action="store_true", help="profile one check at the largest N")
    parser.add_argument("--profile-only", action="store_true", help="only the profile (no timed runs)")
    parser.add_argument("--profile-out", type=Path, default=Path(tempfile.gettempdir()) / "mks-db-check.prof")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="write the repositories here and keep them")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="mks-db-pr-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        with open_server(os.environ.get("DATABASE_URL")) as server:
            warm = make_pull_request(3, work)  # not recorded: proves the set-up, warms the caches
            time_upgrade(warm, server, work)
            time_check(warm, server)
            inis = {}
            for n in args.sizes:
                ini = inis[n] = make_pull_request(n, work)
                checks, upgrades, firsts, first_totals, reported = [], [], [], [], []
                for attempt in range(0 if args.profile_only else args.repeat):
                    seconds, report = time_check(ini, server)
                    checks.append(seconds)
                    reported.append(float(report["seconds"]))
                    upgrades.append(time_upgrade(ini, server, work))
                    first, total, line = time_first_output(ini, server)
                    firsts.append(first)
                    first_totals.append(total)
                    print(
                        f"N={n} ({attempt + 1}/{args.repeat}): check --since {checks[-1]:.2f}s "
                        f"(reports {reported[-1]:.2f}s, {len(report['findings'])} findings: "
                        f"{sorted({found(f) for f in report['findings']})}), "
                        f"alembic upgrade head {upgrades[-1]:.2f}s, first output {first:.3f}s "
                        f"of {total:.2f}s ({line!r})",
                        flush=True,
                    )
                if not checks:
                    continue
                check, upgrade = statistics.median(checks), statistics.median(upgrades)
                rows.append(
                    (n, check, upgrade, check / upgrade, statistics.median(firsts), checks, upgrades, firsts)
                )
            if args.profile or args.profile_only:
                profile_check(inis[max(args.sizes)], server, args.profile_out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print("| N | check --since HEAD | alembic upgrade head | ratio | first progress output |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for n, check, upgrade, ratio, first, *_ in rows:
        print(f"| {n} | {check:.2f} s | {upgrade:.2f} s | {ratio:.2f}x | {first:.3f} s |")
    for n, _, _, _, _, checks, upgrades, firsts in rows:
        print(
            f"N = {n} every run: check {', '.join(f'{x:.2f}' for x in checks)}; "
            f"upgrade {', '.join(f'{x:.2f}' for x in upgrades)}; "
            f"first output {', '.join(f'{x:.3f}' for x in firsts)}"
        )
    for n, _, _, ratio, first, *_ in rows:
        if n == TARGET_N:
            print(
                f"N = {n}: check / upgrade {ratio:.2f}x (target <= {TARGET_RATIO}x): "
                f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}"
            )
        print(
            f"N = {n}: first output {first:.3f} s (target <= {TARGET_FIRST_OUTPUT} s): "
            f"{'met' if first <= TARGET_FIRST_OUTPUT else 'MISSED'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
