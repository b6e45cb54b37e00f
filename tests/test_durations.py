"""Durations as PostgreSQL writes them (``mks_db.durations``): what the checks' time bounds and
the deploy's settings accept, read once."""

from __future__ import annotations

import pytest

from mks_db.durations import milliseconds


@pytest.mark.parametrize(
    ("text", "bare", "expected"),
    [
        ("500ms", "s", 500),
        ("90", "s", 90_000),  # the checks' flags: a bare number is seconds
        ("90", "ms", 90),  # PostgreSQL's settings: milliseconds
        (" 1.5 min ", "ms", 90_000),
        ("2h", "s", 7_200_000),
        ("1d", "s", 86_400_000),
        ("2500us", "ms", 2.5),
    ],
)
def test_a_number_and_a_unit_is_read_in_milliseconds(text, bare, expected):
    assert milliseconds(text, bare) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["", "s", "-1s", "5S", "5sec", "1e3", "5s'; DROP TABLE t; --", "5 s 5"])
def test_anything_else_is_not_a_duration(text):
    assert milliseconds(text, "s") is None
