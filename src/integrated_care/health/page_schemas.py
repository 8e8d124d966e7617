"""What the population-health pages and their JSON twins show: aggregates only, never a person."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field

from integrated_care.health.population import PopulationProfile


class Headline(BaseModel):
    registered: int = Field(description="People alive and registered on the analysis date")
    as_of: dt.date = Field(description="The date the marts describe")
    built_at: dt.datetime | None = Field(description="When `ics analyse` built the marts (UTC)")
    practices: int
    pcns: int
    places: int


class RegisterPrevalence(BaseModel):
    qof_group: str
    label: str
    numerator: int
    denominator: int
    prevalence_pct: float | None
    england_pct: float | None = Field(description="Published national (England) prevalence")
    difference_pct_points: float | None = Field(description="ICS minus England, in % points")


class NationalSource(BaseModel):
    source: str
    year: str
    file: str


class SegmentFigures(BaseModel):
    segment: str
    segment_rank: int
    label: str
    people: int
    pct_of_population: float
    cost_12m: float
    cost_per_person: float | None = Field(description="None for an empty segment")
    emergency_admissions_12m: int
    emergency_admissions_per_1000: float | None


class RiskBandFigures(BaseModel):
    risk_band: str
    label: str
    people: int
    share: float
    min_score: float | None
    max_score: float | None
    mean_score: float | None
    expected_admissions: float | None


class RiskHistogramBin(BaseModel):
    lower: float = Field(description="Predicted risk from (inclusive), 0-1")
    upper: float = Field(description="Predicted risk to (exclusive; the last bin includes 1)")
    people: int


class EfiCategoryCount(BaseModel):
    efi_category: str
    label: str
    people: int
    pct_of_65_plus: float


class PopulationHealthOverview(BaseModel):
    headline: Headline
    population: PopulationProfile
    registers: list[RegisterPrevalence]
    national_source: NationalSource
    segments: list[SegmentFigures]
    risk_bands: list[RiskBandFigures] = Field(description="Empty when the risk model was not run")
    risk_histogram: list[RiskHistogramBin]
    efi_categories: list[EfiCategoryCount] = Field(
        description="People aged 65+ (eFI is null under 65)"
    )


FlagName = Literal["high_998", "high_95", "within", "low_95", "low_998"]


class FunnelPoint(BaseModel):
    area_code: str
    area_name: str
    numerator: int
    denominator: int
    value: float = Field(description="The area's figure, in the funnel's unit")
    lower_95: float
    upper_95: float
    lower_998: float
    upper_998: float
    flag: FlagName
    flag_label: str


class FunnelCurvePoint(BaseModel):
    denominator: float
    lower_95: float
    upper_95: float
    lower_998: float
    upper_998: float


class Funnel(BaseModel):
    level: Literal["practice", "pcn"]
    measure: str
    unit: str = Field(description="'%' or 'per 1,000'")
    target: float = Field(description="The ICS mean, in the funnel's unit")
    method: str
    points: list[FunnelPoint]
    curve: list[FunnelCurvePoint]


class RegisterOption(BaseModel):
    qof_group: str
    label: str


class PracticeComparison(BaseModel):
    as_of: dt.date
    selected: RegisterOption = Field(description="The register compared")
    registers: list[RegisterOption]
    prevalence_by_practice: Funnel
    prevalence_by_pcn: Funnel
    admissions_by_practice: Funnel
    admissions_by_pcn: Funnel


class InequalityRow(BaseModel):
    """A row of the `inequalities` mart as published: counts of 1-7 suppressed (with the rates
    of that row), other counts rounded to 5."""

    indicator: str
    group_type: str
    group: str
    group_label: str
    statistic: str
    numerator: int | None
    denominator: int | None
    expected: int | None
    crude_rate: float | None
    dsr: float | None
    value: float | None
    lower: float | None
    upper: float | None
    multiplier: float | None
    note: str | None


class IndicatorSummary(BaseModel):
    indicator: str
    label: str
    unit: str
    statistic: str
    supported: bool
    note: str | None
    overall: InequalityRow | None
    core20: InequalityRow | None
    rest: InequalityRow | None
    sii: InequalityRow | None
    rii: InequalityRow | None


class InequalitiesView(BaseModel):
    as_of: dt.date
    indicators: list[IndicatorSummary]
    rows: list[InequalityRow]
