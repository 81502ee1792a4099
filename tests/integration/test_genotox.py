"""Genotoxicity end to end on the operational store (SQLite and PostgreSQL): the real SCID-X1
sites (Clarke et al. 2018) and the ISAnalytics example read, stored and read back through the
query services agree with the shared reference numbers (reference_diversity.csv: ISAnalytics
1.8 ``sample_statistics``/``aggregate_values_by_key``, vegan ``diversity``, and the README's
50-kb watch-list rule, written in R); the CCND2 clone raises a high alert on pP7 that reaches the
site's channel; every bad row is quarantined with its reason; VCN, CAR-transgene and off-target
results are stored per patient; the scope decides who sees a patient's sites."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cgtvigil.errors import NotFoundError, NotInScopeError, ParseError
from cgtvigil.genotox import (
    EXPANSION_RULE,
    patient_genotox,
    read_isa,
    read_long_sites,
    read_off_target,
    read_vector,
    sample_stats,
    store_sites,
    store_vector,
)
from cgtvigil.monitoring import configure_channel, register_patient
from cgtvigil.store import (
    AlertRow,
    IsQuarantineRow,
    IsSiteRow,
    NotificationRow,
    Scope,
    load_products,
    load_watchlist,
    operational_engine,
    session_factory,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
ADMIN = Scope(actor="test", all_patients=True)
REL = 1e-9


@pytest.fixture
def session(operational_url: str) -> Session:
    engine = operational_engine(operational_url)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def _reference(shared: Path, dataset: str) -> dict[tuple[str, str], dict[str, str]]:
    with (shared / "genotoxicity" / "reference_diversity.csv").open(newline="") as f:
        return {(r["sample_id"], r["quantification"]): r for r in csv.DictReader(f) if r["dataset"] == dataset}


def _agree(stats: list, refs: dict[tuple[str, str], dict[str, str]]) -> None:  # type: ignore[type-arg]
    assert {(s.sample, s.quantification) for s in stats} == set(refs)
    for s in stats:
        ref = refs[(s.sample, s.quantification)]
        assert s.n_is == int(ref["n_IS"])
        assert s.n_watchlist_50kb == int(ref["n_IS_within_50kb_of_watchlist"]), s.sample
        assert s.n_watchlist_nearest == int(ref["n_IS_nearest_gene_on_watchlist"]), s.sample
        for ours, name in (
            (s.total, "total_abundance"),
            (s.shannon, "shannon"),
            (s.simpson, "simpson"),
            (s.gini, "gini"),
            (s.top_fraction, "top_clone_fraction"),
        ):
            assert ours == pytest.approx(float(ref[name]), rel=REL), (s.sample, name)
        if int(ref["top_clone_n_tied"]) == 1:
            assert s.top_clone == ref["top_clone_IS"]


def test_clarke_sites_loaded_and_agree_with_the_references(session: Session, shared: Path) -> None:
    """24,170 rows, none quarantined; per-sample numbers equal reference_diversity.csv."""
    genes = load_watchlist("hg38")[1]
    batch = read_long_sites(shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv", genome="hg38")
    summary = store_sites(session, batch, NOW, watchlist=genes)
    session.commit()
    assert (summary.rows, summary.loaded, summary.quarantined, summary.samples) == (24_170, 24_170, 0, 31)
    assert len(summary.patients) == 13
    with (shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv").open(newline="") as f:
        owners: dict[tuple[str, str, str], set[str]] = {}
        for r in csv.DictReader(f):
            owners.setdefault((r["chromosome"], r["position"], r["strand"]), set()).add(r["patient"])
    assert summary.collisions == sum(len(p) > 1 for p in owners.values())  # IS in more than one patient
    assert session.scalar(select(func.count()).select_from(IsSiteRow)) == 2 * 24_170
    _agree(sample_stats(session, ADMIN), _reference(shared, "Clarke2018_SCIDX1"))
    # the CCND2 clone: 11.6 % of pP7's T cells at 155 months, a high alert
    view = patient_genotox(session, ADMIN, "pP7")
    (expansion,) = view.expansions
    assert (expansion.clone, expansion.gene, expansion.severity) == ("chr12:4271331:-", "CCND2-AS1", "high")
    assert expansion.watchlist_genes == ["CCND2"]
    assert round(100 * expansion.fraction, 1) == 11.6
    ccnd2 = [w for w in view.watchlist_sites if w.clone == "chr12:4271331:-"]
    assert {(w.series, w.distance_bp, round(100 * w.fraction, 1)) for w in ccnd2} == {
        ("Tcells", 2404, 11.6),
        ("PBMC", 2404, 9.0),
    }
    alert = session.scalars(select(AlertRow).where(AlertRow.patient_id == "pP7")).one()
    assert (alert.rule, alert.severity, alert.status) == (EXPANSION_RULE, "high", "open")
    assert "CCND2" in alert.message and "11.6 %" in alert.message
    shared_ct = [s for s in view.sharing if s.between == "cell types"]
    assert shared_ct and shared_ct[0].shared == 160  # T cells and PBMC at 155 months


def test_isanalytics_example_aggregated_as_isanalytics_does(session: Session, shared: Path) -> None:
    """53 amplifications summed into 20 samples (aggregate_values_by_key), both quantifications;
    the association file's VCN becomes a series per patient."""
    folder = shared / "genotoxicity"
    batch = read_isa(folder / "isa_example_integration_matrix.csv", folder / "isa_example_association_file.csv")
    assert batch.genome == "hg19"
    summary = store_sites(session, batch, NOW, watchlist=load_watchlist("hg19")[1])
    session.commit()
    assert (summary.rows, summary.quarantined, summary.samples) == (1689, 0, 20)
    _agree(sample_stats(session, ADMIN), _reference(shared, "ISAnalytics_example"))
    vcn = patient_genotox(session, ADMIN, "PT001").vector
    assert vcn and all(v.kind == "vcn" for v in vcn)


def test_alert_reaches_the_care_team_once(session: Session, shared: Path) -> None:
    """pP7 registered at a site with an e-mail channel: the expansion alert is queued to it;
    loading the same file again updates the open alert instead of opening another."""
    register_patient(
        session, load_products(), patient="pP7", site="site-a", product="skysona", infusion_date=date(2010, 1, 1)
    )
    configure_channel(session, site="site-a", kind="email", target="ltfu@site-a.example", at=NOW, actor="test")
    session.commit()
    path = shared / "genotoxicity" / "clarke2018_scidx1_intsites.csv"
    for _ in range(2):
        store_sites(session, read_long_sites(path, genome="hg38"), NOW, watchlist=load_watchlist("hg38")[1])
        session.commit()
    alert = session.scalars(select(AlertRow).where(AlertRow.patient_id == "pP7")).one()
    assert alert.count == 2
    notes = session.scalars(select(NotificationRow).where(NotificationRow.alert_id == alert.id)).all()
    assert [(n.recipient, n.event) for n in notes] == [("ltfu@site-a.example", "raised")]
    investigator = Scope(actor="inv", sites=frozenset({"site-a"}))
    assert patient_genotox(session, investigator, "pP7").patient_id == "pP7"
    for hidden in ("pP6", "nobody"):  # another site's (here unregistered) patient and a missing one look alike
        with pytest.raises(NotFoundError):
            patient_genotox(session, investigator, hidden)
    assert {s.patient_id for s in sample_stats(session, investigator)} == {"pP7"}
    with pytest.raises(NotInScopeError):
        sample_stats(session, Scope(actor="reviewer", aggregates=frozenset()))


def test_every_bad_row_is_quarantined_with_its_reason(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text(
        "patient,sample,time_point,cell_type,chr,position,strand,nearest_gene,abundance\n"
        "P-01,S1,m6,Tcells,chr1,1000,+,GENE1,5\n"
        "P-01,S1,m6,Tcells,chr1,1000,+,GENE1,5\n"  # the same IS twice in a sample
        "Jane Doe,S2,m6,Tcells,chr1,1000,+,GENE1,5\n"
        "P-01,S1,m6,Tcells,chr1,abc,+,GENE1,5\n"
        "P-01,S1,m6,Tcells,chr1,1001,*,GENE1,5\n"
        "P-01,S1,m6,Tcells,chr1,1002,+,GENE1,-3\n"
        "P-01,S1,later,Tcells,chr1,1003,+,GENE1,3\n"
        "P-01,S1,m6,Tcells,chr1,1004,+\n",
        encoding="utf-8",
    )
    batch = read_long_sites(path, genome="hg38")
    summary = store_sites(session, batch, NOW, watchlist=[])
    session.commit()
    assert summary.rows == 8 and summary.loaded == 1
    assert summary.reasons == {
        "duplicate_site": 1,
        "bad_patient": 1,
        "bad_position": 1,
        "bad_strand": 1,
        "bad_abundance": 1,
        "bad_time_point": 1,
        "wrong_column_count": 1,
    }
    lines = session.scalars(select(IsQuarantineRow.line).order_by(IsQuarantineRow.line)).all()
    assert lines == [3, 4, 5, 6, 7, 8, 9]


def test_unreadable_input_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "sites.csv"
    path.write_text("patient,sample,chr,position\nP-01,S1,chr1,5\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"sites.csv, line 1: missing column\(s\): strand, time_point or"):
        read_long_sites(path)
    path.write_bytes(b"patient,sample\n\xff\xfe\n")
    with pytest.raises(ParseError, match=r"sites.csv, line 2: the file is not UTF-8"):
        read_long_sites(path)


def test_vector_copy_number_car_transgene_and_off_target(session: Session, tmp_path: Path) -> None:
    vcn = tmp_path / "vcn.csv"
    vcn.write_text(
        "patient,kind,months,date,cell_type,value,unit,method\n"
        "P-02,vcn,1,2026-01-05,PB MNC,0.8,copies/cell,ddPCR\n"
        "P-02,vcn,6,2026-06-05,PB MNC,0.6,copies/cell,ddPCR\n"
        "P-02,car_transgene,6,,PBMC,12000,copies/ug DNA,qPCR\n"
        "P-02,vcn,12,2026-13-01,PB MNC,0.5,copies/cell,ddPCR\n"
        "P-02,tcr,12,,PB MNC,0.5,copies/cell,ddPCR\n",
        encoding="utf-8",
    )
    s = store_vector(session, read_vector(vcn), NOW)
    assert (s.loaded, s.reasons) == (3, {"bad_date": 1, "bad_kind": 1})
    off = tmp_path / "off.csv"
    off.write_text(
        "patient,assay,site,gene,indel_percent,detection_limit_percent,result,months\n"
        "P-02,amplicon-seq,OT-1 chr2:1000,BCL11A,0.05,0.1,not_detected,1\n"
        "P-02,amplicon-seq,OT-2 chr5:2000,,150,0.1,detected,1\n",
        encoding="utf-8",
    )
    s = store_vector(session, read_off_target(off), NOW)
    session.commit()
    assert (s.loaded, s.reasons) == (1, {"bad_value": 1})
    view = patient_genotox(session, ADMIN, "P-02")
    assert [(v.kind, v.months, v.value) for v in view.vector] == [
        ("car_transgene", 6.0, 12000.0),
        ("vcn", 1.0, 0.8),
        ("vcn", 6.0, 0.6),
    ]
    assert [(o.site, o.result) for o in view.off_target] == [("OT-1 chr2:1000", "not_detected")]
    assert view.samples == []


def test_cli_ingest_stats_cis_alerts_and_one_clear_error(
    shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ISAnalytics example through the CLI: 20 samples; the CIS test over it tests 501 genes
    with 5 missing (ISAnalytics' test-CIS_grubbs.R); a file without a strand column is one
    message naming the file and line, without a traceback."""
    from typer.testing import CliRunner

    from cgtvigil.cli import app

    monkeypatch.setenv("CGTVIGIL_OPERATIONAL_URL", f"sqlite:///{tmp_path / 'op.db'}")
    folder = shared / "genotoxicity"
    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "genotox",
            "ingest",
            str(folder / "isa_example_integration_matrix.csv"),
            "--association",
            str(folder / "isa_example_association_file.csv"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert "1,689 rows, 1,074 loaded into 20 samples of 2 patients" in " ".join(r.output.split())
    r = runner.invoke(app, ["genotox", "stats", "--json", "--patient", "PT001"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 2 * 10
    r = runner.invoke(app, ["genotox", "cis", "--genes", str(folder / "isa_refGenes_hg19.csv")])
    assert r.exit_code == 0, r.output
    assert "all: 501 genes tested, 5 genes" in " ".join(r.output.split())
    r = runner.invoke(app, ["genotox", "alerts"])
    assert r.exit_code == 0 and "clonal-expansion alerts" in r.output
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,sample,time_point,chr,position,abundance\nP-1,S,m6,chr1,5,1\n", encoding="utf-8")
    r = runner.invoke(app, ["genotox", "ingest", str(bad), "--genome", "hg38"])
    assert r.exit_code == 2
    assert "bad.csv, line 1: missing column(s): strand" in " ".join(r.output.split())
    assert "Traceback" not in r.output


def test_demo_seed_shows_the_ccnd2_clone(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's genotoxicity: SYNTHETIC SYN-GT01 with a clone near CCND2 growing to 11.6 %,
    and the real pP7 CCND2 clone (shared data present), each a high alert."""
    from cgtvigil.cli._genotox import seed_demo_genotox
    from cgtvigil.config import Settings

    monkeypatch.setenv("CGTVIGIL_SHARED_DATA", str(shared))
    settings = Settings(db=tmp_path / "x.duckdb", operational_url=f"sqlite:///{tmp_path / 'op.db'}", secret_key="k")
    seed_demo_genotox(settings)
    engine = operational_engine(settings.operational_url)
    with session_factory(engine)() as s:
        alerts = {a.patient_id: a for a in s.scalars(select(AlertRow).where(AlertRow.rule == EXPANSION_RULE))}
        for pid in ("SYN-GT01", "pP7"):
            assert alerts[pid].severity == "high" and "CCND2" in alerts[pid].message and "11.6 %" in alerts[pid].message
        view = patient_genotox(s, ADMIN, "SYN-GT01")
        assert [p.value for p in view.vector][:2] == [1.2, 0.9]
        assert {e.kind for e in view.expansions if e.clone == "chr12:4271331:-"} == {"dominant", "growing"}
        assert [o.result for o in patient_genotox(s, ADMIN, "SYN-GE01").off_target].count("detected") == 1
    engine.dispose()


def test_damaged_gzip_is_one_message(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "sites.csv.gz"
    path.write_bytes(gzip.compress(b"patient,sample\n" * 1000)[:-30])
    with pytest.raises(ParseError, match=r"sites.csv.gz: the gzip data are damaged"):
        read_long_sites(path)


def test_sparse_vispa2_matrix_reads_as_the_long_one(session: Session, shared: Path, tmp_path: Path) -> None:
    """The example's seqCount written as VISPA2's sparse matrix (one column per amplification)
    gives the same 20 samples as the long matrix (reference_diversity.csv, seqCount rows)."""
    folder = shared / "genotoxicity"
    with (folder / "isa_example_integration_matrix.csv").open(newline="") as f:
        long = list(csv.DictReader(f))
    ids = sorted({r["CompleteAmplificationID"] for r in long})
    cells: dict[tuple[str, str, str, str, str], dict[str, str]] = {}
    for r in long:
        key = (r["chr"], r["integration_locus"], r["strand"], r["GeneName"], r["GeneStrand"])
        cells.setdefault(key, {})[r["CompleteAmplificationID"]] = r["seqCount"]
    sparse = tmp_path / "sparse.tsv"
    with sparse.open("w", newline="") as f:
        w = csv.writer(f, delimiter="\t")
        w.writerow(["chr", "integration_locus", "strand", "GeneName", "GeneStrand", *ids])
        for key, values in cells.items():
            w.writerow([*key, *(values.get(i, "") for i in ids)])
        w.writerow(["1", "100", "+", "G", "+", *("" for _ in ids)])  # no value: quarantined
    batch = read_isa(sparse, folder / "isa_example_association_file.csv", quantification="seqCount")
    summary = store_sites(session, batch, NOW, watchlist=load_watchlist("hg19")[1])
    session.commit()
    assert summary.layout == "isanalytics-sparse" and summary.reasons == {"bad_abundance": 1}
    refs = {k: v for k, v in _reference(shared, "ISAnalytics_example").items() if k[1] == "seqCount"}
    _agree(sample_stats(session, ADMIN), refs)
