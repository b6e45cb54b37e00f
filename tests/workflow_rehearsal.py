"""Rehearse a GitHub Actions job locally: its `run:` steps in order, with the job's environment,
the files and variables Actions provides, and stand-ins for what only GitHub has.

Expressions (`${{ ... }}`) are resolved from a table the caller gives (the event's values,
inputs, secrets, matrix); an expression missing from it fails the rehearsal, so a workflow
cannot use something the rehearsal does not know. Steps that `uses:` an action get a local
equivalent: checkout is the working copy itself, the setup action is this environment (the
project is installed), upload-artifact checks that the files it would upload exist. Steps the
caller names in ``skip`` (the test suite, from within the test suite) are listed, not run. A
job or step whose ``if:`` the table resolves to false is skipped, as GitHub skips it.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass
class Rehearsal:
    ran: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: str | None = None  # the step that failed, with its output
    summary: str = ""
    job_skipped: bool = False  # the job's `if:` is false: GitHub skips it, so nothing ran


def resolve(value, values: dict[str, str]):
    if not isinstance(value, str):
        return value

    def one(match: re.Match) -> str:
        expression = match.group(1)
        if expression not in values:
            raise KeyError(f"the rehearsal does not know the expression ${{{{ {expression} }}}}")
        return str(values[expression])

    return EXPRESSION.sub(one, value)


def _holds(condition: str, values: dict[str, str]) -> bool:
    """A job's or step's ``if:``: ``always()`` holds; any other condition is an expression, whose
    value comes from the table."""
    if condition == "always()":
        return True
    if condition not in values:
        raise KeyError(f"the rehearsal does not know the condition {condition!r}")
    return str(values[condition]).lower() == "true"


def rehearse(
    workflow: Path,
    job: str,
    cwd: Path,
    values: dict[str, str],
    stand_ins: dict[str, str],
    skip: tuple[str, ...] = (),
    tmp: Path | None = None,
) -> Rehearsal:
    """Run ``job`` of ``workflow`` in ``cwd``. ``stand_ins`` replace environment values (the
    service container's URL by the local server's); ``values`` resolve expressions."""
    document = yaml.safe_load(workflow.read_text())
    spec = document["jobs"][job]
    if "if" in spec and not _holds(str(spec["if"]), values):  # GitHub skips the job
        return Rehearsal(job_skipped=True)
    tmp = tmp or cwd
    summary = tmp / f"summary-{job}.md"
    summary.write_text("")
    output = tmp / f"output-{job}.txt"
    output.write_text("")
    base_env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_WORKSPACE": str(cwd),
        "GITHUB_BASE_REF": values.get("github.base_ref", ""),
        "GITHUB_REF": values.get("github.ref", ""),
        "GITHUB_ACTOR": "rehearsal",
    }
    base_env.pop("DATABASE_URL", None)
    for scope in (document.get("env", {}), spec.get("env", {})):
        base_env.update({k: resolve(v, values) for k, v in scope.items()})
    result = Rehearsal()
    for index, step in enumerate(spec["steps"]):
        name = step.get("name") or step.get("uses") or f"step {index + 1}"
        if "uses" in step:
            uses = step["uses"]
            if uses.startswith("actions/upload-artifact@"):
                patterns = resolve(step["with"]["path"], values).split()
                missing = [p for p in patterns if not glob.glob(str(cwd / p))]
                if missing and step["with"].get("if-no-files-found", "warn") == "error":
                    result.failed = f"{name}: nothing to upload for {missing}"
                    return result
            result.replaced.append(uses)
            continue
        if "if" in step and not _holds(str(step["if"]), values):  # as GitHub skips the step
            continue
        if any(word in step["run"] for word in skip):
            result.skipped.append(step["run"].strip())
            continue
        env = {**base_env, **{k: resolve(v, values) for k, v in step.get("env", {}).items()}}
        env.update({k: v for k, v in stand_ins.items() if k in env})
        script = resolve(step["run"], values)
        completed = subprocess.run(
            ["bash", "-e", "-c", script], cwd=cwd, env=env, capture_output=True, text=True
        )
        result.ran.append(name)
        if completed.returncode != 0:
            result.failed = (
                f"{name} (exit {completed.returncode}):\n"
                f"{completed.stdout[-3000:]}\n{completed.stderr[-2000:]}"
            )
            break
    result.summary = summary.read_text()
    return result
