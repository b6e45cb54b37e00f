"""Online deploys, rehearsed: a real WSGI application (a werkzeug server, in its own process,
stopped and started through a pid file as systemd would) serves requests in a loop, reading and
writing with the running release's columns, while ``mks-db deploy --service auto`` migrates.

An online revision (a nullable column) is applied with the application serving: no request
fails and the service is never stopped. An incompatible one (it drops a column the running
release reads) makes ``auto`` stop the service as the guide does: the requests during the stop
fail, and none after the start, which runs the new release."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import text

from alembic_cases import Rev, add_revision, make_project
from app_service import free_port
from conftest import git, run_json
from mks_db.cli import main
from mks_db.database.server import own_engine

pytestmark = pytest.mark.slow  # real processes, real deploys

# The application: a WSGI app that, per request, reads the latest accounts and writes one, with
# the columns of the release it was started with (columns.json, read once at start).
APP = """
import json, os, sys
from pathlib import Path
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

HERE = Path(sys.argv[1])
COLUMNS = json.loads((HERE / "columns.json").read_text())
engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=True)


def app(environ, start_response):
    try:
        with engine.begin() as connection:
            names = ", ".join(COLUMNS)
            rows = connection.execute(text(f"SELECT id, {names} FROM account ORDER BY id DESC LIMIT 3")).all()
            values = ", ".join(f":{c}" for c in COLUMNS)
            connection.execute(text(f"INSERT INTO account ({names}) VALUES ({values})"),
                               {c: f"{c}-{len(rows)}" for c in COLUMNS})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]
    except Exception as exc:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
        return [type(exc).__name__.encode()]


make_server("127.0.0.1", int(sys.argv[2]), app, threaded=True).serve_forever()
"""

SERVICE = """
import os, signal, socket, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PID, PORT = HERE / "app.pid", {port}


def start():
    if PID.exists():
        return 0
    env = dict(os.environ, DATABASE_URL=(HERE / "app.env").read_text().strip())
    with open(HERE / "app.log", "ab") as log:
        process = subprocess.Popen([sys.executable, str(HERE / "app.py"), str(HERE), str(PORT)], env=env,
                                   stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    PID.write_text(str(process.pid))
    with open(HERE / "events.log", "a") as events:
        events.write("start\\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) == 0:
                return 0
        time.sleep(0.05)
    return 1


def stop():
    if PID.exists():
        pid = int(PID.read_text())
        os.kill(pid, signal.SIGTERM)
        while os.path.exists(f"/proc/{{pid}}") and open(f"/proc/{{pid}}/stat").read().split()[2] != "Z":
            time.sleep(0.05)
        PID.unlink()
        with open(HERE / "events.log", "a") as events:
            events.write("stop\\n")
    return 0


sys.exit(start() if sys.argv[1] == "start" else stop())
"""

A1 = Rev(
    "a1",
    None,
    'op.create_table("account", sa.Column("id", sa.Integer, primary_key=True),\n'
    '                sa.Column("email", sa.Text, nullable=False), sa.Column("nickname", sa.Text))',
    'op.drop_table("account")',
)
B2 = Rev(
    "b2", "a1", 'op.add_column("account", sa.Column("bio", sa.Text))', 'op.drop_column("account", "bio")'
)
C3 = Rev(
    "c3",
    "b2",
    'op.drop_column("account", "nickname")',
    'op.add_column("account", sa.Column("nickname", sa.Text))',
)


def models(*columns: str) -> str:
    return (
        "import sqlalchemy as sa\ntarget_metadata = sa.MetaData()\n"
        'sa.Table("account", target_metadata, sa.Column("id", sa.Integer, primary_key=True),\n'
        + "".join(f'         sa.Column("{c}", sa.Text, nullable={c != "email"}),\n' for c in columns)
        + ")\n"
    )


class Load:
    """Requests in a loop from a thread: (seconds since start, HTTP status, 0 for no answer)."""

    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/"
        self.results: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:  # noqa: S310
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                status = 0
            self.results.append((time.monotonic(), status))
            time.sleep(0.02)

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def commit(root, message: str) -> None:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)


def test_an_online_revision_is_applied_serving_and_an_incompatible_one_stops_the_service(
    tmp_path, scratch_url, server_url, capsys, monkeypatch
):
    project = tmp_path / "project"
    ini = make_project(project, [A1], models("email", "nickname"))
    git(project, "init", "-q", "-b", "main")
    commit(project, "release 1")
    production = scratch_url.render_as_string(hide_password=False)
    service_dir, port = tmp_path / "service", free_port()
    service_dir.mkdir()
    (service_dir / "app.py").write_text(APP)
    (service_dir / "service.py").write_text(SERVICE.format(port=port))
    (service_dir / "app.env").write_text(production)
    control = [sys.executable, str(service_dir / "service.py")]
    (project / "pyproject.toml").write_text(
        "[tool.mks-db.deploy]\n"
        f"stop-command = {json.dumps(shlex.join([*control, 'stop']))}\n"
        f"start-command = {json.dumps(shlex.join([*control, 'start']))}\n"
        f'backup-dir = "{tmp_path / "backups"}"\n'
        'service = "auto"\n'
    )
    monkeypatch.chdir(project)
    deploy = ["deploy", "-c", str(ini), "--database-url", production, "--scratch-url", server_url]
    (service_dir / "columns.json").write_text(json.dumps(["email", "nickname"]))
    assert main([*deploy, "--to", "a1", "--service", "stop"]) == 0, capsys.readouterr()
    capsys.readouterr()
    (service_dir / "events.log").unlink()  # the first deploy started it: from here on, counted
    try:
        # Release 2: a nullable column, online.
        add_revision(ini, B2)
        (project / "migrations" / "env.py").write_text(
            (project / "migrations" / "env.py")
            .read_text()
            .replace(models("email", "nickname"), models("email", "nickname", "bio"))
        )
        commit(project, "release 2")
        code, plan = run_json(
            capsys, "plan", "-c", str(ini), "--database-url", production, "--scratch-url", server_url
        )
        assert main(["plan", "-c", str(ini), "--database-url", production, "--scratch-url", server_url]) == 0
        printed = capsys.readouterr().out
        assert "with the application running?\n  b2  online: compatible with the running release, " in printed
        [verdict] = plan["online"]
        assert (verdict["revision"], verdict["mode"]) == ("b2", "online"), verdict
        assert "locks within the 2s budget: AccessExclusiveLock on public.account about " in verdict["reason"]
        assert "public.account" in plan["rows"]
        with Load(port) as load:
            time.sleep(0.5)
            code = main(deploy)
            time.sleep(0.5)
        out = capsys.readouterr().out
        assert code == 0, out
        assert "service kept running: every revision is online" in out
        assert not (service_dir / "events.log").exists()  # neither stopped nor started
        assert load.results and {status for _, status in load.results} == {200}, load.results

        # Release 3: drops a column release 2 still reads: the service is stopped for it.
        add_revision(ini, C3)
        (project / "migrations" / "env.py").write_text(
            (project / "migrations" / "env.py")
            .read_text()
            .replace(models("email", "nickname", "bio"), models("email", "bio"))
        )
        commit(project, "release 3")
        (service_dir / "columns.json").write_text(json.dumps(["email", "bio"]))  # read at the next start
        with Load(port) as load:
            time.sleep(0.5)
            code = main(deploy)
            started = time.monotonic()
            time.sleep(1.0)
        out = capsys.readouterr().out
        assert code == 0, out
        assert "service stopped for the migration: c3 needs the application stopped: " in out
        assert "nickname" in out
        assert (service_dir / "events.log").read_text().split() == ["stop", "start"]
        statuses = [status for _, status in load.results]
        assert statuses[0] == 200 and 0 in statuses  # served, then refused while stopped
        assert {status for at, status in load.results if at > started} == {200}
        assert 500 not in statuses  # the old release never met the new schema
    finally:
        subprocess.run([*control, "stop"], check=False, timeout=60)
    engine = own_engine(scratch_url)
    try:
        with engine.connect() as connection:
            messages = (
                connection.execute(
                    text("SELECT message FROM mks_db.deploy_history WHERE outcome = 'ok' ORDER BY id")
                )
                .scalars()
                .all()
            )
    finally:
        engine.dispose()
    assert "service kept running" in messages[-2] and "service stopped for the migration" in messages[-1]
