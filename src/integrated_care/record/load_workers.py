"""The building side of a record load (`loader.py`): the record `Builder` run in builder
processes (forked), their messages merged so the writer gets the rows in one fixed order."""

from __future__ import annotations

import multiprocessing
import pickle
import time
import traceback
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from queue import Empty, Full
from typing import Any

from integrated_care.record import store
from integrated_care.record.load_builder import Builder
from integrated_care.record.load_extracts import Extracts, Scope

# Builder processes of a parallel load. Two, even on two CPUs: building costs the more CPU
# and this process waits for the database part of its time (commits, page writes).
BUILDERS = 2


@dataclass
class _Plan:
    """What the building side needs: picklable, so it can run in a worker process."""

    folder: Path
    scope: Scope
    secret: str
    patients_per_batch: int
    chunk_patients: int
    dialect: str
    part: tuple[int, int] = (0, 1)  # (k, n): this builder makes chunks k, k + n, ...


def _produce(plan: _Plan) -> Iterator[tuple[str, Any]]:
    """One builder's messages, in order: ``("start", (patients in scope, organisation rows,
    chunks))``, then for each chunk of its part (`plan.part`) ``("batch", (patient ids,
    store.Rows))`` per batch of patients (every row of their records, encoded for the database
    and ready to insert) and ``("chunk", number)`` at the chunk's end."""
    extracts = Extracts(plan.folder, plan.scope, plan.chunk_patients, plan.part)
    try:
        organisations = extracts.organisations()
        yield "start", (extracts.patients, organisations, extracts.chunks)
        builder = Builder(plan.secret, {o[0]: o[1] for o in organisations})
        part, parts = plan.part
        for number in range(part, extracts.chunks, parts):
            people, rows = extracts.chunk(number)
            for start in range(0, len(people), plan.patients_per_batch):
                batch = people[start : start + plan.patients_per_batch]
                yield "batch", _batch_rows(builder, batch, rows, plan.dialect)
            yield "chunk", number
    finally:
        extracts.close()


def _in_order(parts: list[Iterator[tuple[str, Any]]]) -> Iterator[tuple[str, Any]]:
    """The builders' messages merged in the order one builder would send them: the first
    builder's start, then chunk after chunk (chunk c comes from builder c mod n), so the
    store gets the same rows in the same order however many builders made them."""
    starts = [next(part) for part in parts]
    if any(kind != "start" for kind, _ in starts):
        raise RuntimeError("a record builder did not start with its scope")
    patients, organisations, chunks = starts[0][1]
    yield "start", (patients, organisations)
    for number in range(chunks):
        for kind, payload in parts[number % len(parts)]:
            if kind == "chunk":
                if payload != number:
                    raise RuntimeError(f"a record builder sent chunk {payload}, not {number}")
                break
            yield kind, payload
        else:
            raise RuntimeError(f"a record builder stopped before chunk {number} was complete")


def _batch_rows(
    builder: Builder,
    people: list[tuple[Any, ...]],
    rows: dict[str, dict[int, list]],  # type: ignore[type-arg]
    dialect: str,
) -> tuple[list[str], store.Rows]:
    """The patient ids of `people` and every row of their records, as version 1."""
    moment = store.now()
    last_updated = store.instant(moment)
    out = store.Rows()
    patient_ids = []
    for person in people:
        own = {table: grouped.get(person[0], []) for table, grouped in rows.items()}
        record = builder.record(person, own)
        patient_ids.append(record[0]["id"])
        for resource in record:
            out.add(resource["resourceType"], resource["id"], resource, 1, moment, last_updated)
    return patient_ids, out.encode(dialect)


def _worker(plan: _Plan, queue: Any, stop: Any) -> None:
    """Run `_produce` in a worker process, handing each message to `queue` until `stop`."""
    try:
        with closing(_produce(plan)) as messages:
            for message in messages:
                while not stop.is_set():
                    try:
                        queue.put(message, timeout=0.2)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
        queue.put(("done", None))
    except BaseException as exc:
        try:
            pickle.dumps(exc)
        except Exception:
            exc = RuntimeError(traceback.format_exc())
        queue.put(("error", exc))


@contextmanager
def _messages(plan: _Plan, *, builders: int) -> Iterator[Iterator[tuple[str, Any]]]:
    """The load's messages (`_produce`'s, merged by `_in_order`): from `builders` worker
    processes (building the resources there while this process writes), or built here when
    `builders` is 0."""
    if builders < 1:
        with closing(_produce(plan)) as messages:
            yield _in_order([messages])
        return
    context = multiprocessing.get_context("fork")
    stop = context.Event()
    workers: list[tuple[Any, Any]] = []
    try:
        for part in range(builders):
            queue = context.Queue(maxsize=2)
            worker = context.Process(
                target=_worker,
                args=(replace(plan, part=(part, builders)), queue, stop),
                daemon=True,
            )
            worker.start()
            workers.append((worker, queue))
        yield _in_order([_received(worker, queue) for worker, queue in workers])
    finally:
        stop.set()
        for worker, queue in workers:
            _finish(worker, queue)


def _received(worker: Any, queue: Any) -> Iterator[tuple[str, Any]]:
    """The messages of one builder process until it is done; its error raised here."""
    while True:
        try:
            kind, payload = queue.get(timeout=1)
        except Empty:
            if not worker.is_alive():
                raise RuntimeError(
                    f"the record builder stopped unexpectedly (exit code {worker.exitcode})"
                ) from None
            continue
        if kind == "done":
            return
        if kind == "error":
            raise payload
        yield kind, payload


def _finish(worker: Any, queue: Any) -> None:
    """Wait for a builder process told to stop, draining its queue so it is never blocked
    handing over a batch."""
    deadline = time.monotonic() + 30
    while worker.is_alive() and time.monotonic() < deadline:
        with suppress(Empty):
            queue.get(timeout=0.1)
    if worker.is_alive():
        worker.terminate()
    worker.join()
    queue.close()
