"""Every example of docs/checks.md, run for real: each case of ``tests/cases/*.yaml`` is built
as a small Alembic project, ``mks-db`` runs on it in this process (against the test server),
and what it prints must be what the case (and so the docs) shows.
"""

from __future__ import annotations

import json

import pytest

from check_cases import DATABASE_COMMANDS, Case, all_cases, arguments, build, matches, printed
from conftest import git
from mks_db.cli import main

CASES = all_cases()


def _param(case: Case):
    return pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.slow else [])


@pytest.mark.parametrize("case", [_param(case) for case in CASES])
def test_the_case_prints_what_the_docs_show(case, tmp_path, capsys, monkeypatch, request):
    # The commands that need no database do without the test server.
    server_url = request.getfixturevalue("server_url") if case.command[0] in DATABASE_COMMANDS else ""
    project = tmp_path / "project"
    project.mkdir()
    ini = build(case, project, git)
    monkeypatch.chdir(project)  # paths in the report are relative to the working directory
    report_file = tmp_path / "report.json"
    code = main(arguments(case, ini, server_url, report_file))
    out = printed(capsys.readouterr().out)
    assert matches(case.output, out), f"{case.id} printed:\n{out}\n\nthe case shows:\n{case.output}"
    report = json.loads(report_file.read_text())
    assert (code, report["ok"]) == (case.exit_code, case.exit_code == 0)


def test_every_check_has_its_cases():
    from mks_db.findings import CHECKS

    assert {case.check for case in CASES} == set(CHECKS)
