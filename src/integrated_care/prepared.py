"""Prepared queries: fixed SELECTs compiled once per database and run on the driver's cursor.

Every FHIR request runs the same few statements (the bearer token's facts, the resource's
current row, the patient's registration). SQLAlchemy's execution path (cache look-up,
parameter construction, result metadata) cost more CPU than SQLite took to answer them.
A :class:`PreparedQuery` keeps SQLAlchemy for what it is good at, writing the SQL for each
dialect and converting values (the same bind and result processors its own results use), and
skips the rest. A caller's parameters are single values (no ``IN`` lists).
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Select
from sqlalchemy.engine import Dialect


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positions: tuple[str, ...] | None  # parameter order for positional drivers (SQLite)
    required: frozenset[str]  # the caller's parameters
    defaults: tuple[tuple[str, Any], ...]  # values the statement carries itself (a LIMIT)
    binds: tuple[tuple[str, Callable[[Any], Any]], ...]  # values converted for the driver
    results: tuple[Callable[[Any], Any] | None, ...]
    row: type


class PreparedQuery:
    """`statement` (a SELECT with named bind parameters), runnable on any store's connection;
    rows come back as named tuples with the statement's column names."""

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._by_dialect: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def _compiled(self, dialect: Dialect) -> _Compiled:
        found = self._by_dialect.get(dialect.name)
        if found is None:
            with self._lock:
                found = self._by_dialect.setdefault(dialect.name, self._compile(dialect))
        return found

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        required = {name for name, bind in compiled.binds.items() if bind.required}
        # The statement's own lists (`param IN ('a', 'b')`) are expanded into the SQL once; the
        # caller's parameters stay parameters (given a stand-in value to expand with).
        expanded = compiled.construct_expanded_state(dict.fromkeys(required))
        binds = tuple(
            (name, processor)
            for name in required
            if (processor := compiled.binds[name].type._cached_bind_processor(dialect))
        )
        defaults = tuple(
            (name, value) for name, value in expanded.parameters.items() if name not in required
        )
        columns = list(self.statement.selected_columns)
        results = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
        row = namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
        positions = tuple(expanded.positiontup) if compiled.positional else None
        return _Compiled(
            expanded.statement, positions, frozenset(required), defaults, binds, results, row
        )

    def rows(self, connection: Connection, params: Mapping[str, Any]) -> list[Any]:
        """Every row the statement answers for `params`, on `connection`'s transaction."""
        compiled = self._compiled(connection.dialect)
        if not compiled.required <= params.keys():
            raise KeyError(f"missing parameters: {sorted(compiled.required - params.keys())}")
        values = {**dict(compiled.defaults), **params}
        for name, processor in compiled.binds:
            values[name] = processor(values[name])
        arguments: Any = (
            values if compiled.positions is None else [values[p] for p in compiled.positions]
        )
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, arguments)
            fetched = cursor.fetchall()
        finally:
            cursor.close()
        make, results = compiled.row._make, compiled.results
        if not any(results):
            return [make(r) for r in fetched]
        return [
            make(value if p is None else p(value) for p, value in zip(results, r, strict=True))
            for r in fetched
        ]

    def first(self, connection: Connection, params: Mapping[str, Any]) -> Any | None:
        """The first row, or None."""
        found = self.rows(connection, params)
        return found[0] if found else None
