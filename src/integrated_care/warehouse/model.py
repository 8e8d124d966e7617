"""The building blocks of the input-layer schema: column types, columns, keys, rules, tables.

The tables themselves are declared in :mod:`integrated_care.warehouse.schema`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Literal

import pyarrow as pa

ColumnType = Literal["string", "int64", "float64", "decimal", "bool", "date", "timestamp"]
Special = Literal["nhs_number", "first_of_month", "financial_year"]

MONEY_PRECISION, MONEY_SCALE = 18, 2

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "decimal": pa.decimal128(MONEY_PRECISION, MONEY_SCALE),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}

SQL_TYPES: dict[str, str] = {
    "string": "VARCHAR",
    "int64": "BIGINT",
    "float64": "DOUBLE",
    "decimal": f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})",
    "bool": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


@cache
def code_list(name: str) -> tuple[str, ...]:
    """The codes of a code list kept in ``warehouse/data/<name>.csv`` (first column)."""
    text = resources.files("integrated_care.warehouse").joinpath(f"data/{name}.csv").read_text()
    return tuple(row["code"] for row in csv.DictReader(text.splitlines()))


@dataclass(frozen=True)
class ForeignKey:
    """Values must appear in ``table.column`` (restricted to rows where ``where`` holds)."""

    table: str
    column: str
    where: tuple[str, str] | None = None  # (column, value), e.g. ("org_type", "gp_practice")

    def describe(self) -> str:
        target = f"{self.table}.{self.column}"
        if self.where:
            return f"{target} where {self.where[0]} = {self.where[1]}"
        return target


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it may be null, and the rules its values keep."""

    name: str
    type: ColumnType
    description: str = ""
    nullable: bool = False
    allowed: tuple[str | int, ...] | None = None
    code_list: str | None = None  # name of a list in data/: values outside it are unknown codes
    pattern: str | None = None  # a regular expression the whole value matches
    pattern_name: str = ""  # what the pattern is, for messages: "ICD-10 code"
    minimum: float | None = None
    maximum: float | None = None
    references: ForeignKey | None = None
    special: Special | None = None
    identifiable: bool = False  # never enters the warehouse

    @property
    def arrow_type(self) -> pa.DataType:
        return ARROW_TYPES[self.type]

    @property
    def sql_type(self) -> str:
        return SQL_TYPES[self.type]

    def allowed_values(self) -> tuple[str | int, ...] | None:
        """The permitted values, from ``allowed`` or the named code list."""
        if self.code_list:
            return code_list(self.code_list)
        return self.allowed


@dataclass(frozen=True)
class OrderRule:
    """Within a row, ``later`` is on or after ``earlier`` when both are present."""

    earlier: str
    later: str


@dataclass(frozen=True)
class TableSpec:
    """One input-layer table."""

    name: str
    group: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    required: bool = False
    order_rules: tuple[OrderRule, ...] = ()
    _by_name: dict[str, Column] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {c.name: c for c in self.columns})

    def column(self, name: str) -> Column:
        return self._by_name[name]

    def has_column(self, name: str) -> bool:
        return name in self._by_name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def patient_level(self) -> bool:
        """Holds one patient's records: secondary use, so national opt-outs are removed."""
        return "patient_id" in self._by_name

    @property
    def warehouse_columns(self) -> tuple[Column, ...]:
        """The columns the warehouse keeps: all but the identifiable ones."""
        return tuple(c for c in self.columns if not c.identifiable)

    def arrow_schema(self, *, warehouse: bool = False) -> pa.Schema:
        columns = self.warehouse_columns if warehouse else self.columns
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in columns])
