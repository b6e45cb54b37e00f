"""What the checks judge: one record per kind of evidence, each named by its ``KIND``.

Every check has one shape (``mks_db.checks``): ``judge(project, evidence) -> list[Finding]``,
where ``evidence`` is the record of the kind the registry (``mks_db.findings.CHECKS``) names
for it. A command gathers the evidence (reads the graph, renders the SQL, walks the chain,
measures the locks) and hands it to ``mks_db.checks.judge``, which runs every check of that
kind, so a new check of a kind runs wherever that evidence is gathered.

The walk's checks (``upgrade``, ``downgrade``, ``roundtrip``, ``data-loss``: kind ``walk``) are
given its moments as the walk reaches them (``engine.revision_steps``), one record per kind of
moment (``Filled`` ... ``WalkedDown``), each naming the ``walk`` and the ``revision``; a check
judges the moments it reads and returns nothing for the others. The walk's scratch database is
as the moment left it: a check may read it (``data-loss`` follows moved values), and must not
change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the evidence is gathered by the modules that define them
    from alembic.script import Script

    from mks_db.database.server import Server
    from mks_db.engine import catalog, data
    from mks_db.engine.lock_probe import Measurement
    from mks_db.engine.migrate import Migrator
    from mks_db.engine.release import Release
    from mks_db.engine.render import Rendered
    from mks_db.engine.revision_files import RevisionFile
    from mks_db.engine.walk import StepFailure, StepResult, Walk
    from mks_db.findings import Finding
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
    AT_ONCE = True  # its checks run at once: sqlfluff's and squawk's processes side by side
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


@dataclass(frozen=True, kw_only=True)
class Moment:
    """A moment of the walk: ``revision``'s, in ``walk``'s scratch database."""

    KIND = "walk"
    walk: Walk
    revision: Script


@dataclass(frozen=True, kw_only=True)
class Filled(Moment):
    """Before ``revision``'s upgrade, the empty tables got generated rows; ``unfilled``: why
    some took none (once per table)."""

    unfilled: list[str]


@dataclass(frozen=True, kw_only=True)
class Upgraded(Moment):
    """``revision`` upgraded (``outcome``); ``held``: what the tables it changed held before
    (``Walk.recount``), while the database is still at the revision."""

    outcome: StepResult
    held: dict[int, data.TableData]


@dataclass(frozen=True, kw_only=True)
class NotUpgraded(Moment):
    """An upgrade of ``revision`` failed (``failure``), and whether the walk got past it:
    ``one_run``, whether it then passed in one env.py run with the revisions before it (None:
    not tried; ``timed_out``: the failure was a time bound's, which is not waited for again);
    when it did not, ``later`` are the revisions left unchecked."""

    failure: StepFailure
    one_run: bool | None = None
    later: list[Script] = field(default_factory=list)
    timed_out: bool = False


@dataclass(frozen=True, kw_only=True)
class UpgradeFailed(NotUpgraded):
    """``revision``'s upgrade failed with rows in place. ``outside``: when the object it misses
    is one the chain never creates, the revisions before it that do nothing (none for the
    chain's first revision); None otherwise. ``retried``: the upgrade again on empty tables
    (None: rows were no cause), with ``handed``, the row the revision's code read last."""

    outside: tuple[str, ...] | None = None
    retried: StepResult | StepFailure | None = None
    handed: str | None = None


@dataclass(frozen=True, kw_only=True)
class DowngradeFailed(Moment):
    """``revision``'s downgrade raised right after its upgrade (``failure``); ``refused``: on
    purpose (declared irreversible, or the chain's first revision raising without a database
    error), so the walk goes on from the revision; ``one_run``: the revision was reached in one
    run with those before it."""

    failure: StepFailure
    refused: bool
    one_run: bool = False


@dataclass(frozen=True, kw_only=True)
class SchemaDiffers(Moment):
    """After ``action`` (``downgrade`` or ``re-upgrade``), the schema is not the one expected:
    ``differences``, one per line, or ``unexplained``, why the expected schema could not be
    rebuilt to show them; ``one_run``: as for ``DowngradeFailed``."""

    action: str
    differences: list[str]
    unexplained: str | None = None
    one_run: bool = False


@dataclass(frozen=True, kw_only=True)
class ReupgradeFailed(Moment):
    """``revision``'s upgrade failed right after its own downgrade (``failure``)."""

    failure: StepFailure


@dataclass(frozen=True, kw_only=True)
class RebuildFailed(NotUpgraded):
    """After a finding, a fresh database could not be upgraded through ``revision``."""


@dataclass(frozen=True, kw_only=True)
class StartFailed(Moment):
    """A part of the walk could not be upgraded to its start: ``failure``, at ``revision``."""

    failure: StepFailure


@dataclass(frozen=True, kw_only=True)
class WalkedDown(Moment):
    """The part's ``revisions`` downgraded from the last (``revision`` is the first): ``failure``
    stopped the way down (None: every downgrade passed); ``start``, the schema's snapshot and
    fingerprint where the part began, at ``below`` (None: base); ``earlier``, the part's findings."""

    revisions: list[Script]
    failure: StepFailure | None
    start: tuple[catalog.Snapshot, int]
    below: Script | None
    earlier: list[Finding]
