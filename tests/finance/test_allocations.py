"""Weighted capitation against a hand calculation on a tiny, hand-made patient_summary mart."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction as F
from pathlib import Path

import duckdb
import pytest
from fastapi.testclient import TestClient

from integrated_care.finance import allocations, funding_services
from integrated_care.health.pipeline import MARTS_FILE
from integrated_care.runtime import Runtime
from integrated_care.settings import Settings

PARAMS = allocations.parameters_from_dict(
    {
        "version": "test",
        "age_bands": [0, 65],
        "min_cell_size": 2,
        "deprivation_uplift": {"1": "1.2", "10": "1.0"},
        "morbidity_bands": [{"from": "0", "uplift": "1.0"}, {"from": "2", "uplift": "1.5"}],
    }
)
# patient_id, age, sex, imd_decile, place, practice, cms_score, cost_12m
PEOPLE = [
    (1, 30, "female", 1, "P1", "GP1", 0.0, 100.0),
    (2, 40, "female", 10, "P1", "GP1", 0.0, 300.0),
    (3, 70, "female", 1, "P1", "GP2", 2.5, 1000.0),
    (4, 30, "male", 10, "P2", "GP3", 0.0, 200.0),
    (5, 50, "male", 10, "P2", "GP3", 0.0, 0.0),
    (6, 80, "male", 1, "P2", "GP3", 0.0, 600.0),
    (7, 20, "female", None, "P2", "GP3", 3.0, 200.0),
]


def write_marts(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MARTS_FILE
    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE patient_summary (patient_id BIGINT, age BIGINT, sex VARCHAR, "
        "imd_decile BIGINT, place_code VARCHAR, practice_code VARCHAR, pcn_code VARCHAR, "
        "cms_score DOUBLE, cost_12m DOUBLE, as_of DATE)"
    )
    con.executemany(
        "INSERT INTO patient_summary VALUES (?, ?, ?, ?, ?, ?, 'PCN1', ?, ?, DATE '2026-03-31')",
        PEOPLE,
    )
    con.close()
    return path


def hand_weights() -> dict[str, F]:
    """By hand. Everyone's mean cost: 2400 / 7.
    Age 0-64 female (1, 2, 7): 600 / 3 = 200 -> index 7/12.
    Age 0-64 male (4, 5): 200 / 2 = 100 -> index 7/24.
    Age 65+ female (3) and male (6): one person each, under the minimum cell of 2, so both
    take the age band's mean for both sexes, (1000 + 600) / 2 = 800 -> index 7/3.
    Person 3: 7/3 x 1.2 (decile 1) x 1.5 (CMS 2.5); 6: 7/3 x 1.2; 7: 7/12 x 1 (no decile) x 1.5.
    """
    w = {
        1: F(7, 12) * F(6, 5),
        2: F(7, 12),
        3: F(7, 3) * F(6, 5) * F(3, 2),
        4: F(7, 24),
        5: F(7, 24),
        6: F(7, 3) * F(6, 5),
        7: F(7, 12) * F(3, 2),
    }
    return {"P1": w[1] + w[2] + w[3], "P2": w[4] + w[5] + w[6] + w[7]}


def test_weighted_and_crude_splits_match_the_hand_calculation(tmp_path: Path) -> None:
    import ibis

    path = write_marts(tmp_path)
    con = ibis.duckdb.connect(str(path), read_only=True)
    costs, cells, missing, _ = allocations.read_cells(con, "place", PARAMS)
    con.disconnect()
    index = allocations.age_sex_index(costs, PARAMS.min_cell_size)
    assert index[(0, "female")] == Decimal(7) / 12
    assert index[(65, "male")] == index[(65, "female")]
    people, weighted = allocations.weighted_population(cells, index, PARAMS)
    hand = hand_weights()
    assert hand["P1"] == F(329, 60) and hand["P2"] == F(511, 120)
    assert people == {"P1": 3, "P2": 4} and missing == 0
    for unit, w in hand.items():
        assert abs(F(weighted[unit]) - w) < F(1, 10**20)

    lines = {x.code: x for x in allocations.allocate(Decimal("1000.00"), people, weighted)}
    # Weighted: 100,000p x 658/1169 = 56,287.43p and x 511/1169 = 43,712.57p; the penny left
    # over goes to the larger remainder (P2).
    assert (lines["P1"].weighted, lines["P2"].weighted) == (Decimal("562.87"), Decimal("437.13"))
    # Crude: 3/7 and 4/7 of 100,000p = 42,857.14p and 57,142.86p.
    assert (lines["P1"].crude, lines["P2"].crude) == (Decimal("428.57"), Decimal("571.43"))
    assert lines["P1"].difference == Decimal("134.30")
    assert lines["P2"].difference == Decimal("-134.30")
    assert sum(x.weighted for x in lines.values()) == Decimal("1000.00")
    assert sum(x.crude for x in lines.values()) == Decimal("1000.00")
    # Need index: (658/1169) / (3/7) = 1.3134...
    assert lines["P1"].need_index == Decimal("1.313")


def test_practices_split_sums_exactly_for_an_awkward_budget(tmp_path: Path) -> None:
    write_marts(tmp_path)
    settings = Settings(data_dir=tmp_path, database_url="sqlite://", secret_key="k")
    view = funding_services.allocation_view(
        _NoSession(), settings, "practice", Decimal("1234567.89"), PARAMS
    )
    assert [x.code for x in view.lines] == ["GP1", "GP2", "GP3"]
    assert sum(x.weighted for x in view.lines) == Decimal("1234567.89")
    assert sum(x.crude for x in view.lines) == Decimal("1234567.89")
    assert sum(x.population for x in view.lines) == 7


class _NoSession:
    """Stands in for a store with no footprint names (names fall back to codes)."""

    def execute(self, *_a, **_k):  # type: ignore[no-untyped-def]
        class R:
            def all(self):  # type: ignore[no-untyped-def]
                return []

        return R()


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="age_bands"):
        allocations.parameters_from_dict(
            {
                "version": "x",
                "age_bands": [5, 0],
                "deprivation_uplift": {},
                "morbidity_bands": [{"from": "0", "uplift": "1"}],
            }
        )
    assert allocations.parameters().version


def test_allocations_api_and_page(client: TestClient, runtime: Runtime) -> None:
    from integrated_care.accounts import services as accounts
    from integrated_care.finance.services import icb_code

    write_marts(runtime.settings.data_dir)
    with runtime.transaction() as s:
        icb = icb_code(s)
        accounts.create_user(s, "analyst", "a-long-enough-password", ["analyst"], icb, "A")
        token = accounts.create_token(s, "analyst", ["finance:read"])
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/finance/allocations?budget=1000").status_code == 401
    r = client.get("/api/finance/allocations?budget=1000", headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    # The shipped parameters (minimum cell 30: every age band and sex takes the overall mean,
    # so only deprivation and multimorbidity weigh): P1 = 1.10 + 1.00 + 1.10 (decile 1) x 1.10
    # (CMS 2.5), P2 = 1.00 + 1.00 + 1.10 (decile 1) + 1.20 (no decile; CMS 3).
    weights = {
        "P1": F("1.10") + F("1.00") + F("1.10") * F("1.10"),
        "P2": F("1.00") + F("1.00") + F("1.10") + F("1.20"),
    }
    total = sum(weights.values())
    exact = {k: F(100000) * w / total for k, w in weights.items()}
    floors = {k: int(v) for k, v in exact.items()}
    left = 100000 - sum(floors.values())
    for k in sorted(exact, key=lambda k: -(exact[k] - floors[k]))[:left]:
        floors[k] += 1
    expected = {k: str(Decimal(v) / 100) for k, v in floors.items()}
    assert {x["code"]: x["weighted"] for x in body["lines"]} == expected
    assert body["population"] == 7 and body["parameters_version"] == "2025-1"
    page = client.get("/finance/allocations?budget=1000", headers=headers)
    assert page.status_code == 200 and "Who gains and who loses" in page.text
