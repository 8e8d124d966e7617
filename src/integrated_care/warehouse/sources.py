"""Finding the input-layer files in a folder and reading them.

Each table arrives as ``name.parquet``, ``name.csv`` or a folder ``name/`` of ``*.parquet`` or
``*.csv`` parts. CSV is read by pyarrow with every column as text (empty fields are null), so the
checker can report text that is not of the column's type instead of failing on it.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from integrated_care.warehouse.schema import TABLES

Format = Literal["parquet", "csv"]


@dataclass(frozen=True)
class Source:
    """Where one table's rows come from: one or more files of the same format."""

    table: str
    format: Format
    files: tuple[Path, ...]
    root: Path

    def label(self, path: Path) -> str:
        """A file's name relative to the input folder, as problems report it."""
        return path.relative_to(self.root).as_posix()

    def columns(self) -> list[str]:
        """Column names in the first file (parts must share them)."""
        first = self.files[0]
        if self.format == "parquet":
            return list(pq.read_schema(first).names)
        return csv_header(first)

    def checksum(self) -> str:
        """SHA-256 over every file's name and bytes, in order."""
        digest = hashlib.sha256()
        for path in self.files:
            digest.update(self.label(path).encode() + b"\0")
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    digest.update(chunk)
        return digest.hexdigest()


def csv_header(path: Path) -> list[str]:
    """The column names on the first line of a CSV file."""
    with path.open("r", encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


@dataclass(frozen=True)
class Discovery:
    """The sources found in a folder, and the names that could not be used."""

    sources: dict[str, Source]
    ambiguous: dict[str, list[Path]]  # table -> the competing candidates
    unknown: list[Path]  # files or folders that are not input-layer tables


def _parts(folder: Path) -> tuple[Format, tuple[Path, ...]] | None:
    parquet = tuple(sorted(folder.glob("*.parquet")))
    text = tuple(sorted(folder.glob("*.csv")))
    if parquet and not text:
        return "parquet", parquet
    if text and not parquet:
        return "csv", text
    return None


def discover(root: Path) -> Discovery:
    """Find every table's source in ``root``."""
    candidates: dict[str, list[tuple[Format, tuple[Path, ...], Path]]] = {}
    unknown: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            name, found = entry.name, _parts(entry)
        elif entry.suffix in (".parquet", ".csv"):
            name, found = entry.stem, (entry.suffix[1:], (entry,))  # type: ignore[assignment]
        else:
            name, found = entry.name, None
        if name not in TABLES or found is None:
            unknown.append(entry)
            continue
        candidates.setdefault(name, []).append((found[0], found[1], entry))
    sources: dict[str, Source] = {}
    ambiguous: dict[str, list[Path]] = {}
    for name, found in candidates.items():
        if len(found) > 1:
            ambiguous[name] = [entry for _, _, entry in found]
        else:
            fmt, files, _ = found[0]
            sources[name] = Source(name, fmt, files, root)
    return Discovery(sources, ambiguous, unknown)


def read_csv(path: Path) -> pa.Table:
    """One CSV file with every column as text; empty fields are null."""
    names = csv_header(path)
    return pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, encoding="utf-8"),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            null_values=[""],
        ),
    )
