"""Cohort definitions and their evaluation against a hand calculation on the hand-made cohort
population (who is who, and why: tests/health/test_cohorts_population.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from integrated_care.health.cohort_query import (
    CohortSources,
    cohort_counts,
    member_page,
    members,
    open_sources,
    publishable_count,
)
from integrated_care.health.cohorts import (
    DATA,
    CohortDefinition,
    CohortError,
    event_lists,
    parse_definition,
    shipped_cohorts,
)
from integrated_care.health.inequalities import definitions as core20plus5
from integrated_care.health.marts import open_marts
from integrated_care.settings import Settings
from tests.health.test_cohorts_population import EXPECTED, PCN, PRACTICE, shared_cohort_data


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return shared_cohort_data(tmp_path_factory)


@pytest.fixture(scope="module")
def sources(settings: Settings) -> Iterator[CohortSources]:
    with open_sources(settings) as found:
        yield found


def ids(definition: CohortDefinition, sources: CohortSources) -> set[int]:
    table = members(definition, sources).select("patient_id").to_pyarrow()
    return set(table.column("patient_id").to_pylist())


def define(**criteria: object) -> CohortDefinition:
    return CohortDefinition(name="test-cohort", title="Test", **criteria)  # type: ignore[arg-type]


def by_hand(people: set[int], key: dict[int, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for pid in people:
        out[key[pid]] = out.get(key[pid], 0) + 1
    return out


# ---- the shipped examples ----------------------------------------------------------------------


def test_four_examples_ship_as_data() -> None:
    assert {c.name for c in shipped_cohorts()} == set(EXPECTED)
    assert all(c.source == "shipped" and c.version for c in shipped_cohorts())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_cohort_has_exactly_the_hand_worked_members(
    name: str, sources: CohortSources
) -> None:
    entry = next(c for c in shipped_cohorts() if c.name == name)
    assert ids(entry.definition, sources) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_counts_by_practice_and_pcn_match_a_hand_count(name: str, sources: CohortSources) -> None:
    entry = next(c for c in shipped_cohorts() if c.name == name)
    counts = cohort_counts(entry.definition, sources)
    expected = EXPECTED[name]
    list_size = by_hand(set(PRACTICE), PRACTICE)
    assert list_size == {"A00001": 14, "A00002": 5, "B00001": 10}  # the table, counted by eye
    in_practice = by_hand(expected, PRACTICE)
    assert [(a.code, a.pcn_code, a.members, a.list_size) for a in counts.by_practice] == [
        (p, PCN[p], in_practice.get(p, 0), list_size[p]) for p in sorted(list_size)
    ]
    pcn_of = {pid: PCN[p] for pid, p in PRACTICE.items()}
    pcn_size = by_hand(set(PRACTICE), pcn_of)
    in_pcn = by_hand(expected, pcn_of)
    assert [(a.code, a.members, a.list_size) for a in counts.by_pcn] == [
        (p, in_pcn.get(p, 0), pcn_size[p]) for p in sorted(pcn_size)
    ]
    assert (counts.members, counts.population) == (len(expected), 29)
    for area in counts.by_practice + counts.by_pcn:
        assert area.rate_per_1000 == round(area.members / area.list_size * 1000, 2)


def test_hypertension_counts_worked_out() -> None:
    # 10 (A00001), 13 and 16 (B00001): 1 of 14, 0 of 5, 2 of 10; PCN U00001 1 of 19.
    assert by_hand(EXPECTED["hypertension-no-bp-reading"], PRACTICE) == {"A00001": 1, "B00001": 2}


def test_the_cohorts_mart_holds_every_shipped_cohort_by_practice(settings: Settings) -> None:
    with open_marts(settings) as con:
        rows = con.table("cohorts").to_pyarrow().to_pylist()
    got = {(r["cohort"], r["practice_code"]): (r["members"], r["list_size"]) for r in rows}
    sizes = by_hand(set(PRACTICE), PRACTICE)
    for name, people in EXPECTED.items():
        per_practice = by_hand(people, PRACTICE)
        for practice, size in sizes.items():
            assert got[(name, practice)] == (per_practice.get(practice, 0), size)
    assert {r["version"] for r in rows} == {"2026.1"}
    assert {r["pcn_code"] for r in rows if r["practice_code"] == "B00001"} == {"U00002"}
    assert len(rows) == 4 * 3


def test_top_risk_bands_are_the_top_five_percent() -> None:
    bands = json.loads((DATA / "risk_bands.json").read_text())["bands"]
    entry = next(c for c in shipped_cohorts() if c.name == "top-risk-not-seen-6-months")
    chosen = [b for b in bands if b["band"] in entry.definition.risk_bands]
    assert max(b["cumulative_share"] for b in chosen) == 0.05
    assert [b["band"] for b in bands[: len(chosen)]] == [b["band"] for b in chosen]


def test_smi_check_is_the_inequalities_definition() -> None:
    spec = core20plus5()["smi_health_check"]
    smi = event_lists()["smi_health_check"]
    assert smi.elements == {k: tuple(v) for k, v in spec["elements"].items()}
    assert smi.required == len(spec["elements"]) and spec["require"] == "all"
    assert set(event_lists()["blood_pressure"].codes) == set(spec["elements"]["blood_pressure"])
    assert set(event_lists()["medication_review"].codes) == {"182836005", "1239511000000100"}


# ---- other criteria ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"registers_any": ["hyp", "mh"], "practices": ["a00001"]}, {10, 11, 20, 21}),
        ({"registers_all": ["hyp", "mh"]}, set()),
        (
            {
                "registers_all": ["hyp"],
                "events": [{"code_list": "blood_pressure", "rule": "has", "within_days": 365}],
            },
            {11, 12},
        ),
        # 4's review (1 April 2025) is inside 365 days; 3's SMR (31 March 2025) only inside 366.
        (
            {
                "efi_categories": ["severe"],
                "events": [{"code_list": "medication_review", "rule": "has", "within_days": 366}],
            },
            {2, 3, 4},
        ),
        ({"efi_categories": ["moderate", "severe"], "pcns": ["U00002"]}, {4, 7}),
        ({"sexes": ["male"]}, {40, 41, 42}),
        ({"sexes": ["male"], "imd_decile_min": 5}, {42}),
        ({"age_min": 64, "age_max": 79}, {5}),
        ({"places": ["PL2"], "risk_bands": ["very_high"]}, {36}),
        ({"no_gp_contact_days": 183, "segments": ["frailty_dementia"]}, {1, 2, 3, 4, 6, 7}),
        (
            {
                "registers_all": ["mh"],
                "events": [
                    {"code_list": "bmi", "rule": "has", "within_days": 365},
                    {"code_list": "hba1c", "rule": "lacks", "within_days": 365},
                ],
            },
            {21},
        ),
    ],
)
def test_criteria_combine(criteria: dict, expected: set[int], sources: CohortSources) -> None:
    assert ids(define(**criteria), sources) == expected


def test_member_list_is_pseudonymous_and_shows_the_criteria_values(
    sources: CohortSources,
) -> None:
    entry = next(c for c in shipped_cohorts() if c.name == "smi-no-health-check")
    rows = member_page(entry.definition, sources, limit=10)
    assert [r["patient_id"] for r in rows] == [21, 22, 24]  # equal risk: by patient_id
    first = rows[0]
    assert first["age_band"] == "40-44" and "age" not in first
    assert first["smi_health_check_elements_365d"] == 2
    assert str(first["last_smi_health_check"]) == "2025-06-01"
    assert rows[1]["smi_health_check_elements_365d"] == 0
    assert rows[1]["last_smi_health_check"] is None
    assert {"risk_score", "efi_score", "efi_category", "practice_code", "sex"} <= set(first)
    banned = {"nhs_number", "name", "date_of_birth", "lsoa_code", "postcode"}
    assert not banned & set(first)


def test_member_list_pages_highest_risk_first(sources: CohortSources) -> None:
    entry = next(c for c in shipped_cohorts() if c.name == "top-risk-not-seen-6-months")
    first = member_page(entry.definition, sources, limit=3)
    second = member_page(entry.definition, sources, limit=3, offset=3)
    assert [r["patient_id"] for r in first + second] == [30, 36, 32, 34]
    assert [r["risk_band"] for r in first] == ["very_high", "very_high", "high"]


# ---- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field", "listed"),
    [
        ({"registers_all": ["hypertension"]}, "registers_all", "hyp"),
        ({"registers_any": ["dm", "xx"]}, "registers_any", "copd"),
        ({"segments": ["frail"]}, "segments", "frailty_dementia"),
        ({"risk_bands": ["top"]}, "risk_bands", "very_high"),
        ({"efi_categories": ["Severe"]}, "efi_categories", "severe"),
        ({"sexes": ["f"]}, "sexes", "female"),
        (
            {"events": [{"code_list": "bp", "rule": "lacks", "within_days": 365}]},
            "events.0.code_list",
            "blood_pressure",
        ),
    ],
)
def test_an_unknown_value_names_the_field_and_lists_the_valid_ones(
    data: dict, field: str, listed: str
) -> None:
    with pytest.raises(CohortError) as raised:
        parse_definition({"name": "bad-one", "title": "Bad", **data})
    message = str(raised.value)
    assert message.startswith(f"{field}: unknown")
    assert "valid values:" in message and listed in message


@pytest.mark.parametrize(
    ("data", "text"),
    [
        ({"name": "Has Spaces", "registers_all": ["hyp"]}, "name:"),
        ({"registers_all": ["hyp"], "colour": "red"}, "colour: Extra inputs"),
        ({"age_min": 70, "age_max": 60}, "age_min is greater than age_max"),
        ({"imd_decile_min": 0}, "imd_decile_min:"),
        ({"no_gp_contact_days": 0}, "no_gp_contact_days:"),
        ({"events": [{"code_list": "bmi", "rule": "maybe", "within_days": 30}]}, "events.0.rule"),
        ({"events": [{"code_list": "bmi", "rule": "has", "within_days": -1}]}, "within_days"),
        ({}, "at least one criterion"),
        (
            {
                "events": [
                    {"code_list": "bmi", "rule": "has", "within_days": 30},
                    {"code_list": "bmi", "rule": "lacks", "within_days": 90},
                ]
            },
            "each code list at most once",
        ),
    ],
)
def test_invalid_definitions_are_refused_clearly(data: dict, text: str) -> None:
    with pytest.raises(CohortError, match=text.replace("(", r"\(")):
        parse_definition({"name": "bad-one", "title": "Bad", **data})


def test_definitions_are_canonical_so_order_does_not_make_a_new_version() -> None:
    a = define(registers_any=["mh", "hyp", "hyp"], practices=["b00001", "A00001"])
    b = define(registers_any=["hyp", "mh"], practices=["A00001", "B00001"])
    assert a.sha256() == b.sha256()
    assert a.canonical()["registers_any"] == ["hyp", "mh"]
    assert define(registers_any=["hyp"]).sha256() != b.sha256()
    bmi = {"code_list": "bmi", "rule": "has", "within_days": 30}
    hba1c = {"code_list": "hba1c", "rule": "lacks", "within_days": 30}
    assert define(events=[hba1c, bmi]).sha256() == define(events=[bmi, hba1c]).sha256()


def test_publishable_counts_hide_one_to_seven() -> None:
    assert [publishable_count(n) for n in (0, 1, 7, 8, 120)] == [0, "<8", "<8", 8, 120]
