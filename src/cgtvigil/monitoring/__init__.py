"""Near-real-time patient monitoring (L3): storing observations, rules, alerts."""

from cgtvigil.monitoring._alerts import ACTIVE, acknowledge, escalate_overdue, raise_alert, resolve
from cgtvigil.monitoring._evaluate import evaluate_patient
from cgtvigil.monitoring._gateways import authenticate_gateway, register_gateway
from cgtvigil.monitoring._intake import IntakeSummary, store_observations
from cgtvigil.monitoring._plans import (
    LabelRequirement,
    MonitoringPlan,
    PlanItem,
    PlanRules,
    compute_plan,
    label_requirements,
    record_plan,
)
from cgtvigil.monitoring._registry import Registration, current_treatment, register_patient
from cgtvigil.monitoring._rules import MonitoringRules

__all__ = [
    "ACTIVE",
    "IntakeSummary",
    "LabelRequirement",
    "MonitoringPlan",
    "MonitoringRules",
    "PlanItem",
    "PlanRules",
    "Registration",
    "acknowledge",
    "authenticate_gateway",
    "compute_plan",
    "current_treatment",
    "escalate_overdue",
    "evaluate_patient",
    "label_requirements",
    "raise_alert",
    "record_plan",
    "register_gateway",
    "register_patient",
    "resolve",
    "store_observations",
]
