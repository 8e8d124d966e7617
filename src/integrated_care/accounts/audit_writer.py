"""Audit events of work done on the event loop, committed by one writer thread per process.

On the embedded store (SQLite) a FHIR read or search runs on the event loop itself (see
``threads.runs_inline``): handing it to a thread and back cost as much CPU as the read. Its
audit event must still be committed before the answer goes out, but committing on the loop
would stall every other request for each commit. So the loop queues the events and awaits
them; this process's writer thread commits whatever has queued meanwhile in one transaction
(the same chained rows :func:`audit.record_events_committed` writes) and wakes the waiting
requests with one call back into their loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from integrated_care import db
from integrated_care.accounts.audit import PerStore, append_batch, check_outcomes

IDLE_SECONDS = 10.0
GATHER_SECONDS = 0.002
_Waiting = tuple[Sequence[Mapping[str, Any]], asyncio.Future[None], asyncio.AbstractEventLoop]


class AuditWriter:
    """Commits queued events in batches on its own thread; :meth:`append` awaits the commit."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._queue: list[_Waiting] = []
        self._queued = threading.Condition()
        self._thread: threading.Thread | None = None

    async def append(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Queue `events` (keyword arguments of ``audit.record_event``); return once they are
        committed. Raises what the commit raised, so the caller can refuse to answer."""
        check_outcomes(events)
        if not events:
            return
        loop = asyncio.get_running_loop()
        committed = loop.create_future()
        with self._queued:
            self._queue.append((events, committed, loop))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="ics-audit", daemon=True)
                self._thread.start()
            self._queued.notify()
        # Shielded: a client that goes away does not un-write its audit event.
        await asyncio.shield(committed)

    def _run(self) -> None:
        while True:
            with self._queued:
                if not self._queue:
                    self._queued.wait(IDLE_SECONDS)
                if not self._queue:  # idle: let the thread go (a store of a finished test...)
                    self._thread = None
                    return
            # Let more requests' events gather first: each commit rewrites the audit table's
            # index pages, so one commit of thirty events costs about a quarter of the CPU per
            # event of thirty commits of one, and readers waiting on it a few ms is cheap.
            time.sleep(GATHER_SECONDS)
            with self._queued:
                batch, self._queue = self._queue, []
            error: BaseException | None = None
            try:
                append_batch(self._sessions, [e for events, _f, _l in batch for e in events])
            except BaseException as exc:  # every request in the batch learns it failed
                error = exc
            loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
            for _events, committed, loop in batch:
                loops.setdefault(loop, []).append(committed)
            for loop, waiting in loops.items():
                if not loop.is_closed():
                    loop.call_soon_threadsafe(_settle, waiting, error)
            # Outside the writers' turn: the next batch does not wait for the file's sync.
            db.checkpoint_soon(self._sessions.kw.get("bind"))


def _settle(waiting: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for committed in waiting:
        if committed.done():
            continue
        if error is None:
            committed.set_result(None)
        else:
            committed.set_exception(error)


audit_writer = PerStore(AuditWriter)  # the audit writer of the store a session factory opens
