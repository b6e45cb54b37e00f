"""The README's two commands stay true: CI runs the test command exactly as written."""

from __future__ import annotations

import re

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
