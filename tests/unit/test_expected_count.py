"""The Mantel-Haenszel expected count summed in integer parts (engine._base).

Reference: exact rational arithmetic (Python's ``fractions.Fraction``) of the same sum,
sum_s n_drug,s * n_event,s / n_s, rounded once to the nearest float: the engines' E must be
within one unit in the last place of it, whatever the order of the strata (a floating-point
sum of the same terms is not: its last bits follow the order).
"""

from __future__ import annotations

import math
import random
from fractions import Fraction

import duckdb
import pyarrow as pa

from cgtvigil.engine._base import expected_from_parts, expected_term_parts_sql


def _strata(seed: int) -> list[tuple[int, int, int, int]]:
    """(pair, n_drug,s, n_event,s, n_s) terms up to FAERS scale (22M reports in one stratum)."""
    rng = random.Random(seed)
    rows = []
    for pair in range(150):
        for _ in range(rng.randint(1, 400)):
            n_s = rng.choice((1, 7, rng.randint(1, 5_000), rng.randint(1, 22_000_000)))
            rows.append((pair, rng.randint(0, n_s), rng.randint(0, n_s), n_s))
    return rows


def _engine_e(rows: list[tuple[int, int, int, int]]) -> list[float]:
    con = duckdb.connect()
    con.register("t", pa.table(dict(zip(("pair", "a", "b", "n"), map(list, zip(*rows, strict=True)), strict=True))))
    q, f1, f2 = expected_term_parts_sql("a * b", "n", "//")
    parts = con.sql(
        f"SELECT pair, sum({q})::BIGINT AS e_q, sum({f1})::BIGINT AS e_f1, sum({f2})::BIGINT AS e_f2 "
        "FROM t GROUP BY pair ORDER BY pair"
    ).to_arrow_table()
    return expected_from_parts(parts).column("e_strat").to_pylist()


def test_expected_count_is_the_exact_sum_rounded_once() -> None:
    rows = _strata(17)
    exact: dict[int, Fraction] = {}
    for pair, a, b, n in rows:
        exact[pair] = exact.get(pair, Fraction(0)) + Fraction(a * b, n)
    got = _engine_e(rows)
    for pair, e in enumerate(got):
        assert abs(e - float(exact[pair])) <= math.ulp(float(exact[pair])), pair


def test_expected_count_does_not_depend_on_the_order_of_the_strata() -> None:
    rows = _strata(18)
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert _engine_e(rows) == _engine_e(shuffled)
    # the floating-point sum of the same terms does depend on it (so the test can fail)
    forward: dict[int, float] = {}
    backward: dict[int, float] = {}
    for pair, a, b, n in rows:
        forward[pair] = forward.get(pair, 0.0) + a * b / n
    for pair, a, b, n in reversed(rows):
        backward[pair] = backward.get(pair, 0.0) + a * b / n
    assert forward != backward
