"""Online or stopped: a revision whose locks were measured on fewer rows than asked."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from mks_db.engine.lock_probe import Measurement, TableLocks
from mks_db.findings import WARNING, Finding
from mks_db.limits import LockLimits
from mks_db.production.online import ONLINE, STOPPED, _verdict


@pytest.mark.parametrize(("production", "mode"), [(0, ONLINE), (5, STOPPED)])
def test_locks_measured_on_fewer_rows_decide_only_where_production_holds_rows(production, mode):
    """The probe filled fewer rows than asked into public.link; production holds ``production``
    rows there. Empty in production: any measurement is at or above its size, so online."""
    revision = SimpleNamespace(revision="b2")
    measured = Measurement(
        revision,
        0.01,
        0.01,
        [TableLocks("public.link", "AccessExclusiveLock", False)],
        unfilled=["could not generate 100000 rows for public.link: duplicate key value"],
        short={"public.link"},
    )
    probe = LockLimits(production_rows={"public.link": production})
    # what the locks check says of that measurement (a warning)
    judged = [Finding("locks", WARNING, "b2", f"b2 was measured on fewer rows: {measured.unfilled[0]}")]
    verdict = _verdict(revision, measured, judged, probe, "the running release")
    assert verdict.mode == mode, verdict
    if mode == STOPPED:
        assert verdict.reason == judged[0].message
