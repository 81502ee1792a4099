"""Readers of integration-site input: the ISAnalytics layouts (a long integration matrix with
``chr, integration_locus, strand, GeneName, GeneStrand, CompleteAmplificationID`` and one column
per quantification, plus its association file) and a simple long CSV (patient, sample, time
point, cell type, chr, position, strand, nearest gene, abundance; the Clarke et al. 2018 / INSPIIRED
column names are accepted too). CSV or tab-separated, optionally gzip-compressed.

Every data row is loaded or quarantined with a reason; a file that cannot be read at all (missing
columns, not UTF-8) raises one :class:`ParseError` naming the file, line and field. ISAnalytics
amplifications are summed per IS into samples by SubjectID, CellMarker, Tissue and TimePoint, as
``aggregate_values_by_key`` does by default; the association file's VCN is kept per sample."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cgtvigil.errors import ParseError
from cgtvigil.ingest import pseudonym_problem

__all__ = [
    "QUANTIFICATIONS",
    "Quarantined",
    "SiteBatch",
    "SiteRecord",
    "months_from_label",
    "read_gene_table",
    "read_isa",
    "read_long_sites",
]

QUANTIFICATIONS = ("seqCount", "fragmentEstimate", "barcodeCount", "cellCount", "ShsCount", "reads", "inferredCells")
DAYS_PER_MONTH = 30.4375
MAX_BYTES = 1 << 30  # of text, after decompression (a gzip bomb stops here)
ISA_KEY = ("SubjectID", "CellMarker", "Tissue", "TimePoint")
_LONG_ALIASES = {
    "patient": ("patient", "patient_id", "subjectid"),
    "sample": ("sample", "sample_id"),
    "time_point": ("time_point", "timepoint"),
    "months": ("time_point_months", "timepointmonths", "months"),
    "cell_type": ("cell_type", "celltype", "cellmarker"),
    "tissue": ("tissue",),
    "chr": ("chr", "chromosome"),
    "position": ("position", "integration_locus"),
    "strand": ("strand",),
    "nearest_gene": ("nearest_gene", "nearestgene", "genename"),
    "gene_strand": ("gene_strand", "genestrand"),
}
_TIME_LABEL = re.compile(r"^\s*([dmwy])?\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_PER_MONTH = {"d": 1 / DAYS_PER_MONTH, "w": 7 / DAYS_PER_MONTH, "m": 1.0, "y": 12.0}


@dataclass
class SiteRecord:
    """One IS of one sample with its abundance per quantification."""

    patient: str
    sample: str
    time_point: str
    months: float
    cell_type: str
    tissue: str
    chr: str
    position: int
    strand: str
    nearest_gene: str
    gene_strand: str
    abundance: dict[str, float]
    line: int


@dataclass(frozen=True)
class Quarantined:
    line: int
    reason: str
    detail: str
    raw: str


@dataclass
class SiteBatch:
    """What a file held: the sites, the rows put aside, and VCN per sample (ISAnalytics)."""

    source: str
    sha256: str
    genome: str
    layout: str
    rows: int = 0
    records: list[SiteRecord] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    vcn: list[tuple[str, str, float, str, float]] = field(default_factory=list)  # patient, sample, months, cell, VCN


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(raw)) as z:
                raw = z.read(MAX_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise ParseError(f"the gzip data are damaged ({exc})", file=path.name) from None
    if len(raw) > MAX_BYTES:
        raise ParseError(f"the file holds more than {MAX_BYTES:,} bytes; split it", file=path.name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ParseError("the file is not UTF-8 text", file=path.name, line=line) from None
    return io.StringIO(text, newline="")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str], list[str]]]:
    """(line, row by column, raw cells) of a CSV or tab-separated file with a header row."""
    f = _open_text(path)
    first = f.readline()
    f.seek(0)
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    reader = csv.reader(f, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise ParseError("the file is empty (a header row is expected)", file=path.name, line=1) from None
    except csv.Error as exc:
        raise ParseError(f"the header row cannot be read ({exc})", file=path.name, line=1) from None
    header = [h.strip() for h in header]
    yield 1, {}, header
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ParseError(f"the row cannot be read as CSV ({exc})", file=path.name, line=reader.line_num) from None
        if not any(c.strip() for c in cells):
            continue
        yield reader.line_num, dict(zip(header, (c.strip() for c in cells), strict=False)), cells


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def months_from_label(label: str) -> float | None:
    """Months since treatment from a time-point label: ``m6`` 6, ``d365`` 11.99, ``y2`` 24, a
    bare number is days when zero-padded to four digits (ISAnalytics' ``0030``), else months.

    Examples
    --------
    >>> months_from_label("m6"), round(months_from_label("d365"), 2), months_from_label("0060"), months_from_label("12")
    (6.0, 11.99, 1.971252566735113, 12.0)
    """
    m = _TIME_LABEL.match(label or "")
    if not m:
        return None
    unit, value = (m.group(1) or "").lower(), float(m.group(2))
    if not unit:
        unit = "d" if re.fullmatch(r"0\d{3}", label.strip()) else "m"
    return value * _PER_MONTH[unit]


def _site_problem(chrom: str, position: str, strand: str) -> tuple[str, str] | None:
    if not chrom:
        return "missing_field", "chr is empty"
    try:
        pos = int(position)
    except ValueError:
        return "bad_position", f"position must be a whole number >= 1. Got {position!r}."
    if pos < 1:
        return "bad_position", f"position must be a whole number >= 1. Got {position!r}."
    if strand not in ("+", "-"):
        return "bad_strand", f"strand must be '+' or '-'. Got {strand!r}."
    return None


def _abundance(value: str) -> float | None:
    try:
        x = float(value)
    except ValueError:
        return None
    return x if math.isfinite(x) and x >= 0 else None


def read_long_sites(path: Path, *, genome: str = "") -> SiteBatch:
    """Read the simple long CSV (one row per IS per sample)."""
    rows = _rows(path)
    _, _, header = next(rows)
    lower = {h.lower(): h for h in header}
    col = {k: next((lower[a] for a in aliases if a in lower), None) for k, aliases in _LONG_ALIASES.items()}
    quants = [h for h in header if h in QUANTIFICATIONS or h.lower() == "abundance"]
    missing = [k for k in ("patient", "sample", "chr", "position", "strand") if col[k] is None]
    if col["time_point"] is None and col["months"] is None:
        missing.append("time_point or time_point_months")
    if not quants:
        missing.append("abundance (or one of " + ", ".join(QUANTIFICATIONS) + ")")
    if missing:
        raise ParseError(f"missing column(s): {', '.join(missing)}", file=path.name, line=1)
    batch = SiteBatch(source=path.name, sha256=_sha256(path), genome=genome, layout="long")
    seen: set[tuple[str, str, str, int, str]] = set()
    for line, r, cells in rows:
        batch.rows += 1

        def get(key: str, r: dict[str, str] = r) -> str:
            c = col[key]
            return r.get(c, "") if c else ""

        def put_aside(reason: str, detail: str, line: int = line, cells: list[str] = cells) -> None:
            batch.quarantined.append(Quarantined(line, reason, detail, ",".join(cells)[:4000]))

        if len(cells) != len(header):
            put_aside("wrong_column_count", f"{len(cells)} fields, the header has {len(header)}")
            continue
        patient, sample = get("patient"), get("sample")
        if (problem := pseudonym_problem(patient)) is not None:
            put_aside("bad_patient", problem)
            continue
        if not sample:
            put_aside("missing_field", "sample is empty")
            continue
        chrom, position, strand = get("chr"), get("position"), get("strand")
        if (bad := _site_problem(chrom, position, strand)) is not None:
            put_aside(*bad)
            continue
        label = get("time_point")
        months: float | None
        if col["months"] is not None and get("months"):
            months = _abundance(get("months"))
        else:
            months = months_from_label(label)
        if months is None:
            put_aside("bad_time_point", f"no time since treatment in {label!r} / {get('months')!r}")
            continue
        values: dict[str, float] = {}
        bad_q = ""
        for q in quants:
            if r.get(q, "") == "":
                continue
            v = _abundance(r[q])
            if v is None:
                bad_q = q
                break
            values["abundance" if q.lower() == "abundance" else q] = v
        if bad_q or not values:
            put_aside(
                "bad_abundance", f"{bad_q or 'abundance'} must be a number >= 0. Got {r.get(bad_q or quants[0])!r}."
            )
            continue
        key = (patient, sample, chrom, int(position), strand)
        if key in seen:
            put_aside("duplicate_site", f"the IS {chrom}:{position}:{strand} is already in sample {sample}")
            continue
        seen.add(key)
        batch.records.append(
            SiteRecord(
                patient=patient,
                sample=sample,
                time_point=label or f"m{months:g}",
                months=months,
                cell_type=get("cell_type"),
                tissue=get("tissue"),
                chr=chrom,
                position=int(position),
                strand=strand,
                nearest_gene=get("nearest_gene"),
                gene_strand=get("gene_strand"),
                abundance=values,
                line=line,
            )
        )
    return batch


def read_isa(matrix: Path, association_file: Path, *, quantification: str = "seqCount") -> SiteBatch:
    """Read an ISAnalytics integration matrix with its association file and sum the
    amplifications per IS into samples (SubjectID|CellMarker|Tissue|TimePoint). The matrix is
    long (a ``CompleteAmplificationID`` column and one column per quantification) or sparse, as
    VISPA2 writes it (one column per amplification holding ``quantification``)."""
    af_rows = _rows(association_file)
    _, _, af_header = next(af_rows)
    need = ["CompleteAmplificationID", *ISA_KEY]
    if missing := [c for c in need if c not in af_header]:
        raise ParseError(f"missing column(s): {', '.join(missing)}", file=association_file.name, line=1)
    amplification: dict[str, dict[str, str]] = {}
    genome = ""
    vcn: dict[str, list[float]] = {}
    for line, r, _ in af_rows:
        cid = r.get("CompleteAmplificationID", "")
        if not cid:
            raise ParseError("CompleteAmplificationID is empty", file=association_file.name, line=line)
        if cid in amplification:
            raise ParseError(f"CompleteAmplificationID {cid!r} is repeated", file=association_file.name, line=line)
        amplification[cid] = r
        genome = genome or r.get("Genome", "")
        if (v := _abundance(r.get("VCN", ""))) is not None:
            vcn.setdefault(cid, []).append(v)
    rows = _rows(matrix)
    _, _, header = next(rows)
    wide = [h for h in header if h in amplification] if "CompleteAmplificationID" not in header else []
    need = ["chr", "integration_locus", "strand"] + ([] if wide else ["CompleteAmplificationID"])
    quants = [quantification] if wide else [h for h in header if h in QUANTIFICATIONS]
    missing = [c for c in need if c not in header] + ([] if quants else ["a quantification (seqCount, ...)"])
    if missing:
        raise ParseError(f"missing column(s): {', '.join(missing)}", file=matrix.name, line=1)
    layout = "isanalytics-sparse" if wide else "isanalytics"
    batch = SiteBatch(source=matrix.name, sha256=_sha256(matrix), genome=genome, layout=layout)
    by_site: dict[tuple[str, str, int, str], SiteRecord] = {}

    def long_rows() -> Iterator[tuple[int, dict[str, str], list[str]]]:
        """The matrix one (IS, amplification) at a time: a sparse matrix's row gives one for each
        amplification column with a value."""
        for line, r, cells in rows:
            batch.rows += 1
            if not wide or len(cells) != len(header):
                yield line, r, cells
                continue
            found = [cid for cid in wide if r[cid] not in ("", "NA", "0")]
            for cid in found:
                yield line, {**r, "CompleteAmplificationID": cid, quantification: r[cid]}, cells
            if not found:
                yield line, {**r, "CompleteAmplificationID": ""}, cells

    for line, r, cells in long_rows():

        def put_aside(reason: str, detail: str, line: int = line, cells: list[str] = cells) -> None:
            batch.quarantined.append(Quarantined(line, reason, detail, ",".join(cells)[:4000]))

        if len(cells) != len(header):
            put_aside("wrong_column_count", f"{len(cells)} fields, the header has {len(header)}")
            continue
        if wide and not r["CompleteAmplificationID"]:
            put_aside("bad_abundance", "no amplification column has a value")
            continue
        meta = amplification.get(r["CompleteAmplificationID"])
        if meta is None:
            put_aside("unknown_amplification", f"{r['CompleteAmplificationID']!r} is not in {association_file.name}")
            continue
        if (problem := pseudonym_problem(meta["SubjectID"])) is not None:
            put_aside("bad_patient", problem)
            continue
        if (bad := _site_problem(r["chr"], r["integration_locus"], r["strand"])) is not None:
            put_aside(*bad)
            continue
        values = {q: v for q in quants if r.get(q, "") != "" and (v := _abundance(r[q])) is not None}
        if bad_q := [q for q in quants if r.get(q, "") != "" and q not in values]:
            put_aside("bad_abundance", f"{bad_q[0]} must be a number >= 0. Got {r[bad_q[0]]!r}.")
            continue
        if not values:
            put_aside("bad_abundance", "no quantification has a value")
            continue
        sample = "|".join(meta[c] for c in ISA_KEY)
        months = _abundance(meta.get("TimepointMonths", "")) if meta.get("TimepointMonths") else None
        days = months_from_label(meta["TimePoint"])
        key = (sample, r["chr"], int(r["integration_locus"]), r["strand"])
        rec = by_site.get(key)
        if rec is None:
            by_site[key] = SiteRecord(
                patient=meta["SubjectID"],
                sample=sample,
                time_point=meta["TimePoint"],
                months=days if days is not None else (months or 0.0),
                cell_type=meta["CellMarker"],
                tissue=meta["Tissue"],
                chr=r["chr"],
                position=int(r["integration_locus"]),
                strand=r["strand"],
                nearest_gene=r.get("GeneName", ""),
                gene_strand=r.get("GeneStrand", ""),
                abundance=dict(values),
                line=line,
            )
        else:
            for q, v in values.items():
                rec.abundance[q] = rec.abundance.get(q, 0.0) + v
    batch.records = list(by_site.values())
    samples: dict[str, list[float]] = {}
    for cid, copies in vcn.items():
        meta = amplification[cid]
        samples.setdefault("|".join(meta[c] for c in ISA_KEY), []).extend(copies)
    for sample, copies in samples.items():
        patient, cell, tissue, tp = sample.split("|")
        batch.vcn.append((patient, sample, months_from_label(tp) or 0.0, f"{cell} {tissue}", sum(copies) / len(copies)))
    return batch


def read_gene_table(path: Path) -> dict[tuple[str, str, str], float]:
    """(symbol, chromosome without 'chr', strand) -> average transcript length from a gene table
    in ISAnalytics' refGenes layout (``name2, chrom, strand, average_TxLen``), for the CIS test."""
    rows = _rows(path)
    _, _, header = next(rows)
    need = ["name2", "chrom", "strand", "average_TxLen"]
    if missing := [c for c in need if c not in header]:
        raise ParseError(f"missing column(s): {', '.join(missing)}", file=path.name, line=1)
    out: dict[tuple[str, str, str], float] = {}
    for line, r, _ in rows:
        length = _abundance(r["average_TxLen"])
        if length is None:
            raise ParseError(
                f"average_TxLen must be a number >= 0. Got {r['average_TxLen']!r}.",
                file=path.name,
                line=line,
                field="average_TxLen",
            )
        out.setdefault((r["name2"], r["chrom"].replace("chr", ""), r["strand"]), length)
    return out
