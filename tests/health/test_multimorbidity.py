"""Cambridge Multimorbidity Score against a hand calculation on the hand-made population.

Weights (reference/data/cms_weights.json): AF 1.34, alcohol 0.65, anxiety/depression 0.5,
asthma 0.19, cancer (last 5y) 1.53, CKD 0.53, connective tissue 0.43, constipation 1.12,
COPD 1.46, CHD 0.49, dementia 2.5, diabetes 0.75, epilepsy 0.92, hearing loss 0.09,
heart failure 1.18, hypertension 0.08, IBS 0.21, painful condition 0.92, psychosis 0.64,
stroke/TIA 0.8.
"""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import pytest

from integrated_care.health import codelists
from integrated_care.health.multimorbidity import cms_components_present, cms_scores
from integrated_care.warehouse.connection import connect
from tests.health.handmade import AS_OF, shared_warehouse

EXPECTED = {
    1: 0.75 + 0.08 + 1.34,  # diabetes, hypertension, AF
    2: 0.75,
    3: 0.75,  # the CMS has no age rule
    4: 0.0,  # asthma without an inhaler in 12 months
    5: 0.19,  # asthma + salbutamol
    6: 0.0,  # diabetes resolved
    7: 0.75,
    8: 0.0,
    9: 0.0,  # CHD coded after the date
    10: 1.18,  # heart failure (scores are for every patient; 10 died after it was coded)
    11: 1.46,  # COPD
    12: 0.92,  # epilepsy + levetiracetam in 12 months
    13: 0.5,  # depression coded 2020 but 4 sertraline in 12 months
    14: 0.5,  # depression coded in the last 12 months
    15: 0.09,  # hearing loss among the 9 frailty deficits
    16: 0.0,
    17: 0.09,
    18: 0.09,
    19: 1.12,  # 4 lactulose in 12 months; 3 paracetamol is not a painful condition
    20: 1.53,  # cancer diagnosed 2025
    21: 2.5,
    22: 1.18,
    23: 0.53,
    24: 1.46,
    25: 1.46,
    26: 0.0,  # a secondary-cancer code alone is not on the cancer list
    27: 1.53,  # cancer diagnosed 2024
    28: 0.0,
    29: 0.0,
    30: 0.0,
    31: 0.0,
    32: 0.0,  # cancer diagnosed 2019: more than 5 years ago
    33: 0.64 + 0.43 + 0.8 + 0.49,  # psychosis, RA, stroke, CHD (PAD is not a CMS condition)
    34: 0.0,
    35: 0.0,
    36: 0.0,
    37: 0.0,
    38: 0.0,  # hospital diagnoses only; the score reads the GP record
}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibis.BaseBackend]:
    backend = connect(shared_warehouse(tmp_path_factory), read_only=True)
    yield backend
    backend.disconnect()


def test_twenty_components_with_the_published_weights() -> None:
    components = codelists.cms_components()
    assert len(components) == 20
    weights = {c.name: c.weight for c in components}
    assert weights["dementia"] == 2.5 and weights["hypertension"] == 0.08
    assert {c.rule for c in components} == {
        "ever", "first_5y", "code_and_rx_12m", "code_12m_or_rx4_12m", "code_or_rx4_12m",
        "rx4_12m",
    }  # fmt: skip


def test_scores_match_the_hand_calculation(con: ibis.BaseBackend) -> None:
    rows = cms_scores(con, AS_OF).to_pyarrow().to_pylist()
    scores = {r["patient_id"]: r["cms_score"] for r in rows}
    assert set(scores) == set(EXPECTED)
    for pid, expected in EXPECTED.items():
        assert scores[pid] == pytest.approx(round(expected, 2)), pid
    counts = {r["patient_id"]: r["cms_conditions"] for r in rows}
    assert counts[1] == 3 and counts[33] == 4 and counts[4] == 0


def test_components_by_rule(con: ibis.BaseBackend) -> None:
    present = cms_components_present(con, AS_OF).to_pyarrow().to_pylist()
    got = {(r["patient_id"], r["component"]) for r in present}
    assert (19, "constipation") in got and (19, "painful condition") not in got
    assert (12, "epilepsy") in got and (5, "asthma") in got and (4, "asthma") not in got
    assert (13, "anxiety or depression") in got and (14, "anxiety or depression") in got
    assert (20, "cancer (new diagnosis, last 5y)") in got
    assert (32, "cancer (new diagnosis, last 5y)") not in got
