"""The JSON shapes of the cohort API (/api/cohorts...), documented in OpenAPI."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from integrated_care.health.cohort_query import AreaCount, CohortCounts
from integrated_care.health.cohorts import CohortDefinition, CohortEntry


class CohortSummary(BaseModel):
    name: str
    title: str
    source: str = Field(description="shipped (an example in the package) or saved (by an analyst)")
    version: str
    latest_version: str | None
    criteria: list[str] = Field(description="Each criterion in words")
    members: int | None = Field(description="People in the cohort (unsuppressed: analysts only)")
    population: int | None = Field(description="Registered people the cohort was drawn from")
    rate_per_1000: float | None
    as_of: dt.date | None
    counted_from: str | None = Field(
        description="cohorts_mart (counted by `ics analyse`) or live (counted for this request)"
    )

    @classmethod
    def of(
        cls,
        entry: CohortEntry,
        counts: tuple[int, int] | None,
        as_of: dt.date | None,
        counted_from: str | None,
    ) -> CohortSummary:
        members, population = counts if counts else (None, None)
        return cls(
            name=entry.name,
            title=entry.title,
            source=entry.source,
            version=entry.version,
            latest_version=entry.latest_version,
            criteria=entry.definition.criteria(),
            members=members,
            population=population,
            rate_per_1000=round(members / population * 1000, 2) if population else None,
            as_of=as_of,
            counted_from=counted_from,
        )


class AreaCountOut(BaseModel):
    code: str
    name: str | None
    pcn_code: str | None
    members: int
    list_size: int = Field(description="People registered on the marts' date")
    rate_per_1000: float | None

    @classmethod
    def of(cls, area: AreaCount, names: dict[str, str]) -> AreaCountOut:
        return cls(name=names.get(area.code), **area.as_dict())


class VersionOut(BaseModel):
    version: str
    title: str
    saved_at: str | None
    saved_by: str | None
    criteria: list[str]


class CohortDetail(BaseModel):
    name: str
    title: str
    description: str
    source: str
    version: str
    latest_version: str | None
    definition: CohortDefinition
    criteria: list[str]
    as_of: dt.date
    members: int
    population: int
    rate_per_1000: float | None
    by_pcn: list[AreaCountOut]
    by_practice: list[AreaCountOut]
    versions: list[VersionOut]

    @classmethod
    def of(
        cls,
        entry: CohortEntry,
        counts: CohortCounts,
        versions: list[CohortEntry],
        names: dict[str, str],
    ) -> CohortDetail:
        return cls(
            name=entry.name,
            title=entry.title,
            description=entry.definition.description,
            source=entry.source,
            version=entry.version,
            latest_version=entry.latest_version,
            definition=entry.definition,
            criteria=entry.definition.criteria(),
            as_of=counts.as_of,
            members=counts.members,
            population=counts.population,
            rate_per_1000=counts.rate_per_1000,
            by_pcn=[AreaCountOut.of(a, names) for a in counts.by_pcn],
            by_practice=[AreaCountOut.of(a, names) for a in counts.by_practice],
            versions=[version_out(v) for v in versions],
        )


def version_out(entry: CohortEntry) -> VersionOut:
    return VersionOut(
        version=entry.version,
        title=entry.title,
        saved_at=entry.created_at,
        saved_by=entry.created_by,
        criteria=entry.definition.criteria(),
    )


class MemberPage(BaseModel):
    name: str
    version: str
    as_of: dt.date
    total: int
    page: int
    page_size: int
    pages: int
    columns: list[str]
    members: list[dict[str, Any]] = Field(
        description="Pseudonymous: patient_id is the warehouse's key; age band, never a date "
        "of birth; no names or NHS numbers (the warehouse holds none)"
    )


class SavedOut(BaseModel):
    name: str
    version: int
    created: bool = Field(description="False: the definition was unchanged; no new version")
