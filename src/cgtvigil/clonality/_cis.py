"""Common insertion sites by the Grubbs test for outliers of integration frequency per gene
(Biffi et al., Blood 2011), as ISAnalytics' ``CIS_grubbs`` (1.8) computes it.

Each IS is annotated with its nearest gene; IS whose (gene, gene strand, chromosome) is absent
from the gene table are left out and reported as missing. Per gene: n_IS = distinct loci,
frequency with tolerance f = n_IS / (average transcript length + flank) * 1000, and
m = -log2 f. The z-score of m over the genes (standard deviation with n - 1), negated, is turned
into Grubbs' t = sqrt(n(n-2) z^2 / ((n-1)^2 - n z^2)) with n - 2 degrees of freedom; the two-sided
p-value is 2 (1 - F_t(t)) (written as ISAnalytics writes it). A gene is a CIS when its
Bonferroni p-value (p n, capped at 1) is below alpha and its negated z-score is positive."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any

import numpy as np

from cgtvigil._validation import Problems, check_interval, param_message

__all__ = ["CisGene", "CisResult", "cis_grubbs"]


@dataclass(frozen=True)
class CisGene:
    """One gene of the test; names follow ISAnalytics' output columns."""

    gene: str
    gene_strand: str
    chr: str
    n_rows: int
    n_is: int
    min_locus: int
    max_locus: int
    span_bp: int
    mean_locus: float
    median_locus: float
    distinct_orientations: int
    average_tx_len: float
    raw_frequency: float
    frequency_with_tolerance: float
    minus_log2_frequency: float
    zscore: float
    neg_zscore: float
    t_z: float
    p_two_tailed: float
    p_pt: float
    p_bonferroni: float
    p_fdr: float
    p_by: float
    positive: float | None
    positive_and_corrected: float | None
    positive_and_corrected_em: float | None

    @property
    def is_cis(self) -> bool:
        """ISAnalytics' ``tdist_positive_and_corrected`` is not NA."""
        return self.positive_and_corrected is not None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "is_cis": self.is_cis}


@dataclass(frozen=True)
class CisResult:
    genes: list[CisGene]
    missing_genes: list[tuple[str, str, str]] = field(default_factory=list)
    missing_is: int = 0
    flanking_bp: int = 100_000
    alpha: float = 0.05

    @property
    def cis(self) -> list[CisGene]:
        """The genes that are common insertion sites, most significant first."""
        return sorted((g for g in self.genes if g.is_cis), key=lambda g: (g.p_two_tailed, g.gene))


def cis_grubbs(
    chromosome: Sequence[str],
    locus: Sequence[int],
    strand: Sequence[str],
    gene: Sequence[str],
    gene_strand: Sequence[str],
    gene_lengths: Mapping[tuple[str, str, str], float],
    *,
    flanking_bp: int = 100_000,
    alpha: float = 0.05,
) -> CisResult:
    """The Grubbs test for CIS over the given IS rows (one row per IS and sample, as ISAnalytics
    takes an aggregated matrix). ``gene_lengths`` maps (symbol, chromosome, strand) to the
    average transcript length (ISAnalytics' ``refGenes_hg19`` ``average_TxLen``).

    Examples
    --------
    >>> lengths = {("A", "1", "+"): 1000.0, ("B", "1", "+"): 1000.0, ("C", "2", "-"): 5000.0}
    >>> r = cis_grubbs(["1"] * 4 + ["2"], [10, 20, 30, 900, 50], ["+"] * 5, ["A", "A", "A", "B", "C"],
    ...                ["+", "+", "+", "+", "-"], lengths)
    >>> [(g.gene, g.n_is) for g in r.genes]
    [('A', 3), ('B', 1), ('C', 1)]
    """
    problems = Problems()
    n = len(chromosome)
    if not all(len(c) == n for c in (locus, strand, gene, gene_strand)):
        problems.add(param_message("locus", "cis_grubbs", f"sequences as long as 'chromosome' ({n})", "other lengths"))
    if not isinstance(flanking_bp, int) or flanking_bp < 0:
        problems.add(param_message("flanking_bp", "cis_grubbs", "an integer >= 0", flanking_bp))
    check_interval(alpha, "alpha", "cis_grubbs", 0, 1, problems)
    problems.raise_if_any()
    groups: dict[tuple[str, str, str], list[int]] = {}
    strands: dict[tuple[str, str, str], set[str]] = {}
    missing: set[tuple[str, str, str]] = set()
    missing_is = 0
    for c, pos, s, g, gs in zip(chromosome, locus, strand, gene, gene_strand, strict=True):
        key = (g, gs, c)
        if (g, c, gs) not in gene_lengths:
            missing.add(key)
            missing_is += 1
            continue
        groups.setdefault(key, []).append(int(pos))
        strands.setdefault(key, set()).add(s)
    keys = sorted(groups)
    m = len(keys)
    n_is = np.array([len(set(groups[k])) for k in keys], dtype=float)
    tx_len = np.array([float(gene_lengths[(k[0], k[2], k[1])]) for k in keys], dtype=float)
    freq = n_is / (tx_len + flanking_bp) * 1000
    mlif = -np.log2(freq)
    sd = float(np.std(mlif, ddof=1)) if m > 1 else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (mlif - mlif.mean()) / sd
        neg_z = -z
        t_z = np.sqrt((m * (m - 2) * neg_z**2) / ((m - 1) ** 2 - m * neg_z**2))
    # imported here: scipy.stats costs about 1 s at start-up, paid by every command that imports the store
    from scipy.stats import false_discovery_control
    from scipy.stats import t as student_t

    pt = student_t.cdf(t_z, m - 2) if m > 2 else np.full(m, math.nan)
    p2 = (1 - pt) * 2
    bonferroni = np.minimum(p2 * m, 1.0)
    finite = np.isfinite(p2)
    fdr = np.full(m, math.nan)
    by = np.full(m, math.nan)
    if finite.all() and m:
        fdr = false_discovery_control(p2, method="bh")
        by = false_discovery_control(p2, method="by")
    positive = (p2 < alpha) & (neg_z > 0)
    n_em = int(positive.sum())
    genes = []
    for i, k in enumerate(keys):
        loci = groups[k]
        genes.append(
            CisGene(
                gene=k[0],
                gene_strand=k[1],
                chr=k[2],
                n_rows=len(loci),
                n_is=int(n_is[i]),
                min_locus=min(loci),
                max_locus=max(loci),
                span_bp=max(loci) - min(loci),
                mean_locus=float(np.mean(loci)),
                median_locus=float(median(loci)),
                distinct_orientations=len(strands[k]),
                average_tx_len=float(tx_len[i]),
                raw_frequency=float(n_is[i] / tx_len[i]),
                frequency_with_tolerance=float(freq[i]),
                minus_log2_frequency=float(mlif[i]),
                zscore=float(z[i]),
                neg_zscore=float(neg_z[i]),
                t_z=float(t_z[i]),
                p_two_tailed=float(p2[i]),
                p_pt=float(pt[i]),
                p_bonferroni=float(bonferroni[i]),
                p_fdr=float(fdr[i]),
                p_by=float(by[i]),
                positive=float(p2[i]) if positive[i] else None,
                positive_and_corrected=float(bonferroni[i]) if bonferroni[i] < alpha and neg_z[i] > 0 else None,
                positive_and_corrected_em=(float(p2[i] * n_em) if p2[i] * n_em < alpha and neg_z[i] > 0 else None),
            )
        )
    return CisResult(
        genes=genes, missing_genes=sorted(missing), missing_is=missing_is, flanking_bp=flanking_bp, alpha=alpha
    )
