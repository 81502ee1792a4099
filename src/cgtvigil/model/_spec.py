"""Analysis specifications: frozen, JSON round-tripping, hashed."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["FAERS_ROLES", "SignalSpec", "spec_hash"]

Method = Literal["prr", "ror", "ic", "ebgm"]
ALL_METHODS: tuple[Method, ...] = ("prr", "ror", "ic", "ebgm")
# FAERS role_cod values: primary suspect, secondary suspect, concomitant, interacting.
FAERS_ROLES: tuple[str, ...] = ("PS", "SS", "C", "I")


def spec_hash(spec: BaseModel) -> str:
    """SHA-256 of the spec's canonical JSON."""
    payload = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class SignalSpec(BaseModel):
    """Everything that decides the numbers of a disproportionality screen."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    methods: tuple[Method, ...] = ALL_METHODS
    alpha: float = Field(0.05, gt=0, lt=1, description="1 - confidence level of PRR/ROR/IC intervals")
    roles: tuple[str, ...] = Field(("PS", "SS"), description="FAERS drug roles counted as exposure")
    strata: tuple[str, ...] = Field((), description="stratum columns for expected counts (IC, EBGM)")
    yates: bool = False
    ic_method: Literal["exact", "approx"] = "exact"
    squash: Literal["auto", "on", "off"] = Field(
        "auto", description="squashing for the prior fit (openEBGM autoSquash); 'auto': above squash_above pairs"
    )
    squash_above: int = 50_000
    n_star: int = Field(
        1, ge=1, description="smallest count N in the prior fit; each component is truncated there (openEBGM N_star)"
    )
    prior: tuple[float, float, float, float, float] | None = Field(
        None, description="fixed (alpha1, beta1, alpha2, beta2, p); None fits it by maximum likelihood"
    )
    event_levels: tuple[Literal["pt", "topic"], ...] = ("pt", "topic")
    products_only: bool = Field(True, description="FAERS store: screen CGT products only, not every drug")
    min_count: int = Field(1, ge=1, description="pairs with fewer reports are not reported")

    @field_validator("roles")
    @classmethod
    def _roles_are_codes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        roles = tuple(dict.fromkeys(r.strip().upper() for r in v))
        unknown = [r for r in roles if r not in FAERS_ROLES]
        if not roles or unknown:
            raise ValueError(f"roles must be FAERS role codes ({', '.join(FAERS_ROLES)}); got {unknown or list(v)}")
        return roles

    @field_validator("methods")
    @classmethod
    def _methods_unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v:
            raise ValueError("at least one method is needed")
        return tuple(dict.fromkeys(v))
