"""A reader that closes ``mks-db``'s standard output early (``mks-db heads | head -1``): the
command ends quietly, with its verdict's exit status and no traceback. Real ``mks-db``
processes, since the pipe is the point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from alembic_cases import Rev, make_project

pytestmark = pytest.mark.slow  # each test runs mks-db in processes of its own, piped

MKS_DB = str(Path(sys.executable).parent / "mks-db")  # the console script, as users run it

BASE = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True))',
    'op.drop_table("account")',
)
SECOND_HEAD = Rev("b2", "a1", 'op.add_column("account", sa.Column("age", sa.Integer))', "pass")
THIRD_HEAD = Rev("c3", "a1", 'op.add_column("account", sa.Column("city", sa.Text))', "pass")


def run_with_stdout_closed(*args: str) -> tuple[int, str]:
    """``mks-db ARGS`` whose reader closes standard output before it writes: its exit status
    and standard error."""
    process = subprocess.Popen([MKS_DB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()  # long before the interpreter has started, let alone reported
    stderr = process.stderr.read()
    process.stderr.close()
    return process.wait(timeout=60), stderr


@pytest.mark.parametrize("fmt", ["human", "json", "github"])
@pytest.mark.parametrize(
    ("revisions", "status"),
    [([BASE], 0), ([BASE, SECOND_HEAD, THIRD_HEAD], 1)],
    ids=["clean", "two heads"],
)
def test_a_closed_standard_output_ends_the_command_quietly_with_its_verdicts_status(
    tmp_path, monkeypatch, revisions, status, fmt
):
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    ini = make_project(tmp_path, revisions)
    code, stderr = run_with_stdout_closed("heads", "-c", str(ini), "--format", fmt)
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert stderr == ""
    assert code == status


def test_an_error_still_gets_its_line_when_standard_output_is_closed(tmp_path):
    code, stderr = run_with_stdout_closed("heads", "-c", str(tmp_path / "missing.ini"), "--format", "json")
    assert "Traceback" not in stderr, stderr
    assert stderr.startswith("mks-db: error: no Alembic configuration at ")
    assert code == 2
