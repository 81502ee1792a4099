"""Every query service honours every scope (issue 11): the same registry (two sites, two
products, an alert of an id missing from the registry) read under the scope of each role, and
of an account whose scope is empty. Patient-level services return exactly the patients in
scope and answer NotFoundError, not a smaller answer, outside it; aggregates cover only the
products in scope; screens need the screen scope. SQLite and PostgreSQL; the FAERS screen is
the real 2017Q2 sample."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from cgtvigil.access import Scope, scope_for
from cgtvigil.errors import NotFoundError, NotInScopeError
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation, SignalSpec
from cgtvigil.monitoring import (
    MonitoringRules,
    act_on_alert,
    alert_views,
    board,
    epro_reports,
    observation_points,
    patient_summary,
    raise_alert,
    register_patient,
    store_observations,
)
from cgtvigil.screening import (
    ScreenCache,
    SignalFilters,
    case_page,
    ingest_faers,
    product_profile,
    registry_aggregates,
    screen_store,
    signal_csv,
    signal_page,
    write_result,
)
from cgtvigil.store import FaersStore, UserRow, load_products, load_topics, operational_engine, session_factory

NOW = datetime.now(UTC)
PATIENTS = ("P-A1", "P-B1", "P-X9")  # P-X9: alerts only, not in the registry
USERS = {
    "administrator": UserRow(username="adm", role="administrator"),
    "site_investigator": UserRow(username="inv", role="site_investigator", site="A"),
    "safety_scientist": UserRow(username="sci", role="safety_scientist", sponsor_products=["kymriah"]),
    "regulator_reviewer": UserRow(username="reg", role="regulator_reviewer"),
    "patient": UserRow(username="pat", role="patient", patient_id="P-A1"),
    "unknown role": UserRow(username="odd", role="auditor"),
    "scientist without products": UserRow(username="sci0", role="safety_scientist", sponsor_products=[]),
}
# scope -> the patients it may see at patient level
SEES = {
    "administrator": {"P-A1", "P-B1", "P-X9"},
    "site_investigator": {"P-A1"},
    "safety_scientist": {"P-A1"},
    "regulator_reviewer": set(),
    "patient": {"P-A1"},
    "unknown role": set(),
    "scientist without products": set(),
}
AGGREGATES = {
    "administrator": {"kymriah", "yescarta"},
    "safety_scientist": {"kymriah"},
    "regulator_reviewer": {"kymriah", "yescarta"},
}
SCREENS = {"administrator", "safety_scientist", "regulator_reviewer", "scientist without products"}
BOARD = {"administrator", "site_investigator", "safety_scientist"}  # the patient's own account has no board
ACTS = {"administrator", "site_investigator"}


@pytest.fixture(scope="module")
def screen(tmp_path_factory: pytest.TempPathFactory, faers_samples: Path) -> tuple[Path, ScreenCache]:
    tmp = tmp_path_factory.mktemp("scope")
    db = tmp / "faers.duckdb"
    with FaersStore(db) as store:
        ingest_faers([faers_samples / "faers_ascii_2017q2.zip"], store, load_products())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a 100-report sample has many zero cells
            result = screen_store(store, SignalSpec(products_only=False, strata=()), load_products(), load_topics())
    write_result(result, tmp / "screen.parquet")
    return db, ScreenCache(tmp / "screen.parquet")


@pytest.fixture
def session(operational_url: str):  # type: ignore[no-untyped-def]
    engine = operational_engine(operational_url)
    products = load_products()
    with session_factory(engine)() as s:
        for pid, site, product in (("P-A1", "A", "kymriah"), ("P-B1", "B", "yescarta")):
            register_patient(
                s, products, patient=pid, site=site, product=product, infusion_date=NOW.date() - timedelta(days=3)
            )
        obs = [
            Observation(
                patient=p, kind=k, value=v, unit=u, time=NOW - timedelta(hours=h), source="fhir", device="dev-1"
            )
            for p in ("P-A1", "P-B1")
            for h in (2, 30)
            for k, v, u in (
                ("temperature", 38.4, "Cel"),
                ("crs_grade", 3.0, "{grade}"),
                ("symptom:cgt_fever", 1.0, "1"),
            )
        ]
        store_observations(s, IntakeResult(obs), NOW)
        for p in PATIENTS:
            raise_alert(s, p, "sensor_fever", "high", "temperature >= 38.0 °C", NOW, MonitoringRules())
        s.commit()
        yield s
    engine.dispose()


def _ids_or_none(call, pid):  # type: ignore[no-untyped-def]
    try:
        return call(pid)
    except NotFoundError:
        return None


@pytest.mark.parametrize("who", USERS)
def test_patient_level_services_honour_the_scope(session: Session, who: str) -> None:
    scope = scope_for(USERS[who])
    products = load_products()
    sees = SEES[who]
    services = {
        "summary": lambda p: patient_summary(session, scope, products, p, NOW),
        "observations": lambda p: observation_points(session, scope, p),
        "alerts": lambda p: alert_views(session, scope, NOW, patient_id=p),
        "epro": lambda p: epro_reports(session, scope, p, NOW),
    }
    for name, call in services.items():
        reached = {p for p in PATIENTS if _ids_or_none(call, p) is not None}
        assert reached == sees, (who, name)
    for p in sees & {"P-A1", "P-B1"}:  # what is returned is the patient's own data
        assert {o["kind"] for o in observation_points(session, scope, p)} == {
            "temperature",
            "crs_grade",
            "symptom:cgt_fever",
        }
        assert [a.patient_id for a in alert_views(session, scope, NOW, patient_id=p)] == [p]
        assert epro_reports(session, scope, p, NOW)[0].answers == {"cgt_fever": True}
    if scope.patient_level:
        assert {a.patient_id for a in alert_views(session, scope, NOW)} == sees
    else:
        with pytest.raises(NotInScopeError):
            alert_views(session, scope, NOW)


@pytest.mark.parametrize("who", USERS)
def test_board_and_alert_actions_honour_the_scope(session: Session, who: str) -> None:
    scope = scope_for(USERS[who])
    if who in BOARD:
        found = board(session, scope, load_products(), NOW)
        assert {r.id for r in found.rows} | {r.id for r in found.unregistered} == SEES[who]
        assert all(r.next_deadline is not None and r.open == 1 for r in found.rows)
    else:
        with pytest.raises(NotInScopeError):
            board(session, scope, load_products(), NOW)
    for view in alert_views(session, scope_for(USERS["administrator"]), NOW):
        pid = view.patient_id
        if pid not in SEES[who]:  # another scope's alert id: the same answer as a missing one
            with pytest.raises(NotFoundError):
                act_on_alert(session, scope, view.id, "acknowledge", NOW)
        elif who not in ACTS:
            with pytest.raises(NotInScopeError):
                act_on_alert(session, scope, view.id, "acknowledge", NOW)
        else:
            done = act_on_alert(session, scope, view.id, "acknowledge", NOW, note="seen")
            assert done.status == "acknowledged" and done.history[-1].by == USERS[who].username
    with pytest.raises(NotFoundError):
        act_on_alert(session, scope, 10_000, "resolve", NOW)
    session.rollback()


@pytest.mark.parametrize("who", USERS)
def test_aggregate_and_screen_services_honour_the_scope(
    session: Session, screen: tuple[Path, ScreenCache], who: str
) -> None:
    db, cache = screen
    scope = scope_for(USERS[who])
    products = load_products()
    if who in AGGREGATES:
        found = registry_aggregates(session, scope, products)
        assert {r.product_id for r in found.rows} == AGGREGATES[who]
        assert all(r.patients == "<5" for r in found.rows)  # one patient a product: suppressed
    else:
        with pytest.raises(NotInScopeError):
            registry_aggregates(session, scope, products)
    calls = (
        lambda: signal_page(cache, scope, SignalFilters(), products),
        lambda: signal_csv(cache, scope, SignalFilters(), products),
        lambda: case_page(db, scope, "risperidone", "ABNORMAL WEIGHT GAIN"),
        lambda: product_profile(cache, scope, products, "kymriah"),
    )
    for call in calls:
        if who in SCREENS:
            call()  # the public screens: every screen reader sees all of them
        else:
            with pytest.raises(NotInScopeError):
                call()


def test_an_empty_scope_sees_nothing(session: Session) -> None:
    scope = Scope(actor="nobody")
    assert not scope.patient_level
    for p in PATIENTS:
        with pytest.raises(NotFoundError):
            patient_summary(session, scope, load_products(), p, NOW)


# scope -> the risk registers it reads (None: none at all) and whether it edits them (issue 15)
REGISTERS = {
    "administrator": ({"kymriah", "yescarta"}, True),
    "safety_scientist": ({"kymriah"}, True),
    "regulator_reviewer": ({"kymriah", "yescarta"}, False),
}


@pytest.mark.parametrize("who", USERS)
def test_risk_register_services_honour_the_scope(session: Session, who: str) -> None:
    from cgtvigil.risk_management import (
        register_alignment,
        register_index,
        register_indicators,
        register_view,
        save_register,
        starting_registers,
    )

    scope = scope_for(USERS[who])
    products = load_products()
    reads, edits = REGISTERS.get(who, (None, False))
    services = {
        "view": lambda p: register_view(session, scope, products, p),
        "alignment": lambda p: register_alignment(session, scope, products, p, NOW.date()),
        "indicators": lambda p: register_indicators(session, scope, products, p, NOW),
    }
    for call in services.values():
        for p in ("kymriah", "yescarta"):
            if reads is None:
                with pytest.raises(NotInScopeError):
                    call(p)
            elif p in reads:
                call(p)
            else:
                with pytest.raises(NotFoundError):
                    call(p)
    if reads is None:
        with pytest.raises(NotInScopeError):
            register_index(session, scope, products, NOW.date())
    else:
        listed = {r.product_id for r in register_index(session, scope, products, NOW.date())}
        assert listed & {"kymriah", "yescarta"} == reads
    kymriah = starting_registers().registers["kymriah"].model_copy(update={"notes": "edited"})
    if edits:
        assert save_register(session, scope, products, kymriah, at=NOW, note="n").version == 2
    else:
        with pytest.raises((NotInScopeError, NotFoundError)):
            save_register(session, scope, products, kymriah, at=NOW, note="n")
    session.rollback()


@pytest.mark.parametrize("who", USERS)
def test_genotox_services_honour_the_scope(session: Session, who: str, tmp_path: Path) -> None:
    """Integration sites of P-A1, P-B1 and P-X9 (not in the registry): each scope sees exactly
    its patients' sites and series; another patient is NotFoundError; aggregate-only and empty
    scopes are NotInScopeError for the per-sample statistics."""
    from cgtvigil.genotox import patient_genotox, read_long_sites, sample_stats, store_sites

    sites = tmp_path / "sites.csv"
    sites.write_text(
        "patient,sample,time_point,cell_type,chr,position,strand,nearest_gene,abundance\n"
        + "".join(f"{p},{p}-S1,m6,Tcells,chr1,{1000 + k},+,G{k},{k + 1}\n" for p in PATIENTS for k in range(3)),
        encoding="utf-8",
    )
    store_sites(session, read_long_sites(sites, genome="hg38"), NOW, watchlist=[])
    session.flush()
    scope = scope_for(USERS[who])
    sees = SEES[who]
    for p in PATIENTS:
        if p in sees:
            assert patient_genotox(session, scope, p).samples[0].n_is == 3
        elif scope.patient_level:
            with pytest.raises(NotFoundError):
                patient_genotox(session, scope, p)
        else:
            with pytest.raises(NotInScopeError):
                patient_genotox(session, scope, p)
    if scope.patient_level:
        assert {s.patient_id for s in sample_stats(session, scope)} == sees
    else:
        with pytest.raises(NotInScopeError):
            sample_stats(session, scope)
    session.rollback()


# scope -> the signals of the workflow it sees (issue 15): a sponsor its products', a reviewer the
# ones shared with them, an administrator all; and whether it may write signals
SIGNALS = {
    "administrator": {"kymriah", "yescarta"},
    "safety_scientist": {"kymriah"},
    "regulator_reviewer": {"yescarta"},  # shared with "reg"
}
SIGNAL_WRITERS = {"administrator", "safety_scientist"}


@pytest.mark.parametrize("who", USERS)
def test_signal_services_honour_the_scope(session: Session, who: str) -> None:
    from cgtvigil.signal_management import (
        case_series_draft,
        create_signal,
        list_signals,
        load_timelines,
        share_signal,
        signal_detail,
    )
    from cgtvigil.store import UserRow as User

    session.add(User(username="reg", password_hash="", role="regulator_reviewer"))
    admin = scope_for(USERS["administrator"])
    ids = {}
    for pid, product in (("P-A1", "kymriah"), ("P-B1", "yescarta")):
        draft = case_series_draft(session, admin, product, "pt", "PYREXIA", [pid], source="registry")
        ids[product] = create_signal(session, admin, draft, at=NOW, timelines=load_timelines()).id
    share_signal(session, admin, ids["yescarta"], "reg", at=NOW)
    scope = scope_for(USERS[who])
    sees = SIGNALS.get(who, set())
    assert {s.product_id for s in list_signals(session, scope, NOW, state="all")} == sees
    for product, signal_id in ids.items():
        if product in sees:
            found = signal_detail(session, scope, signal_id, NOW)
            # registry patient ids only at patient level
            assert found.evidence[0].withheld == (not scope.patient_level)
        else:
            with pytest.raises(NotFoundError):
                signal_detail(session, scope, signal_id, NOW)
    draft = case_series_draft(session, admin, "kymriah", "pt", "FEVER", ["P-A1"], source="registry")
    if who in SIGNAL_WRITERS:
        assert create_signal(session, scope, draft, at=NOW, timelines=load_timelines()).product_id == "kymriah"
    else:
        with pytest.raises(NotInScopeError):
            create_signal(session, scope, draft, at=NOW, timelines=load_timelines())
    session.rollback()


# scope -> the ICSRs of the case store it sees (issue 13): a sponsor the cases of its products,
# a regulator those of public sources and those submitted to a regulator, an administrator all
CASES_SEEN = {
    "administrator": {"US-K", "US-Y", "OF-1"},
    "safety_scientist": {"US-K"},
    "regulator_reviewer": {"OF-1", "US-Y"},  # US-Y was submitted
    "scientist without products": None,  # NotInScopeError
}


@pytest.mark.parametrize("who", USERS)
def test_case_services_honour_the_scope(session: Session, who: str, tmp_path: Path) -> None:
    from sqlalchemy import select

    from cgtvigil.cases import Reference, case_detail, case_list, record_submissions
    from cgtvigil.model import Code, Drug, IcsrCase, Reaction
    from cgtvigil.store import AuditRow, CaseStore, StoredReport, load_safety_info

    def case(cid: str, drug: str) -> IcsrCase:
        return IcsrCase(
            safety_report_id=cid, drugs=(Drug(role=Code(code="1"), name=drug),), reactions=(Reaction(death=True),)
        )

    db = tmp_path / "cases.duckdb"
    made = [(case("US-K", "KYMRIAH"), "e2b"), (case("US-Y", "YESCARTA"), "e2b"), (case("OF-1", "ASPIRIN"), "openfda")]
    with CaseStore(db) as store:
        store.add([StoredReport(c, src, "f", c.safety_report_id, "/x", "t") for c, src in made], [])
    record_submissions(session, [made[1][0]], receiver="ZZFDA", batch_id="B1", actor="adm", at=NOW)
    session.commit()
    topics = load_topics()
    ref = Reference(products=load_products(), rsi=load_safety_info(topics=topics), topics=topics)
    scope = scope_for(USERS[who])
    expected = CASES_SEEN.get(who)
    before = len(session.scalars(select(AuditRow)).all())
    if expected is None:
        with pytest.raises(NotInScopeError):
            case_list(db, session, scope, ref, today=NOW.date(), now=NOW)
        with pytest.raises(NotInScopeError):
            case_detail(db, session, scope, ref, "US-K", today=NOW.date(), now=NOW)
        return
    listed = case_list(db, session, scope, ref, today=NOW.date(), now=NOW)
    assert {r.case_id for r in listed.rows} == expected
    for c, _ in made:
        cid = c.safety_report_id
        if cid in expected:
            assert case_detail(db, session, scope, ref, cid, today=NOW.date(), now=NOW).case == c
        else:
            with pytest.raises(NotFoundError):  # not told apart from a case that does not exist
                case_detail(db, session, scope, ref, cid, today=NOW.date(), now=NOW)
    actions = [a.action for a in session.scalars(select(AuditRow).order_by(AuditRow.id)).all()[before:]]
    assert actions == ["cases.list"] + ["cases.read"] * len(expected)  # every patient-level read is audited
