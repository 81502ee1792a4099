"""Operational tables of genotoxicity follow-up (issue 12): integration-site samples and their
sites (one row per IS, sample and quantification), input rows put aside with a reason, vector
copy number and CAR-transgene persistence measurements, and off-target editing assay results.
They refer to ``patient.id`` like the observations (no foreign key: sites may be loaded before
the patient is registered; the scope helper then shows them to administrators only)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cgtvigil.store._operational import Base

__all__ = ["IsQuarantineRow", "IsSampleRow", "IsSiteRow", "OffTargetRow", "VectorMeasurementRow"]


class IsSampleRow(Base):
    """One integration-site sample: a patient's cell type (or tissue) at a time point."""

    __tablename__ = "genotox_sample"
    __table_args__ = (UniqueConstraint("patient_id", "sample", name="uq_genotox_sample"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    sample: Mapped[str] = mapped_column(String(128))  # the input's sample key
    time_point: Mapped[str] = mapped_column(String(32))  # as recorded
    months: Mapped[float] = mapped_column(Float)  # months since treatment (orders the series)
    cell_type: Mapped[str] = mapped_column(String(64), default="")
    tissue: Mapped[str] = mapped_column(String(64), default="")
    genome: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(256))  # file name
    file_sha256: Mapped[str] = mapped_column(String(64))
    loaded_at: Mapped[datetime] = mapped_column(DateTime)


class IsSiteRow(Base):
    """One IS of a sample with its abundance in one quantification (reads, inferred cells, ...)."""

    __tablename__ = "genotox_site"
    __table_args__ = (
        UniqueConstraint("sample_id", "quantification", "chr", "position", "strand", name="uq_genotox_site"),
        Index("ix_genotox_site_locus", "chr", "position"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("genotox_sample.id"), index=True)
    quantification: Mapped[str] = mapped_column(String(32))
    chr: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(Integer)
    strand: Mapped[str] = mapped_column(String(1))
    nearest_gene: Mapped[str] = mapped_column(String(128), default="")
    gene_strand: Mapped[str] = mapped_column(String(1), default="")
    abundance: Mapped[float] = mapped_column(Float)
    line: Mapped[int] = mapped_column(Integer)  # first input line that carried it (provenance)


class IsQuarantineRow(Base):
    """An input row that was not loaded, with the reason."""

    __tablename__ = "genotox_quarantine"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(256))
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(String(1024))
    raw: Mapped[str] = mapped_column(String)
    received_at: Mapped[datetime] = mapped_column(DateTime)


class VectorMeasurementRow(Base):
    """Vector copy number (copies per cell or per diploid genome) or CAR-transgene persistence
    (copies per ug DNA, or % CAR+ cells) of a patient at a time point."""

    __tablename__ = "genotox_vector_measurement"
    __table_args__ = (
        UniqueConstraint("patient_id", "kind", "months", "cell_type", "sample", name="uq_genotox_vector"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # vcn | car_transgene
    months: Mapped[float] = mapped_column(Float)
    measured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    cell_type: Mapped[str] = mapped_column(String(64), default="")
    sample: Mapped[str] = mapped_column(String(128), default="")
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(64), default="")  # ddPCR, qPCR, flow
    source: Mapped[str] = mapped_column(String(256))


class OffTargetRow(Base):
    """An off-target editing assay result of a genome-edited patient's product or cells."""

    __tablename__ = "genotox_off_target"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    assay: Mapped[str] = mapped_column(String(64))  # GUIDE-seq, CHANGE-seq, amplicon-seq, karyotype ...
    site: Mapped[str] = mapped_column(String(128))  # named site or chr:position
    gene: Mapped[str] = mapped_column(String(128), default="")
    indel_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    detection_limit_percent: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[str] = mapped_column(String(16))  # detected | not_detected | inconclusive
    measured_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    months: Mapped[float | None] = mapped_column(Float, nullable=True)
    source: Mapped[str] = mapped_column(String(256))
