"""The follow-up round the server runs by itself (issue 12): the transition sweep (Got
Transition tasks due within the lead time, re-consent tasks, consent holds at majority and
their release), missed visits marked in the stored state, and malignancy cases still waiting
for the case store filed. Run every ``interval`` inside the web application by
:class:`FollowupScheduler` (started by the FastAPI lifespan beside the escalation rounds), or by
hand with ``cgtvigil followup transition``.

A round is idempotent: a task is raised once per patient and kind (a unique key; a second
process racing on the same task loses on it and its round is retried next time), a visit is
marked missed once, a case version is filed once (its hash)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cgtvigil.audit import append_audit
from cgtvigil.errors import CgtVigilError
from cgtvigil.followup._transition import transition_sweep
from cgtvigil.followup._visits import file_new_cases, mark_missed
from cgtvigil.model import JurisdictionTable
from cgtvigil.monitoring import every, stop_rounds
from cgtvigil.store import ConsentStateRow, MalignancyRow

__all__ = ["FollowupRound", "FollowupScheduler", "followup_round", "followup_round_in"]

SYSTEM = "system:followup"
_log = logging.getLogger("cgtvigil.followup.rounds")


@dataclass(frozen=True)
class FollowupRound:
    """What one round did."""

    tasks_raised: int
    patients_held: int
    holds_changed: int
    visits_missed: int
    cases_filed: int

    @property
    def changed(self) -> bool:
        return bool(self.tasks_raised or self.holds_changed or self.visits_missed or self.cases_filed)


def _holds(session: Session) -> set[tuple[str, str]]:
    rows = session.execute(
        select(ConsentStateRow.patient_id, ConsentStateRow.use).where(ConsentStateRow.state == "held")
    )
    return {(pid, use) for pid, use in rows}


def followup_round_in(
    session: Session, jurisdictions: JurisdictionTable, cases: Path | None, now: datetime
) -> FollowupRound:
    """One round in ``session`` (see the module), audited as ``followup.round`` when it changed
    anything; the caller commits. The server's scheduler and ``cgtvigil followup transition``
    both run this."""
    before = _holds(session)
    counts = transition_sweep(session, jurisdictions, now)
    missed = mark_missed(session, now.date())
    holds_changed = len(before ^ _holds(session))
    pending = list(session.scalars(select(MalignancyRow).where(MalignancyRow.case_filed_at.is_(None))))
    # into an existing case store only: the round does not create the analytic store
    filed = file_new_cases(session, cases, pending) if cases is not None and cases.exists() and pending else 0
    done = FollowupRound(counts["tasks_raised"], counts["patients_held"], holds_changed, missed, filed)
    if done.changed:
        append_audit(
            session,
            actor=SYSTEM,
            action="followup.round",
            target="transition-sweep",
            at=now,
            detail={
                "tasks_raised": done.tasks_raised,
                "holds_changed": done.holds_changed,
                "visits_missed": done.visits_missed,
                "cases_filed": done.cases_filed,
                "jurisdictions": jurisdictions.version,
            },
        )
    return done


def followup_round(
    sessions: sessionmaker[Session], jurisdictions: JurisdictionTable, cases: Path | None, now: datetime | None = None
) -> FollowupRound:
    """One round in a session of its own, committed."""
    with sessions() as session:
        done = followup_round_in(session, jurisdictions, cases, now or datetime.now(UTC))
        session.commit()
    return done


@dataclass
class FollowupScheduler:
    """Runs :func:`followup_round` every ``interval`` in a worker thread while the application
    serves (``async with``); a round that fails (a database error, a race with another worker on
    the same task) is logged and the next one runs as planned. The first round runs one interval
    after the start."""

    sessions: sessionmaker[Session]
    jurisdictions: JurisdictionTable
    cases: Path | None
    interval: timedelta
    rounds: int = 0
    failures: int = 0
    last: FollowupRound | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    async def _loop(self) -> None:
        await every(self.interval, self._stop, self._round)

    async def _round(self) -> None:
        try:
            self.last = await asyncio.to_thread(followup_round, self.sessions, self.jurisdictions, self.cases)
            self.rounds += 1
        except (SQLAlchemyError, CgtVigilError) as exc:
            self.failures += 1
            _log.error("follow-up round failed (it runs again in %s): %s", self.interval, exc)

    async def __aenter__(self) -> FollowupScheduler:
        self._task = asyncio.create_task(self._loop(), name="cgtvigil-followup")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await stop_rounds(self._task, self._stop, timedelta(seconds=15))
