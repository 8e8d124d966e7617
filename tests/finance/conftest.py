"""Fixtures for the finance tests: a store holding the test footprint, and a few of its
organisations to enter figures for."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from integrated_care.finance.ledger import By
from integrated_care.footprint.services import list_organisations

ICB_FINANCE = By("icb.finance", "QK1")
YEAR = "2026/27"


def D(value: str | int) -> Decimal:
    return Decimal(str(value))


@pytest.fixture
def orgs(footprint_session: Session) -> list[str]:
    """Three NHS trusts of the test ICS, by code."""
    trusts = [
        o.org_code for o in list_organisations(footprint_session) if o.org_type.endswith("_trust")
    ]
    assert len(trusts) >= 3, trusts
    return sorted(trusts)[:3]
