"""The shared care record's tables: current resources, every version, and the search indexes.

- ``record_resource`` holds the current version of each resource (deleted ones stay, flagged),
  its JSON exactly as served (with ``meta.versionId`` / ``meta.lastUpdated``) and the id of the
  patient whose compartment it belongs to, so a patient's record is one indexed lookup.
- ``record_resource_history`` holds every version ever written; database triggers refuse
  UPDATE and DELETE, so history is append-only.
- ``record_search_*`` are the search indexes, rebuilt for a resource on every write from the
  parameter definitions in ``data/search_parameters.json``: searches are indexed SQL, never scans
  of JSON. Index dates are naive UTC; a date is stored as the half-open range [low, high) its
  precision covers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from integrated_care.db import Base, BigId, Timestamp

UtcDateTime = DateTime(timezone=False)  # naive UTC, in the search indexes
TYPE_LENGTH = 64
ID_LENGTH = 64
VALUE_LENGTH = 255


def _bytewise(length: int) -> String:
    """Text compared byte by byte on PostgreSQL too (collation "C", as SQLite's BINARY). For
    codes, systems and parameter names only ever compared with given values: building the
    token index sorted 6.5 million keys in 19.5 s instead of 30-36 s under the database's
    C.UTF-8, which PostgreSQL compares through the C library's strcoll, one call per pair."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class RecordResource(Base):
    """The current version of one FHIR resource."""

    __tablename__ = "record_resource"
    __table_args__ = (
        Index("ix_record_resource_type_updated", "resource_type", "last_updated"),
        Index("ix_record_resource_patient", "patient_id", "resource_type"),
    )

    resource_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer)
    last_updated: Mapped[datetime] = mapped_column(Timestamp)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # The Patient whose compartment holds this resource (a Patient's own id for a Patient).
    patient_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    content: Mapped[str | None] = mapped_column(Text)


class RecordResourceHistory(Base):
    """Every version of every resource, append-only; ``content`` is empty for a deletion."""

    __tablename__ = "record_resource_history"
    __table_args__ = (
        Index("ix_record_resource_history_type_updated", "resource_type", "last_updated"),
    )

    resource_type: Mapped[str] = mapped_column(String(TYPE_LENGTH), primary_key=True)
    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    version_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_updated: Mapped[datetime] = mapped_column(Timestamp)
    method: Mapped[str] = mapped_column(String(10))  # POST | PUT | DELETE
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    patient_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    content: Mapped[str | None] = mapped_column(Text)


class SearchToken(Base):
    """A token value (system|code) of a resource: identifiers, codes, statuses, categories."""

    __tablename__ = "record_search_token"
    __table_args__ = (
        Index("ix_record_search_token_code", "resource_type", "param", "code", "system"),
        # Each search table's rows of one resource (to replace, sort by, _include from), led by
        # the resource id, which every such look-up names: nearly unique leading keys sort
        # faster when a load builds the index (token table of a whole-ICS record: 10.3 s
        # instead of 12.9 s led by the type).
        Index("ix_record_search_token_resource", "resource_id", "resource_type"),
    )

    row_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(_bytewise(TYPE_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    param: Mapped[str] = mapped_column(_bytewise(64))
    system: Mapped[str | None] = mapped_column(_bytewise(VALUE_LENGTH))
    code: Mapped[str] = mapped_column(_bytewise(VALUE_LENGTH))


class SearchString(Base):
    """A string value of a resource: ``value`` is normalised (lower case, no accents), ``exact``
    is as written."""

    __tablename__ = "record_search_string"
    __table_args__ = (
        # text_pattern_ops lets PostgreSQL answer prefix searches (LIKE 'abc%') from the index
        # whatever the database's collation.
        Index(
            "ix_record_search_string_value",
            "resource_type",
            "param",
            "value",
            postgresql_ops={"value": "text_pattern_ops"},
        ),
        Index("ix_record_search_string_resource", "resource_id", "resource_type"),
    )

    row_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    param: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(String(VALUE_LENGTH))
    exact: Mapped[str] = mapped_column(String(VALUE_LENGTH))


class SearchDate(Base):
    """A date, dateTime or Period of a resource as the range [low, high) in naive UTC."""

    __tablename__ = "record_search_date"
    __table_args__ = (
        Index("ix_record_search_date_low", "resource_type", "param", "low"),
        Index("ix_record_search_date_high", "resource_type", "param", "high"),
        Index("ix_record_search_date_resource", "resource_id", "resource_type"),
    )

    row_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    param: Mapped[str] = mapped_column(String(64))
    low: Mapped[datetime] = mapped_column(UtcDateTime)
    high: Mapped[datetime] = mapped_column(UtcDateTime)


class SearchReference(Base):
    """A reference from a resource to another (``target_type``/``target_id``)."""

    __tablename__ = "record_search_reference"
    __table_args__ = (
        # Led by the target's id, which every look-up of references to a resource names (a
        # compartment search, a _revinclude, an access rule's "refers to this organisation"):
        # one index serves them all, and sorting nearly unique leading keys builds it faster.
        Index(
            "ix_record_search_reference_target",
            "target_id",
            "param",
            "resource_type",
            "target_type",
        ),
        Index("ix_record_search_reference_resource", "resource_id", "resource_type"),
    )

    row_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    resource_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    param: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(TYPE_LENGTH))
    target_id: Mapped[str] = mapped_column(String(ID_LENGTH))


INDEX_TABLES = (SearchToken, SearchString, SearchDate, SearchReference)
