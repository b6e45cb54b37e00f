"""Pieces of work run at once in forked processes: results in order, failures raised here."""

from __future__ import annotations

import os

import pytest

from mks_db.engine import workers
from mks_db.errors import InfrastructureError

pytestmark = pytest.mark.skipif(not workers.available(), reason="forked processes (Linux)")


def test_results_come_back_in_task_order_from_other_processes():
    parent = os.getpid()
    results = workers.run_all([lambda: ("first", os.getpid()), lambda: ("second", os.getpid())])
    assert [name for name, _ in results] == ["first", "second"]
    assert results[0][1] == parent and results[1][1] != parent


def test_a_failure_in_a_worker_is_raised_here_with_its_type_and_cleanup_still_runs():
    swept = []

    def unreachable():
        raise InfrastructureError("cannot reach PostgreSQL at postgresql://ci:***@db/postgres")

    with pytest.raises(InfrastructureError, match="cannot reach PostgreSQL"):
        workers.run_all([lambda: 1, unreachable], cleanup=lambda: swept.append(True))
    assert swept == [True]


def test_a_worker_that_dies_without_a_result_is_an_error_not_a_hang():
    with pytest.raises(RuntimeError, match="ended without a result"):
        workers.run_all([lambda: 1, lambda: os._exit(7)])


def test_a_result_that_does_not_pickle_is_reported():
    with pytest.raises(Exception, match="pickle"):
        workers.run_all([lambda: 1, lambda: lambda: None])


class _Unpicklable(Exception):
    def __init__(self) -> None:
        super().__init__("odd failure")
        self.callback = lambda: None  # not picklable


def test_an_error_that_does_not_pickle_comes_back_as_its_traceback():
    def fails():
        raise _Unpicklable()

    with pytest.raises(RuntimeError, match="a worker process failed:(.|\n)*odd failure"):
        workers.run_all([lambda: 1, fails])


def test_cpus_stay_within_a_containers_quota(tmp_path, monkeypatch):
    available = len(os.sched_getaffinity(0))
    quota = tmp_path / "cpu.max"
    monkeypatch.setattr(workers, "CPU_MAX", quota)
    quota.write_text("max 100000\n")  # no quota
    assert workers.cpus() == available
    quota.write_text("150000 100000\n")  # one and a half CPUs: two processes may share them
    assert workers.cpus() == min(available, 2)
    quota.write_text("50000 100000\n")
    assert workers.cpus() == 1
