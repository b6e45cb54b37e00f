"""engine/walk.py: the walk's programs, as its docstring teaches them."""

from __future__ import annotations

import contextlib
import io
import textwrap

from alembic_cases import Rev, make_project
from mks_db.engine import walk


def test_the_walk_s_docstring_example_runs_as_written(tmp_path, monkeypatch, server_url):
    """The example that teaches the walk's programs (``engine.walk``'s docstring) runs on a
    project made as the tests make them, and says what its comment says."""
    doc = walk.__doc__
    example = textwrap.dedent(
        doc[doc.index("    from mks_db.database.server") : doc.index("The walk applies")]
    )
    example = example.replace("open_server(None)", f"open_server({server_url!r})")
    ini = make_project(
        tmp_path, [Rev("a1", None, 'op.create_table("t", sa.Column("id", sa.Integer))', 'op.drop_table("t")')]
    )
    monkeypatch.chdir(ini.parent)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example, "engine/walk.py docstring", "exec"), {})  # noqa: S102 - the docs' own example
    assert printed.getvalue() == "restored\n"
