"""The embedded demo (`make demo`)."""

import secrets
import shutil
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pyarrow.compute as pc
import typer
from rich.table import Table
from rich.text import Text

from cgtvigil._validation import Problems, param_message
from cgtvigil.access import create_user
from cgtvigil.cli._app import _fail, _progress, _show_warnings, _unused, app, console, plain
from cgtvigil.cli._followup import seed_demo_followup
from cgtvigil.cli._genotox import seed_demo_genotox
from cgtvigil.cli._screening import _print_import, _print_top
from cgtvigil.config import Settings
from cgtvigil.errors import CgtVigilError, CgtVigilWarning
from cgtvigil.ingest import IntakeResult
from cgtvigil.model import Observation, ProductDictionary, SignalSpec
from cgtvigil.monitoring import (
    MonitoringRules,
    evaluate_forecast,
    evaluate_patient,
    load_forecast_models,
    register_patient,
    store_observations,
)
from cgtvigil.reports import write_signal_report
from cgtvigil.screening import ingest_faers, screen_store, write_result
from cgtvigil.store import STORE_STRATA, FaersStore, load_products, load_topics, operational_engine, session_factory
from cgtvigil.synth import (
    SYNTHETIC_NOTICE,
    SynthConfig,
    TrajectoryConfig,
    generate_faers,
    simulate_trajectories,
    wearable_temperature,
)

DEMO_USERS = {
    "scientist": ("safety_scientist", {"sponsor_products": ("yescarta", "tecartus")}),
    "investigator": ("site_investigator", {"site": "Site-A"}),
    "regulator": ("regulator_reviewer", {}),
    "patient": ("patient", {"patient_id": "SYN-0000"}),
    "admin": ("administrator", {}),
}


def seed_demo_operational(
    settings: Settings, products: ProductDictionary, patients: int = 12
) -> dict[str, tuple[str, str]]:
    """SYNTHETIC monitored patients (infused 1-12 days ago, two sites), their wearable
    temperature every 10 minutes and daily labs up to now (nothing dated later), evaluated into alerts; and one demo
    user per role with a random password (returned once)."""
    engine = operational_engine(settings.operational_url)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    daily, cohort = simulate_trajectories(TrajectoryConfig(patients=patients, days=12, seed=4))
    stream = wearable_temperature(daily, seed=4, every_minutes=10)
    passwords: dict[str, tuple[str, str]] = {}
    with session_factory(engine)() as session:
        for k, (pid, product) in enumerate(
            zip(cohort.column("patient_id").to_pylist(), cohort.column("product").to_pylist(), strict=True)
        ):
            day_now = 1 + k % 12
            day0 = now - timedelta(days=day_now)
            register_patient(
                session,
                products,
                patient=pid,
                site="Site-A" if k % 2 == 0 else "Site-B",
                product=product,
                infusion_date=day0.date(),
            )
            rows = stream.filter(pc.equal(stream.column("patient_id"), pid))
            obs = [
                Observation(
                    patient=pid,
                    kind="temperature",
                    value=float(t),
                    unit="Cel",
                    time=day0 + timedelta(minutes=int(m)),
                    source="omh",
                    device=f"patch-{pid}",
                )
                for m, t in zip(
                    rows.column("minute").to_pylist(), rows.column("temperature_c").to_pylist(), strict=True
                )
            ]
            labs = daily.filter(pc.equal(daily.column("patient_id"), pid)).to_pylist()
            for r in labs:
                t = day0 + timedelta(days=r["day"], hours=7)
                obs.append(
                    Observation(patient=pid, kind="crp", value=r["crp_mg_l"] / 10, unit="mg/dL", time=t, source="fhir")
                )
                obs.append(
                    Observation(patient=pid, kind="wbc", value=r["wbc_1e9_l"], unit="10^9/L", time=t, source="fhir")
                )
                for kind in ("crs_grade", "icans_grade"):
                    obs.append(
                        Observation(
                            patient=pid,
                            kind=kind,
                            value=float(r[kind]),
                            unit="{grade}",
                            time=t + timedelta(hours=1),
                            source="clinician",
                        )
                    )
            # up to now only: a day's labs at 07:00 and grades at 08:00 of the current day were
            # stored hours ahead (readings in the future are quarantined as FUTURE_TIME)
            store_observations(session, IntakeResult([o for o in obs if o.time <= now]), now)
            evaluate_patient(session, pid, MonitoringRules(), since=now - timedelta(days=2), now=now, products=products)
            if settings.forecast_model is not None:
                evaluate_forecast(session, pid, load_forecast_models(settings.forecast_model), now=now)
        for name, (role, extra) in DEMO_USERS.items():
            password = secrets.token_urlsafe(12)
            create_user(session, username=name, password=password, role=role, at=now, **extra)  # type: ignore[arg-type]
            passwords[name] = (role, password)
        session.commit()
    engine.dispose()
    return passwords


def fit_demo_models(folder: Path, bootstrap: int = 10) -> Path:
    """SYNTHETIC forecasting models for the demo's patient pages: a course model of CRS and one
    of ICANS (7 days ahead), each with ``bootstrap`` refits for the band, fitted on 120 simulated
    patients (another seed than the monitored ones); written as ``folder``/crs|icans.joblib."""
    import joblib

    from cgtvigil import __version__
    from cgtvigil.forecasting import CourseForecaster, DailyTable, bootstrap_refits

    folder.mkdir(parents=True, exist_ok=True)
    daily, _ = simulate_trajectories(TrajectoryConfig(patients=120, seed=5))
    table = DailyTable.from_columns({k: daily.column(k).to_numpy(zero_copy_only=False) for k in daily.column_names})
    for target in ("crs", "icans"):
        model = CourseForecaster(target=target, horizon=7).fit(table)
        saved = {
            "software": __version__,
            "family": "course",
            "forecaster": model,
            "inputs": model.inputs_,
            "feature_names": model.feature_names_,
            "bootstrap": bootstrap_refits(model, table, n=bootstrap),
            "note": "SYNTHETIC demo model (cgtvigil synth trajectories)",
        }
        joblib.dump(saved, folder / f"{target}.joblib")
    return folder


_MARKER = ".cgtvigil-demo"  # written into every demo output folder: only such a folder is replaced


def _samples(samples: Path, reports_per_quarter: int, port: int | None, serve: bool) -> list[Path]:
    """The real FAERS sample quarters (zips or unpacked folders) in ``samples``, with the other
    options checked; one message for every problem."""
    problems = Problems()
    real: list[Path] = []
    if not samples.is_dir():
        problems.add(
            f"The '--samples' option must name a folder of real FAERS sample quarters. Got '{samples}', "
            "which is not a folder (run the demo from the repository folder, or give --samples)."
        )
    else:
        real = sorted(p for p in samples.iterdir() if p.suffix.lower() == ".zip" or p.is_dir())
        if not real:
            problems.add(f"The '--samples' folder {samples} holds no FAERS quarter (a .zip or an unpacked folder).")
    if reports_per_quarter < 1:
        problems.add(param_message("--reports-per-quarter", "cgtvigil demo", "an integer >= 1", reports_per_quarter))
    if port is not None and not 1 <= port <= 65535:
        problems.add(param_message("--port", "cgtvigil demo", "a port number in 1..65535", port))
    if not serve:
        _unused("with --no-serve (no web application is started)", problems, port=port is not None)
    problems.raise_if_any()
    return real


def _fresh(out: Path) -> None:
    """An empty output folder: an earlier demo's folder is replaced, any other folder with
    files in it is refused (``--out`` naming a folder of your own must not delete it)."""
    if out.exists():
        if not out.is_dir():
            raise CgtVigilError(f"{out}: not a folder; give --out a folder for the demo's files.")
        if any(out.iterdir()) and not ((out / _MARKER).exists() or (out / "demo.duckdb").exists()):
            raise CgtVigilError(
                f"{out}: the folder holds files that are not an earlier demo's; give --out an empty or new folder."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / _MARKER).write_text("cgtvigil demo output; 'cgtvigil demo' replaces this folder.\n", "utf-8")


@app.command("demo")
def demo_cmd(
    out: Annotated[Path | None, typer.Option(help="Output folder (default: $CGTVIGIL_OUTPUT/demo).")] = None,
    samples: Annotated[Path, typer.Option(help="Folder of shipped real FAERS samples.")] = Path("data/samples/faers"),
    reports_per_quarter: Annotated[int, typer.Option(help="Synthetic reports per quarter.")] = 20_000,
    serve: Annotated[bool, typer.Option(help="Serve the web application when the data are ready.")] = True,
    port: Annotated[int | None, typer.Option(help="Port of the web application on 127.0.0.1 (default 8000).")] = None,
) -> None:
    """The embedded demo: real FAERS samples plus a SYNTHETIC CGT-calibrated set screened into an
    HTML signal report, SYNTHETIC monitored patients with alerts, one demo user per role (random
    passwords printed once), then the web application on 127.0.0.1."""
    settings = Settings.from_env()
    out = out or settings.output_dir / "demo"
    try:
        real = _samples(samples, reports_per_quarter, port, serve)
        _fresh(out)
        products = load_products()
        with _progress("synthesise") as progress:
            synth = generate_faers(
                out / "synthetic", products, SynthConfig(reports_per_quarter=reports_per_quarter), progress=progress
            )
        with FaersStore(out / "demo.duckdb") as store:
            with _progress("ingest") as progress:
                report = ingest_faers([*real, *synth.zips], store, products, progress=progress)
            _print_import(report)
            with warnings.catch_warnings(record=True) as caught, _progress("screen") as progress:
                warnings.simplefilter("always", CgtVigilWarning)
                spec = SignalSpec(strata=STORE_STRATA)
                result = screen_store(store, spec, products, load_topics(), progress=progress)
            _show_warnings(caught)
        write_result(result, out / "cgt_screen.parquet")
        write_result(result, out / "cgt_screen.csv")
        (out / "import_report.json").write_text(report.to_json(), "utf-8")
        html = write_signal_report(
            out / "signal_report.html",
            result.table,
            result.metadata,
            title="cgtvigil demo: CGT signal screen",
            imports=[f.__dict__ for f in report.files],
            cases=report.cases,
            notices=[
                f"Demo data: {len(real)} real FAERS/AERS sample quarters (100 reports each) plus "
                f"{synth.reports:,} SYNTHETIC reports. {SYNTHETIC_NOTICE} Numbers illustrate the method only."
            ],
        )
    except (CgtVigilError, OSError) as exc:
        _fail(exc)
    _print_top(result, 15)
    console.print(Text.assemble("\n", ("Signal report:", "bold green"), " ", plain(html.resolve())))
    web = Settings(
        db=out / "demo.duckdb",
        output_dir=out,
        operational_url=f"sqlite:///{(out / 'operational.db').resolve()}",
        screen_result=out / "cgt_screen.parquet",
        secret_key=secrets.token_urlsafe(32),
        forecast_model=fit_demo_models(out / "models"),  # SYNTHETIC risk curves on the patient pages
    )
    passwords = seed_demo_operational(web, products)
    seed_demo_followup(web)  # SYNTHETIC long-term follow-up cohort (issue 12)
    seed_demo_genotox(web)  # integration sites (the CCND2 clone), VCN, off-target results
    table = Table(title="Demo users (passwords generated now, shown once, never stored in clear)")
    for c in ("user", "role", "password"):
        table.add_column(c)
    for name, (role, password) in passwords.items():
        table.add_row(name, role, password)
    console.print(table)
    if serve:
        import uvicorn

        from cgtvigil.api import create_app

        port = port or 8000
        console.print(f"[bold green]cgtvigil is running:[/] http://127.0.0.1:{port}/  (Ctrl-C to stop)")
        uvicorn.run(create_app(web), host="127.0.0.1", port=port, log_level="warning")
