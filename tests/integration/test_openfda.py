"""openFDA drug/event bulk files and FAERS XML into the canonical case, and the API client
against a local server replaying the openFDA fixtures (no network)."""

from __future__ import annotations

import copy
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest
from typer.testing import CliRunner

from cgtvigil.cli import app
from cgtvigil.ingest import (
    OpenFdaClient,
    OpenFdaLimits,
    RetryPolicy,
    faers_links,
    openfda_case,
    read_faers_xml,
    read_openfda,
)
from cgtvigil.store import CaseStore, load_products

runner = CliRunner()


def _record(shared: Path) -> dict[str, Any]:
    rec: dict[str, Any] = json.loads((shared / "openfda" / "event.postannotation.json").read_text("utf-8"))
    return rec


def _partition(tmp_path: Path, records: list[dict[str, Any]], name: str = "drug-event-0001-of-0001.json") -> Path:
    path = tmp_path / (name + ".zip")
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, json.dumps({"meta": {"last_updated": "2026-11-30"}, "results": records}))
    return path


def _small(shared: Path, rid: str, version: str | None = None) -> dict[str, Any]:
    rec = _record(shared)
    rec["safetyreportid"] = rid
    rec.pop("@case_number")
    rec["patient"]["drug"] = rec["patient"]["drug"][:2]
    rec["patient"]["reaction"] = rec["patient"]["reaction"][:3]
    if version is not None:
        rec["safetyreportversion"] = version
    return rec


def test_faers_xml_reads_into_the_same_case_as_openfda_json(shared: Path) -> None:
    """FDA's own pipeline fixtures (FDA/openfda openfda/faers/tests/data): event.sgm is the FAERS
    XML of report 4562564-7 and event.preannotation.json its openFDA JSON; both give one case
    with the 86 reactions and 23 drugs listed in those files."""
    part = read_faers_xml(shared / "openfda" / "event.sgm")
    assert (part.read, len(part.loaded), part.quarantined) == (1, 1, [])
    case = part.loaded[0].case
    pre, _, _ = openfda_case(json.loads((shared / "openfda" / "event.preannotation.json").read_text("utf-8")))
    assert case == pre
    assert (case.safety_report_id, case.case_id) == ("4562564-7", "4562564")
    assert (len(case.reactions), len(case.drugs)) == (86, 23)
    assert case.first_received == "20050127" and case.most_recent == "20030407"
    assert case.patient.age is not None and (case.patient.age.value, case.patient.age.unit) == ("62", "a")
    assert case.drugs[0].name == "VIOXX" and case.drugs[0].role is not None and case.drugs[0].role.code == "1"
    assert case.reactions[0].hospitalisation is True and case.serious
    assert ("company", "US-MERCK-0304USA00739") in case.other_ids


def test_bulk_partition_is_streamed_and_every_record_accounted_for(shared: Path, tmp_path: Path) -> None:
    """30 records made from FDA's fixture record: 2 broken (no safetyreportid; a reaction without
    reactionmeddrapt), one with a Kymriah drug named only by openFDA's harmonised block; read in
    4 KiB chunks so records cross chunk boundaries."""
    records = [_small(shared, f"{100 + i}") for i in range(30)]
    del records[5]["safetyreportid"]
    del records[9]["patient"]["reaction"][1]["reactionmeddrapt"]
    records[12]["patient"]["drug"][0] = {
        "medicinalproduct": "CAR-T CELLS",
        "drugcharacterization": "1",
        "openfda": {"brand_name": ["KYMRIAH"], "generic_name": ["TISAGENLECLEUCEL"]},
    }
    path = _partition(tmp_path, records)
    batches: list[tuple[int, int]] = []
    part = read_openfda(
        path,
        products=load_products(),
        limits=OpenFdaLimits(chunk_bytes=4096),
        on_batch=lambda p: batches.append((len(p.loaded), len(p.quarantined))),
        batch_size=7,
    )
    assert part.read == 30 and sum(a + b for a, b in batches) == 30
    assert sum(b for _, b in batches) == 2
    assert part.meta == {"meta": {"last_updated": "2026-11-30"}}
    whole = read_openfda(path, products=load_products())
    assert {(q.reason, q.xpath) for q in whole.quarantined} == {
        ("MISSING_FIELD", "results[5].safetyreportid"),
        ("MISSING_FIELD", "results[9].patient.reaction[1].reactionmeddrapt"),
    }
    matched = [(r.case.safety_report_id, m.product_id, m.field) for r in whole.loaded for m in r.product_matches]
    assert matched == [("112", "kymriah", "openfda.brand_name")]
    # the harmonised block is a candidate mapping: it is not written into the case
    assert next(r for r in whole.loaded if r.case.safety_report_id == "112").case.drugs[0].name == "CAR-T CELLS"


def test_faers_links_keep_the_highest_version() -> None:
    """formats.md §1.5: per caseid the highest version is kept; a tie keeps the FAERS row."""
    links = faers_links({"1": "3", "2": "1", "3": None, "9": "1"}, {"1": ("12", 2), "2": ("21", 1), "3": ("31", 1)})
    assert [(k.case_id, k.kept) for k in links] == [("1", "openfda"), ("2", "faers"), ("3", "faers")]


def test_cli_ingest_openfda_is_idempotent_and_links_faers(shared: Path, tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE report AS SELECT '100' AS caseid, '1002' AS primaryid, 2 AS caseversion")
    con.close()
    path = _partition(tmp_path, [_small(shared, "100", "3"), _small(shared, "101", "1")])
    report = tmp_path / "r.json"
    res = runner.invoke(
        app,
        ["ingest", "openfda", str(path), str(shared / "openfda" / "event.sgm"), "--db", str(db), "--report-json",
         str(report)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    files = json.loads(report.read_text())["files"]
    assert [(f["read"], f["loaded"], f["quarantined"], f["new"]) for f in files] == [(2, 2, 0, 2), (1, 1, 0, 1)]
    assert files[0]["faers_links"] == [
        {"case_id": "100", "openfda_version": "3", "faers_primaryid": "1002", "faers_version": 2, "kept": "openfda"}
    ]
    again = runner.invoke(app, ["ingest", "openfda", str(path), "--db", str(db), "--report-json", str(report)])
    assert again.exit_code == 0 and json.loads(report.read_text())["files"][0]["new"] == 0
    with CaseStore(db, read_only=True) as store:
        assert {c.case_id for c in store.current_cases()} == {"100", "101", "4562564"}


# ---------------------------------------------------------------- the API client


class _Replay(BaseHTTPRequestHandler):
    """openFDA-like: `limit`/`skip` paging, a search_after Link from the third page on, one 429
    (Retry-After: 0) and one 503 before the second page, 404 NOT_FOUND for an unknown search."""

    records: ClassVar[list[dict[str, Any]]] = []
    failures: ClassVar[list[int]] = []
    seen: ClassVar[list[dict[str, list[str]]]] = []

    def do_GET(self) -> None:
        q = parse_qs(urlparse(self.path).query)
        self.seen.append(q)
        if q.get("search") == ["nothing"]:
            return self._send(404, {"error": {"code": "NOT_FOUND", "message": "No matches found!"}})
        if "skip" in q and self.failures:
            code = self.failures.pop(0)
            return self._send(code, {"error": {"code": "BUSY"}}, {"Retry-After": "0"} if code == 429 else {})
        limit = int(q["limit"][0])
        start = int(q["search_after"][0]) if "search_after" in q else int(q.get("skip", ["0"])[0])
        page = self.records[start : start + limit]
        headers = {}
        end = start + len(page)
        if end < len(self.records) and start >= 2 * limit:
            headers["Link"] = (
                f'<http://{self.headers["Host"]}/drug/event.json?limit={limit}&search_after={end}>; rel="next"'
            )
        body = {"meta": {"results": {"skip": start, "limit": limit, "total": len(self.records)}}, "results": page}
        self._send(200, body, headers)

    def _send(self, code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(shared: Path):  # type: ignore[no-untyped-def]
    base = _record(shared)
    _Replay.records = []
    for i in range(23):
        rec = copy.deepcopy(base)
        rec["safetyreportid"] = f"{5000 + i}"
        _Replay.records.append(rec)
    _Replay.failures = [429, 503]
    _Replay.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Replay)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_client_pages_by_skip_then_search_after_and_retries(server: str) -> None:
    """23 records by 5: pages 1-2 by skip (a 429 and a 503 retried before page 2), then the
    server's search_after links; the key goes on every request."""
    waits: list[float] = []
    with OpenFdaClient(server, api_key="K", retry=RetryPolicy(backoff=0.5), sleep=waits.append) as client:
        got = [r["safetyreportid"] for r in client.search('patient.drug.openfda.brand_name:"X"', page_size=5)]
    assert got == [f"{5000 + i}" for i in range(23)]
    assert waits == [0.0, 1.0]  # Retry-After: 0, then the doubled back-off
    assert all(q.get("api_key") == ["K"] for q in _Replay.seen)
    assert any("search_after" in q for q in _Replay.seen)
    with OpenFdaClient(server, sleep=waits.append) as client:
        assert [r["safetyreportid"] for r in client.search(limit=7, page_size=5)] == [f"{5000 + i}" for i in range(7)]
        assert list(client.search("nothing")) == []


def test_cli_fetch_then_ingest(server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CGTVIGIL_OPENFDA_URL", server)
    monkeypatch.setenv("CGTVIGIL_OPENFDA_API_KEY", "K")
    _Replay.failures = []
    out = tmp_path / "kymriah.json"
    res = runner.invoke(app, ["fetch", "openfda", "--out", str(out), "--search", "x", "--limit", "4"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(out.read_text())["results"]) == 4
    res = runner.invoke(app, ["ingest", "openfda", str(out), "--db", str(tmp_path / "d.duckdb")])
    assert res.exit_code == 0, res.output
