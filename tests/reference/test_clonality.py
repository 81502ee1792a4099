"""Clonal diversity, CIS and sharing against ISAnalytics 1.8 and vegan 2.6-4 numbers.

Sources of the reference numbers:

- ``../shared/data/genotoxicity/reference_diversity.csv`` (see its README §2): ``n_IS`` from
  ``ISAnalytics::sample_statistics()`` (``nIS``), ``total_abundance`` its ``_sum``, ``shannon``
  and ``simpson`` from ``vegan::diversity(x, "shannon" | "simpson")`` (the functions ISAnalytics'
  ``default_stats()`` calls), ``gini`` = ``ineq::Gini(x, corr = FALSE)`` written in R,
  ``top_clone_fraction`` max(p). Samples of the ISAnalytics example are its amplifications
  aggregated by ``aggregate_values_by_key`` (SubjectID, CellMarker, Tissue, TimePoint; sum).
- ``tests/reference/data/vegan_clarke2018.csv``: ``vegan::diversity(x, "invsimpson")`` and
  ``vegan::estimateR(x)["S.chao1"]`` per Clarke sample and quantification, made here with R
  4.2.2 and vegan 2.6-4 (Debian packages r-base-core, r-cran-vegan) by the R script in that
  file's docstring below (``_VEGAN_SCRIPT``).
- ``tests/reference/data/isa_cis_grubbs.csv``: ISAnalytics 1.8.0's own ``.cis_join_ref`` and
  ``.cis_grubb_calc`` (the body of ``CIS_grubbs``, R/internal-functions.R at commit 42aa89ff)
  run on the aggregated example matrix with ``refGenes_hg19`` (R 4.2.2, dplyr and psych from
  Debian); the gene counts 501 (5 missing genes), and 250 / 292 by SubjectID, are the
  expectations of ISAnalytics' own test ``test-CIS_grubbs.R``.

Tolerance: integers exactly, reals to a relative 1e-9 (the CSVs have 15 significant digits).
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest

from cgtvigil.clonality import CisGene, cis_grubbs, clone_diversity, is_sharing

REL = 1e-9
HERE = Path(__file__).parent / "data"
_VEGAN_SCRIPT = """
library(vegan); d <- read.csv("clarke2018_scidx1_intsites.csv")
per sample s and q in reads, inferredCells: x <- s[[q]][s[[q]] > 0]
  invsimpson = diversity(x, index = "invsimpson"); chao1 = estimateR(x)["S.chao1"]
write.csv(..., row.names = FALSE)
"""

Site = tuple[str, int, str]


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def clarke_samples(shared: Path) -> dict[str, dict[str, dict[Site, float]]]:
    """sample -> quantification -> IS -> abundance, in the file's row order."""
    out: dict[str, dict[str, dict[Site, float]]] = defaultdict(lambda: {"reads": {}, "inferredCells": {}})
    for r in _read(shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv"):
        site = (r["chromosome"], int(r["position"]), r["strand"])
        for q in ("reads", "inferredCells"):
            out[r["sample"]][q][site] = float(r[q])
    return out


def isa_aggregated(shared: Path) -> dict[str, dict[str, dict[Site, float]]]:
    """The example matrix summed per IS over SubjectID|CellMarker|Tissue|TimePoint."""
    folder = shared / "genotoxicity"
    key = {
        a["CompleteAmplificationID"]: "|".join(a[c] for c in ("SubjectID", "CellMarker", "Tissue", "TimePoint"))
        for a in _read(folder / "isa_example_association_file.csv")
    }
    out: dict[str, dict[str, dict[Site, float]]] = defaultdict(lambda: {"seqCount": {}, "fragmentEstimate": {}})
    for r in _read(folder / "isa_example_integration_matrix.csv"):
        site = (r["chr"], int(r["integration_locus"]), r["strand"])
        for q in ("seqCount", "fragmentEstimate"):
            if r[q]:
                got = out[key[r["CompleteAmplificationID"]]][q]
                got[site] = got.get(site, 0.0) + float(r[q])
    return out


def test_diversity_agrees_with_isanalytics_and_vegan(shared: Path) -> None:
    """Every row of reference_diversity.csv (102 sample x quantification rows)."""
    samples = {"Clarke2018_SCIDX1": clarke_samples(shared), "ISAnalytics_example": isa_aggregated(shared)}
    rows = _read(shared / "genotoxicity" / "reference_diversity.csv")
    assert len(rows) == 102
    worst = 0.0
    for ref in rows:
        sites = samples[ref["dataset"]][ref["sample_id"]][ref["quantification"]]
        keys = list(sites)
        d = clone_diversity(list(sites.values()))
        assert d.n_is == int(ref["n_IS"]), ref["sample_id"]
        assert d.top_tied == int(ref["top_clone_n_tied"])
        for ours, name in (
            (d.total, "total_abundance"),  # sample_statistics() _sum
            (d.shannon, "shannon"),  # vegan::diversity(x, "shannon")
            (d.simpson, "simpson"),  # vegan::diversity(x, "simpson")
            (d.gini, "gini"),  # ineq::Gini(x, corr = FALSE)
            (d.top_fraction, "top_clone_fraction"),
        ):
            expected = float(ref[name])
            assert ours == pytest.approx(expected, rel=REL), (ref["sample_id"], name)
            worst = max(worst, abs(ours - expected) / abs(expected) if expected else abs(ours))
        top = keys[d.top_index]
        assert sites[top] == max(sites.values())
        if d.top_tied == 1:
            assert ":".join(map(str, top)) == ref["top_clone_IS"]
    assert worst < REL


def test_invsimpson_and_chao1_agree_with_vegan(shared: Path) -> None:
    """vegan::diversity(x, "invsimpson") and vegan::estimateR(x)["S.chao1"] (Clarke samples)."""
    samples = clarke_samples(shared)
    rows = _read(HERE / "vegan_clarke2018.csv")
    assert len(rows) == 62
    for ref in rows:
        d = clone_diversity(list(samples[ref["sample_id"]][ref["quantification"]].values()))
        assert d.n_is == int(ref["n_IS"])
        assert d.inverse_simpson == pytest.approx(float(ref["invsimpson"]), rel=REL)
        assert d.chao1 == pytest.approx(float(ref["chao1"]), rel=REL)
        assert d.inverse_simpson == pytest.approx(1 / (1 - d.simpson), rel=REL)
        assert d.pielou == pytest.approx(d.shannon / math.log(d.n_is), rel=REL)


def test_ccnd2_clone_holds_11_6_percent_in_pp7(shared: Path) -> None:
    """Clarke et al. 2018: the IS 2.4 kb upstream of CCND2 (chr12:4271331, annotated CCND2-AS1)
    is the top clone of patient pP7's T cells at 155 months with 171 of 1,474 inferred cells."""
    sites = clarke_samples(shared)["GTSP0413"]["inferredCells"]
    d = clone_diversity(list(sites.values()))
    assert list(sites)[d.top_index] == ("chr12", 4271331, "-")
    assert d.top_fraction == pytest.approx(171 / 1474, rel=REL)
    assert round(100 * d.top_fraction, 1) == 11.6


def _isa_cis_input(shared: Path, subject: str | None = None) -> tuple[list[list[str | int]], dict]:
    folder = shared / "genotoxicity"
    genes = {
        (g["name2"], g["chrom"], g["strand"]): float(g["average_TxLen"])
        for g in _read(folder / "isa_refGenes_hg19.csv")
    }
    key = {
        a["CompleteAmplificationID"]: tuple(a[c] for c in ("SubjectID", "CellMarker", "Tissue", "TimePoint"))
        for a in _read(folder / "isa_example_association_file.csv")
    }
    rows: dict[tuple, tuple[str, str]] = {}
    for r in _read(folder / "isa_example_integration_matrix.csv"):
        sample = key[r["CompleteAmplificationID"]]
        if subject is None or sample[0] == subject:
            rows[(sample, r["chr"], int(r["integration_locus"]), r["strand"])] = (r["GeneName"], r["GeneStrand"])
    cols: list[list[str | int]] = [[], [], [], [], []]
    for (_, c, pos, s), (g, gs) in rows.items():
        for col, v in zip(cols, (c, pos, s, g, gs), strict=True):
            col.append(v)
    return cols, genes


def _compare(genes: list[CisGene], refs: dict[tuple[str, str, str], dict[str, str]]) -> None:
    """Each gene's columns against ISAnalytics' (names: ours -> theirs)."""
    assert len(genes) == len(refs)
    columns = {
        "n_is": "n_IS_perGene",
        "n_rows": "n",
        "span_bp": "IS_span_bp",
        "distinct_orientations": "distinct_orientations",
        "mean_locus": "avg_bp_integration_locus",
        "median_locus": "median_bp_integration_locus",
        "raw_frequency": "raw_gene_integration_frequency",
        "frequency_with_tolerance": "integration_frequency_withtolerance",
        "minus_log2_frequency": "minus_log2_integration_freq_withtolerance",
        "zscore": "zscore_minus_log2_int_freq_tolerance",
        "t_z": "t_z_mlif",
        "p_two_tailed": "tdist2t",
        "p_pt": "tdist_pt",
        "p_bonferroni": "tdist_bonferroni",
        "p_fdr": "tdist_fdr",
        "p_by": "tdist_benjamini",
        "positive_and_corrected": "tdist_positive_and_corrected",
        "positive_and_corrected_em": "tdist_positive_and_correctedEM",
    }
    for g in genes:
        ref = refs[(g.gene, g.gene_strand, g.chr)]
        for ours, theirs in columns.items():
            value = getattr(g, ours)
            if ref[theirs] in ("", "NA"):
                assert value is None, (g.gene, ours)
            else:
                assert value == pytest.approx(float(ref[theirs]), rel=REL, abs=1e-300), (g.gene, ours)


def test_cis_grubbs_agrees_with_isanalytics(shared: Path) -> None:
    """Every gene and column of ISAnalytics 1.8's CIS_grubbs on the aggregated example data."""
    cols, genes = _isa_cis_input(shared)
    result = cis_grubbs(*cols, genes)  # type: ignore[arg-type]
    assert len(result.genes) == 501  # test-CIS_grubbs.R: nrow(result$cis) == 501
    assert len(result.missing_genes) == 5  # ... nrow(result$missing_genes) == 5
    refs = {(r["GeneName"], r["GeneStrand"], r["chr"]): r for r in _read(HERE / "isa_cis_grubbs.csv")}
    assert len(refs) == 501
    _compare(result.genes, refs)

    assert result.cis == []  # no CIS in the example (every tdist_positive_and_corrected is NA)


def test_cis_grubbs_finds_a_spiked_cis_as_isanalytics_does(shared: Path) -> None:
    """SYNTHETIC: the example plus 40 IS in NFATC3 (chr16 +, 68,164,200 + 100 k bp, k = 0..39,
    sample PT001|MNC|BM|0030); ISAnalytics' calculation (isa_cis_grubbs_spiked.csv) calls
    NFATC3 alone a CIS."""
    cols, genes = _isa_cis_input(shared)
    first = min((pos, s) for pos, s, g in zip(cols[1], cols[2], cols[3], strict=True) if g == "NFATC3")
    for k in range(40):  # the R spike copied the first NFATC3 row of the sorted matrix (its strand)
        for col, v in zip(cols, ("16", 68164200 + 100 * k, first[1], "NFATC3", "+"), strict=True):
            col.append(v)
    result = cis_grubbs(*cols, genes)  # type: ignore[arg-type]
    refs = {(r["GeneName"], r["GeneStrand"], r["chr"]): r for r in _read(HERE / "isa_cis_grubbs_spiked.csv")}
    _compare(result.genes, refs)
    assert [g.gene for g in result.cis] == ["NFATC3"]


@pytest.mark.parametrize(("subject", "n_genes"), [("PT001", 250), ("PT002", 292)])
def test_cis_grubbs_by_subject_gene_counts(shared: Path, subject: str, n_genes: int) -> None:
    """CIS_grubbs(agg, by = "SubjectID"): 250 genes for PT001, 292 for PT002 (test-CIS_grubbs.R)."""
    cols, genes = _isa_cis_input(shared, subject)
    assert len(cis_grubbs(*cols, genes).genes) == n_genes  # type: ignore[arg-type]


def test_sharing_between_cell_types_of_pp7(shared: Path) -> None:
    """pP7 at 155 months: T cells (GTSP0413) and PBMC (GTSP0492) share the CCND2 clone; the
    shares follow ISAnalytics' is_sharing definitions (on_g1 = 100 shared / |g1|, ...)."""
    samples = clarke_samples(shared)
    t, p = set(samples["GTSP0413"]["reads"]), set(samples["GTSP0492"]["reads"])
    (s,) = is_sharing({"Tcells": t, "PBMC": p})
    assert ("chr12", 4271331, "-") in t & p
    assert (s.count_g1, s.count_g2, s.shared, s.count_union) == (263, 451, len(t & p), len(t | p))
    assert s.on_union == pytest.approx(100 * len(t & p) / len(t | p), rel=REL)
