"""Running the store's blocking work off the event loop, cheaply.

The FHIR API hands every request's store work to a thread, and the accounts middleware hands
it the bearer-token check. anyio's ``to_thread`` (what Starlette's ``run_in_threadpool`` uses)
spent more CPU per hand-over, in cancel scopes and capacity limiters, than a read by id took
in the database. This pool is a plain ``ThreadPoolExecutor`` of ``db.WORKER_THREADS`` threads
per process, one for each pooled connection it may hold. The work runs to completion even if
the client goes away, as it did under anyio (which shielded it from cancellation too).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from integrated_care import db
from integrated_care.runtime import Runtime

P = ParamSpec("P")
T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(db.WORKER_THREADS, thread_name_prefix="ics-store")
        return _pool


async def run_blocking(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """`function(*args, **kwargs)` on a store thread, awaited; context variables carried."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_executor(), call)


def runs_inline(runtime: Runtime) -> bool:
    """Does store work that only reads run on the event loop itself, not a store thread?

    On the embedded store (SQLite in this process) a read by id takes well under a millisecond
    of the database's time, and handing it to a thread and back (two wake-ups, and the threads
    then queueing on the interpreter lock) cost as much CPU again: served reads took ~3.1 ms of
    CPU each on threads, ~2.1 ms inline. A networked store (PostgreSQL) waits on round trips,
    which threads overlap."""
    return runtime.engine.dialect.name == "sqlite"
