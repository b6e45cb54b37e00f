"""The roundtrip check: every revision's downgrade restores exactly the schema its upgrade
started from, and its upgrade, run again, builds exactly the same schema.

**The problem.** A downgrade that runs without error but does not restore the schema: it
leaves an index, an enum type or a default behind, or renames a table instead of dropping it.
The next upgrade, or the next developer's autogenerate, then trips over the leftovers. It also
catches an upgrade that is not repeatable after its own downgrade, such as a seed ``INSERT``
whose rows the downgrade never removes.

**Unsafe**::

    def upgrade():
        op.create_index("ix_account_email", "account", ["email"])

    def downgrade():
        pass

**Safe**: drop everything the upgrade created, and make data changes idempotent::

    def downgrade():
        op.drop_index("ix_account_email", table_name="account")

How it is judged: the walk (``engine.revision_steps``) downgrades each revision right after its
upgrade, then upgrades it again; the schema after the downgrade must equal the one before the
upgrade, and the schema after the second upgrade the one after the first (moments
``SchemaDiffers``, ``ReupgradeFailed``). A difference is explained object by object, against
the expected schema rebuilt in a second database. At the end of each part of the walk every
revision is downgraded, newest first, which must leave the database as the part started
(``WalkedDown``). A revision declared irreversible (``# mks-db: irreversible: <reason>``) gets a
warning instead of an error.
"""

from __future__ import annotations

from mks_db.checks import downgrade
from mks_db.engine import catalog, declarations, revision_source
from mks_db.engine.evidence import Moment, ReupgradeFailed, SchemaDiffers, WalkedDown
from mks_db.engine.project import Project
from mks_db.engine.walk import StepFailure
from mks_db.findings import ERROR, WARNING, Finding, at_most

MAX_DIFF_LINES = 40


def judge(project: Project, evidence: Moment) -> list[Finding]:
    """A schema not restored by a downgrade or not rebuilt the same by the upgrade after it
    (``SchemaDiffers``), an upgrade that fails after its own downgrade (``ReupgradeFailed``),
    and what the walk back down leaves behind (``WalkedDown``)."""
    match evidence:
        case SchemaDiffers(action="downgrade"):
            return [_not_restored(project, evidence)]
        case SchemaDiffers(revision=revision):
            message = f"upgrade of {revision.revision} after its downgrade builds a different schema:"
            return [_finding(project, revision, message + _explained(evidence))]
        case ReupgradeFailed(failure=failure):
            return [_reupgrade_failed(project, failure)]
        case WalkedDown(failure=None):
            return _left_behind(project, evidence)
    return []


def _not_restored(project: Project, moment: SchemaDiffers) -> Finding:
    """The finding on a downgrade that does not restore the schema its upgrade started from: a
    warning when the revision is declared irreversible."""
    revision = moment.revision
    declared = declarations.of_file(revision.path)
    note = downgrade.ONE_RUN if moment.one_run else ""
    message = (
        f"downgrade of {revision.revision} does not restore the schema it started from"
        f"{downgrade.irreversible_note(declared)}{note}:" + _explained(moment)
    )
    return _finding(project, revision, message, WARNING if declared.accepted("irreversible") else ERROR)


def _explained(moment: SchemaDiffers) -> str:
    """The differences, one a line (at most ``MAX_DIFF_LINES``), or why they cannot be shown."""
    if moment.unexplained is not None:
        return f" (the expected schema could not be rebuilt to show the difference: {moment.unexplained})"
    return "\n  " + "\n  ".join(at_most(moment.differences, MAX_DIFF_LINES))


def _reupgrade_failed(project: Project, failure: StepFailure) -> Finding:
    """The finding for an upgrade that fails right after its own downgrade."""
    revision = failure.revision
    return Finding(
        "roundtrip",
        ERROR,
        revision.revision,
        f"upgrade of {revision.revision} fails after its own downgrade: {failure.reason}"
        " (the downgrade leaves something behind that the upgrade creates)",
        project.relpath(revision.path),
        failure.line,
    )


def _left_behind(project: Project, moment: WalkedDown) -> list[Finding]:
    """The walk back down passed: the schema must be back where the part started, unless a
    revision's downgrade already has a finding."""
    walk, revisions, below = moment.walk, moment.revisions, moment.below
    if walk.fingerprint == moment.start[1] or any(downgrade.reported(moment.earlier, r) for r in revisions):
        return []
    irreversible = [r.revision for r in revisions if declarations.of_file(r.path).accepted("irreversible")]
    what = (
        "downgrading every revision to base leaves objects behind"
        if below is None
        else f"downgrading every revision from head to {below.revision} does not restore its schema"
    )
    differences = catalog.diff(moment.start[0], walk.snapshot())
    message = (
        what
        + (f" (irreversible: {', '.join(irreversible)})" if irreversible else "")
        + ":\n  "
        + "\n  ".join(at_most(differences, MAX_DIFF_LINES))
    )
    return [_finding(project, revisions[0], message, WARNING if irreversible else ERROR)]


def _finding(project: Project, revision, message: str, severity: str = ERROR) -> Finding:
    """A finding on ``revision``, at the line of the call that names an object its message
    names (``revision_source``)."""
    line = revision_source.line_naming(revision.path, revision_source.names_in(message))
    return Finding("roundtrip", severity, revision.revision, message, project.relpath(revision.path), line)
