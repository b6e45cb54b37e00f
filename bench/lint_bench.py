"""How fast the offline checks are: ``mks-db lint`` on a 200-revision chain, cold and warm,
next to one sqlfluff process over the same files; and the pre-commit hooks on a commit that adds
one revision to that chain. Side by side, in one run; no database needed.

    python bench/lint_bench.py [--n 200] [--repeat 3]

Prints the figures and the ratios to the targets (docs/benchmarks.md keeps a copy by hand):
lint cold faster than sqlfluff alone, lint warm under 1 s, the pre-commit run under 2 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_chain  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def timed(command: list[str], cwd: Path, ok_codes=(0, 1)) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode not in ok_codes:
        sys.exit(
            f"{' '.join(command)} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        )
    return elapsed


def project(n: int, root: Path) -> Path:
    make_chain.write_chain(n, root)
    for name in (".sqlfluff", ".squawk.toml", ".pre-commit-config.yaml"):
        shutil.copy2(ROOT / name, root / name)
    (root / "pyproject.toml").write_text('[tool.mks-db]\nbase-ref = "origin/main"\n')
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-q", "-m", "chain", "--no-verify"],
        ["update-ref", "refs/remotes/origin/main", "HEAD"],
    ):
        subprocess.run(["git", *args], cwd=root, env=ENV, check=True, capture_output=True)
    subprocess.run(
        [sys.executable, "-m", "pre_commit", "install"], cwd=root, env=ENV, check=True, capture_output=True
    )
    return root / "alembic.ini"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mks-lint-bench-") as tmp:
        root = Path(tmp)
        ENV["PRE_COMMIT_HOME"] = str(root / ".pre-commit-home")
        ini = project(args.n, root / "chain")
        chain = ini.parent
        build = chain / "build"
        lint = [str(BIN / "mks-db"), "lint", "--all", "-c", str(ini), "--format", "json"]
        cold, warm, fluff, hook = [], [], [], []
        for _ in range(args.repeat):
            shutil.rmtree(build, ignore_errors=True)
            cold.append(timed(lint, chain))
            warm.append(timed(lint, chain))
            files = sorted(str(p) for p in (build / "migration-sql").glob("*.sql"))
            fluff.append(
                timed(
                    [
                        str(BIN / "sqlfluff"),
                        "lint",
                        "--dialect",
                        "postgres",
                        "--nofail",
                        "--disable-progress-bar",
                        "--format",
                        "json",
                        *files,
                    ],
                    chain,
                )
            )
        new = chain / "migrations" / "versions" / "r9999_add_note.py"
        last = make_chain.revision_id(args.n)
        for i in range(args.repeat):
            new.write_text(
                f'"""add a note"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
                f'revision = "r9999x{i}"\ndown_revision = "{last}"\nbranch_labels = None\n'
                f"depends_on = None\n\n\ndef upgrade() -> None:\n"
                f'    op.add_column("{make_chain.table(args.n)}",'
                f' sa.Column("note", sa.Text(), nullable=True))\n\n\n'
                f"def downgrade() -> None:\n"
                f'    op.drop_column("{make_chain.table(args.n)}", "note")\n'
            )
            subprocess.run(["git", "add", str(new)], cwd=chain, env=ENV, check=True)
            # The chain's env.py sets no lock_timeout, so squawk's findings fail the hook (exit 1):
            # the time is the same as a passing run's.
            hook.append(timed([sys.executable, "-m", "pre_commit", "run", "--files", str(new)], chain))
            subprocess.run(["git", "reset", "-q", "HEAD", "--", str(new)], cwd=chain, env=ENV, check=True)
    med = statistics.median
    print(
        f"N = {args.n} revisions ({2 * args.n} SQL files), "
        f"median of {args.repeat} runs, {os.cpu_count()} CPUs"
    )
    print(
        f"mks-db lint --all, cold          {med(cold):6.2f} s   vs one sqlfluff process {med(fluff):6.2f} s:"
        f" {med(cold) / med(fluff):.2f}x (target < 1)"
    )
    print(f"mks-db lint --all, warm          {med(warm):6.2f} s   (target < 1 s)")
    print(f"pre-commit, one new revision     {med(hook):6.2f} s   (target < 2 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
