"""Gene bodies and the distance of an IS to them: the watch-list rule (an IS within 50 kb of a
watch-list gene body) and the nearest gene of an IS that came without one."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["GeneIndex", "GeneSpan", "gene_distance"]


@dataclass(frozen=True)
class GeneSpan:
    """A gene body (1-based, inclusive) on a chromosome named as in the IS data."""

    symbol: str
    chrom: str
    start: int
    end: int
    strand: str = ""


def gene_distance(gene: GeneSpan, chrom: str, position: int) -> int | None:
    """max(0, start - pos, pos - end) on the gene's chromosome (exact name match), else None.

    Examples
    --------
    >>> ccnd2 = GeneSpan("CCND2", "chr12", 4273735, 4305356, "+")
    >>> gene_distance(ccnd2, "chr12", 4271331), gene_distance(ccnd2, "chr12", 4280000), gene_distance(ccnd2, "12", 1)
    (2404, 0, None)
    """
    if chrom != gene.chrom:
        return None
    return max(0, gene.start - position, position - gene.end)


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
        """Genes whose body is at most ``max_bp`` from the IS, nearest first, with the distance."""
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

    def nearest(self, chrom: str, position: int) -> tuple[GeneSpan, int] | None:
        """The nearest gene body on the chromosome (ties: alphabetical), or None."""
        spans = self._by_chrom.get(chrom)
        if not spans:
            return None
        best = min(spans, key=lambda g: (max(0, g.start - position, position - g.end), g.symbol))
        return best, max(0, best.start - position, position - best.end)
