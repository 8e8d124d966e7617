"""Electronic Frailty Index against a hand calculation on the hand-made population.

eFI = deficits / 36; fit <= 0.12 (0-4), mild <= 0.24 (5-8), moderate <= 0.36 (9-12), severe 13+.
Scores and categories only for people aged 65+ on the date.
"""

from __future__ import annotations

from collections.abc import Iterator

import ibis
import pytest

from integrated_care.health import codelists
from integrated_care.health.frailty import category_cutoffs, efi_scores
from integrated_care.warehouse.connection import connect
from tests.health.handmade import AS_OF, shared_warehouse

# patient: (deficits, category or None under 65)
EXPECTED = {
    1: (3, "fit"),  # 70: diabetes, hypertension, AF
    9: (0, "fit"),  # 66: CHD after the date does not count
    15: (9, "moderate"),  # 80: 9 coded deficits (9/36 = 0.25)
    16: (5, "mild"),  # 66: 4 coded + polypharmacy (5 medicines in 12 months)
    17: (13, None),  # 64: 13 deficits but under 65
    18: (13, "severe"),  # 90: 13/36 = 0.361
    19: (4, "fit"),  # 65: 4 coded; only 4 distinct medicines inside the 12 months
    20: (0, "fit"),  # 81: palliative care and cancer are not deficits
    21: (1, "fit"),  # 75: dementia -> memory and cognitive problems
    22: (1, None),  # 60: heart failure
    23: (1, "fit"),  # 72: CKD
    24: (1, "fit"),  # 70: COPD -> respiratory disease
    33: (4, None),  # 50: PVD, stroke, IHD, arthritis (RA)
    36: (1, None),  # 60: osteoporosis
    38: (0, None),  # 46: hospital diagnoses only
}


@pytest.fixture(scope="module")
def con(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ibis.BaseBackend]:
    backend = connect(shared_warehouse(tmp_path_factory), read_only=True)
    yield backend
    backend.disconnect()


def test_definition_has_36_deficits_and_the_published_cut_offs() -> None:
    definition = codelists.efi_definition()
    assert len(definition.deficits) == 36
    assert category_cutoffs() == ((4, "fit"), (8, "mild"), (12, "moderate"))
    poly = [d for d in definition.deficits if d.rule == "polypharmacy"]
    assert len(poly) == 1 and poly[0].conditions == ()


def test_scores_match_the_hand_calculation(con: ibis.BaseBackend) -> None:
    rows = {r["patient_id"]: r for r in efi_scores(con, AS_OF).to_pyarrow().to_pylist()}
    assert len(rows) == 38
    for pid, (deficits, category) in EXPECTED.items():
        row = rows[pid]
        assert row["efi_deficits"] == deficits, pid
        assert row["efi_category"] == category, pid
        if category is None:
            assert row["efi_score"] is None, pid
        else:
            assert row["efi_score"] == pytest.approx(round(deficits / 36, 4)), pid
