"""Small-cell suppression: the one path through which aggregate exports pass (conventions.md §7)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SUPPRESSED", "suppress_small_cells"]

SUPPRESSED = "<5"


def suppress_small_cells(
    rows: Sequence[Mapping[str, Any]], count_columns: Sequence[str], *, threshold: int = 5
) -> list[dict[str, Any]]:
    """Copies of ``rows`` in which every count in ``count_columns`` that is above 0 and below
    ``threshold`` is replaced by a marker (``"<5"`` for the default), with a
    ``suppressed`` flag per row.

    Examples
    --------
    >>> suppress_small_cells([{"site": "A", "n": 3}, {"site": "B", "n": 12}], ["n"])
    [{'site': 'A', 'n': '<5', 'suppressed': True}, {'site': 'B', 'n': 12, 'suppressed': False}]
    """
    marker = f"<{threshold}"
    out = []
    for row in rows:
        copy = dict(row)
        hidden = False
        for col in count_columns:
            v = copy.get(col)
            if isinstance(v, int | float) and 0 < v < threshold:
                copy[col] = marker
                hidden = True
        copy["suppressed"] = hidden
        out.append(copy)
    return out
