"""The streaming synthetic FAERS history (cgtvigil.synth.generate_history): sizes over the
timeline, versions across quarters, deletions, the legacy/FAERS layouts, rows per report,
determinism by seed, and the streaming structure (one quarter at a time, a bounded pool)."""

from __future__ import annotations

import hashlib
import itertools
import zipfile
from pathlib import Path

import pytest

from cgtvigil.store import load_products
from cgtvigil.synth import HistoryConfig, generate_history, history_quarters, iter_history
from cgtvigil.synth._history import _ROWS_PER_REPORT, _History

SMALL = HistoryConfig(
    first_quarter="2012Q2",
    last_quarter="2013Q3",  # 6 quarters: 2 legacy AERS, then FAERS
    scale=0.01,  # 1,000 reports in the first quarter
    seed=7,
    followup_horizon=2,
    deletions_from="2013Q1",
    cgt_from="2012Q4",
    cgt_reports=20_000,  # at scale 0.01: 200 CAR-T cases over the four FAERS quarters
    n_drugs=300,
    n_tail_events=400,
    n_planted=10,
)


def _rows(path: Path, table: str) -> list[list[str]]:
    with zipfile.ZipFile(path) as zf:
        name = next(n for n in zf.namelist() if n.split("/")[-1].upper().startswith(table.upper()))
        lines = zf.read(name).decode().splitlines()
    header = lines[0].split("$")
    rows = [ln.split("$") for ln in lines[1:]]
    assert all(len(r) == len(header) for r in rows), f"{path.name}:{name}: ragged lines"
    return [header, *rows]


def _as_dicts(path: Path, table: str) -> list[dict[str, str]]:
    header, *rows = _rows(path, table)
    return [dict(zip(header, r, strict=True)) for r in rows]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    out = tmp_path_factory.mktemp("history")
    return generate_history(out, load_products(), SMALL)


def test_timeline_and_sizes() -> None:
    full = HistoryConfig()
    line = full.timeline()
    assert len(line) == 90 and line[0] == "2004Q1" and line[-1] == "2026Q2"
    sizes = [n for _, n in full.sizes()]
    assert sizes[0] == 100_000 and sizes[-1] == 450_000
    assert all(a <= b for a, b in itertools.pairwise(sizes))
    assert 21_000_000 < sum(sizes) < 23_000_000  # "about 22M reports"
    part = HistoryConfig(quarters=12, scale=0.1).sizes()
    assert [q for q, _ in part] == list(line[:12])
    assert all(abs(n - 0.1 * m) <= 1 for (_, n), m in zip(part, sizes, strict=False))
    assert history_quarters("2012Q3", "2013Q2") == ("2012Q3", "2012Q4", "2013Q1", "2013Q2")


def test_layouts_and_rows_per_report(history) -> None:  # type: ignore[no-untyped-def]
    names = [p.name for p in history.zips]
    assert names[:2] == ["aers_ascii_2012q2.zip", "aers_ascii_2012q3.zip"]
    assert names[2:] == [f"faers_ascii_{q.lower()}.zip" for q in history_quarters("2012Q4", "2013Q3")]
    legacy_demo = _rows(history.zips[0], "demo")[0]
    assert legacy_demo[:2] == ["isr", "case"] and "gndr_cod" in legacy_demo
    assert _rows(history.zips[-1], "demo")[0][:3] == ["primaryid", "caseid", "caseversion"]
    assert [q.reports for q in history.quarters] == [n for _, n in SMALL.sizes()]
    for hq in history.quarters:
        era = _ROWS_PER_REPORT["legacy" if hq.legacy else "faers"]
        assert hq.rows["demo"] == hq.reports == len(_rows(hq.path, "demo")) - 1
        for table, per_report in era.items():
            got = hq.rows[table] / hq.reports
            assert abs(got - per_report) < 0.15 * per_report + 0.02, (hq.quarter, table, got, per_report)
    assert [q.cgt_reports > 0 for q in history.quarters] == [False, False, True, True, True, True]
    assert 150 < sum(q.cgt_reports for q in history.quarters) < 250  # new CAR-T cases: 200 expected


def test_versions_follow_earlier_cases(history) -> None:  # type: ignore[no-untyped-def]
    first_seen: dict[str, tuple[int, str]] = {}
    followups = 0
    for qi, hq in enumerate(history.quarters):
        demo = _as_dicts(hq.path, "demo")
        assert len(demo) == hq.new_cases + hq.followups
        for row in demo:
            case = row.get("caseid") or row["case"]
            flag = row.get("i_f_code") or row["i_f_cod"]
            if case in first_seen:
                q0, init = first_seen[case]
                assert flag == "F" and qi - q0 <= SMALL.followup_horizon
                if not hq.legacy:
                    assert int(row["caseversion"]) >= 2 and row["init_fda_dt"] == init
                    assert row["primaryid"] == case + row["caseversion"]
                followups += 1
            else:
                assert flag == "I"
                first_seen[case] = (qi, row.get("init_fda_dt") or row["fda_dt"])
        assert sum(1 for r in demo if (r.get("i_f_code") or r["i_f_cod"]) == "F") == hq.followups
    assert followups == sum(q.followups for q in history.quarters) > 0
    assert history.cases == len(first_seen)


def test_deletions_name_earlier_cases(history) -> None:  # type: ignore[no-untyped-def]
    seen: set[str] = set()
    for hq in history.quarters:
        with zipfile.ZipFile(hq.path) as zf:
            deleted = [n for n in zf.namelist() if n.startswith("Deleted/")]
            ids = zf.read(deleted[0]).decode().split() if deleted else []
        if hq.quarter < "2013Q1":
            assert not deleted and hq.deleted == 0
        else:
            yy = hq.quarter[2:4] + "Q" + hq.quarter[-1]
            assert deleted == [f"Deleted/DELETE{yy}.txt"] and len(ids) == hq.deleted > 0
            assert set(ids) <= seen  # only cases received before this quarter
        seen |= {r.get("caseid") or r["case"] for r in _as_dicts(hq.path, "demo")}


def _digests(paths: list[Path]) -> list[str]:
    out = []
    for p in paths:
        with zipfile.ZipFile(p) as zf:
            out.append(hashlib.sha256(b"".join(zf.read(n) for n in sorted(zf.namelist()))).hexdigest())
    return out


def test_same_seed_same_files_other_seed_other_files(history, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = HistoryConfig(**{**SMALL.__dict__, "last_quarter": "2012Q4"})
    again = generate_history(tmp_path / "again", load_products(), cfg)
    # a shorter timeline changes the sizes; the same config again gives the same bytes
    twice = generate_history(tmp_path / "twice", load_products(), cfg)
    assert _digests(again.zips) == _digests(twice.zips)
    assert [p.read_bytes() for p in again.zips] == [p.read_bytes() for p in twice.zips]  # the zips too
    other = generate_history(tmp_path / "other", load_products(), HistoryConfig(**{**cfg.__dict__, "seed": 8}))
    assert _digests(other.zips) != _digests(again.zips)
    # and the module fixture's first quarters do not depend on how many quarters follow
    part = generate_history(tmp_path / "part", load_products(), HistoryConfig(**{**SMALL.__dict__, "quarters": 3}))
    assert _digests(part.zips) == _digests(history.zips[:3])


def test_streams_one_quarter_at_a_time(tmp_path: Path) -> None:
    quarters = iter_history(tmp_path, load_products(), SMALL)
    first = next(quarters)  # a generator: one zip written, nothing else yet
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.path.name]
    state = _History(SMALL, load_products())
    for qi in range(len(state.sizes)):
        state.quarter(qi, tmp_path)
        assert len(state.pool) <= SMALL.followup_horizon  # the carried state is bounded
        assert not list(tmp_path.glob("*.part"))  # written through a temporary name


def test_cli_writes_the_first_quarters_and_refuses_a_bad_scale(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cgtvigil.cli import app

    runner = CliRunner()
    out = tmp_path / "zips"
    ok = runner.invoke(app, ["synth", "faers-history", str(out), "--quarters", "2", "--scale", "0.002"])
    assert ok.exit_code == 0, ok.output
    expected = sum(n for _, n in HistoryConfig(quarters=2, scale=0.002).sizes())  # 200 + 201
    assert "SYNTHETIC" in ok.output and f"{expected:,} reports" in ok.output
    assert sorted(p.name for p in out.glob("*.zip")) == ["aers_ascii_2004q1.zip", "aers_ascii_2004q2.zip"]
    bad = runner.invoke(app, ["synth", "faers-history", str(tmp_path / "no"), "--scale", "0", "--quarters", "0"])
    assert bad.exit_code != 0
    assert "--scale" in bad.output and "--quarters" in bad.output
    assert not (tmp_path / "no").exists()
