"""Run independent pieces of work at once: the first in this process, the others in forked ones.

The roundtrip walk splits a long chain into parts (``mks_db.engine.chain_walk``); each part needs its
own Alembic run, and Alembic keeps its ``context`` and ``op`` proxies in module globals, so the
parts run in processes, not threads. Forking (Linux only: elsewhere ``available()`` is False and
the walk stays in one process) shares the loaded project and Python's string hashes, which the
schema fingerprints are made of.

A task returns a picklable value. An exception in any task is raised here (the first by task
order) after the other processes have stopped. Ctrl-C reaches every process of the group and
SIGTERM is passed on to the children: each unwinds its ``with`` blocks, so the scratch
databases it made are dropped; ``cleanup`` runs last, for what a child killed outright left.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mks_db.database import interrupt

STOP_SECONDS = 30  # how long a child gets to unwind after SIGTERM before it is killed


def available() -> bool:
    """Whether tasks can run in forked processes here (fork is safe on Linux only)."""
    return sys.platform.startswith("linux")


CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # a container's CPU quota (cgroup v2): "QUOTA PERIOD"


def cpus() -> int:
    """The CPUs this process may use: those it may run on, within its container's quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
    try:
        quota, period = CPU_MAX.read_text().split()
        count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no quota ("max"), or no cgroup v2
        pass
    return count


def run_all(tasks: list[Callable[[], Any]], cleanup: Callable[[], None] | None = None) -> list[Any]:
    """Run ``tasks`` at once (the first here) and return their results in order."""
    if len(tasks) == 1 and cleanup is None:
        return [tasks[0]()]
    context = multiprocessing.get_context("fork")
    children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
    try:
        for task in tasks[1:]:
            receiver, sender = context.Pipe(duplex=False)
            child = context.Process(target=_child, args=(task, sender), daemon=True)
            child.start()
            sender.close()
            children.append((child, receiver))
        results = [tasks[0]()]
        for child, receiver in children:
            interrupt.raise_if_requested()  # not wait for the others if a signal came
            results.append(_receive(child, receiver))
            child.join()  # it has nothing left to do but exit
        return results
    finally:
        _stop(children)
        if cleanup:
            cleanup()


def _child(task: Callable[[], Any], sender: Connection) -> None:
    interrupt.install(once=True)  # a second signal must not cut the unwinding short
    try:
        outcome: tuple[str, Any] = ("ok", task())
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        if isinstance(exc, KeyboardInterrupt) or interrupt.was_requested():
            outcome = ("interrupted", int(interrupt.signal_number))
        else:
            outcome = ("error", exc)
    # Whatever happens now, the parent is told: a signal must not interrupt the sending.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        sender.send(outcome)
    except Exception as exc:  # the result or the exception does not pickle
        if outcome[0] == "error":
            text = "a worker process failed:\n" + "".join(traceback.format_exception(outcome[1]))
        else:
            text = f"a worker process could not send its result: {type(exc).__name__}: {exc}"
        sender.send(("error", RuntimeError(text)))


def _receive(child: multiprocessing.process.BaseProcess, receiver: Connection) -> Any:
    try:
        status, value = receiver.recv()
    except EOFError:
        child.join()
        status = child.exitcode
        raise RuntimeError(f"a worker process ended without a result (exit status {status})") from None
    if status == "interrupted":
        interrupt.requested(value)
        raise KeyboardInterrupt
    if status == "error":
        raise value
    return value


def _stop(children: list[tuple[multiprocessing.process.BaseProcess, Connection]]) -> None:
    """Let every child finish: signal those still working, kill those that do not unwind."""
    for child, _ in children:
        if child.exitcode is None:
            os.kill(child.pid, signal.SIGTERM)
    for child, receiver in children:
        child.join(STOP_SECONDS)
        if child.is_alive():
            child.kill()
            child.join()
        receiver.close()
