"""What ``lint`` and ``check`` keep between runs under ``build/migration-sql``: the rendered SQL
(``mks_db.engine.render``) and the lint results (``mks_db.checks.sql``). An entry is written
whole or not at all; one that is cut short, unreadable or stale is made again, never an error."""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest

from alembic_cases import Rev, make_project
from conftest import run_json
from mks_db.cli import main
from mks_db.engine.render import write_atomically

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
        'op.create_index("ix_email", "account", ["email"])',
        'op.drop_index("ix_email", "account")',
    ),
]


def without_seconds(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "seconds"}


DAMAGE = {
    "cut short": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "not UTF-8": lambda data: b"\xff\xfe" + data,
    "JSON but not violations": lambda data: b'{"rule": "x"}',
    "violations without their fields": lambda data: b'[{"rule": "x"}]',
}


@pytest.mark.parametrize(
    ("command", "damage"), [*(("lint", d) for d in DAMAGE), ("check", "cut short")], ids=lambda v: v
)
def test_a_damaged_lint_cache_entry_is_linted_afresh_not_an_error(tmp_path, capsys, request, command, damage):
    ini = make_project(tmp_path, REVISIONS)
    args = [command, "-c", str(ini)]
    if command == "check":  # which needs a server for its scratch databases
        args += ["--database-url", request.getfixturevalue("server_url")]
    code, first = run_json(capsys, *args)
    assert any(f["rule"] == "require-concurrent-index-creation" for f in first["findings"]), first
    cache = tmp_path / "build/migration-sql/.lint-cache"
    entries = {p: p.read_bytes() for p in cache.iterdir()}
    assert entries
    for path, data in entries.items():
        path.write_bytes(DAMAGE[damage](data))
    again_code, again = run_json(capsys, *args)
    assert (again_code, without_seconds(again)) == (code, without_seconds(first))
    # rebuilt, whole, and nothing else left in the directory (no temporary file)
    assert {p: p.read_bytes() for p in cache.iterdir()} == entries


def test_a_rendered_sql_file_cut_short_after_its_stamp_is_rendered_again(tmp_path, capsys):
    ini = make_project(tmp_path, REVISIONS)
    out = tmp_path / "build/migration-sql"
    code, first = run_json(capsys, "lint", "-c", str(ini))
    upgrade = out / "b2.upgrade.sql"
    whole = upgrade.read_text()
    assert "CREATE INDEX ix_email" in whole
    upgrade.write_text(whole[: whole.index("CREATE INDEX")])  # the stamp and header survive
    again_code, again = run_json(capsys, "lint", "-c", str(ini))
    assert upgrade.read_text() == whole
    assert (again_code, without_seconds(again)) == (code, without_seconds(first))
    assert sorted(p.name for p in out.iterdir()) == [
        ".gitignore",  # git ignores all of it
        ".lint-cache",
        "a1.downgrade.sql",
        "a1.upgrade.sql",
        "b2.downgrade.sql",
        "b2.upgrade.sql",
    ]


@pytest.mark.parametrize("distribution", ["alembic", "sqlalchemy"])
def test_rendered_sql_is_rendered_again_when_the_installed_alembic_or_sqlalchemy_changes(
    tmp_path, capsys, monkeypatch, distribution
):
    ini = make_project(tmp_path, REVISIONS)
    upgrade = tmp_path / "build/migration-sql/b2.upgrade.sql"
    assert main(["sql", "-c", str(ini)]) == 0
    before = upgrade.read_text()
    # Another release of the library installed: a distribution's metadata found first on sys.path.
    site = tmp_path / "site"
    other = f"{version(distribution)}.post1"
    metadata = site / f"{distribution}-{other}.dist-info"
    metadata.mkdir(parents=True)
    (metadata / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {other}\n")
    monkeypatch.syspath_prepend(str(site))
    assert version(distribution) == other
    assert main(["sql", "-c", str(ini)]) == 0
    after = upgrade.read_text()
    assert after.splitlines()[0] != before.splitlines()[0]  # a new stamp: rendered again
    assert after.splitlines()[1:] == before.splitlines()[1:]
    capsys.readouterr()


def test_an_atomic_write_that_fails_midway_leaves_the_previous_file_whole(tmp_path):
    entry = tmp_path / "entry.json"
    entry.write_text("[]")
    with pytest.raises(UnicodeEncodeError):
        write_atomically(entry, '[{"rule": "' + "x" * 100_000 + '\ud800"}]')  # cannot be encoded
    assert entry.read_text() == "[]"
    assert list(tmp_path.iterdir()) == [entry]  # no temporary file left behind
    write_atomically(entry, '[{"rule": "é"}]')
    assert json.loads(entry.read_text(encoding="utf-8")) == [{"rule": "é"}]
    assert list(tmp_path.iterdir()) == [entry]
