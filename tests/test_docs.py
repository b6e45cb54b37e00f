"""The docs stay true: CI runs the README's test command exactly as written, and the examples
of docs/checks.md are the cases that tests/test_cases.py runs."""

from __future__ import annotations

import importlib
import re

import pytest

from check_cases import DOCS, all_cases, marked, update_docs
from conftest import REPO


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)\n```", (REPO / "README.md").read_text(), re.S)
    return [block.strip() for block in blocks]


def test_readme_has_the_check_and_the_test_command():
    commands = readme_commands()
    assert any(c.endswith("mks-db check") for c in commands)
    assert any(c.endswith("pytest") for c in commands)


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = next(c for c in readme_commands() if c.endswith("pytest"))
    assert test_command in (REPO / ".ci" / "run").read_text().splitlines()


def test_the_examples_of_checks_md_are_the_cases():
    docs = DOCS.read_text(encoding="utf-8")
    assert update_docs(docs, all_cases()) == docs, (
        "docs/checks.md's examples differ from tests/cases/*.yaml: "
        "run python scripts/update_check_docs.py (and review the diff)"
    )


def test_every_case_is_shown_once_in_its_checks_section():
    docs = DOCS.read_text(encoding="utf-8")
    sections = re.split(r"^## ", docs, flags=re.M)
    shown = {case_id: heading.split("\n", 1)[0] for heading in sections for case_id in marked(heading)}
    ids = marked(docs)
    assert len(ids) == len(set(ids)), "a case is shown twice"
    assert set(ids) == {case.id for case in all_cases()}
    for case_id, heading in shown.items():
        assert heading == f"`{case_id.split('/')[0]}`", f"{case_id} is shown under ## {heading}"


@pytest.mark.parametrize(
    "module",
    ["drift", "heads", "immutability", "static", "sql_parse", "sql_style", "safety", "locks", "compat"],
)
def test_each_check_modules_docstring_states_the_problem_and_the_unsafe_and_safe_example(module):
    doc = importlib.import_module(f"mks_db.checks.{module}").__doc__
    for part in ("**The problem.**", "**Unsafe** (anti-pattern)", "**Safe** (best practice)"):
        assert part in doc, f"mks_db/checks/{module}.py's docstring has no {part}"
