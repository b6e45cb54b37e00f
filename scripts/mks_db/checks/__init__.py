"""The checks: one module each, named as the check (``data-loss`` is ``data_loss.py``), all of
one shape::

    def judge(project: Project, evidence: <its kind's record>) -> list[Finding]

``mks_db.findings.CHECKS`` is their registry: each name and the kind of evidence it judges
(``mks_db.engine.evidence``). ``judge`` below runs every check of a kind; a module's docstring
says the problem, the unsafe example and the safe one (docs/checks.md shows them all).
"""

from __future__ import annotations

import concurrent.futures
import importlib
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from mks_db.findings import CHECKS, Finding

if TYPE_CHECKING:
    from mks_db.engine.project import Project


def module_of(name: str) -> Any:
    """The module of the check ``name`` (``mks_db.checks.<name>``, ``-`` as ``_``)."""
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")


def judge(project: Project, evidence: Any, only: Collection[str] | None = None) -> list[Finding]:
    """The findings of every registered check that judges ``evidence``'s kind (of those in
    ``only``, when given), in the registry's order. The checks of evidence marked ``AT_ONCE``
    run at once, one thread each (the SQL checks spend their time waiting for their tools)."""
    names = [n for n, kind in CHECKS.items() if kind == evidence.KIND and (only is None or n in only)]
    if len(names) < 2 or not getattr(evidence, "AT_ONCE", False):
        return [f for name in names for f in module_of(name).judge(project, evidence)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(names)) as pool:
        runs = [pool.submit(module_of(name).judge, project, evidence) for name in names]
        return [f for run in runs for f in run.result()]
