"""Progress reporting for long steps, so the library stays silent and the CLI shows bars."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class Reporter(Protocol):
    """Told when each table starts and finishes."""

    def begin(self, title: str, tables: int) -> None: ...

    def table_started(self, name: str) -> None: ...

    def table_done(self, name: str, detail: str) -> None: ...


class Silent:
    """Reports nothing: the default for library calls and tests."""

    def begin(self, title: str, tables: int) -> None:
        return None

    def table_started(self, name: str) -> None:
        return None

    def table_done(self, name: str, detail: str) -> None:
        return None


class RichReporter:
    """A rich progress bar over tables, with one line per finished table."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.task = self.progress.add_task("", total=None)
        self.title = ""

    def __enter__(self) -> RichReporter:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def begin(self, title: str, tables: int) -> None:
        self.progress.reset(self.task, total=tables, description=title)
        self.title = title

    def table_started(self, name: str) -> None:
        self.progress.update(self.task, description=f"{self.title}: {name}")

    def table_done(self, name: str, detail: str) -> None:
        self.progress.console.print(f"  {name:<24} {detail}")
        self.progress.advance(self.task)
