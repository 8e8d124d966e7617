"""Record references: the compartment reference (`patient` of an Encounter, a Condition...) is
no longer stored as index rows; searches read record_resource.patient_id, which holds the same
reference (``SearchParam.reads_compartment``). 2.15 of a whole-ICS record's 4.3 million
reference rows.

Deletes the `patient` rows of the types whose compartment parameter is `patient` (the list the
parameter file gave when this was written).

Revision ID: 0021_record_compartment_rows
Revises: 0020_record_rows_by_resource
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_record_compartment_rows"
down_revision = "0020_record_rows_by_resource"
branch_labels = None
depends_on = None

_TYPES = (
    "AllergyIntolerance",
    "CarePlan",
    "CareTeam",
    "Condition",
    "Consent",
    "Device",
    "DocumentReference",
    "Encounter",
    "EpisodeOfCare",
    "Immunization",
    "MedicationRequest",
    "Observation",
    "Procedure",
    "ServiceRequest",
    "Task",
)

_REFERENCE = sa.table(
    "record_search_reference",
    sa.column("resource_type"),
    sa.column("resource_id"),
    sa.column("param"),
    sa.column("target_type"),
    sa.column("target_id"),
)


def upgrade() -> None:
    op.execute(
        _REFERENCE.delete().where(
            _REFERENCE.c.resource_type.in_(_TYPES), _REFERENCE.c.param == "patient"
        )
    )


def downgrade() -> None:
    resource = sa.table(
        "record_resource",
        sa.column("resource_type"),
        sa.column("id"),
        sa.column("patient_id"),
        sa.column("deleted", sa.Boolean),
    )
    rows = sa.select(
        resource.c.resource_type,
        resource.c.id,
        sa.literal("patient"),
        sa.literal("Patient"),
        resource.c.patient_id,
    ).where(
        resource.c.resource_type.in_(_TYPES),
        resource.c.patient_id.is_not(None),
        resource.c.deleted.is_(False),
    )
    op.execute(
        _REFERENCE.insert().from_select(
            ["resource_type", "resource_id", "param", "target_type", "target_id"], rows
        )
    )
