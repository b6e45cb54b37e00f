"""Where ``mks-db roundtrip`` spends its time on a synthetic chain, step kind by step kind.

    python bench/profile_roundtrip.py 200 [--database-url URL] [--env-py stock]

Writes an N-revision chain (``bench/make_chain.py``) to a temporary directory and runs
``mks-db roundtrip`` on it in this process, with a timer around each kind of work the walk
does: the Alembic steps (env.py runs), the schema tracker's refreshes, the table and column
read and the row inventory behind the data checks, and the generated INSERTs. Times are
exclusive (a call's time excludes the timed calls inside it), so the kinds add up to the walk.
It prints each kind's total and, per revision, its cost over the first and the last 20
revisions: a cost that grows along the chain is what makes the walk quadratic.

This wraps functions internal to ``mks_db`` (``catalog.Tracker.refresh``/``reset``,
``data.read_tables``, ``data.inventory``, ``data._fill_table``, ``Migrator.run_env``,
``engine.chain_walk``'s ``revision_steps`` and ``walk_down``); if one moves, the script says which and
stops.
The walk runs in this one process (``--jobs 1``), so that every timer sees it.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_chain  # noqa: E402

from mks_db import cli  # noqa: E402
from mks_db.engine import (  # noqa: E402
    catalog,
    chain_walk,  # noqa: E402
    data,
    migrate,
)

KINDS = (
    (migrate.Migrator, "run_env", "Alembic: env.py runs and the migration steps"),
    (catalog.Tracker, "refresh", "schema tracker: re-read what a step changed"),
    (catalog.Tracker, "reset", "schema tracker: full read"),
    (data, "read_tables", "read_tables: column and foreign-key queries"),
    (data, "inventory", "inventory: row and non-null counts of every table"),
    (data, "_fill_table", "fill: generated INSERTs"),
    (data, "_fill_at_once", "fill: generated INSERTs"),
)
DOWN_TO_BASE = 10**9  # the revision key of the final walk down to base


class Timers:
    """Exclusive time per kind, overall and per revision of the walk."""

    def __init__(self) -> None:
        self.stack: list[list] = []  # [kind, started, time of timed children]
        self.total: dict[str, float] = collections.defaultdict(float)
        self.calls: collections.Counter[str] = collections.Counter()
        self.by_revision: dict[int, dict[str, float]] = collections.defaultdict(
            lambda: collections.defaultdict(float)
        )
        self.revision = 0

    def wrap(self, owner: object, name: str, kind: str) -> None:
        original = getattr(owner, name, None)
        if original is None:
            sys.exit(f"profile_roundtrip.py: mks_db no longer has {owner!r}.{name}; update KINDS")

        def timed(*args, **kwargs):
            self.stack.append([kind, time.perf_counter(), 0.0])
            try:
                return original(*args, **kwargs)
            finally:
                _, started, children = self.stack.pop()
                elapsed = time.perf_counter() - started
                self.total[kind] += elapsed - children
                self.calls[kind] += 1
                self.by_revision[self.revision][kind] += elapsed - children
                if self.stack:
                    self.stack[-1][2] += elapsed

        setattr(owner, name, timed)

    def switch(self, revision: int) -> None:
        """From now on, time goes to ``revision``: what the open calls took so far goes to the
        revision before (one env.py run spans many revisions)."""
        now = time.perf_counter()
        for frame in self.stack:
            kind, started, children = frame
            self.total[kind] += now - started - children
            self.by_revision[self.revision][kind] += now - started - children
            frame[1:] = [now, 0.0]
        self.revision = revision

    def follow_revisions(self) -> None:
        start, down = chain_walk.revision_steps, chain_walk.walk_down

        def revision_steps(walk, revision, applied, *args):  # a generator: the walk drives it
            self.switch(len(applied) + 1)
            return (yield from start(walk, revision, applied, *args))

        def walk_down(*args):
            self.switch(DOWN_TO_BASE)
            return down(*args)

        chain_walk.revision_steps, chain_walk.walk_down = revision_steps, walk_down


def count_work() -> collections.Counter[str]:
    """Counters of env.py runs, new DBAPI connections (a server backend each) and statements."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import Pool

    counts: collections.Counter[str] = collections.Counter()
    run_env = ScriptDirectory.run_env

    def counted(self):
        counts["env.py runs"] += 1
        return run_env(self)

    ScriptDirectory.run_env = counted
    event.listen(Pool, "connect", lambda *_: counts.update(["connections"]))
    event.listen(Engine, "before_cursor_execute", lambda *_: counts.update(["statements"]))
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", metavar="N", type=int, help="number of revisions")
    parser.add_argument("--database-url", help="a server (default: $DATABASE_URL, else embedded)")
    parser.add_argument(
        "--env-py",
        choices=make_chain.ENV_FLAVOURS,
        default="default",
        help="the chain's env.py (see make_chain)",
    )
    args = parser.parse_args(argv)

    timers = Timers()
    for owner, name, kind in KINDS:
        timers.wrap(owner, name, kind)
    timers.follow_revisions()
    counts = count_work()

    with tempfile.TemporaryDirectory(prefix="mks-db-profile-") as work:
        ini = make_chain.write_chain(args.n, Path(work), args.env_py)
        command = ["roundtrip", "-c", str(ini), "--format", "json", "--jobs", "1"]
        url = args.database_url or os.environ.get("DATABASE_URL")
        if url:
            command += ["--database-url", url]
        started = time.perf_counter()
        with open(os.devnull, "w") as quiet:
            stdout, sys.stdout = sys.stdout, quiet
            try:
                code = cli.main(command)
            finally:
                sys.stdout = stdout
        wall = time.perf_counter() - started

    accounted = sum(timers.total.values())
    print(f"mks-db roundtrip, N = {args.n}: {wall:.2f} s in the command (exit {code})")
    print(f"{'kind':<52} {'calls':>6} {'total':>9} {'per call':>10}")
    for kind, seconds in sorted(timers.total.items(), key=lambda item: -item[1]):
        calls = timers.calls[kind]
        print(f"{kind:<52} {calls:>6} {seconds:8.2f}s {1000 * seconds / calls:8.1f}ms")
    print(f"{'everything else (walk, server start, scratch database)':<52} {'':>6} {wall - accounted:8.2f}s")

    revisions = sorted(r for r in timers.by_revision if 1 <= r <= args.n)
    first, last = revisions[:20], revisions[-20:]
    print(f"\nper revision (ms): mean over revisions 1-{len(first)} -> mean over the last {len(last)}")
    for kind in timers.total:

        def mean(selection: list[int], kind: str = kind) -> float:
            return 1000 * sum(timers.by_revision[r][kind] for r in selection) / len(selection)

        print(f"{kind:<52} {mean(first):7.1f} -> {mean(last):7.1f}")
    print(f"final walk down to base: {sum(timers.by_revision[DOWN_TO_BASE].values()):.2f} s")
    print(
        f"env.py runs {counts['env.py runs']}, new server connections {counts['connections']}, "
        f"statements {counts['statements']}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
