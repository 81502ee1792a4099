"""Request envelopes for grading from files, the CLI and the API: one model per scheme, each
with a JSON Schema, and one dispatcher that returns explained results."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from cgtvigil.clinical._crs import CRSEpisodeRules, grade_crs_series
from cgtvigil.clinical._ctcae import grade_ctcae
from cgtvigil.clinical._hlh import HLHFindings, hlh2004, hscore
from cgtvigil.clinical._icaht import ICAHTRules, grade_icaht, grade_t_icaht
from cgtvigil.clinical._icans import grade_icans
from cgtvigil.clinical._iec_hs import iec_hs_screen
from cgtvigil.clinical._result import GradeResult
from cgtvigil.clinical._scores import car_hematotox, easix, m_easix, simplified_easix
from cgtvigil.errors import ValidationError
from cgtvigil.model import CRSAssessment, ICANSAssessment, LabResult

__all__ = ["REQUESTS", "grade_request", "request_schema"]


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CRSRequest(_Request):
    assessments: list[CRSAssessment] = Field(min_length=1)
    episode_quiet_hours: float = Field(24.0, gt=0)


class ICANSRequest(_Request):
    assessments: list[ICANSAssessment] = Field(min_length=1)


class CTCAERequest(_Request):
    term: str
    version: Literal["5.0", "6.0"] = "5.0"
    results: list[LabResult] = Field(min_length=1)
    baseline: LabResult | None = None
    transfusion_indicated: bool = False
    life_threatening: bool = False


class ICAHTRequest(_Request):
    infusion: datetime
    censor: datetime | None = None
    anc: list[LabResult] = Field(default_factory=list)
    plt: list[LabResult] = Field(default_factory=list)
    rules: ICAHTRules = ICAHTRules()


ScoreName = Literal["hlh2004", "hscore", "easix", "simplified-easix", "m-easix", "car-hematotox", "iec-hs"]


class ScoreRequest(_Request):
    name: ScoreName
    findings: HLHFindings = HLHFindings()
    labs: dict[str, LabResult] = Field(default_factory=dict)
    crs_state: Literal["none", "active_worsening", "improving", "resolved"] = "none"


REQUESTS: dict[str, type[_Request]] = {
    "crs": CRSRequest,
    "icans": ICANSRequest,
    "ctcae": CTCAERequest,
    "icaht": ICAHTRequest,
    "score": ScoreRequest,
}


def request_schema(scheme: str) -> dict[str, Any]:
    """JSON Schema of a scheme's input."""
    return REQUESTS[scheme].model_json_schema()


def _parse(scheme: str, payload: Any) -> _Request:
    if scheme not in REQUESTS:
        raise ValidationError([f"unknown scheme '{scheme}'; expected one of {', '.join(REQUESTS)}."])
    if (
        scheme in ("crs", "icans")
        and isinstance(payload, list | dict)
        and not (isinstance(payload, dict) and "assessments" in payload)
    ):
        payload = {"assessments": payload if isinstance(payload, list) else [payload]}
    try:
        return REQUESTS[scheme].model_validate(payload)
    except PydanticValidationError as exc:
        raise ValidationError(
            [f"field '{'.'.join(str(x) for x in e['loc']) or '(root)'}': {e['msg']}" for e in exc.errors()]
        ) from exc


def grade_request(scheme: str, payload: Any, *, now: datetime | None = None) -> list[GradeResult]:
    """Grade a JSON-like payload for ``scheme`` (crs, icans, ctcae, icaht, score); times
    after ``now`` (default: the current time) are rejected."""
    req = _parse(scheme, payload)
    now = now or datetime.now(UTC)
    if isinstance(req, CRSRequest):
        results, episodes = grade_crs_series(
            req.assessments, rules=CRSEpisodeRules(quiet_hours=req.episode_quiet_hours), now=now
        )
        summary = [
            GradeResult(
                scheme="CRS episode",
                version=f"{results[0].version} + {CRSEpisodeRules().version}",
                grade=ep.peak_grade,
                driver=f"peak at {ep.peak_time.isoformat()}",
                inputs={
                    "onset": ep.onset.isoformat(),
                    "end": ep.end.isoformat() if ep.end else None,
                    "duration_hours": ep.duration_hours,
                    "n_assessments": len(ep.assessments),
                },
            )
            for ep in episodes
        ]
        return [*results, *summary]
    if isinstance(req, ICANSRequest):
        return [grade_icans(a, now=now) for a in sorted(req.assessments, key=lambda a: a.time)]
    if isinstance(req, CTCAERequest):
        return [
            grade_ctcae(
                req.term,
                r,
                version=req.version,
                baseline=req.baseline,
                transfusion_indicated=req.transfusion_indicated,
                life_threatening=req.life_threatening,
                now=now,
            )
            for r in req.results
        ]
    if isinstance(req, ICAHTRequest):
        out: list[GradeResult] = []
        if req.anc:
            out.extend(grade_icaht(req.anc, req.infusion, censor=req.censor, rules=req.rules, now=now))
        if req.plt:
            out.extend(grade_t_icaht(req.plt, req.infusion, censor=req.censor, rules=req.rules, now=now))
        if not out:
            raise ValidationError(["an ICAHT request needs an 'anc' and/or a 'plt' series."])
        return out
    assert isinstance(req, ScoreRequest)
    simple = {"easix": easix, "simplified-easix": simplified_easix, "m-easix": m_easix, "car-hematotox": car_hematotox}
    if req.name in simple:
        return [simple[req.name](req.labs)]
    hlh = hlh2004(req.findings, req.labs)
    hs = hscore(req.findings, req.labs)
    if req.name == "hlh2004":
        return [hlh]
    if req.name == "hscore":
        return [hs]
    return [iec_hs_screen(hlh, hs, req.crs_state), hlh, hs]
