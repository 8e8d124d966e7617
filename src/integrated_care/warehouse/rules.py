"""The checker's rules as DuckDB SQL, generated from the schema.

Each row-level rule is a :class:`Rule`: a SQL condition that is true for a bad row, the column to
blame, the offending value and the reason. The checker folds every rule of a table into one scan.
In the generated SQL a column ``c`` is available twice: ``"r.c"`` as it arrived and ``"c"`` cast
to its declared type (null where the cast failed).
"""

# SQL here is generated from the schema; every value in it passes through literal().
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import dataclass

from integrated_care.warehouse import nhs_number
from integrated_care.warehouse.schema import Column, TableSpec


@dataclass(frozen=True)
class Rule:
    column: str
    condition: str  # true when the row breaks the rule
    value: str  # SQL giving the offending value as text
    reason: str  # SQL giving the reason as text


def ident(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: object) -> str:
    """A SQL literal for a string or number."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def raw(name: str) -> str:
    return ident(f"r.{name}")


def typed(name: str) -> str:
    return ident(name)


def text(expr: str) -> str:
    return f"CAST({expr} AS VARCHAR)"


def _fixed(reason: str) -> str:
    return literal(reason)


def _allowed_reason(column: Column, values: tuple[str | int, ...]) -> str:
    if column.code_list:
        return f"unknown code: not in the {column.code_list.replace('_', ' ')} list"
    return "not one of: " + ", ".join(str(v) for v in values)


def column_rules(column: Column, from_text: bool) -> list[Rule]:
    """Rules for one present column. ``from_text``: the source holds it as text, to be cast."""
    name, r, t = column.name, raw(column.name), typed(column.name)
    value = text(r)
    rules: list[Rule] = []
    if not column.nullable:
        rules.append(Rule(name, f"{r} IS NULL", "NULL", _fixed("null where a value is required")))
    if from_text and column.type != "string":
        rules.append(
            Rule(
                name,
                f"{r} IS NOT NULL AND {t} IS NULL",
                value,
                _fixed(f"wrong type: not a valid {column.type}"),
            )
        )
    present = f"{t} IS NOT NULL"
    values = column.allowed_values()
    if values is not None:
        listed = ", ".join(literal(v) for v in values)
        rules.append(
            Rule(
                name,
                f"{present} AND {t} NOT IN ({listed})",
                value,
                _fixed(_allowed_reason(column, values)),
            )
        )
    if column.pattern:
        rules.append(
            Rule(
                name,
                f"{present} AND NOT regexp_full_match({t}, {literal(column.pattern)})",
                value,
                _fixed(f"not a valid {column.pattern_name or 'code'}"),
            )
        )
    if column.minimum is not None:
        rules.append(
            Rule(
                name,
                f"{t} < {column.minimum}",
                value,
                _fixed(f"below the minimum {column.minimum:g}"),
            )
        )
    if column.maximum is not None:
        rules.append(
            Rule(
                name,
                f"{t} > {column.maximum}",
                value,
                _fixed(f"above the maximum {column.maximum:g}"),
            )
        )
    rules.extend(_special_rules(column))
    return rules


def _special_rules(column: Column) -> list[Rule]:
    name, t = column.name, typed(column.name)
    value = text(raw(name))
    if column.special == "nhs_number":
        shape = f"regexp_full_match({t}, '[0-9]{{10}}')"
        return [
            Rule(
                name, f"{t} IS NOT NULL AND NOT {shape}", value, _fixed("NHS number not 10 digits")
            ),
            Rule(
                name,
                f"{t} IS NOT NULL AND {shape} AND NOT {nhs_number.sql_is_valid(t)}",
                value,
                _fixed("bad NHS number check digit"),
            ),
        ]
    if column.special == "first_of_month":
        return [Rule(name, f"day({t}) <> 1", value, _fixed("not the first of a month"))]
    if column.special == "financial_year":
        shape = f"regexp_full_match({t}, '[0-9]{{4}}/[0-9]{{2}}')"
        consecutive = (
            f"(CAST(substr({t}, 1, 4) AS INTEGER) + 1) % 100 = CAST(substr({t}, 6, 2) AS INTEGER)"
        )
        bad = f"{t} IS NOT NULL AND NOT (CASE WHEN {shape} THEN {consecutive} ELSE false END)"
        return [Rule(name, bad, value, _fixed('not a financial year such as "2025/26"'))]
    return []


def order_rules(spec: TableSpec, usable: set[str]) -> list[Rule]:
    """Dates (or times) in the right order within a row."""
    rules = []
    for rule in spec.order_rules:
        if rule.earlier not in usable or rule.later not in usable:
            continue
        e, lt = typed(rule.earlier), typed(rule.later)
        before, after = literal(f"{rule.earlier}="), literal(f", {rule.later}=")
        value = f"{before} || {text(e)} || {after} || {text(lt)}"
        rules.append(
            Rule(rule.later, f"{lt} < {e}", value, _fixed(f"{rule.later} before {rule.earlier}"))
        )
    return rules


def row_check_sql(source_view: str, typed_select: str, rules: list[Rule]) -> str:
    """One scan that yields (file, row, column, value, reason) for every broken rule."""
    structs = ", ".join(
        f"CASE WHEN {r.condition} THEN {{'c': {literal(r.column)}, 'v': {r.value}, "
        f"'r': {r.reason}}} END"
        for r in rules
    )
    any_broken = " OR ".join(f"({r.condition})" for r in rules)
    return f"""
        SELECT _file AS file, _row AS row, p.c AS "column", p.v AS value, p.r AS reason
        FROM (
            SELECT _file, _row,
                   UNNEST(list_filter([{structs}], x -> x IS NOT NULL)) AS p
            FROM (SELECT {typed_select} FROM {source_view}) AS x
            WHERE {any_broken}
        )
    """
