"""ISAnalytics' collision rule, worked examples (the order of its documented steps: sequencing
date, then replicate count, then the reads ratio, else removal)."""

from __future__ import annotations

from datetime import date

import pytest

from cgtvigil.clonality import CollisionItem, resolve_collisions
from cgtvigil.errors import ValidationError


def test_each_step_decides_in_turn() -> None:
    rows = [
        # is-date: P2 was sequenced first (a single earliest date), even with fewer reads and replicates
        CollisionItem("is-date", "P1", 900, date(2020, 5, 1)),
        CollisionItem("is-date", "P1", 900, date(2020, 5, 1)),
        CollisionItem("is-date", "P2", 10, date(2020, 1, 1)),
        # is-tie-date: same date, so the replicates decide (two rows of P1 against one of P2)
        CollisionItem("is-tie-date", "P1", 5, date(2020, 1, 1)),
        CollisionItem("is-tie-date", "P1", 5, date(2020, 1, 1)),
        CollisionItem("is-tie-date", "P2", 1000, date(2020, 1, 1)),
        # is-ratio: one replicate each; 1,100 reads against 100 is a ratio of 11 > 10
        CollisionItem("is-ratio", "P1", 1100),
        CollisionItem("is-ratio", "P3", 100),
        # is-exactly-ten: a ratio of exactly 10 does not decide (strictly more is needed): removed
        CollisionItem("is-exactly-ten", "P1", 1000),
        CollisionItem("is-exactly-ten", "P3", 100),
        # a site of one patient only is no collision
        CollisionItem("is-alone", "P1", 3),
        CollisionItem("is-alone", "P1", 4),
    ]
    result = resolve_collisions(rows)
    got = {d.site: (d.rule, d.kept) for d in result.decisions}
    assert got == {
        "is-date": ("date", "P2"),
        "is-tie-date": ("replicates", "P1"),
        "is-ratio": ("reads_ratio", "P1"),
        "is-exactly-ten": ("removed", None),
    }
    assert result.counts == {"collisions": 4, "date": 1, "replicates": 1, "reads_ratio": 1, "removed": 1}
    assert result.keeps("is-alone", "P1") and result.keeps("is-date", "P2") and not result.keeps("is-date", "P1")
    assert not result.keeps("is-exactly-ten", "P1")
    # a lower ratio lets the reads decide
    assert {d.site: d.kept for d in resolve_collisions(rows, reads_ratio=5).decisions}["is-exactly-ten"] == "P1"


def test_a_missing_date_skips_the_date_step_and_bad_ratio_is_one_message() -> None:
    rows = [CollisionItem("s", "P1", 50, date(2020, 1, 1)), CollisionItem("s", "P2", 5000)]
    assert [(d.rule, d.kept) for d in resolve_collisions(rows).decisions] == [("reads_ratio", "P2")]
    with pytest.raises(ValidationError, match="'reads_ratio' parameter of resolve_collisions"):
        resolve_collisions(rows, reads_ratio=0)
