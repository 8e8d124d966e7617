"""Record references: a resource's patient is indexed once, under `patient`, not again under
`subject` (``SearchParam.rows_of``: a `subject` search reads both parameters' rows).

Deletes the `subject` rows that point at a Patient from the types whose `patient` parameter
reads the same element (the list the parameter file gave when this was written).

Revision ID: 0017_record_subject_rows
Revises: 0016_record_reference_target
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_record_subject_rows"
down_revision = "0016_record_reference_target"
branch_labels = None
depends_on = None

_TYPES = (
    "CarePlan",
    "CareTeam",
    "Condition",
    "DocumentReference",
    "Encounter",
    "MedicationRequest",
    "Observation",
    "Procedure",
    "ServiceRequest",
)


def upgrade() -> None:
    reference = sa.table(
        "record_search_reference",
        sa.column("resource_type"),
        sa.column("param"),
        sa.column("target_type"),
    )
    op.execute(
        reference.delete().where(
            reference.c.resource_type.in_(_TYPES),
            reference.c.param == "subject",
            reference.c.target_type == "Patient",
        )
    )


def downgrade() -> None:
    # The older code reads `subject` rows only: they are the `patient` rows under that name.
    op.execute(
        "INSERT INTO record_search_reference "
        "(resource_type, resource_id, param, target_type, target_id) "
        "SELECT resource_type, resource_id, 'subject', target_type, target_id "
        "FROM record_search_reference WHERE param = 'patient' AND resource_type IN ("
        + ", ".join(f"'{t}'" for t in _TYPES)
        + ")"
    )
