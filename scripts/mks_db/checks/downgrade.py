"""The downgrade check: every revision's downgrade runs without error.

**The problem.** A ``downgrade()`` that raises. A rollback during an incident is the worst time
to find out that it refers to a misspelled column, or that it was left as ``raise
NotImplementedError``.

**Unsafe**::

    def upgrade():
        op.add_column("account", sa.Column("age", sa.Integer()))

    def downgrade():
        op.drop_column("account", "agee")

**Safe**: a downgrade that undoes exactly what the upgrade did (``op.drop_column("account",
"age")``), or, for a change that truly cannot be undone, a declaration with its reason, which
makes the finding a warning::

    # mks-db: irreversible: the original case of e-mail addresses is not kept

How it is judged: the walk runs each revision's downgrade right after its upgrade, with the
generated rows in place (moment ``DowngradeFailed``), and every downgrade again, newest first,
on the way back to base (``WalkedDown``; a downgrade already reported is not reported again).
The chain's first revision refusing its own downgrade on purpose (``raise Exception(...)``, not
a database error) is a warning: no database goes below the base.
"""

from __future__ import annotations

from dataclasses import replace

from alembic.script import Script

from mks_db.checks.upgrade import failure_finding
from mks_db.engine import declarations
from mks_db.engine.evidence import DowngradeFailed, Moment, WalkedDown
from mks_db.engine.project import Project
from mks_db.engine.walk import StepFailure
from mks_db.findings import WARNING, Finding

ONE_RUN = " (reached in one run with the revisions before it, as `alembic upgrade head` does)"


def judge(project: Project, evidence: Moment) -> list[Finding]:
    """A downgrade that raised right after its upgrade (``DowngradeFailed``) or on the way back
    down (``WalkedDown``)."""
    match evidence:
        case DowngradeFailed(failure=failure, refused=refused, one_run=one_run):
            finding = failed(project, failure, refused)
            return [replace(finding, message=finding.message + ONE_RUN) if one_run else finding]
        case WalkedDown(failure=StepFailure() as failure, earlier=earlier):
            return [] if reported(earlier, failure.revision) else failed_on_the_way_down(project, failure)
    return []


def failed(project: Project, failure: StepFailure, refused: bool) -> Finding:
    """The finding for a downgrade that raised right after its upgrade: a warning when it
    ``refused`` on purpose (declared irreversible, or the chain's first revision)."""
    revision = failure.revision
    declared = declarations.of_file(revision.path)
    why = irreversible_note(declared)
    if declared.accepted("irreversible"):
        message = f"downgrade of {revision.revision} fails{why}"
        return Finding("downgrade", WARNING, revision.revision, message, project.relpath(revision.path))
    if refused:
        # The chain's first revision refusing its own downgrade on purpose: no database goes
        # below the base, so nothing in production depends on it.
        message = f"downgrade of {revision.revision}, the chain's first revision, refuses: {failure.reason}"
        return Finding("downgrade", WARNING, revision.revision, message, project.relpath(revision.path))
    return failure_finding("downgrade", failure, project, why)


def failed_on_the_way_down(project: Project, failure: StepFailure) -> list[Finding]:
    """The finding for a downgrade that raised on the walk back down (none when the revision
    is declared irreversible: the walk down stops there quietly)."""
    if declarations.of_file(failure.revision.path).accepted("irreversible"):
        return []
    return [failure_finding("downgrade", failure, project)]


def irreversible_note(declared: declarations.Declarations) -> str:
    """What a downgrade finding appends about the revision's ``irreversible`` declaration: its
    reason, or why a declaration without one is ignored; empty without a declaration."""
    irreversible = declared.accepted("irreversible")
    why = f" (declared irreversible: {irreversible.reason})" if irreversible else ""
    return why + declared.hint("irreversible")


def reported(findings: list[Finding], revision: Script) -> bool:
    """Whether ``revision``'s downgrade already has a finding (the walk back repeats it)."""
    return any(f.revision == revision.revision and f.check in ("downgrade", "roundtrip") for f in findings)
