"""Parquet output in the input layer's exact schemas, byte-for-byte reproducible.

Columns arrive as numpy arrays: int32 day numbers for dates (NEVER = null), int64 microseconds
for timestamps, (codes, index) pairs for repeated strings. Writer options are fixed and no
timestamps or paths enter the file metadata, so the same data always gives the same bytes.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from integrated_care.synth.core import NEVER
from integrated_care.warehouse.schema import arrow_schema

ROW_GROUP = 1 << 20
OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 1,
    "write_statistics": True,
    "version": "2.6",
    # String columns are written from dictionary arrays (fast: no re-hashing of millions of
    # repeated codes); without the stored Arrow schema they read back as plain strings, and
    # dates, timestamps and decimals keep their Parquet logical types.
    "store_schema": False,
}
DICTIONARY = pa.dictionary(pa.int32(), pa.string())
# One background thread encodes and writes Parquet while the generator computes the next part;
# each table's parts are submitted in order, so the bytes do not depend on timing.
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synth-writer")


ENCODING_SECONDS: dict[str, float] = {}  # background Parquet encoding time per table (profiling)


def options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options: dictionary encoding for the (repetitive) string columns only."""
    strings = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    return {**OPTIONS, "use_dictionary": strings}


def storage_schema(name: str) -> pa.Schema:
    """The table's input-layer schema with string columns as dictionary arrays."""
    schema = arrow_schema(name)
    return pa.schema([
        f.with_type(DICTIONARY) if pa.types.is_string(f.type) else f for f in schema
    ])  # fmt: skip


class Coded:
    """A string column given as indices into a small array of codes (null where index < 0)."""

    def __init__(self, codes: Any, index: np.ndarray) -> None:
        # a dictionary must not repeat a value (BNF chapters do): map repeats to the first
        values = [str(c) for c in codes]
        first: dict[str, int] = {}
        remap = np.array([first.setdefault(v, len(first)) for v in values] or [0], np.int64)
        self.codes = pa.array(list(first), pa.string())
        index = np.asarray(index)
        self.index = index if len(first) == len(values) else np.where(index < 0, -1, remap[index])

    def __getitem__(self, rows: np.ndarray) -> Coded:
        """The same codes for a subset (or reordering) of the rows."""
        out = Coded.__new__(Coded)
        out.codes, out.index = self.codes, self.index[rows]
        return out

    def __len__(self) -> int:
        return len(self.index)

    @staticmethod
    def concat(parts: list[Coded]) -> Coded:
        out = Coded.__new__(Coded)
        out.codes = parts[0].codes
        out.index = np.concatenate([p.index for p in parts])
        return out

    def to_arrow(self) -> pa.Array:
        idx = pa.array(self.index.astype(np.int32), mask=self.index < 0)
        return pc.take(self.codes, idx)

    def to_dictionary(self) -> pa.DictionaryArray:
        idx = pa.array(self.index.astype(np.int32), mask=self.index < 0)
        return pa.DictionaryArray.from_arrays(idx, self.codes)


def _dates(days: np.ndarray) -> pa.Array:
    days = np.asarray(days)
    return pa.array(days.astype("int32"), mask=days == NEVER).view(pa.date32())


def _money(values: np.ndarray, t: pa.DataType) -> pa.Array:
    """GBP amounts as decimal128 with the field's scale, built from the unscaled integers."""
    unscaled = np.round(values * 10**t.scale).astype(np.int64)
    words = np.empty(2 * len(unscaled), dtype=np.int64)
    words[0::2] = unscaled
    words[1::2] = unscaled >> 63  # sign extension into the high 64 bits
    return pa.Array.from_buffers(t, len(unscaled), [None, pa.py_buffer(words.tobytes())])


def _column(value: Any, field: pa.Field) -> pa.Array:
    if pa.types.is_dictionary(field.type):
        if isinstance(value, Coded):
            return value.to_dictionary()
        strings = value if isinstance(value, pa.Array) else pa.array(value, pa.string())
        return pc.dictionary_encode(strings.cast(pa.string())).cast(DICTIONARY)
    if isinstance(value, Coded):
        return value.to_arrow()
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return value.cast(field.type)
    t = field.type
    if pa.types.is_date32(t):
        return _dates(value)
    if pa.types.is_timestamp(t):
        v = np.asarray(value, dtype=np.int64)
        return pa.array(v, mask=v == np.iinfo(np.int64).min).view(t)
    if pa.types.is_decimal(t):
        return _money(np.asarray(value, dtype=np.float64), t)
    if isinstance(value, np.ndarray) and value.dtype.kind in "iufb":
        return pa.array(value).cast(t)
    return pa.array(value, type=t)


def to_table(name: str, columns: dict[str, Any]) -> pa.Table:
    schema = storage_schema(name)
    arrays = [_column(columns[f.name], f) for f in schema]
    return pa.Table.from_arrays(arrays, schema=schema)


class TableWriter:
    """One table's Parquet file, written in parts (e.g. one per simulated year)."""

    def __init__(self, out: Path, name: str) -> None:
        self.name = name
        self.path = out / f"{name}.parquet"
        self.schema = storage_schema(name)
        self._writer = pq.ParquetWriter(self.path, self.schema, **options(self.schema))
        self._pending: list[Future[None]] = []
        self.rows = 0

    def write(self, columns: dict[str, Any]) -> int:
        table = to_table(self.name, columns)
        self._pending.append(_POOL.submit(self._write, table))
        self.rows += table.num_rows
        return table.num_rows

    def _write(self, table: pa.Table) -> None:
        started = time.perf_counter()
        self._writer.write_table(table, row_group_size=ROW_GROUP)
        ENCODING_SECONDS[self.name] = ENCODING_SECONDS.get(self.name, 0.0) + (
            time.perf_counter() - started
        )

    def close(self) -> None:
        for f in self._pending:
            f.result()
        self._writer.close()


def write_table(out: Path, name: str, columns: dict[str, Any]) -> int:
    w = TableWriter(out, name)
    n = w.write(columns)
    w.close()
    return n
