"""The numbers the pipeline's work is bounded by, defined once, below every layer: the lock
analysis's limits, ``[tool.mks-db.locks]``, for the settings that read them (``config``), the
probe that fills tables (``engine.lock_probe``) and the checks and production verdicts that judge
by them; and the walk's smallest part, for the walk (``engine.chain_walk``) and ``--jobs``'s help
(which must not import the walk)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

# Below MIN_PART revisions a part of the walk saves less time than its process and scratch
# database cost (measured on bench/make_chain.py's chains).
MIN_PART = 20


@dataclass(frozen=True)
class LockLimits:
    """How many rows the lock analysis fills each touched table with (``--rows``), and what it
    judges an error: a lock held past ``budget_seconds`` at production's row count
    (``production_rows`` per table, else ``rows``), or more than ``rewrite_rows`` rewritten."""

    rows: int = 100_000
    budget_seconds: float = 2.0
    rewrite_rows: int = 1_000_000
    production_rows: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
