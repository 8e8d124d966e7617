"""From a resource's JSON to its search index rows, by the parameter definitions.

Paths are a small FHIRPath subset: ``Type.element.element``, where a list at any step is
flattened and ``element[x]`` takes every choice of a choice element (``onsetDateTime``,
``onsetPeriod``, ...). Values are read by shape (a Coding, CodeableConcept, Identifier, Period,
HumanName, Address, Reference or a primitive), so one extractor serves every parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from typing import Any

from integrated_care.record.searchparams import definitions

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


def dates_of(
    value: Any, parse: Callable[[str], tuple[datetime, datetime] | None] = date_range
) -> Iterator[tuple[datetime, datetime]]:
    """[low, high) ranges of a date, dateTime, instant or Period (open ends unbounded)."""
    if isinstance(value, str):
        found = parse(value)
        if found:
            yield found
    elif isinstance(value, dict) and ("start" in value or "end" in value):
        start = parse(value["start"]) if "start" in value else None
        end = parse(value["end"]) if "end" in value else None
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


# Row shapes, ready to insert: (resource_type, resource_id, param, a, b) where (a, b) is
# (system, code) for tokens, (value, exact) for strings, (low, high) for dates and
# (target_type, target_id) for references.
IndexRow = tuple[str, str, str, Any, Any]
_COLUMNS = {
    "token": ("system", "code"),
    "string": ("value", "exact"),
    "date": ("low", "high"),
    "reference": ("target_type", "target_id"),
}


@dataclass
class IndexRows:
    """The rows one resource contributes to each search index table."""

    tokens: list[dict[str, Any]] = field(default_factory=list)
    strings: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)

    def count(self) -> int:
        return len(self.tokens) + len(self.strings) + len(self.dates) + len(self.references)


# Index values repeat a great deal within a load (the same days, codes and organisations), so
# the pure conversions behind them are memoised.
_cached_range = lru_cache(maxsize=200_000)(date_range)
_cached_normalise = lru_cache(maxsize=200_000)(normalise)
_cached_reference = lru_cache(maxsize=200_000)(parse_reference)


def _range_of(text: Any) -> tuple[datetime, datetime] | None:
    return _cached_range(text) if isinstance(text, str) else None


_Getter = Callable[[dict[str, Any]], Iterable[Any]]


def _getter(path: str) -> _Getter:
    """`evaluate` for one path, compiled: a plain element lookup for the common one-step path."""
    steps = path.split(".")[1:]
    if len(steps) == 1 and not steps[0].endswith("[x]"):
        name = steps[0]

        def one(resource: dict[str, Any]) -> Iterable[Any]:
            value = resource.get(name)
            if value is None:
                return ()
            return value if isinstance(value, list) else (value,)

        return one
    return lambda resource: evaluate(resource, path)


def _token_values(values: Iterable[Any], _targets: tuple[str, ...]) -> list[tuple[Any, Any]]:
    out = []
    for value in values:
        for system, code in tokens_of(value):
            if code:
                out.append((system[:VALUE_LENGTH] if system else None, code[:VALUE_LENGTH]))
    return out


def _string_values(values: Iterable[Any], _targets: tuple[str, ...]) -> list[tuple[Any, Any]]:
    return [
        (_cached_normalise(text), text[:VALUE_LENGTH])
        for value in values
        for text in strings_of(value)
        if text.strip()
    ]


def _date_values(values: Iterable[Any], _targets: tuple[str, ...]) -> list[tuple[Any, Any]]:
    return [found for value in values for found in dates_of(value, _range_of)]


def _reference_values(values: Iterable[Any], targets: tuple[str, ...]) -> list[tuple[Any, Any]]:
    out = []
    for value in values:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str):
                parsed = _cached_reference(reference)
                if parsed and parsed[0] in targets:
                    out.append(parsed)
    return out


_VALUES = {
    "token": _token_values,
    "string": _string_values,
    "date": _date_values,
    "reference": _reference_values,
}
_TABLE_OF = {"token": 0, "string": 1, "date": 2, "reference": 3}
# (param name, table number, path getter, value converter, reference targets)
_Plan = tuple[str, int, _Getter, Callable[..., Any], tuple[str, ...]]


@cache
def _plan(resource_type: str) -> tuple[_Plan, ...]:
    definition = definitions().resources.get(resource_type)
    if definition is None:
        return ()
    return tuple(
        (p.name, _TABLE_OF[p.type], _getter(p.path), _VALUES[p.type], p.indexed_targets)
        for p in definition.params.values()
        if p.type != "reference" or p.indexed_targets  # the compartment's: record_resource
    )


def index_tuples(
    resource_type: str, resource_id: str, resource: dict[str, Any]
) -> tuple[list[IndexRow], list[IndexRow], list[IndexRow], list[IndexRow]]:
    """Every index row for `resource` as (type, id, param, a, b) tuples, de-duplicated per
    parameter: (tokens, strings, dates, references). The one extractor behind every write."""
    tables: tuple[list[IndexRow], ...] = ([], [], [], [])
    for name, table, get, convert, targets in _plan(resource_type):
        values = get(resource)
        if not values:
            continue
        found = convert(values, targets)
        if len(found) > 1:
            found = list(dict.fromkeys(found))
        tables[table].extend([(resource_type, resource_id, name, a, b) for a, b in found])
    return tables  # type: ignore[return-value]


def index_rows(resource_type: str, resource_id: str, resource: dict[str, Any]) -> IndexRows:
    """Every index row for `resource`, de-duplicated, as column dicts (see `index_tuples`)."""
    tables = index_tuples(resource_type, resource_id, resource)
    dicts = [
        [
            {
                "resource_type": t,
                "resource_id": i,
                "param": p,
                _COLUMNS[kind][0]: a,
                _COLUMNS[kind][1]: b,
            }
            for t, i, p, a, b in rows
        ]
        for kind, rows in zip(_COLUMNS, tables, strict=True)
    ]
    return IndexRows(*dicts)


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
