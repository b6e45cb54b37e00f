"""The application's stop and start commands (``[tool.mks-db.deploy] stop-command``,
``start-command``), as deploy and restore run them around what they change: without a shell
(split like a shell would, no pipes or ``&&``), within a time limit, one line when they fail."""

from __future__ import annotations

import shlex
import subprocess

from mks_db.database import process
from mks_db.errors import InfrastructureError


def run_command(command: str | None, what: str, timeout: float) -> None:
    """Run ``command`` (nothing when None); InfrastructureError when it fails or does not finish
    within ``timeout`` seconds (it is killed then). ``what``: "stop command" or "start command"."""
    if not command:
        return
    try:
        process.run(shlex.split(command), f"the {what} `{command}`", timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InfrastructureError(
            f"the {what} `{command}` did not finish within {timeout:g}s (command-timeout-seconds); "
            "it was killed"
        ) from None
