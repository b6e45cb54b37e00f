"""What a developer sees while a walk runs, and in the human report after it."""

from __future__ import annotations

import io

from alembic_cases import Rev, make_project
from mks_db import checks
from mks_db.cli import main
from mks_db.engine.chain_walk import walk_chain
from mks_db.engine.project import load_project
from mks_db.report.progress import Progress

A1 = Rev(
    "a1", None, 'op.create_table("t", sa.Column("id", sa.Integer, primary_key=True))', 'op.drop_table("t")'
)
B2 = Rev("b2", "a1", 'op.add_column("t", sa.Column("n", sa.Integer))', 'op.drop_column("t", "n")')


def test_the_progress_line_names_each_revision_as_it_is_reached(tmp_path, pg_server):
    project = load_project(make_project(tmp_path, [A1, B2]))
    terminal = io.StringIO()
    judge = lambda moment: checks.judge(project, moment)  # noqa: E731
    walk_chain(project, pg_server, judge, progress=Progress(terminal, enabled=True), jobs=1)
    shown = terminal.getvalue()
    assert "revision 1 of 2: a1" in shown and "revision 2 of 2: b2" in shown
    assert shown.index("a1") < shown.index("b2")


def test_a_revision_with_findings_keeps_its_verdict_line_as_it_is_reached(tmp_path, pg_server):
    leaves_index = Rev("c3", "b2", 'op.create_index("ix_t_n", "t", ["n"])', "pass")
    project = load_project(make_project(tmp_path, [A1, B2, leaves_index]))
    terminal = io.StringIO()
    judge = lambda moment: checks.judge(project, moment)  # noqa: E731
    walk_chain(project, pg_server, judge, progress=Progress(terminal, enabled=True), jobs=1)
    shown = terminal.getvalue()
    assert "c3: error roundtrip\n" in shown
    assert "a1:" not in shown and "b2:" not in shown  # revisions that passed: the live line only


def test_no_progress_line_is_written_where_no_terminal_reads_it():
    stream = io.StringIO()
    Progress(stream).say("revision 1 of 2: a1")  # a StringIO is no terminal
    assert stream.getvalue() == ""


def test_the_human_report_sums_up_the_revisions_that_passed_and_lists_steps_with_verbose(
    tmp_path, capsys, server_url
):
    ini = make_project(tmp_path, [A1, B2])
    assert main(["roundtrip", "-c", str(ini), "--database-url", server_url]) == 0
    short = capsys.readouterr().out
    assert "2 revisions passed every step (-v lists the steps)" in short
    assert "re-upgrade" not in short
    assert main(["roundtrip", "-c", str(ini), "--database-url", server_url, "-v"]) == 0
    verbose = capsys.readouterr().out
    assert verbose.count("re-upgrade") == 2 and "passed every step" not in verbose
