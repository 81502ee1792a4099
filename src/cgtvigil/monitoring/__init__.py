"""Near-real-time patient monitoring (L3): storing observations, rules, alerts."""

from cgtvigil.monitoring._alerts import ACTIVE, acknowledge, escalate_overdue, raise_alert, resolve
from cgtvigil.monitoring._escalation import EscalationRound, EscalationScheduler, run_escalation
from cgtvigil.monitoring._evaluate import evaluate_patient
from cgtvigil.monitoring._gateways import authenticate_gateway, register_gateway
from cgtvigil.monitoring._intake import IntakeSummary, store_observations
from cgtvigil.monitoring._notify import (
    CHANNEL_KINDS,
    SEVERITIES,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    AuditWriter,
    Delivery,
    NotificationState,
    Notifier,
    RetryPolicy,
    SmtpServer,
    configure_channel,
    deliver_due,
    disable_channel,
    notification_states,
    patients_notified,
    queue_notifications,
    sign_webhook,
    write_lock,
)
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
from cgtvigil.monitoring._sequential import CohortSpec, CohortSurveillance, run_cohort_surveillance

__all__ = [
    "ACTIVE",
    "CHANNEL_KINDS",
    "SEVERITIES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "AuditWriter",
    "CohortSpec",
    "CohortSurveillance",
    "Delivery",
    "EscalationRound",
    "EscalationScheduler",
    "IntakeSummary",
    "LabelRequirement",
    "MonitoringPlan",
    "MonitoringRules",
    "NotificationState",
    "Notifier",
    "PlanItem",
    "PlanRules",
    "Registration",
    "RetryPolicy",
    "SmtpServer",
    "acknowledge",
    "authenticate_gateway",
    "compute_plan",
    "configure_channel",
    "current_treatment",
    "deliver_due",
    "disable_channel",
    "escalate_overdue",
    "evaluate_patient",
    "label_requirements",
    "notification_states",
    "patients_notified",
    "queue_notifications",
    "raise_alert",
    "record_plan",
    "register_gateway",
    "register_patient",
    "resolve",
    "run_cohort_surveillance",
    "run_escalation",
    "sign_webhook",
    "store_observations",
    "write_lock",
]
