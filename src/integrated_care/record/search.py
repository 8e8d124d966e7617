"""Search: FHIR query parameters -> one indexed SQL query over the resource table and the
search index tables, with sorting, paging and _include / _revinclude.

Each parameter becomes ``resource.id IN (SELECT resource_id FROM <index> WHERE ...)``, except
the compartment parameter (``Encounter?patient=``), which compares the resource's own
``patient_id`` (`SearchParam.reads_compartment`); repeated parameters are ANDed and
comma-separated values ORed, as FHIR specifies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from integrated_care.record.extract import VALUE_LENGTH, date_range, normalise, parse_reference
from integrated_care.record.models import (
    RecordResource,
    SearchDate,
    SearchReference,
    SearchString,
    SearchToken,
)
from integrated_care.record.outcomes import FhirError, Issue
from integrated_care.record.searchparams import COMMON_PARAMS, SearchParam, definitions
from integrated_care.record.validation import require_supported

R = RecordResource
DEFAULT_COUNT = 20
MAX_COUNT = 1000
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
# Parameters that shape the result rather than filter it.
RESULT_PARAMS = ("_count", "_offset", "_sort", "_include", "_revinclude", "_total", "_format")
IGNORED_PARAMS = ("_format", "_pretty")


@dataclass
class SearchRequest:
    """A parsed search: filters, sort, page and includes, with warnings about what was ignored."""

    resource_type: str
    filters: list[tuple[str, str | None, str]] = field(
        default_factory=list
    )  # name, modifier, value
    sort: list[tuple[str, bool]] = field(default_factory=list)  # name, descending
    count: int = DEFAULT_COUNT
    offset: int = 0
    includes: list[tuple[str, str, str | None]] = field(default_factory=list)  # type, param, target
    revincludes: list[tuple[str, str]] = field(default_factory=list)  # source type, param
    warnings: list[Issue] = field(default_factory=list)

    def patient_ids(self) -> list[str]:
        """The patient(s) the search is confined to, when it is (patient=, subject=Patient/..)."""
        found = []
        for name, _modifier, value in self.filters:
            if self.resource_type == "Patient" and name == "_id":
                found.extend(value.split(","))
            param = definitions().param(self.resource_type, name)
            if param and param.type == "reference" and "Patient" in param.targets:
                for item in value.split(","):
                    parsed = parse_reference(item)
                    if parsed and parsed[0] == "Patient":
                        found.append(parsed[1])
                    elif parsed is None and param.targets == ("Patient",):
                        found.append(item)
        return found

    def compartment_patient(self) -> str | None:
        """The one patient whose record the search is confined to through the parameter that
        defines whose record a resource is in (``Encounter?patient=X``, ``Patient?_id=X``):
        every match is then in X's record. None for any other search."""
        definition = definitions().resources.get(self.resource_type)
        if definition is None or definition.compartment is None:
            return None
        name = "_id" if definition.compartment == "_self" else definition.compartment
        values = [v for n, m, v in self.filters if n == name]
        if len(values) != 1 or "," in values[0]:
            return None
        if any(n == name and m is not None for n, m, _v in self.filters):
            return None
        if name == "_id":
            return values[0]
        parsed = parse_reference(values[0])
        if parsed is None:
            return values[0] if definition.params[name].targets == ("Patient",) else None
        return parsed[1] if parsed[0] == "Patient" else None

    def query_pairs(self) -> list[tuple[str, str]]:
        """The request as understood, for the Bundle's self link."""
        pairs = [(f"{n}:{m}" if m else n, v) for n, m, v in self.filters]
        if self.sort:
            pairs.append(("_sort", ",".join(("-" if d else "") + n for n, d in self.sort)))
        pairs += [("_include", ":".join(p for p in inc if p)) for inc in self.includes]
        pairs += [("_revinclude", f"{t}:{p}") for t, p in self.revincludes]
        return pairs


def _problem(request: SearchRequest, strict: bool, message: str) -> None:
    if strict:
        raise FhirError.of(400, message, code="not-supported")
    request.warnings.append(Issue(message, code="not-supported", severity="warning"))


def _integer(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit():
        raise FhirError.of(400, f"{name} must be a whole number, not {value!r}")
    return max(low, min(high, int(value)))


def parse(
    resource_type: str, pairs: Sequence[tuple[str, str]], *, strict: bool = False
) -> SearchRequest:
    """Understand a search's query parameters. Unknown ones are ignored with a warning, or
    refused (400) when the client asked for strict handling."""
    require_supported(resource_type)
    request = SearchRequest(resource_type)
    known = definitions()
    for key, value in pairs:
        name, _, modifier = key.partition(":")
        if name in IGNORED_PARAMS or name == "_total":
            continue
        if name == "_count":
            request.count = _integer("_count", value, 0, MAX_COUNT)
        elif name == "_offset":
            request.offset = _integer("_offset", value, 0, 10**9)
        elif name == "_sort":
            for item in filter(None, value.split(",")):
                descending = item.startswith("-")
                sort_name = item.lstrip("-")
                if sort_name in COMMON_PARAMS or known.param(resource_type, sort_name):
                    request.sort.append((sort_name, descending))
                else:
                    _problem(request, strict, f"cannot sort {resource_type} by {sort_name!r}")
        elif name == "_include":
            _parse_include(request, value, strict)
        elif name == "_revinclude":
            _parse_revinclude(request, value, strict)
        elif name in COMMON_PARAMS or known.param(resource_type, name):
            supported = _MODIFIERS.get(_param_type(resource_type, name), ())
            if (
                modifier
                and modifier not in supported
                and not _is_type_modifier(resource_type, name, modifier)
            ):
                message = f"the modifier :{modifier} is not supported on {resource_type}.{name}"
                _problem(request, strict, message)
                continue
            if value == "" and modifier != "missing":
                continue
            request.filters.append((name, modifier or None, value))
        else:
            _problem(request, strict, f"unknown search parameter {key!r} for {resource_type}")
    return request


_MODIFIERS = {
    "token": ("missing", "not"),
    "string": ("missing", "exact", "contains"),
    "date": ("missing",),
    "reference": ("missing",),
}


def _param_type(resource_type: str, name: str) -> str:
    if name in COMMON_PARAMS:
        return COMMON_PARAMS[name][0]
    param = definitions().param(resource_type, name)
    return param.type if param else ""


def _is_type_modifier(resource_type: str, name: str, modifier: str) -> bool:
    param = definitions().param(resource_type, name)
    return bool(param and param.type == "reference" and modifier in param.targets)


def _parse_include(request: SearchRequest, value: str, strict: bool) -> None:
    parts = value.split(":")
    if len(parts) >= 2 and parts[-1] == "iterate":
        _problem(request, strict, "_include:iterate is not supported; included once")
        parts = parts[:-1]
    source, name = ([*parts, "", ""])[:2]
    target = parts[2] if len(parts) > 2 else None
    param = definitions().param(source, name)
    if source != request.resource_type or param is None or param.type != "reference":
        _problem(
            request, strict, f"cannot _include {value!r} when searching {request.resource_type}"
        )
        return
    request.includes.append((source, name, target))


def _parse_revinclude(request: SearchRequest, value: str, strict: bool) -> None:
    source, _, name = value.partition(":")
    name = name.split(":")[0]
    param = definitions().param(source, name)
    if param is None or param.type != "reference" or request.resource_type not in param.targets:
        _problem(
            request, strict, f"cannot _revinclude {value!r} when searching {request.resource_type}"
        )
        return
    request.revincludes.append((source, name))


# --- conditions -------------------------------------------------------------------------------


def _rows_of(column: Any, resource_type: str, name: str) -> ColumnElement[bool]:
    """`column` (an index table's param) names a row of parameter `name` (see
    ``SearchParam.rows_of``: `subject` reads the rows of `patient` too)."""
    param = definitions().param(resource_type, name)
    names = param.rows_of if param is not None else (name,)
    return column == names[0] if len(names) == 1 else column.in_(names)


def _in_index(table: Any, resource_type: str, name: str, *conditions: ColumnElement) -> Any:
    return R.id.in_(_index_rows(table, resource_type, name, *conditions))


def _index_rows(table: Any, resource_type: str, name: str, *conditions: ColumnElement) -> Select:
    return select(table.resource_id).where(
        table.resource_type == resource_type,
        _rows_of(table.param, resource_type, name),
        *conditions,
    )


def _has_index(table: Any, resource_type: str, name: str, *conditions: ColumnElement) -> Any:
    """The same test as :func:`_in_index`, asked of each candidate resource in turn (an
    EXISTS on the index's (type, resource id) key): cheaper when another, selective filter
    (one patient's references) already narrows the candidates, as it spares building the list
    of every resource in the store that matches this filter alone."""
    # Both SQLite and PostgreSQL would otherwise look the EXISTS up by the (type, param, value)
    # index, whose range for a common code is large (47,000 rows for one code in an ICS of
    # 100,000 people), rather than by (type, resource id), which holds a resource's few rows:
    # comparing `param || ''` keeps them off the first.
    return (
        select(table.resource_id)
        .where(
            table.resource_type == resource_type,
            table.resource_id == R.id,
            _rows_of(table.param.concat(""), resource_type, name),
            *conditions,
        )
        .exists()
    )


def _prefixed(value: str) -> tuple[str, str]:
    if value[:2] in DATE_PREFIXES and len(value) > 2 and not value[:2].isdigit():
        return value[:2], value[2:]
    return "eq", value


def _range(name: str, value: str) -> tuple[str, datetime, datetime]:
    prefix, text = _prefixed(value)
    found = date_range(text)
    if found is None:
        raise FhirError.of(
            400,
            f"{name}: {value!r} is not a date (e.g. 2024, 2024-03-01, "
            "ge2024-03-01, lt2024-03-01T12:00:00Z)",
        )
    return prefix, found[0], found[1]


def _range_condition(prefix: str, low: datetime, high: datetime, rl: Any, rh: Any) -> Any:
    """Resource range [rl, rh) against the parameter's range [low, high)."""
    eq = and_(rl >= low, rh <= high)
    return {
        "eq": eq,
        "ne": not_(eq),
        "gt": rh > high,
        "lt": rl < low,
        "ge": rh > low,
        "le": rl < high,
        "sa": rl >= high,
        "eb": rh <= low,
    }[prefix]


def _token_value(value: str) -> ColumnElement:
    if "|" not in value:
        return SearchToken.code == value[:VALUE_LENGTH]
    system, _, code = value.partition("|")
    system, code = system[:VALUE_LENGTH], code[:VALUE_LENGTH]
    if not system:
        return and_(SearchToken.system.is_(None), SearchToken.code == code)
    if not code:
        return SearchToken.system == system
    return and_(SearchToken.system == system, SearchToken.code == code)


def _string_value(session: Session, modifier: str | None, value: str) -> ColumnElement:
    if modifier == "exact":
        return SearchString.exact == value
    wanted = normalise(value)
    escaped = wanted.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if modifier == "contains":
        return SearchString.value.like(f"%{escaped}%", escape="\\")
    if session.get_bind().dialect.name == "sqlite":
        # A range on the binary-collated column uses the index; SQLite's LIKE would not.
        return and_(SearchString.value >= wanted, SearchString.value < wanted + "\U0010ffff")
    return SearchString.value.like(f"{escaped}%", escape="\\")


def _reference_value(param: SearchParam, modifier: str | None, value: str) -> ColumnElement:
    parsed = parse_reference(value)
    if parsed is not None:
        target_type, target_id = parsed
        return and_(
            SearchReference.target_type == target_type, SearchReference.target_id == target_id
        )
    types = [modifier] if modifier else list(param.targets)
    return and_(SearchReference.target_id == value, SearchReference.target_type.in_(types))


def _compartment_ids(modifier: str | None, values: list[str]) -> list[str]:
    """The patient ids among a reference search's values: what `patient_id` may equal."""
    ids = []
    for value in values:
        parsed = parse_reference(value)
        if parsed is not None:
            if parsed[0] == "Patient":
                ids.append(parsed[1])
        elif modifier in (None, "Patient"):
            ids.append(value)
    return ids


_OWN = RecordResource.__table__.alias("own")  # the record's rows as a list of ids


def _reference(
    resource_type: str,
    param: SearchParam,
    modifier: str | None,
    values: list[str],
    per_resource: bool,
) -> Any:
    """The SQL condition of a reference parameter: its stored rows, and for one reading the
    compartment (`SearchParam.reads_compartment`) the resource's patient_id."""
    name = param.name

    def stored() -> ColumnElement[bool]:
        return or_(*[_reference_value(param, modifier, v) for v in values])

    if not param.reads_compartment:
        indexed = _has_index if per_resource else _in_index
        return indexed(SearchReference, resource_type, name, stored())
    patient_ids = _compartment_ids(modifier, values)
    if per_resource:
        own = R.patient_id.in_(patient_ids) if patient_ids else false()
        if not param.rows_of:
            return own
        return or_(own, _has_index(SearchReference, resource_type, name, stored()))
    # The ids of those patients' resources of this type, which the (patient, type) index
    # lists, looked up by the primary key as any index table's ids are. Without table
    # statistics (SQLite has none unless analysed) a plain ``patient_id IN (..)`` let SQLite
    # walk the whole type in id order to spare a sort; an OR of two lists did the same.
    ids: list[Select] = []
    if patient_ids:
        ids.append(
            select(_OWN.c.id).where(
                _OWN.c.patient_id.in_(patient_ids), _OWN.c.resource_type == resource_type
            )
        )
    if param.rows_of:
        ids.append(_index_rows(SearchReference, resource_type, name, stored()))
    if not ids:
        return false()
    return R.id.in_(ids[0] if len(ids) == 1 else union_all(*ids))


def _missing(table: Any, param: SearchParam, value: str) -> Any:
    if value not in ("true", "false"):
        raise FhirError.of(400, f"{param.name}:missing takes true or false, not {value!r}")
    present = _in_index(table, param.resource_type, param.name) if param.rows_of else false()
    if param.reads_compartment:
        present = or_(R.patient_id.is_not(None), present)
    return not_(present) if value == "true" else present


_TABLES = {
    "token": SearchToken,
    "string": SearchString,
    "date": SearchDate,
    "reference": SearchReference,
}


def _condition(  # type: ignore[no-untyped-def]
    session: Session,
    resource_type: str,
    name: str,
    modifier: str | None,
    value: str,
    *,
    per_resource: bool = False,
):
    """The SQL condition of one parameter; `per_resource` asks it of each candidate (see
    :func:`_has_index`) instead of listing every match in the store."""
    indexed = _has_index if per_resource else _in_index
    values = _split(value)
    if name == "_id":
        return R.id.in_(values)
    if name == "_lastUpdated":
        parts = []
        for item in values:
            prefix, low, high = _range(name, item)
            parts.append(
                _instant_condition(prefix, low.replace(tzinfo=UTC), high.replace(tzinfo=UTC))
            )
        return or_(*parts)
    param = definitions().param(resource_type, name)
    assert param is not None
    table = _TABLES[param.type]
    if modifier == "missing":
        return _missing(table, param, value)
    if param.type == "token":
        matched = indexed(table, resource_type, name, or_(*map(_token_value, values)))
        return not_(matched) if modifier == "not" else matched
    if param.type == "string":
        parts = [_string_value(session, modifier, v) for v in values]
        return indexed(table, resource_type, name, or_(*parts))
    if param.type == "date":
        parts = []
        for item in values:
            prefix, low, high = _range(name, item)
            parts.append(_range_condition(prefix, low, high, SearchDate.low, SearchDate.high))
        return indexed(table, resource_type, name, or_(*parts))
    return _reference(resource_type, param, modifier, values, per_resource)


def _instant_condition(prefix: str, low: datetime, high: datetime) -> Any:
    """_lastUpdated is one instant t: eq means low <= t < high."""
    t = R.last_updated
    return {
        "eq": and_(t >= low, t < high),
        "ne": or_(t < low, t >= high),
        "gt": t >= high,
        "sa": t >= high,
        "lt": t < low,
        "eb": t < low,
        "ge": t >= low,
        "le": t < high,
    }[prefix]


def _split(value: str) -> list[str]:
    parts, current, escaped = [], "", False
    for char in value:
        if escaped:
            current += char if char == "," else "\\" + char
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current + ("\\" if escaped else ""))
    return parts


def matching(session: Session, request: SearchRequest) -> Select:
    """SELECT of the resources that match (not yet sorted or paged)."""
    query = select(R).where(R.resource_type == request.resource_type, R.deleted.is_(False))
    driving = _patient_filter(request)
    for position, (name, modifier, value) in enumerate(request.filters):
        per_resource = driving is not None and position != driving
        query = query.where(
            _condition(
                session, request.resource_type, name, modifier, value, per_resource=per_resource
            )
        )
    return query


def _patient_filter(request: SearchRequest) -> int | None:
    """The position of a filter naming one patient (``patient=123``), if the search has one
    and others: it selects a few resources, so the other filters are checked per resource."""
    if len(request.filters) < 2:
        return None
    for position, (name, modifier, value) in enumerate(request.filters):
        param = definitions().param(request.resource_type, name)
        if (
            param is not None
            and param.type == "reference"
            and "Patient" in param.targets
            and modifier in (None, "Patient")
            and "," not in value
        ):
            return position
    return None


def _sorted(query: Select, request: SearchRequest) -> Select:
    order: list[Any] = []
    for name, descending in request.sort:
        if name == "_id":
            key: Any = R.id
        elif name == "_lastUpdated":
            key = R.last_updated
        else:
            param = definitions().param(request.resource_type, name)
            assert param is not None
            if param.reads_compartment and not param.rows_of:
                key = R.patient_id  # the compartment parameter: no rows, the resource's column
            else:
                query, key = _sort_key(query, request.resource_type, param, descending)
        order += [key.is_(None), key.desc() if descending else key.asc()]
    return query.order_by(*order, R.id)


def _sort_key(
    query: Select, resource_type: str, param: SearchParam, descending: bool
) -> tuple[Select, Any]:
    """`query` joined to each resource's sort key from `param`'s index rows, and that key."""
    table = _TABLES[param.type]
    if param.type == "date":
        column = SearchDate.high if descending else SearchDate.low
    else:
        column = {
            "string": SearchString.value,
            "token": SearchToken.code,
            "reference": SearchReference.target_id,
        }[param.type]
    aggregate = func.max(column) if descending else func.min(column)
    keys = (
        select(table.resource_id.label("rid"), aggregate.label("k"))
        .where(
            table.resource_type == resource_type,
            _rows_of(table.param, resource_type, param.name),
        )
        .group_by(table.resource_id)
        .subquery()
    )
    query = query.outerjoin(keys, keys.c.rid == R.id)
    # A broader parameter (`subject`) holds one reference: the patient or a stored one.
    key = func.coalesce(R.patient_id, keys.c.k) if param.reads_compartment else keys.c.k
    return query, key


@dataclass
class SearchResult:
    matches: list[RecordResource]
    included: list[RecordResource]
    total: int


def run(session: Session, request: SearchRequest) -> SearchResult:
    """The page of matches, the resources they _include / _revinclude, and the total."""
    query = matching(session, request)
    total = session.scalar(
        select(func.count()).select_from(query.with_only_columns(R.id).subquery())
    )
    matches: list[RecordResource] = []
    if request.count > 0:
        page = _sorted(query, request).limit(request.count).offset(request.offset)
        matches = list(session.scalars(page.execution_options(populate_existing=True)))
    included = _included(session, request, matches)
    return SearchResult(matches, included, total or 0)


def _fetch(session: Session, keys: set[tuple[str, str]], exclude: set[tuple[str, str]]) -> list:  # type: ignore[type-arg]
    wanted = sorted(keys - exclude)
    found: list[RecordResource] = []
    by_type: dict[str, list[str]] = {}
    for resource_type, resource_id in wanted:
        by_type.setdefault(resource_type, []).append(resource_id)
    for resource_type, ids in by_type.items():
        for start in range(0, len(ids), 500):
            found += session.scalars(
                select(R)
                .where(R.resource_type == resource_type, R.id.in_(ids[start : start + 500]))
                .where(R.deleted.is_(False))
                .order_by(R.id)
                .execution_options(populate_existing=True)
            )
    return found


def _included(session: Session, request: SearchRequest, matches: list[RecordResource]) -> list:  # type: ignore[type-arg]
    if not matches or not (request.includes or request.revincludes):
        return []
    ids = [m.id for m in matches]
    seen = {(m.resource_type, m.id) for m in matches}
    keys: set[tuple[str, str]] = set()
    F = SearchReference
    for source, name, target in request.includes:
        param = _reference_param(source, name)
        if param.rows_of:
            query = select(F.target_type, F.target_id).where(
                F.resource_type == source,
                _rows_of(F.param, source, name),
                F.resource_id.in_(ids),
            )
            if target:
                query = query.where(F.target_type == target)
            keys |= {(t, i) for t, i in session.execute(query)}
        if param.reads_compartment and target in (None, "Patient"):
            patients = select(literal("Patient"), R.patient_id).where(
                R.resource_type == source, R.id.in_(ids), R.patient_id.is_not(None)
            )
            keys |= {(t, i) for t, i in session.execute(patients)}
    for source, name in request.revincludes:
        param = _reference_param(source, name)
        if param.rows_of:
            query = select(F.resource_type, F.resource_id).where(
                F.resource_type == source,
                _rows_of(F.param, source, name),
                F.target_type == request.resource_type,
                F.target_id.in_(ids),
            )
            keys |= {(t, i) for t, i in session.execute(query)}
        if param.reads_compartment and request.resource_type == "Patient":
            records = select(R.resource_type, R.id).where(
                R.resource_type == source, R.patient_id.in_(ids)
            )
            keys |= {(t, i) for t, i in session.execute(records)}
    return _fetch(session, keys, seen)


def _reference_param(resource_type: str, name: str) -> SearchParam:
    param = definitions().param(resource_type, name)
    assert param is not None  # the parser accepts only known reference parameters
    return param


def find_ids(
    session: Session, resource_type: str, criteria: Sequence[tuple[str, str]], limit: int = 2
) -> list[str]:
    """Ids of the resources matching conditional criteria (for If-None-Exist, conditional
    references); every parameter must be understood."""
    request = parse(resource_type, criteria, strict=True)
    if not request.filters:
        raise FhirError.of(400, "conditional criteria must name at least one search parameter")
    query = matching(session, request).with_only_columns(R.id).order_by(R.id).limit(limit)
    return list(session.scalars(query))


def everything(
    session: Session, patient_id: str, *, types: Sequence[str] = (), since: datetime | None = None
) -> list[RecordResource]:
    """The patient, every resource in their compartment, and the practitioners, organisations
    and locations those resources refer to."""
    query = select(R).where(R.patient_id == patient_id, R.deleted.is_(False))
    if types:
        query = query.where(R.resource_type.in_(types))
    if since is not None:
        query = query.where(R.last_updated >= since)
    own = list(
        session.scalars(
            query.order_by(R.resource_type, R.id).execution_options(populate_existing=True)
        )
    )
    F = SearchReference
    shared_types = [t for t, d in definitions().resources.items() if d.compartment is None]
    if types:
        shared_types = [t for t in shared_types if t in types]
    referenced = set(
        session.execute(
            select(F.target_type, F.target_id)
            .join(R, and_(R.resource_type == F.resource_type, R.id == F.resource_id))
            .where(R.patient_id == patient_id, R.deleted.is_(False))
            .where(F.target_type.in_(shared_types))
        ).all()
    )
    return own + _fetch(session, {(t, i) for t, i in referenced}, set())
