"""Case-finding cohorts: who should be offered proactive care, defined as data.

A :class:`CohortDefinition` combines criteria on the ``patient_summary`` mart (QOF registers,
segment, risk band, eFI category, age, sex, deprivation, practice / PCN / place, time since the
last GP contact) with criteria on the GP record: "has" or "lacks" an event from a named code
list within N days (:class:`EventCriterion`). Every criterion given must hold; an empty one is
not applied. Values are checked against the platform's own vocabularies, so a typo names the
field and lists what is valid.

The code lists are versioned data: ``data/event_codelists.csv`` holds the simple lists (any code
counts); ``smi_health_check`` is the Core20PLUS5 SMI physical health check, read from
``data/core20plus5_indicators.json`` exactly as the inequalities mart reads it (every element
recorded in the window). Four example cohorts ship in ``data/cohorts/*.json``; analysts save
their own in the operational store (``cohort_store``), versioned.

The Ibis evaluation is in ``cohort_query``.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from integrated_care.health import codelists
from integrated_care.health.inequalities import definitions as core20plus5_definitions

DATA = Path(__file__).parent / "data"
SHIPPED_DIR = DATA / "cohorts"
EVENT_CODELISTS = DATA / "event_codelists.csv"
NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
SEXES = ("female", "male", "intersex", "unknown")  # warehouse.schema.SEX
MAX_DAYS = 3660
RESERVED_NAMES = ("new",)  # /population-health/cohorts/new is the form


# ---- vocabularies ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventList:
    """A named list of GP-record codes. ``elements`` maps each element to its codes; a person
    meets the list in a window when ``require`` ("all" or "any") of the elements are recorded."""

    name: str
    label: str
    elements: dict[str, tuple[str, ...]]
    require: Literal["all", "any"]
    version: str
    source: str

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(c for codes in self.elements.values() for c in codes)

    @property
    def required(self) -> int:
        return len(self.elements) if self.require == "all" else 1


@cache
def event_lists() -> dict[str, EventList]:
    """Every named event code list: the simple ones from the CSV, then the SMI health check."""
    rows: dict[str, list[dict[str, str]]] = {}
    with EVENT_CODELISTS.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["list"], []).append(row)
    lists = {
        name: EventList(
            name=name,
            label=name.replace("_", " "),
            elements={name: tuple(r["code"] for r in group)},
            require="any",
            version=",".join(sorted({r["version"] for r in group})),
            source="; ".join(dict.fromkeys(r["source"] for r in group)),
        )
        for name, group in rows.items()
    }
    spec = core20plus5_definitions()
    smi = spec["smi_health_check"]
    lists["smi_health_check"] = EventList(
        name="smi_health_check",
        label="SMI physical health check ("
        + ", ".join(e.replace("_", " ") for e in smi["elements"])
        + ")",
        elements={k: tuple(v) for k, v in smi["elements"].items()},
        require=smi["require"],
        version=spec["version"],
        source="core20plus5_indicators.json smi_health_check (the inequalities mart's definition)",
    )
    return lists


def event_list_versions() -> dict[str, str]:
    return {name: spec.version for name, spec in event_lists().items()}


@cache
def vocabularies() -> dict[str, tuple[str, ...]]:
    """The valid values of each list-valued criterion."""
    bands = json.loads((DATA / "risk_bands.json").read_text())["bands"]
    efi = codelists.efi_definition()
    with (DATA / "segments.csv").open(newline="", encoding="utf-8") as f:
        segments = tuple(r["segment"] for r in csv.DictReader(f))
    registers = tuple(r.condition for r in codelists.register_rules())
    return {
        "registers": registers,
        "segments": segments,
        "risk_bands": tuple(b["band"] for b in bands),
        "efi_categories": (*(c for _, c in efi.thresholds), efi.top_category),
        "sexes": SEXES,
        "code_lists": tuple(event_lists()),
    }


def register_labels() -> dict[str, str]:
    return {r.condition: r.label for r in codelists.register_rules()}


def _check_values(values: tuple[str, ...], vocabulary: str, what: str) -> tuple[str, ...]:
    valid = vocabularies()[vocabulary]
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise ValueError(
            f"unknown {what} {', '.join(repr(v) for v in unknown)}; valid values: "
            + ", ".join(valid)
        )
    return tuple(sorted(set(values), key=valid.index))


# ---- the definition ----------------------------------------------------------------------------


class EventCriterion(BaseModel):
    """A person "has" (or "lacks") the code list recorded in the `within_days` days up to and
    including the analysis date."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code_list: str = Field(description="A named event code list (see `ics cohort list`)")
    rule: Literal["has", "lacks"] = Field(description="has: recorded in the window; lacks: not")
    within_days: int = Field(gt=0, le=MAX_DAYS, description="The window, in days")

    @field_validator("code_list")
    @classmethod
    def _known_list(cls, value: str) -> str:
        return _check_values((value,), "code_lists", "code list")[0]

    @property
    def spec(self) -> EventList:
        return event_lists()[self.code_list]

    def describe(self) -> str:
        verb = "with" if self.rule == "has" else "without"
        return f"{verb} {self.spec.label} in {self.within_days} days"


class CohortDefinition(BaseModel):
    """Who is in a cohort: everyone registered for whom every criterion given holds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Identifier: a-z, 0-9 and hyphens")
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    registers_all: tuple[str, ...] = Field(default=(), description="On every one of these")
    registers_any: tuple[str, ...] = Field(default=(), description="On at least one of these")
    segments: tuple[str, ...] = ()
    risk_bands: tuple[str, ...] = ()
    efi_categories: tuple[str, ...] = Field(default=(), description="eFI (aged 65+ only)")
    sexes: tuple[str, ...] = ()
    age_min: int | None = Field(default=None, ge=0, le=130)
    age_max: int | None = Field(default=None, ge=0, le=130)
    imd_decile_min: int | None = Field(default=None, ge=1, le=10)
    imd_decile_max: int | None = Field(default=None, ge=1, le=10)
    practices: tuple[str, ...] = ()
    pcns: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    no_gp_contact_days: int | None = Field(
        default=None,
        gt=0,
        le=MAX_DAYS,
        description="No attended GP appointment in this many days up to the date (or ever)",
    )
    events: tuple[EventCriterion, ...] = ()

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_NAMES:
            raise ValueError(f"{value!r} is reserved; choose another name")
        return value

    @field_validator("title", "description")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("registers_all", "registers_any")
    @classmethod
    def _registers(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_values(value, "registers", "register")

    @field_validator("segments")
    @classmethod
    def _segments(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_values(value, "segments", "segment")

    @field_validator("risk_bands")
    @classmethod
    def _risk_bands(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_values(value, "risk_bands", "risk band")

    @field_validator("efi_categories")
    @classmethod
    def _efi(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_values(value, "efi_categories", "eFI category")

    @field_validator("sexes")
    @classmethod
    def _sexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_values(value, "sexes", "sex")

    @field_validator("events")
    @classmethod
    def _events_in_order(cls, value: tuple[EventCriterion, ...]) -> tuple[EventCriterion, ...]:
        return tuple(sorted(value, key=lambda e: e.code_list))

    @field_validator("practices", "pcns", "places")
    @classmethod
    def _codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        codes = tuple(sorted({v.strip().upper() for v in value if v.strip()}))
        bad = [c for c in codes if not c.isalnum() or len(c) > 20]
        if bad:
            raise ValueError(f"not an organisation code: {', '.join(repr(c) for c in bad)}")
        return codes

    @model_validator(mode="after")
    def _consistent(self) -> CohortDefinition:
        if self.age_min is not None and self.age_max is not None and self.age_min > self.age_max:
            raise ValueError("age_min is greater than age_max")
        if (
            self.imd_decile_min is not None
            and self.imd_decile_max is not None
            and self.imd_decile_min > self.imd_decile_max
        ):
            raise ValueError("imd_decile_min is greater than imd_decile_max")
        lists = [e.code_list for e in self.events]
        if len(lists) != len(set(lists)):
            raise ValueError("events: use each code list at most once")
        if not self.criteria():
            raise ValueError("a cohort needs at least one criterion")
        return self

    def criteria(self) -> list[str]:
        """Each criterion in words, in the order they are applied."""
        labels = register_labels()
        out = []
        if self.registers_all:
            out.append("on every register of: " + ", ".join(labels[r] for r in self.registers_all))
        if self.registers_any:
            out.append("on any register of: " + ", ".join(labels[r] for r in self.registers_any))
        for field, what in (
            ("segments", "segment"),
            ("risk_bands", "risk band"),
            ("efi_categories", "eFI category"),
            ("sexes", "sex"),
            ("practices", "practice"),
            ("pcns", "PCN"),
            ("places", "place"),
        ):
            if values := getattr(self, field):
                out.append(f"{what}: " + ", ".join(v.replace("_", " ") for v in values))
        if self.age_min is not None or self.age_max is not None:
            out.append(f"aged {self.age_min or 0} to {self.age_max or 'any'}")
        if self.imd_decile_min is not None or self.imd_decile_max is not None:
            out.append(f"IMD decile {self.imd_decile_min or 1} to {self.imd_decile_max or 10}")
        if self.no_gp_contact_days is not None:
            out.append(f"no GP appointment attended in {self.no_gp_contact_days} days")
        out.extend(e.describe() for e in self.events)
        return out

    def canonical(self) -> dict[str, Any]:
        """The definition as JSON-ready data, defaults left out (what is stored and hashed)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def sha256(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class CohortError(ValueError):
    """A cohort that cannot be defined, found or saved, with a message fit to show the person."""


def validation_messages(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each problem, the field as a dotted path (``events.0.code_list``)."""
    out = []
    for problem in error.errors():
        field = ".".join(str(p) for p in problem["loc"]) or "definition"
        message = problem["msg"].removeprefix("Value error, ")
        out.append((field, message))
    return out


def parse_definition(data: Any) -> CohortDefinition:
    """A definition from JSON data (a bare definition, or a shipped file's ``definition``);
    :class:`CohortError` naming each bad field otherwise."""
    if isinstance(data, dict) and "definition" in data and "name" not in data:
        data = data["definition"]
    try:
        return CohortDefinition.model_validate(data)
    except ValidationError as exc:
        raise CohortError(
            "; ".join(f"{field}: {message}" for field, message in validation_messages(exc))
        ) from exc


# ---- shipped examples --------------------------------------------------------------------------


@dataclass(frozen=True)
class CohortEntry:
    """A cohort as the tools list it: shipped with the platform or saved by an analyst."""

    definition: CohortDefinition
    version: str
    source: Literal["shipped", "saved"]
    created_by: str | None = None
    created_at: str | None = None
    latest_version: str | None = None

    @property
    def name(self) -> str:
        return self.definition.name

    @property
    def title(self) -> str:
        return self.definition.title


@cache
def shipped_cohorts() -> tuple[CohortEntry, ...]:
    """The example cohorts in ``data/cohorts/*.json``, in name order."""
    out = []
    for path in sorted(SHIPPED_DIR.glob("*.json")):
        raw = json.loads(path.read_text())
        definition = parse_definition(raw["definition"])
        if definition.name != path.stem:
            raise CohortError(f"{path.name}: name {definition.name!r} differs from the file name")
        out.append(
            CohortEntry(
                definition, str(raw["version"]), "shipped", latest_version=str(raw["version"])
            )
        )
    return tuple(out)


def shipped_cohort(name: str) -> CohortEntry | None:
    return next((c for c in shipped_cohorts() if c.name == name), None)
