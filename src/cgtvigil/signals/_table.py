"""The 2x2 contingency table shared by every disproportionality method.

``a`` = reports with the product and the event, ``b`` = product without the event,
``c`` = event without the product, ``d`` = neither (domain.md §8.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from cgtvigil._validation import Problems

__all__ = ["ContingencyTables", "FloatArray", "as_float_array", "result_to_arrow"]

FloatArray = npt.NDArray[np.float64]


def as_float_array(values: Any, name: str, owner: str, problems: Problems) -> FloatArray:
    """Convert counts to a 1-D float64 array, recording problems instead of raising."""
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1:
        problems.add(f"The '{name}' parameter of {owner} must be one-dimensional. Got shape {arr.shape}.")
        return arr.ravel()
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        problems.add(
            f"The '{name}' parameter of {owner} must hold finite, non-negative counts. "
            f"Got {arr[i]!r} at position {i} ({int(bad.sum())} bad values in all)."
        )
    return arr


@dataclass(frozen=True)
class ContingencyTables:
    """A vector of 2x2 tables.

    Build it with :meth:`from_counts`, which validates the cells. ``zero_cell`` marks the
    tables that contain a zero cell; :meth:`corrected` adds 0.5 to every cell of those
    tables only (the Haldane-Anscombe correction), leaving the others unchanged.

    Examples
    --------
    >>> t = ContingencyTables.from_counts(a=[10, 0], b=[90, 5], c=[100, 7], d=[9800, 900])
    >>> t.zero_cell.tolist()
    [False, True]
    >>> t.corrected().a.tolist()
    [10.0, 0.5]
    """

    a: FloatArray
    b: FloatArray
    c: FloatArray
    d: FloatArray

    @classmethod
    def from_counts(cls, a: Any, b: Any, c: Any, d: Any) -> ContingencyTables:
        problems = Problems()
        cells = [as_float_array(v, k, "ContingencyTables", problems) for k, v in zip("abcd", (a, b, c, d), strict=True)]
        lengths = {len(x) for x in cells}
        if len(lengths) > 1:
            problems.add(
                "The 'a', 'b', 'c' and 'd' parameters of ContingencyTables must have the same "
                f"length. Got lengths {[len(x) for x in cells]}."
            )
        problems.raise_if_any()
        return cls(*cells)

    def __len__(self) -> int:
        return len(self.a)

    @property
    def zero_cell(self) -> npt.NDArray[np.bool_]:
        zero: npt.NDArray[np.bool_] = (self.a == 0) | (self.b == 0) | (self.c == 0) | (self.d == 0)
        return zero

    @property
    def n_total(self) -> FloatArray:
        return self.a + self.b + self.c + self.d

    @property
    def expected(self) -> FloatArray:
        """Crude expected count of ``a``: (a + b)(a + c) / N."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.a + self.b) * (self.a + self.c) / self.n_total

    def corrected(self) -> ContingencyTables:
        """Add 0.5 to each cell of the tables that have a zero cell."""
        k = np.where(self.zero_cell, 0.5, 0.0)
        return ContingencyTables(self.a + k, self.b + k, self.c + k, self.d + k)


def result_to_arrow(columns: dict[str, Any]) -> pa.Table:
    """Build an Arrow table from named result arrays."""
    return pa.table({k: pa.array(np.asarray(v)) for k, v in columns.items()})
