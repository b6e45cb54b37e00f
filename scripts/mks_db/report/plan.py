"""A deploy plan (``mks-db plan``, and ``deploy`` before it applies) as text, JSON or Markdown."""

from __future__ import annotations

from typing import Any, TextIO

from mks_db.report import github, json_format


def write(plan: Any, fmt: str, out: TextIO, verdict: bool = True) -> None:
    """``plan`` (a ``mks_db.production.plan.Plan``) in ``fmt``; the github format writes the
    text and appends the Markdown to the step summary. ``verdict``: as for ``text``."""
    if fmt == "json":
        json_format.write(plan.as_dict(), out)
        return
    if fmt in ("markdown", "github"):
        markdown_text = markdown(plan)
        if fmt == "github":
            github.append_step_summary(markdown_text)
        if fmt == "markdown":
            out.write(markdown_text)
            return
    out.write(text(plan, verdict))


def text(plan: Any, verdict: bool = True) -> str:
    """The plan as text; its last line, ``plan: ok`` or ``plan: must not be applied``, only
    with ``verdict`` (a deploy prints its own verdict after the plan)."""
    lines = [
        f"database: {plan.database}",
        f"current revision: {', '.join(plan.current) or '(none)'}",
        f"target revision: {', '.join(plan.target) or '(none)'}",
    ]
    if plan.pending:
        verb = "undo (their downgrades)" if plan.direction == "downgrade" else "apply"
        lines.append(f"to {verb}, in order ({len(plan.pending)}):")
        lines += [f"  {r.revision}  {r.doc}" for r in plan.pending]
    elif plan.ok:
        lines.append("nothing to apply: the database is at the target")
    lines += [f"REFUSED: {problem}" for problem in plan.problems]
    if plan.verdicts:
        lines.append("with the application running?")
        lines += [f"  {v.revision}  {v.mode}: {v.reason}" for v in plan.verdicts]
    for revision in plan.pending:  # the SQL that would run, as rendered offline
        lines += ["", f"-- {revision.revision}: {revision.doc}", plan.sql.get(revision.revision, "").rstrip()]
    if verdict:
        lines.append("plan: ok" if plan.ok else "plan: must not be applied")
    return "\n".join(lines) + "\n"


def markdown(plan: Any) -> str:
    icon = "✅" if plan.ok else "❌"
    lines = [
        f"### {icon} Migration plan for `{plan.database}`",
        "",
        f"- current revision: `{', '.join(plan.current) or 'none'}`",
        f"- target revision: `{', '.join(plan.target) or 'none'}`",
    ]
    if plan.direction == "downgrade":
        lines.append(f"- **downgrade**: {len(plan.pending)} revisions undone, newest first")
    lines += [f"- **refused**: {problem}" for problem in plan.problems]
    lines += [f"- `{v.revision}` **{v.mode}**: {v.reason}" for v in plan.verdicts]
    lines.append("")
    for revision in plan.pending:
        lines += [
            f"#### `{revision.revision}` {revision.doc}",
            "",
            "```sql",
            plan.sql.get(revision.revision, "").rstrip(),
            "```",
            "",
        ]
    return "\n".join(lines) + "\n"
