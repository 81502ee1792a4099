"""Settings, read once at the top (L5) and passed down as arguments."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cgtvigil.errors import CgtVigilError

if TYPE_CHECKING:
    from cgtvigil.monitoring import Notifier

__all__ = ["Settings"]

_TRUE = ("1", "true", "yes", "on")


def _minutes(name: str, default: float) -> timedelta:
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise CgtVigilError(f"{name} must be a number of minutes. Got {raw!r}.") from None
    if not 0 < value <= 7 * 24 * 60:
        raise CgtVigilError(f"{name} must be between 0 and 10080 minutes (a week). Got {raw!r}.")
    return timedelta(minutes=value)


def _count(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise CgtVigilError(f"{name} must be a positive whole number. Got {raw!r}.")
    return int(raw)


def _seconds(name: str, default: float) -> timedelta | None:
    """A period in seconds; 0 turns the thing off (None)."""
    raw = os.environ.get(name, "")
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise CgtVigilError(f"{name} must be a number of seconds. Got {raw!r}.") from None
    if not 0 <= value <= 24 * 3600:
        raise CgtVigilError(f"{name} must be between 0 (off) and 86400 seconds (a day). Got {raw!r}.")
    return timedelta(seconds=value) if value else None


_SIZE = re.compile(r"\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)", re.IGNORECASE)


def _memory_limit(name: str, default: str) -> str:
    """A DuckDB memory size such as 2GB or 512MiB."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not _SIZE.fullmatch(raw):
        raise CgtVigilError(f"{name} must be a memory size such as 2GB, 512MB or 4GiB. Got {raw!r}.")
    return raw


def _secret(name: str) -> str:
    """NAME_FILE (a file readable by the service only) or NAME."""
    path = os.environ.get(f"{name}_FILE", "")
    if path:
        try:
            return Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise CgtVigilError(f"{name}_FILE={path}: cannot read it ({exc}).") from exc
    return os.environ.get(name, "")


def _smtp_security() -> str:
    raw = os.environ.get("CGTVIGIL_SMTP_SECURITY", "starttls").strip().lower()
    if raw not in ("starttls", "ssl", "none"):
        raise CgtVigilError(f"CGTVIGIL_SMTP_SECURITY must be starttls, ssl or none. Got {raw!r}.")
    return raw


def _audit_key() -> str:
    """CGTVIGIL_AUDIT_KEY_FILE (a file readable by the service only) or CGTVIGIL_AUDIT_KEY."""
    path = os.environ.get("CGTVIGIL_AUDIT_KEY_FILE", "")
    if path:
        try:
            key = Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise CgtVigilError(f"CGTVIGIL_AUDIT_KEY_FILE={path}: cannot read the audit key ({exc}).") from exc
        if len(key) < 32:
            raise CgtVigilError(f"CGTVIGIL_AUDIT_KEY_FILE={path}: the key must have at least 32 characters.")
        return key
    return os.environ.get("CGTVIGIL_AUDIT_KEY", "")


@dataclass(frozen=True)
class Settings:
    """Where cgtvigil keeps its files and how it is deployed. Environment: CGTVIGIL_DB,
    CGTVIGIL_OUTPUT, CGTVIGIL_OPERATIONAL_URL (SQLAlchemy URL of the operational store),
    CGTVIGIL_SCREEN_RESULT (the screen shown on the signals page), CGTVIGIL_SECRET_KEY (session
    signing key, the same for every server process; required to serve), CGTVIGIL_BEHIND_TLS
    (1: the users reach the server over HTTPS, so cookies are Secure and HSTS is sent),
    CGTVIGIL_WORKER_CONCURRENCY (default 4: requests one server process computes at once, the
    others waiting their turn in arrival order),
    CGTVIGIL_SESSION_IDLE_MINUTES (default 30), CGTVIGIL_SESSION_LIFETIME_MINUTES (default
    720), CGTVIGIL_AUDIT_KEY_FILE or CGTVIGIL_AUDIT_KEY (the key of the audit chain and row
    seals, kept outside the database), CGTVIGIL_PUBLIC_URL (the address users open, for the
    links printed by `cgtvigil users`), CGTVIGIL_ESCALATION_INTERVAL_SECONDS (default 60; 0: the
    server does not escalate or send notifications itself, a timer runs `cgtvigil monitor
    escalate`), CGTVIGIL_FOLLOWUP_INTERVAL_SECONDS (default 3600; 0: the server does not run the
    follow-up round, a timer runs `cgtvigil followup transition`), CGTVIGIL_SMTP_HOST,
    CGTVIGIL_SMTP_PORT (default 587), CGTVIGIL_SMTP_SECURITY
    (starttls, ssl or none), CGTVIGIL_SMTP_USER, CGTVIGIL_SMTP_PASSWORD_FILE or
    CGTVIGIL_SMTP_PASSWORD, CGTVIGIL_SMTP_FROM (the mail server and sender of alert e-mails),
    CGTVIGIL_OPENFDA_API_KEY_FILE or CGTVIGIL_OPENFDA_API_KEY and CGTVIGIL_OPENFDA_URL (the openFDA API),
    CGTVIGIL_SIGNAL_TIMELINES (a JSON file of days per signal state, the deployment's GVP IX SOP),
    CGTVIGIL_SPARK_MASTER (where `signals --engine spark` runs: empty for local mode on every
    core, a master URL such as spark://host:7077 or yarn, or a Spark Connect URL sc://host:15002),
    CGTVIGIL_SPARK_EXPORT_DIR (where the store's Parquet export for Spark is written: on a
    cluster, a folder every executor reads; default the system's temporary folder),
    CGTVIGIL_DUCKDB_MEMORY_LIMIT (DuckDB's memory while a screen or the pair features count, and
    on the FAERS store's own connection during an ingest (the case rebuild) and a screen of the
    store; default 2GB: above it DuckDB spills to disk instead of growing) and
    CGTVIGIL_DUCKDB_TEMP_DIR (where DuckDB spills; default for the long-file screen a folder of
    its own in the system's temporary folder, removed when the count is done, and for the store
    DuckDB's ``<store file>.tmp`` beside it)."""

    db: Path = Path("cgtvigil.duckdb")
    output_dir: Path = Path("cgtvigil-output")
    operational_url: str = "sqlite:///cgtvigil-operational.db"
    screen_result: Path = Path("cgtvigil-output/demo/cgt_screen.parquet")
    secret_key: str = ""  # signs session cookies; required by create_app
    forecast_model: Path | None = None  # a model from `cgtvigil forecast fit`, shown on patient pages
    signal_timelines: Path | None = None  # days per signal state (GVP IX SOP); None: the shipped, unconfirmed ones
    behind_tls: bool = False
    session_idle: timedelta = timedelta(minutes=30)
    session_lifetime: timedelta = timedelta(hours=12)
    audit_key: str = ""  # empty: the audit chain is plain SHA-256 (demo, tests)
    public_url: str = ""
    max_request_bytes: int = 8 * 1024 * 1024  # request bodies above this are refused before parsing
    max_batch_elements: int = 10_000  # data points (or resources) in one ingest request
    worker_concurrency: int = 4  # requests one worker process computes at once; the others queue
    escalation_interval: timedelta | None = timedelta(seconds=60)  # None: escalation by a timer only
    # the follow-up round (transition sweep, missed visits, pending malignancy cases); None: by hand only
    followup_interval: timedelta | None = timedelta(hours=1)
    smtp_host: str = ""  # empty: no mail server (e-mail channels fail and say so)
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_sender: str = "cgtvigil@localhost"
    openfda_api_key: str = ""  # empty: openFDA's keyless rate limits
    openfda_url: str = "https://api.fda.gov"
    spark_master: str = ""  # empty: local mode (local[*])
    spark_export_dir: Path | None = None  # None: the system's temporary folder
    # DuckDB's memory_limit while counting and on the store's connection (screening.MEMORY_LIMIT;
    # a store opened without the setting has the same default, store STORE_MEMORY_LIMIT)
    duckdb_memory_limit: str = "2GB"
    # where DuckDB spills; None: a folder of its own (long-file screen), <store file>.tmp (store)
    duckdb_temp_dir: Path | None = None

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            db=Path(os.environ.get("CGTVIGIL_DB", "cgtvigil.duckdb")),
            output_dir=Path(os.environ.get("CGTVIGIL_OUTPUT", "cgtvigil-output")),
            operational_url=os.environ.get("CGTVIGIL_OPERATIONAL_URL", "sqlite:///cgtvigil-operational.db"),
            screen_result=Path(os.environ.get("CGTVIGIL_SCREEN_RESULT", "cgtvigil-output/demo/cgt_screen.parquet")),
            secret_key=os.environ.get("CGTVIGIL_SECRET_KEY", ""),
            forecast_model=Path(os.environ["CGTVIGIL_FORECAST_MODEL"])
            if os.environ.get("CGTVIGIL_FORECAST_MODEL")
            else None,
            signal_timelines=Path(os.environ["CGTVIGIL_SIGNAL_TIMELINES"])
            if os.environ.get("CGTVIGIL_SIGNAL_TIMELINES")
            else None,
            behind_tls=os.environ.get("CGTVIGIL_BEHIND_TLS", "").strip().lower() in _TRUE,
            session_idle=_minutes("CGTVIGIL_SESSION_IDLE_MINUTES", 30),
            session_lifetime=_minutes("CGTVIGIL_SESSION_LIFETIME_MINUTES", 720),
            audit_key=_audit_key(),
            public_url=os.environ.get("CGTVIGIL_PUBLIC_URL", "").rstrip("/"),
            max_request_bytes=_count("CGTVIGIL_MAX_REQUEST_BYTES", 8 * 1024 * 1024),
            max_batch_elements=_count("CGTVIGIL_MAX_BATCH_ELEMENTS", 10_000),
            worker_concurrency=_count("CGTVIGIL_WORKER_CONCURRENCY", 4),
            escalation_interval=_seconds("CGTVIGIL_ESCALATION_INTERVAL_SECONDS", 60),
            followup_interval=_seconds("CGTVIGIL_FOLLOWUP_INTERVAL_SECONDS", 3600),
            smtp_host=os.environ.get("CGTVIGIL_SMTP_HOST", ""),
            smtp_port=_count("CGTVIGIL_SMTP_PORT", 587),
            smtp_security=_smtp_security(),
            smtp_user=os.environ.get("CGTVIGIL_SMTP_USER", ""),
            smtp_password=_secret("CGTVIGIL_SMTP_PASSWORD"),
            smtp_sender=os.environ.get("CGTVIGIL_SMTP_FROM", "cgtvigil@localhost"),
            openfda_api_key=_secret("CGTVIGIL_OPENFDA_API_KEY"),
            openfda_url=os.environ.get("CGTVIGIL_OPENFDA_URL", "https://api.fda.gov").rstrip("/"),
            spark_master=os.environ.get("CGTVIGIL_SPARK_MASTER", "").strip(),
            spark_export_dir=Path(os.environ["CGTVIGIL_SPARK_EXPORT_DIR"])
            if os.environ.get("CGTVIGIL_SPARK_EXPORT_DIR")
            else None,
            duckdb_memory_limit=_memory_limit("CGTVIGIL_DUCKDB_MEMORY_LIMIT", "2GB"),
            duckdb_temp_dir=Path(os.environ["CGTVIGIL_DUCKDB_TEMP_DIR"])
            if os.environ.get("CGTVIGIL_DUCKDB_TEMP_DIR")
            else None,
        )

    def notifier(self) -> Notifier:
        """The alert sender for these settings (mail server, links, audit trail)."""
        from cgtvigil.audit import append_audit
        from cgtvigil.monitoring import Notifier, SmtpServer

        smtp = (
            SmtpServer(
                host=self.smtp_host,
                port=self.smtp_port,
                sender=self.smtp_sender,
                username=self.smtp_user,
                password=self.smtp_password,
                security=self.smtp_security,  # type: ignore[arg-type]  # checked by from_env
            )
            if self.smtp_host
            else None
        )
        return Notifier(smtp=smtp, public_url=self.public_url, audit=append_audit)
