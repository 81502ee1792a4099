"""Group commit of the audit entries of reads: a page or API read is audited before its answer
is sent, but the entries of concurrent reads share one transaction of the chain.

The chain has one writer at a time (a process lock, and on PostgreSQL an advisory lock shared
by every worker) held until the writing transaction commits. Appending each read's entry in its
own transaction serialised every audited request on that lock and its commit. Here a writer
thread per database appends every entry waiting at that moment and commits once; each request
waits for the commit that holds its entry (an error there is the request's error), so no read
is answered unaudited."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from cgtvigil.audit._chain import append_audit_entries
from cgtvigil.audit._keys import request_context

__all__ = ["audit_read_entry", "wrote_in_transaction"]

_WAIT_SECONDS = 60.0


class _Writer:
    """Appends the waiting entries of one database in one transaction, over and over; stops
    after a few idle seconds (a new one starts with the next read)."""

    IDLE_SECONDS = 5.0

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self._ready = threading.Condition()
        self._waiting: list[tuple[dict[str, Any], Future[None]]] = []
        self._stopped = False
        threading.Thread(target=self._run, name="audit-writer", daemon=True).start()

    def add(self, entry: dict[str, Any]) -> Future[None] | None:
        """The commit to wait for, or None when this writer has stopped."""
        done: Future[None] = Future()
        with self._ready:
            if self._stopped:
                return None
            self._waiting.append((entry, done))
            self._ready.notify()
        return done

    def _run(self) -> None:
        while True:
            with self._ready:
                if not self._waiting:
                    self._ready.wait(timeout=self.IDLE_SECONDS)
                if not self._waiting:
                    self._stopped = True
                    break
                batch, self._waiting = self._waiting, []
            try:
                with self._sessions() as session:
                    append_audit_entries(session, [entry for entry, _ in batch])
                    session.commit()
            except Exception as exc:  # noqa: BLE001 (not swallowed: every request of the batch raises it)
                for _, done in batch:
                    done.set_exception(exc)
            else:
                for _, done in batch:
                    done.set_result(None)
        with _WRITERS_LOCK:
            if _WRITERS.get(self._engine) is self:
                del _WRITERS[self._engine]


_WRITERS: dict[Engine, _Writer] = {}
_WRITERS_LOCK = threading.Lock()


def audit_read_entry(
    engine: Engine, *, actor: str, action: str, target: str, at: datetime, detail: dict[str, Any] | None = None
) -> None:
    """Append a read's entry through the group commit of ``engine`` and return once it is
    committed (the client address and user agent of the request are kept with it)."""
    entry = {"actor": actor, "action": action, "target": target, "at": at, "detail": request_context() | (detail or {})}
    while True:
        with _WRITERS_LOCK:
            writer = _WRITERS.get(engine)
            if writer is None:
                writer = _WRITERS[engine] = _Writer(engine)
        done = writer.add(entry)
        if done is not None:
            break
        with _WRITERS_LOCK:  # it stopped just now: the next turn starts another
            if _WRITERS.get(engine) is writer:
                del _WRITERS[engine]
    done.result(timeout=_WAIT_SECONDS)


@event.listens_for(Session, "after_flush")
def _wrote(session: Session, _: object) -> None:
    session.info["wrote"] = True


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop("wrote", None)


def wrote_in_transaction(session: Session) -> bool:
    """Whether the session's transaction changed anything (flushed, or holds unflushed changes):
    then its audit entry belongs in the same transaction as the change."""
    return bool(session.info.get("wrote") or session.new or session.dirty or session.deleted)
