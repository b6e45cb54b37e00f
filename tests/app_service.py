"""A stand-in for the production host's ``mirai-knowledge-production.service``: the backend's
real health app (``mks.health``) served by a real WSGI server (werkzeug's) in its own process,
stopped and started by a service script through a pid file, as systemd would.

``Service(directory, database_url, port)`` writes ``service.py``; ``service.command("stop")``
is the command line the deploy's ``stop-command`` runs (``python service.py stop``). The
application reads its database URL from an environment file (0600), as a systemd unit's
``EnvironmentFile``: never from its command line.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SCRIPT = '''
"""start | stop the health app (a werkzeug server) through a pid file."""
import os, signal, socket, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PID, PORT = HERE / "app.pid", {port}
APP = (
    "from werkzeug.serving import make_server\\n"
    "from mks.health import create_app\\n"
    "make_server('127.0.0.1', {port}, create_app()).serve_forever()\\n"
)


def running():
    try:
        pid = int(PID.read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start():
    if running():
        return 0
    env = dict(os.environ)
    for line in (HERE / "app.env").read_text().splitlines():
        name, _, value = line.partition("=")
        env[name] = value
    with open(HERE / "app.log", "ab") as log:
        process = subprocess.Popen([sys.executable, "-c", APP], env=env, stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    PID.write_text(str(process.pid))
    with open(HERE / "events.log", "a") as events:
        events.write(f"start {{process.pid}}\\n")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", PORT)) == 0:
                return 0
        if process.poll() is not None:
            return 1
        time.sleep(0.05)
    return 1


def stop():
    pid = running()
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                # reap it when it is our child's child no longer: poll the process table
                if open(f"/proc/{{pid}}/stat").read().split()[2] == "Z":
                    break
            except OSError:
                break
            time.sleep(0.05)
        with open(HERE / "events.log", "a") as events:
            events.write(f"stop {{pid}}\\n")
    PID.unlink(missing_ok=True)
    return 0


sys.exit(start() if sys.argv[1] == "start" else stop())
'''


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Service:
    """The application as a service the deploy stops and starts (see the module's docstring)."""

    def __init__(self, directory: Path, database_url: str, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "service.py").write_text(SCRIPT.format(port=self.port))
        env_file = directory / "app.env"
        env_file.touch(mode=0o600)
        env_file.write_text(f"DATABASE_URL={database_url}\n")

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def command(self, action: str) -> str:
        """The command line that does ``action`` (start or stop), for stop-/start-command."""
        return shlex.join([sys.executable, str(self.directory / "service.py"), action])

    def run(self, action: str) -> None:
        subprocess.run(shlex.split(self.command(action)), check=True, timeout=60)

    def pid(self) -> int | None:
        try:
            return int((self.directory / "app.pid").read_text())
        except (OSError, ValueError):
            return None

    def events(self) -> list[str]:
        """``start PID`` / ``stop PID`` lines, in the order the service script did them."""
        path = self.directory / "events.log"
        return path.read_text().split("\n")[:-1] if path.exists() else []

    def health(self) -> tuple[int, str]:
        """The health URL's status and body now (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(self.health_url, timeout=5) as response:  # noqa: S310
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    def wait_stopped(self, seconds: float = 10) -> bool:
        deadline = time.monotonic() + seconds
        while self.health()[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.health()[0]

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run("stop")
        if os.path.exists(self.directory / "app.pid"):
            (self.directory / "app.pid").unlink()
