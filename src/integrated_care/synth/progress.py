"""A rich progress bar over the generator's stages (silent when not wanted)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn


class Stages:
    """``with Stages(n) as s: with s.stage("name"): ...`` advances one step per stage and
    records each stage's wall time in ``timings``."""

    def __init__(self, total: int, show: bool = True) -> None:
        self.total = total
        self.show = show
        self.timings: dict[str, float] = {}
        self._progress: Progress | None = None
        self._task = 0

    def __enter__(self) -> Stages:
        if self.show:
            self._progress = Progress(
                TextColumn("[bold]{task.description:<42}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task("synthetic ICS", total=self.total)
        return self

    def __exit__(
        self, exc: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self._progress is not None:
            self._progress.update(self._task, description=name)
        started = time.perf_counter()
        yield
        self.timings[name] = time.perf_counter() - started
        if self._progress is not None:
            self._progress.advance(self._task)
