"""The examples of docs/checks.md as data: ``tests/cases/<check>.yaml``, one file per check.

Each case is a small Alembic project, the ``mks-db`` command run on it, and what that command
prints. ``tests/test_cases.py`` runs every case for real; ``scripts/update_check_docs.py``
writes each one into docs/checks.md between ``<!-- case: <check>/<name> -->`` and
``<!-- /case -->``, and ``tests/test_docs.py`` keeps the two equal.

A case file::

    check: upgrade                  # the docs section (a check's name)
    slow: true                      # optional: every case of the file is slow (default false)
    cases:
      not-null-without-default:     # the case's name: upgrade/not-null-without-default
        slow: false                 # optional, overrides the file's
        command: roundtrip          # mks-db's arguments, after which -c (and --database-url)
        env: stock                  # optional: alembic_cases' env.py (default: connection)
        models: |                   # optional: env.py's target_metadata (default: MODELS)
          ...
        show_models: true           # optional: the docs show the models
        pyproject: |                # optional: the project's pyproject.toml ([tool.mks-db])
          ...
        git: true                   # optional: the project is committed on main first
        revisions:                  # a1 (ACCOUNT) comes first unless the case gives its own a1
          b2:                       # the file's name (migrations/versions/b2.py)
            id: b2                  # optional: its revision id, if not the file's name
            down: a1                # down_revision: an id, a list (a merge) or null
            header: "# mks-db: irreversible: ..."   # lines after the docstring (declarations)
            upgrade: |
              op.add_column(...)
            downgrade: ...
            show: upgrade           # what the docs show of it: upgrade, downgrade, both,
                                    # ids (revision and down_revision) or file (both and ids)
        after:                      # with git: the working tree's changes after the commit:
          b2: {upgrade: ...}        #   fields replaced, or a new revision; null deletes it
        output: |                   # what the command prints (human format), without the
          ...                       #   lines about each revision's steps

In ``output``, decimal numbers (times, ratios) match any decimal number, and ``...`` matches any
text, so a measured time or a value that differs between runs is shown as it was once printed.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from alembic_cases import DROP_TABLE, TABLE, Rev, make_project, revision_source
from alembic_cases import MODELS as ACCOUNT_MODELS

CASES_DIR = Path(__file__).resolve().parent / "cases"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "checks.md"

# The account table every case starts from, and its models: alembic_cases', as the cases write them.
ACCOUNT = Rev("a1", None, TABLE.strip(), DROP_TABLE)
MODELS = ACCOUNT_MODELS.format(extra="").lstrip()
DATABASE_COMMANDS = {"check", "roundtrip", "drift", "locks", "compat"}  # those that take --database-url
SHOWN = {"upgrade", "downgrade", "both", "ids", "file"}


@dataclass(frozen=True)
class Case:
    check: str
    name: str
    command: list[str]
    revisions: dict[str, Rev]  # file name (without .py) -> revision
    shown: dict[str, str]  # file name -> what the docs show of it
    output: str
    models: str = MODELS
    show_models: bool = False
    env: str = "connection"
    pyproject: str = ""
    git: bool = False
    after: dict[str, dict | None] = field(default_factory=dict)
    slow: bool = False

    @property
    def id(self) -> str:
        return f"{self.check}/{self.name}"

    @property
    def exit_code(self) -> int:
        """What ``mks-db`` returns: 1 when the summary line says FAILED."""
        return 1 if re.search(r"^mks-db \S+: FAILED:", self.output, re.M) else 0

    def final_revisions(self) -> dict[str, Rev]:
        """The revision files as the command sees them (after ``after``, for a git case)."""
        revisions = dict(self.revisions)
        for name, fields in self.after.items():
            if fields is None:
                revisions.pop(name)
            else:
                revisions[name] = _rev(name, fields, revisions.get(name))
        return revisions


def _rev(name: str, fields: dict, base: Rev | None = None) -> Rev:
    known = {"id", "down", "upgrade", "downgrade", "header", "show"}
    if set(fields) - known:
        raise ValueError(f"revision {name}: unknown fields {sorted(set(fields) - known)}")
    down = fields.get("down", base.down if base else None)
    return Rev(
        fields.get("id", base.id if base else name),
        tuple(down) if isinstance(down, list) else down,
        fields.get("upgrade", base.upgrade if base else "pass").rstrip("\n"),
        fields.get("downgrade", base.downgrade if base else "pass").rstrip("\n"),
        fields.get("header", base.header if base else "").rstrip("\n"),
    )


_CASE_FIELDS = {
    *("slow", "command", "env", "models", "show_models", "pyproject"),
    *("git", "revisions", "after", "output"),
}


def load(path: Path) -> list[Case]:
    """The cases of one case file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    check = data["check"]
    cases = []
    for name, spec in data["cases"].items():
        if set(spec) - _CASE_FIELDS:
            raise ValueError(f"{check}/{name}: unknown fields {sorted(set(spec) - _CASE_FIELDS)}")
        revisions = {"a1": ACCOUNT} if "a1" not in spec["revisions"] else {}
        shown = {}
        for stem, fields in spec["revisions"].items():
            revisions[stem] = _rev(stem, fields)
            if "show" in fields:
                shown[stem] = fields["show"]
        for stem, fields in (spec.get("after") or {}).items():
            if fields and "show" in fields:
                shown[stem] = fields["show"]
        if set(shown.values()) - SHOWN:
            raise ValueError(f"{check}/{name}: show must be one of {sorted(SHOWN)}")
        cases.append(
            Case(
                check=check,
                name=name,
                command=shlex.split(spec["command"]),
                revisions=revisions,
                shown=shown,
                output=spec["output"].rstrip("\n"),
                models=spec.get("models", MODELS),
                show_models=spec.get("show_models", False),
                env=spec.get("env", "connection"),
                pyproject=spec.get("pyproject", ""),
                git=spec.get("git", False),
                after=spec.get("after") or {},
                slow=spec.get("slow", data.get("slow", False)),
            )
        )
    return cases


def all_cases() -> list[Case]:
    return [case for path in sorted(CASES_DIR.glob("*.yaml")) for case in load(path)]


def build(case: Case, root: Path, git=None) -> Path:
    """Write the case's project under ``root`` (committed on main first, when the case says
    so, with ``git(cwd, *args)``); return its alembic.ini."""
    ini = make_project(root, [], case.models, case.env)
    versions = root / "migrations" / "versions"
    for name, rev in case.revisions.items():
        (versions / f"{name}.py").write_text(revision_source(rev))
    if case.pyproject:
        (root / "pyproject.toml").write_text(case.pyproject)
    if case.git:
        git(root, "init", "-q", "-b", "main")
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "main")
        final = case.final_revisions()
        for name in case.after:
            if name in final:
                (versions / f"{name}.py").write_text(revision_source(final[name]))
            else:
                (versions / f"{name}.py").unlink()
    return ini


def arguments(case: Case, ini: Path, server_url: str, json_report: Path) -> list[str]:
    """The command line of ``mks-db`` for the case (human format, the JSON report beside);
    ``server_url`` for the commands that take ``--database-url``."""
    extra = ["--database-url", server_url] if server_url else []
    return [*case.command, "-c", str(ini), *extra, "--json-report", str(json_report)]


# The human format's lines about each revision's steps (action, revision, milliseconds), and the
# line counting the revisions that passed every step: timings, left out of the examples.
_STEP_LINE = re.compile(r"^  (\S+ +\S+ +\d+ ms  (ok|FAILED)|\d+ revisions passed every step .*)$")


def printed(stdout: str) -> str:
    """What the docs show of ``mks-db``'s human output."""
    return "\n".join(line for line in stdout.rstrip("\n").splitlines() if not _STEP_LINE.match(line))


def pattern(output: str) -> re.Pattern:
    """``output`` as a pattern: a decimal number matches any decimal number, ``...`` any text."""
    parts = re.split(r"(\d+\.\d+|\.\.\.)", output)
    regex = "".join(
        r"\d+\.\d+" if re.fullmatch(r"\d+\.\d+", part) else ".*?" if part == "..." else re.escape(part)
        for part in parts
    )
    return re.compile(regex + r"\Z")


def matches(output: str, actual: str) -> bool:
    return pattern(output).match(actual) is not None


# The docs.


def _python_value(value) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(json.dumps(v) for v in value) + ")"
    return json.dumps(value) if value is not None else "None"


def _function(name: str, body: str) -> str:
    return f"def {name}():\n" + textwrap.indent(textwrap.dedent(body).strip(), "    ")


def shown_code(case: Case) -> str:
    """The Python the docs show of the revisions: what each shows, labelled when several are."""
    blocks = []
    revisions = case.final_revisions()
    for name, what in case.shown.items():
        rev = revisions[name]
        parts = []
        if what in ("ids", "file"):
            parts.append(f'revision = "{rev.id}"\ndown_revision = {_python_value(rev.down)}')
        if what in ("upgrade", "both", "file"):
            parts.append(_function("upgrade", rev.upgrade))
        if what in ("downgrade", "both", "file"):
            parts.append(_function("downgrade", rev.downgrade))
        code = "\n\n\n".join(parts)
        if rev.header:
            code = textwrap.dedent(rev.header).strip() + ("\n\n\n" if what != "ids" else "\n") + code
        if len(case.shown) > 1:
            code = f"# migrations/versions/{name}.py\n{code}"
        blocks.append(code)
    return ("\n\n" if set(case.shown.values()) == {"ids"} else "\n\n\n").join(blocks)


def doc_block(case: Case) -> str:
    """The Markdown of one case: its code (if the docs show any), the command and its output."""
    text = ""
    if case.pyproject:
        text += f"```toml\n# pyproject.toml\n{case.pyproject.rstrip()}\n```\n\n"
    if case.show_models:
        text += f"```python\n# env.py's target_metadata\n{case.models.rstrip()}\n```\n\n"
    if case.shown:
        text += f"```python\n{shown_code(case)}\n```\n\n"
    return text + f"```text\n$ mks-db {shlex.join(case.command)}\n{case.output}\n```\n"


_MARKED = re.compile(r"(<!-- case: (\S+) -->\n)(.*?)(<!-- /case -->)", re.S)


def marked(docs: str) -> list[str]:
    """The case ids marked in the docs, in order."""
    return [m.group(2) for m in _MARKED.finditer(docs)]


def update_docs(docs: str, cases: list[Case]) -> str:
    """``docs`` with every marked case's block written from ``cases``."""
    by_id = {case.id: case for case in cases}

    def block(match: re.Match) -> str:
        case = by_id.get(match.group(2))
        if case is None:
            raise KeyError(f"docs/checks.md marks case {match.group(2)}, which no case file defines")
        return match.group(1) + doc_block(case) + match.group(4)

    return _MARKED.sub(block, docs)
