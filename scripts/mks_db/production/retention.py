"""Retention of deploy backups: ``keep-backups`` and ``keep-days`` of ``[tool.mks-db.deploy]``.

Applied after a successful deploy only, to the backups of the same database (same server
system identifier and database name, read from each backup's record) in the backup directory.
A backup is kept when any rule keeps it: it is one of the ``keep_backups`` newest, or it is
younger than ``keep_days`` days; with neither rule set nothing is removed. The backup the
deploy just took is never removed, and neither is a dump whose record is missing or unreadable
(its database and age are unknown): each such file is named, so someone can decide. A removal
that fails is named too; it never turns a successful deploy into a failure.

Backups are ordered and aged by the database server's clock, read in each backup's snapshot
(the record's ``server_time``; a record older than that field has only ``created``, the clock
of the machine that ran mks-db, which a runner's wrong clock can put years ahead). "Now" is the
server's time in the snapshot of the backup just taken. A record dated after it cannot be
trusted (the clock that dated it was wrong): it is kept, not counted, and named. So the newest
backup by the records' own order is never removed: it is the one just taken, or one dated
after it.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass, field
from pathlib import Path

from mks_db.errors import ConfigurationError
from mks_db.production.backup import Backup, now, record_path

UTC_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


@dataclass
class Pruned:
    removed: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)  # dumps without a readable record: kept
    failed: list[str] = field(default_factory=list)  # "PATH: reason"
    future: list[str] = field(default_factory=list)  # "PATH (why its time is not trusted)": kept

    def lines(self, keep_backups: int | None, keep_days: float | None) -> list[str]:
        """What retention did, for the deploy's report (nothing when it had nothing to say)."""
        rules = ", ".join(
            rule
            for rule in (
                f"keep-backups = {keep_backups}" if keep_backups else "",
                f"keep-days = {keep_days:g}" if keep_days else "",
            )
            if rule
        )
        lines = []
        if self.removed:
            names = ", ".join(p.name for p in self.removed)
            lines.append(f"retention ({rules}): removed {len(self.removed)} older backups: {names}")
        lines += [
            f"retention: kept {p} (its record {record_path(p).name} is missing or unreadable, so its "
            "database and age are unknown): remove it by hand if it is not needed"
            for p in self.unreadable
        ]
        lines += [
            f"retention: kept {future}: the clock that dated it was wrong, so its age is unknown; "
            "remove it by hand if it is not needed"
            for future in self.future
        ]
        lines += [f"retention: could not remove {failure}" for failure in self.failed]
        return lines


def validate(keep_backups: object, keep_days: object) -> None:
    """ConfigurationError (one line) unless each given rule is a positive number (keep-backups
    a whole one)."""
    if keep_backups is not None and (
        isinstance(keep_backups, bool) or not isinstance(keep_backups, int) or keep_backups < 1
    ):
        raise ConfigurationError(
            f"[tool.mks-db.deploy] keep-backups must be a whole number of 1 or more, not {keep_backups!r}"
        )
    if keep_days is not None and (
        isinstance(keep_days, bool) or not isinstance(keep_days, int | float) or keep_days <= 0
    ):
        raise ConfigurationError(
            f"[tool.mks-db.deploy] keep-days must be a number of days above 0, not {keep_days!r}"
        )


def prune(taken: Backup, keep_backups: int | None, keep_days: float | None) -> Pruned:
    """Remove the backups of ``taken``'s database that no rule keeps (see the module's
    docstring) from ``taken``'s directory; what was removed and what was left, and why."""
    pruned = Pruned()
    if not keep_backups and not keep_days:
        return pruned
    server_now = _taken_at(taken) if taken.server_time else now()
    newest_first = _dated_backups(taken, server_now, pruned)
    oldest_kept = server_now - datetime.timedelta(days=keep_days) if keep_days else None
    for position, (when, _, dump) in enumerate(newest_first, start=2):  # the new one is 1st
        within_count = bool(keep_backups) and position <= keep_backups
        within_days = oldest_kept is not None and when >= oldest_kept
        if within_count or within_days:
            continue
        _remove(dump, pruned)
    pruned.removed.sort()
    return pruned


def _dated_backups(taken: Backup, server_now: datetime.datetime, pruned: Pruned) -> list[tuple]:
    """The other backups of ``taken``'s database in its directory, newest first, each as (its
    time, its file's mtime, its path); a dump without a readable record, or dated after
    ``server_now``, is kept and listed in ``pruned`` instead."""
    newest_first = []
    for dump in sorted(Path(taken.path).parent.glob("*.dump")):
        if dump == Path(taken.path):
            continue
        record = _record(dump)
        if record is None:
            pruned.unreadable.append(dump)
        elif (record.system_identifier, record.database) != (taken.system_identifier, taken.database):
            continue
        elif (when := _taken_at(record)) > server_now:
            pruned.future.append(
                f"{dump} (its record dates it {when:{UTC_SECONDS}}, after the database server's "
                f"time now, {server_now:{UTC_SECONDS}})"
            )
        else:
            newest_first.append((when, dump.stat().st_mtime_ns, dump))
    newest_first.sort(reverse=True)
    return newest_first


def _remove(dump: Path, pruned: Pruned) -> None:
    """Remove the backup ``dump`` and its record; ``pruned`` says it was removed, or why not."""
    try:
        dump.unlink()
        record_path(dump).unlink(missing_ok=True)
        pruned.removed.append(dump)
    except OSError as exc:
        pruned.failed.append(f"{dump}: {exc.strerror}")


def _record(dump: Path) -> Backup | None:
    try:
        record = Backup(**json.loads(record_path(dump).read_text(encoding="utf-8")))
        _taken_at(record)
    except (OSError, ValueError, TypeError):
        return None
    return record


def _taken_at(record: Backup) -> datetime.datetime:
    """When ``record``'s snapshot was read, in UTC: by the database server's clock
    (``server_time``), else by the runner's (``created``, ``20250102T030405Z``) for a record
    older than that field. ValueError when the record's time does not parse."""
    if record.server_time:
        return datetime.datetime.fromisoformat(record.server_time).astimezone(datetime.UTC)
    return datetime.datetime.strptime(record.created, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
