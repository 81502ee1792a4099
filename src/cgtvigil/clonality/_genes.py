"""Gene bodies and the distance of an IS to them: the watch-list rule (an IS within 50 kb of a
watch-list gene body, on a chromosome of exactly the same name, so alt contigs never match)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GeneIndex", "GeneSpan"]


@dataclass(frozen=True)
class GeneSpan:
    """A gene body (1-based, inclusive) on a chromosome named as in the IS data."""

    symbol: str
    chrom: str
    start: int
    end: int
    strand: str = ""


class GeneIndex:
    """Genes by chromosome, sorted by start, for the genes near an IS and its nearest gene."""

    def __init__(self, genes: Iterable[GeneSpan]) -> None:
        self._by_chrom: dict[str, list[GeneSpan]] = {}
        for g in genes:
            self._by_chrom.setdefault(g.chrom, []).append(g)
        self._starts: dict[str, list[int]] = {}
        self._max_len: dict[str, int] = {}
        for chrom, spans in self._by_chrom.items():
            spans.sort(key=lambda g: (g.start, g.end, g.symbol))
            self._starts[chrom] = [g.start for g in spans]
            self._max_len[chrom] = max(g.end - g.start for g in spans)

    def within(self, chrom: str, position: int, max_bp: int) -> list[tuple[GeneSpan, int]]:
        """Genes whose body is at most ``max_bp`` from the IS, nearest first, with the distance
        max(0, start - pos, pos - end).

        Examples
        --------
        >>> index = GeneIndex([GeneSpan("CCND2", "chr12", 4273735, 4305356, "+")])
        >>> [(g.symbol, d) for g, d in index.within("chr12", 4271331, 50_000)]
        [('CCND2', 2404)]
        >>> index.within("chr12", 4200000, 50_000), index.within("12", 4271331, 50_000)
        ([], [])
        """
        spans = self._by_chrom.get(chrom)
        if not spans:
            return []
        starts = self._starts[chrom]
        lo = bisect_right(starts, position - max_bp - self._max_len[chrom] - 1)
        hi = bisect_right(starts, position + max_bp)
        found = []
        for g in spans[lo:hi]:
            d = max(0, g.start - position, position - g.end)
            if d <= max_bp:
                found.append((g, d))
        return sorted(found, key=lambda p: (p[1], p[0].symbol))
