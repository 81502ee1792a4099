"""SYNTHETIC genotoxicity data for the demo: a lentiviral HSC gene-therapy patient whose clone
2.4 kb upstream of CCND2 grows from 1.5 % to 11.6 % of the PBMC over three yearly samples (the
shape of the real pP7 clone of Clarke et al. 2018), with its vector copy number, and a
genome-edited patient with off-target assay results. Seeded; every id starts with SYN-."""

from __future__ import annotations

import numpy as np

from cgtvigil.genotox._readers import SiteBatch, SiteRecord
from cgtvigil.genotox._vector import OffTargetResult, VectorBatch, VectorPoint

__all__ = ["SYNTHETIC_EDITED_PATIENT", "SYNTHETIC_IS_PATIENT", "synthetic_sites", "synthetic_vector"]

SYNTHETIC_IS_PATIENT = "SYN-GT01"
SYNTHETIC_EDITED_PATIENT = "SYN-GE01"
_CCND2_IS = ("chr12", 4271331, "-", "CCND2-AS1")
_TOP_SHARE = {12: 0.015, 24: 0.04, 36: 0.116}


def synthetic_sites(seed: int = 12, clones: int = 400) -> SiteBatch:
    """Three PBMC samples (12, 24, 36 months) of SYN-GT01 on hg38: a polyclonal background of
    geometric abundances plus the growing CCND2-proximal clone."""
    rng = np.random.default_rng(seed)
    batch = SiteBatch(source="SYNTHETIC-genotox-demo", sha256="0" * 64, genome="hg38", layout="synthetic")
    chroms = [f"chr{c}" for c in range(1, 23)]
    background = [
        (str(rng.choice(chroms)), int(rng.integers(1_000_000, 150_000_000)), str(rng.choice(["+", "-"])))
        for _ in range(clones)
    ]
    line = 1
    for months, share in _TOP_SHARE.items():
        cells = rng.geometric(0.25, size=clones).astype(float)
        keep = rng.random(clones) < 0.7  # each sample sees part of the clones
        total_background = float(cells[keep].sum())
        top = round(share * total_background / (1 - share))
        for (chrom, pos, strand), n, seen in zip(background, cells, keep, strict=True):
            if seen:
                line += 1
                batch.records.append(
                    SiteRecord(
                        SYNTHETIC_IS_PATIENT,
                        f"SYN-GT01-m{months}",
                        f"m{months}",
                        float(months),
                        "PBMC",
                        "",
                        chrom,
                        pos,
                        strand,
                        "",
                        "",
                        {"inferredCells": float(n)},
                        line,
                    )
                )
        line += 1
        chrom, pos, strand, gene = _CCND2_IS
        batch.records.append(
            SiteRecord(
                SYNTHETIC_IS_PATIENT,
                f"SYN-GT01-m{months}",
                f"m{months}",
                float(months),
                "PBMC",
                "",
                chrom,
                pos,
                strand,
                gene,
                "-",
                {"inferredCells": float(top)},
                line,
            )
        )
    batch.rows = line - 1
    return batch


def synthetic_vector() -> VectorBatch:
    """SYN-GT01's vector copy number, and SYN-GE01's off-target results (one site above the
    detection limit)."""
    batch = VectorBatch(source="SYNTHETIC-genotox-demo", sha256="0" * 64)
    for months, vcn in ((1, 1.2), (6, 0.9), (12, 0.8), (24, 0.75), (36, 0.9)):
        batch.points.append(
            VectorPoint(SYNTHETIC_IS_PATIENT, "vcn", float(months), None, "PBMC", "", vcn, "copies/cell", "ddPCR")
        )
    for site, gene, indel, result in (
        ("OT1 chr2:60494000", "", 0.04, "not_detected"),
        ("OT2 chr5:1295000", "TERT", 0.02, "not_detected"),
        ("OT3 chr11:5227000", "HBB", 0.31, "detected"),
    ):
        batch.results.append(
            OffTargetResult(SYNTHETIC_EDITED_PATIENT, "amplicon-seq", site, gene, indel, 0.1, result, None, 6.0)
        )
    batch.rows = len(batch.points) + len(batch.results)
    return batch
