"""Durations as PostgreSQL writes them: a number and an optional unit (``500ms``, ``5s``,
``5min``, ``1.5h``), the one grammar mks-db reads them with: the checks' time bounds
(``--statement-timeout``, ``[tool.mks-db] lock-timeout``) and the deploy's settings
(``[tool.mks-db.deploy] lock-timeout``, handed to PostgreSQL as written).

The backend reads its own ``MKS_*_TIMEOUT`` variables more strictly (``mks.settings``: integers
only, no spaces), the form env.py writes into its ``SET`` statements.
"""

from __future__ import annotations

import re

UNIT_MS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*")


def milliseconds(text: str, bare: str) -> float | None:
    """``text`` in milliseconds, a number without a unit counted in ``bare`` (a key of
    ``UNIT_MS``); None when ``text`` is not a duration."""
    match = _DURATION.fullmatch(text)
    return float(match[1]) * UNIT_MS[match[2] or bare] if match else None
