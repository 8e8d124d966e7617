"""From a resource's JSON to its search index rows, by the parameter definitions.

Paths are a small FHIRPath subset: ``Type.element.element``, where a list at any step is
flattened and ``element[x]`` takes every choice of a choice element (``onsetDateTime``,
``onsetPeriod``, ...). Values are read by shape (a Coding, CodeableConcept, Identifier, Period,
HumanName, Address, Reference or a primitive), so one extractor serves every parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from integrated_care.record.searchparams import SearchParam, definitions

VALUE_LENGTH = 255
MIN_DATE = datetime(1, 1, 1)
MAX_DATE = datetime(9999, 12, 31, 23, 59, 59, 999999)
_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_REFERENCE = re.compile(
    r"^(?:(?:https?://[^?#]*/)?)(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_NAME_PARTS = ("text", "family", "given", "prefix", "suffix")
_ADDRESS_PARTS = ("text", "line", "city", "district", "state", "postalCode", "country")


def evaluate(resource: dict[str, Any], path: str) -> list[Any]:
    """The values at `path` (``Type.a.b``, ``Type.a[x]``) in `resource`, lists flattened."""
    values: list[Any] = [resource]
    for step in path.split(".")[1:]:
        choice = step.endswith("[x]")
        name = step[:-3] if choice else step
        found: list[Any] = []
        for value in values:
            if not isinstance(value, dict):
                continue
            if choice:
                items = [
                    v
                    for k, v in value.items()
                    if k.startswith(name) and len(k) > len(name) and k[len(name)].isupper()
                ]
            else:
                items = [value[name]] if name in value else []
            for item in items:
                found.extend(item if isinstance(item, list) else [item])
        values = found
    return values


def _add(moment: datetime, precision: str, fraction_digits: int = 0) -> datetime:
    try:
        if precision == "year":
            return moment.replace(year=moment.year + 1)
        if precision == "month":
            return (moment.replace(day=28) + timedelta(days=4)).replace(day=1)
        steps = {"day": timedelta(days=1), "minute": timedelta(minutes=1)}
        if precision in steps:
            return moment + steps[precision]
        if precision == "second":
            return moment + timedelta(seconds=1)
        return moment + timedelta(microseconds=10 ** max(0, 6 - fraction_digits))
    except (OverflowError, ValueError):
        return MAX_DATE


def date_range(text: str) -> tuple[datetime, datetime] | None:
    """The half-open range [low, high) in naive UTC that a FHIR date/dateTime/instant covers,
    e.g. "2020" -> [2020-01-01, 2021-01-01); None when `text` is not a date."""
    match = _DATE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    g = match.groupdict()
    try:
        fraction = (g["fraction"] or "")[:6]
        moment = datetime(
            int(g["year"]),
            int(g["month"] or 1),
            int(g["day"] or 1),
            int(g["hour"] or 0),
            int(g["minute"] or 0),
            int(g["second"] or 0),
            int(fraction.ljust(6, "0")) if fraction else 0,
        )
    except ValueError:
        return None
    if g["tz"] and g["tz"] != "Z":
        sign = 1 if g["tz"][0] == "+" else -1
        hours, minutes = int(g["tz"][1:3]), int(g["tz"][4:6])
        try:
            moment -= sign * timedelta(hours=hours, minutes=minutes)
        except OverflowError:
            return None
    if g["fraction"]:
        precision = "fraction"
    elif g["second"]:
        precision = "second"
    elif g["minute"]:
        precision = "minute"
    elif g["day"]:
        precision = "day"
    elif g["month"]:
        precision = "month"
    else:
        precision = "year"
    return moment, _add(moment, precision, len(fraction))


def to_naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def normalise(text: str) -> str:
    """How strings are compared in search: accents removed, case folded, spaces collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())[:VALUE_LENGTH]


def tokens_of(value: Any) -> Iterator[tuple[str | None, str]]:
    """(system, code) pairs of a Coding, CodeableConcept, Identifier or primitive code."""
    if isinstance(value, bool):
        yield None, "true" if value else "false"
    elif isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value["coding"] or ():
                yield from tokens_of(coding) if isinstance(coding, dict) else ()
        elif "code" in value and isinstance(value["code"], str):
            yield value.get("system"), value["code"]
        elif "value" in value and isinstance(value["value"], str):
            yield value.get("system"), value["value"]


def strings_of(value: Any) -> Iterator[str]:
    """The searchable text of a string, HumanName or Address."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        parts = _NAME_PARTS if ("family" in value or "given" in value) else _ADDRESS_PARTS
        if "name" in value and isinstance(value["name"], str):
            parts = ("name",)
        for part in parts:
            item = value.get(part)
            for text in item if isinstance(item, list) else [item]:
                if isinstance(text, str):
                    yield text


def dates_of(value: Any) -> Iterator[tuple[datetime, datetime]]:
    """[low, high) ranges of a date, dateTime, instant or Period (open ends unbounded)."""
    if isinstance(value, str):
        found = date_range(value)
        if found:
            yield found
    elif isinstance(value, dict) and ("start" in value or "end" in value):
        start = date_range(value["start"]) if "start" in value else None
        end = date_range(value["end"]) if "end" in value else None
        if (start or end) and not ("start" in value and start is None):
            yield (start[0] if start else MIN_DATE), (end[1] if end else MAX_DATE)


def parse_reference(reference: str) -> tuple[str, str] | None:
    """(type, id) of a literal reference ``Type/id`` or ``http(s)://base/Type/id``."""
    match = _REFERENCE.match(reference) if isinstance(reference, str) else None
    return (match["type"], match["id"]) if match else None


def references_of(value: Any, targets: Iterable[str]) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        parsed = parse_reference(value["reference"])
        if parsed and parsed[0] in targets:
            yield parsed


@dataclass
class IndexRows:
    """The rows one resource contributes to each search index table."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    strings: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.tokens) + len(self.strings) + len(self.dates) + len(self.references)


def _rows_for(param: SearchParam, resource: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for value in evaluate(resource, param.path):
        if param.type == "token":
            for system, code in tokens_of(value):
                if code:
                    yield (system[:VALUE_LENGTH] if system else None, code[:VALUE_LENGTH])
        elif param.type == "string":
            for text in strings_of(value):
                if text.strip():
                    yield normalise(text), text[:VALUE_LENGTH]
        elif param.type == "date":
            yield from dates_of(value)
        elif param.type == "reference":
            yield from references_of(value, param.targets)


def index_rows(resource_type: str, resource_id: str, resource: dict[str, Any]) -> IndexRows:
    """Every index row for `resource`, de-duplicated, ready for a bulk INSERT."""
    rows = IndexRows()
    definition = definitions().resources.get(resource_type)
    if definition is None:
        return rows
    key = {"resource_type": resource_type, "resource_id": resource_id}
    for param in definition.params.values():
        for values in dict.fromkeys(_rows_for(param, resource)):
            if param.type == "token":
                rows.tokens.append(
                    {**key, "param": param.name, "system": values[0], "code": values[1]}
                )
            elif param.type == "string":
                rows.strings.append(
                    {**key, "param": param.name, "value": values[0], "exact": values[1]}
                )
            elif param.type == "date":
                rows.dates.append({**key, "param": param.name, "low": values[0], "high": values[1]})
            else:
                rows.references.append(
                    {**key, "param": param.name, "target_type": values[0], "target_id": values[1]}
                )
    return rows


def compartment_patient(
    resource_type: str, resource_id: str, resource: dict[str, Any]
) -> str | None:
    """The id of the Patient whose record `resource` belongs to, if any."""
    definition = definitions().resources.get(resource_type)
    if definition is None or definition.compartment is None:
        return None
    if definition.compartment == "_self":
        return resource_id
    param = definition.params[definition.compartment]
    for value in evaluate(resource, param.path):
        for _target_type, target_id in references_of(value, ("Patient",)):
            return target_id
    return None
