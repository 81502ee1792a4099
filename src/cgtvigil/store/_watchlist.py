"""The watch-list of genes whose integration sites are watched (shipped package data, or a
deployment's own CSV), as gene bodies on one genome build."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Literal

from cgtvigil.clonality import GeneSpan
from cgtvigil.errors import ParseError

__all__ = ["GENOMES", "load_watchlist"]

GENOMES = ("hg19", "hg38")
_SHIPPED = Path(__file__).parent / "data" / "genotox_watchlist.json"


def load_watchlist(genome: Literal["hg19", "hg38"], path: Path | None = None) -> tuple[str, list[GeneSpan]]:
    """(version, gene bodies) of the shipped watch-list, or of ``path``: a CSV with ``gene`` and
    either ``chrom, start, end[, strand]`` or the shared layout's ``<genome>_chrom`` ... columns.

    Examples
    --------
    >>> version, genes = load_watchlist("hg38")
    >>> [g for g in genes if g.symbol == "CCND2"][0].chrom
    'chr12'
    """
    if path is None:
        data = json.loads(_SHIPPED.read_text(encoding="utf-8"))
        spans = [
            GeneSpan(g["gene"], g[genome]["chrom"], g[genome]["start"], g[genome]["end"], g[genome]["strand"])
            for g in data["genes"]
        ]
        return str(data["version"]), spans
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError(f"the file is not UTF-8 text (byte {exc.start})", file=name) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    cols = set(reader.fieldnames or ())
    prefix = f"{genome}_" if f"{genome}_chrom" in cols else ""
    need = {"gene", f"{prefix}chrom", f"{prefix}start", f"{prefix}end"}
    if not need <= cols:
        raise ParseError(f"a watch-list needs the columns {', '.join(sorted(need - cols))}", file=name, line=1)
    spans = []
    for line, r in enumerate(reader, start=2):
        try:
            spans.append(
                GeneSpan(
                    r["gene"].strip(),
                    r[f"{prefix}chrom"].strip(),
                    int(r[f"{prefix}start"]),
                    int(r[f"{prefix}end"]),
                    (r.get(f"{prefix}strand") or "").strip(),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ParseError(f"start and end must be whole numbers ({exc})", file=name, line=line) from None
    return f"file:{path.name}", spans
