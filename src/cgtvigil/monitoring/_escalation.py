"""Escalation run by the server, not by hand: one round escalates every open alert left
unacknowledged past its deadline (queueing its escalation notifications) and sends every
notification that is due, first tries and retries alike.

A round runs inside the web application, every ``interval`` (:class:`EscalationScheduler`,
started by the FastAPI lifespan of each server process), or from a cron job or systemd timer
(``cgtvigil monitor escalate``). Any number of them may run at once: the escalation lock lets
one process escalate a given alert once, and each notification is claimed by one sender.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cgtvigil.errors import CgtVigilError
from cgtvigil.monitoring._alerts import SYSTEM, escalate_overdue
from cgtvigil.monitoring._notify import Delivery, Notifier, deliver_due

__all__ = ["EscalationRound", "EscalationScheduler", "every", "run_escalation", "stop_rounds"]

_log = logging.getLogger("cgtvigil.monitoring.escalation")


@dataclass(frozen=True)
class EscalationRound:
    """What one round did: the alerts it escalated and every delivery attempt it made."""

    escalated: list[int]
    deliveries: list[Delivery]

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status != "sent"]


def run_escalation(sessions: sessionmaker[Session], notifier: Notifier, now: datetime | None = None) -> EscalationRound:
    """One round: escalate overdue alerts (each escalation audited), then send what is due."""
    now = now or datetime.now(UTC)
    with sessions() as session:
        alerts = escalate_overdue(session, now)
        for a in alerts:
            if notifier.audit is not None:
                notifier.audit(
                    session,
                    actor=SYSTEM,
                    action="alert.escalate",
                    target=f"alert:{a.id}",
                    at=now,
                    detail={"patient": a.patient_id, "severity": a.severity, "rule": a.rule},
                )
        session.commit()
        escalated = [a.id for a in alerts]
    return EscalationRound(escalated, deliver_due(sessions, notifier, now))


async def every(interval: timedelta, stop: asyncio.Event, one_round: Callable[[], Awaitable[None]]) -> None:
    """Await ``one_round()`` every ``interval`` until ``stop`` is set (the first one interval
    after the start): the loop of the server's schedulers."""
    while True:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval.total_seconds())
        if stop.is_set():
            return
        await one_round()


async def stop_rounds(task: asyncio.Task[None] | None, stop: asyncio.Event, grace: timedelta) -> None:
    """Stop a scheduler's loop: a round under way may finish within ``grace``, else it is cancelled."""
    if task is None:
        return
    stop.set()
    try:
        await asyncio.wait_for(asyncio.shield(task), grace.total_seconds())
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class EscalationScheduler:
    """Runs :func:`run_escalation` every ``interval`` in a worker thread while the
    application serves (``async with``); a round that fails on the database is logged and the
    next one runs as planned. At shutdown a round under way may finish within ``grace``; one
    still sending after that is left to its claims' expiry (another process sends again)."""

    sessions: sessionmaker[Session]
    notifier: Notifier
    interval: timedelta
    grace: timedelta = timedelta(seconds=15)
    rounds: int = 0
    failures: int = 0
    last: EscalationRound | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def _loop(self) -> None:
        await every(self.interval, self._stop, self._round)

    async def _round(self) -> None:
        try:
            self.last = await asyncio.to_thread(run_escalation, self.sessions, self.notifier)
        except (SQLAlchemyError, CgtVigilError) as exc:
            self.failures += 1
            _log.error("escalation round failed (it runs again in %s): %s", self.interval, exc)
            return
        self.rounds += 1
        for d in self.last.failed:
            _log.warning(
                "notification %s (%s to %s) %s after %s attempt(s): %s",
                d.notification_id,
                d.kind,
                d.recipient,
                d.status,
                d.attempts,
                d.error,
            )

    async def __aenter__(self) -> EscalationScheduler:
        self._task = asyncio.create_task(self._loop(), name="cgtvigil-escalation")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await stop_rounds(self._task, self._stop, self.grace)
