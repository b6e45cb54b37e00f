"""What the checks judge: one record per kind of evidence, each named by its ``KIND``.

Every check has one shape (``mks_db.checks``): ``judge(project, evidence) -> list[Finding]``,
where ``evidence`` is the record of the kind the registry (``mks_db.findings.CHECKS``) names
for it. A command gathers the evidence (reads the graph, renders the SQL, walks the chain,
measures the locks) and hands it to ``mks_db.checks.judge``, which runs every check of that
kind, so a new check of a kind runs wherever that evidence is gathered.

The walk's checks (``upgrade``, ``downgrade``, ``roundtrip``, ``data-loss``: kind ``walk``) are
judged inside the walk, step by step, as ``engine.chain_walk``'s ``Judge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the evidence is gathered by the modules that define them
    from alembic.script import Script

    from mks_db.database.server import Server
    from mks_db.engine.lock_probe import Measurement
    from mks_db.engine.migrate import Migrator
    from mks_db.engine.release import Release
    from mks_db.engine.render import Rendered
    from mks_db.engine.revision_files import RevisionFile
    from mks_db.limits import LockLimits


@dataclass(frozen=True)
class Graph:
    """The revision graph from the files' syntax: ``files`` (None: every revision file, read
    by the check), ``linear`` (``[tool.mks-db] linear-history``), and ``base``, the git ref a
    change is judged against (``--since``, the hook's base), None without one."""

    KIND = "graph"
    files: list[RevisionFile] | None = None
    linear: bool = False
    base: str | None = None


@dataclass(frozen=True)
class RenderedSql:
    """The revisions' SQL rendered offline (``engine.render.write_sql``) into ``out``, where
    the checks that run a tool cache its results; ``offline``: production runs this SQL;
    ``session_timeouts``: the time bounds env.py gave the migrating session as the walk
    measured them (None: not measured)."""

    KIND = "sql"
    rendered: list[Rendered]
    out: Path
    offline: bool = False
    session_timeouts: set[str] | None = None


@dataclass(frozen=True)
class AtHead:
    """A scratch database at head, every revision applied, through ``migrator``."""

    KIND = "head"
    migrator: Migrator


@dataclass(frozen=True)
class Measured:
    """The chosen revisions' locks, rewrites and times (``engine.lock_probe``), and the limits
    they are judged by."""

    KIND = "locks"
    measurements: list[Measurement]
    limits: LockLimits


@dataclass(frozen=True)
class BaseRelease:
    """The previous ``release``'s models, to run on ``server`` at the revisions it ``known``,
    then after each of the ``new`` ones; ``reversible``: the walk proved the new revisions'
    downgrades restore the schema exactly."""

    KIND = "base-release"
    server: Server
    known: list[Script]
    new: list[Script]
    release: Release
    reversible: bool = False
