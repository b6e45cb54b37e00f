"""How long `mks-db locks` takes to analyse one revision on one table of 100,000 rows, end to end
(process start, embedded server, scratch databases, both fills, both runs). Target: under 10 s.

    python bench/locks_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from alembic_cases import Rev, make_project  # noqa: E402

REVISIONS = [
    Rev(
        "a1",
        None,
        'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
        '                sa.Column("email", sa.String(100), nullable=False))',
        'op.drop_table("account")',
    ),
    Rev(
        "b2",
        "a1",
        'op.create_index("ix_account_email", "account", ["email"])',
        'op.drop_index("ix_account_email", "account")',
    ),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times = []
    with tempfile.TemporaryDirectory(prefix="mks-locks-bench-") as tmp:
        ini = make_project(Path(tmp), REVISIONS)
        command = [
            str(Path(sys.executable).parent / "mks-db"),
            "locks",
            "-c",
            str(ini),
            "--revision",
            "b2",
            "--rows",
            "100000",
        ]
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True)
            times.append(time.perf_counter() - started)
            if "ShareLock" not in result.stdout + result.stderr and "SHARE" not in result.stdout:
                sys.exit(f"unexpected output:\n{result.stdout}\n{result.stderr}")
    print(
        f"mks-db locks, one revision (CREATE INDEX) on one table of 100,000 rows: "
        f"median {statistics.median(times):.2f} s of {args.repeat} (target < 10 s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
