"""The input layer's schema, in one place: every table, column, code list and rule.

``TABLES`` is what the checker, the loader, the generator (``ics synth``) and the docs all read.
``arrow_schema(name)`` gives writers the exact Parquet schema of a table.

A table is *patient-level* (secondary use) when it holds a ``patient_id``. On the way into the
warehouse the loader removes every row of a patient with ``national_opt_out`` from such tables and
drops every *identifiable* column (``nhs_number``): the warehouse is the pseudonymised plane.
"""

from __future__ import annotations

import pyarrow as pa

from integrated_care.warehouse.model import (
    ARROW_TYPES,
    SQL_TYPES,
    Column,
    ColumnType,
    ForeignKey,
    OrderRule,
    TableSpec,
    code_list,
)

__all__ = [
    "ARROW_TYPES",
    "SQL_TYPES",
    "TABLES",
    "Column",
    "ColumnType",
    "ForeignKey",
    "OrderRule",
    "TableSpec",
    "arrow_schema",
    "code_list",
    "table",
]

# Code shapes. SNOMED CT and dm+d identifiers are 6-18 digits without a leading zero.
ICD10 = r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,4})?"
OPCS4 = r"[A-Z][0-9]{2}(\.?[0-9]{1,2})?"
SNOMED = r"[1-9][0-9]{5,17}"
HRG = r"[A-Z]{2}[0-9]{2}[A-Z]"
ONS_CODE = r"[EWSN][0-9]{8}"
ORG_CODE = r"[A-Z0-9]{3,10}"
POSTCODE = r"[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}"

SEX = ("female", "male", "intersex", "unknown")
ORG_TYPES = (
    "icb", "sub_icb_location", "acute_trust", "community_trust", "mental_health_trust",
    "ambulance_trust", "gp_practice", "pcn", "local_authority", "vcse", "independent_provider",
    "hospice",
)  # fmt: skip
SECTORS = ("nhs", "local_government", "voluntary", "private")
ATTENDANCE_STATUS = ("attended", "did_not_attend", "cancelled")
STAFF_GROUPS = (
    "medical", "nursing", "ahp", "scientific", "admin", "estates", "social_care", "other",
)  # fmt: skip
LEDGER_LINES = ("income", "pay", "agency_pay", "non_pay", "depreciation", "financing", "other")


def _id(name: str, description: str = "") -> Column:
    return Column(name, "int64", description or "Identifier, unique in this table")


def _patient() -> Column:
    return Column(
        "patient_id",
        "int64",
        "The person (pseudonymous, as in patients)",
        references=ForeignKey("patients", "patient_id"),
    )


def _org(name: str, description: str, org_type: str | None = None, **kw: object) -> Column:
    where = ("org_type", org_type) if org_type else None
    return Column(
        name,
        "string",
        description,
        pattern=ORG_CODE,
        pattern_name="organisation code",
        references=ForeignKey("organisations", "org_code", where),
        **kw,  # type: ignore[arg-type]
    )


def _practice() -> Column:
    return _org("practice_code", "The GP practice", "gp_practice")


def _provider() -> Column:
    return _org("provider_code", "The providing organisation")


def _money(name: str, description: str = "GBP", **kw: object) -> Column:
    return Column(name, "decimal", description, **kw)  # type: ignore[arg-type]


def _date(name: str, description: str = "", nullable: bool = False) -> Column:
    return Column(name, "date", description, nullable=nullable)


def _enum(name: str, values: tuple[str, ...], description: str = "", **kw: object) -> Column:
    return Column(name, "string", description, allowed=values, **kw)  # type: ignore[arg-type]


def _tfc() -> Column:
    return Column(
        "treatment_function_code",
        "string",
        "NHS treatment function code",
        code_list="treatment_function_codes",
    )


def _financial_year() -> Column:
    return Column(
        "financial_year", "string", 'April to March, as "2025/26"', special="financial_year"
    )


def _month() -> Column:
    return Column("month", "int64", "Month of the financial year: 1 = April", minimum=1, maximum=12)


FOOTPRINT = (
    TableSpec(
        "organisations",
        "footprint",
        "Every member and partner organisation of the ICS",
        (
            Column(
                "org_code",
                "string",
                "ODS-style code",
                pattern=ORG_CODE,
                pattern_name="organisation code",
            ),
            Column("name", "string"),
            _enum("org_type", ORG_TYPES),
            _enum("sector", SECTORS),
            Column("statutory", "bool", "A statutory body"),
            _org(
                "parent_code",
                "Practice -> PCN, PCN -> sub-ICB location, trust -> ICB, ...",
                nullable=True,
            ),
            Column(
                "place_code",
                "string",
                "The place it belongs to",
                nullable=True,
                references=ForeignKey("places", "place_code"),
            ),
            Column("postcode", "string", nullable=True, pattern=POSTCODE, pattern_name="postcode"),
        ),
        primary_key=("org_code",),
        required=True,
    ),
    TableSpec(
        "places",
        "footprint",
        "Places: usually one local authority area each",
        (
            Column("place_code", "string"),
            Column("name", "string"),
            Column(
                "local_authority_code",
                "string",
                "ONS code of the local authority",
                pattern=ONS_CODE,
                pattern_name="ONS area code",
            ),
        ),
        primary_key=("place_code",),
        required=True,
    ),
    TableSpec(
        "lsoas",
        "footprint",
        "Lower-layer super output areas (2011) in the footprint",
        (
            Column("lsoa_code", "string", pattern=ONS_CODE, pattern_name="LSOA code"),
            Column("place_code", "string", references=ForeignKey("places", "place_code")),
            Column(
                "imd_decile",
                "int64",
                "IMD 2019 decile: 1 = most deprived nationally",
                minimum=1,
                maximum=10,
            ),
            Column("population", "int64", minimum=0),
        ),
        primary_key=("lsoa_code",),
        required=True,
    ),
)

POPULATION = (
    TableSpec(
        "patients",
        "population",
        "One row per person ever registered in the footprint",
        (
            Column("patient_id", "int64", "Pseudonymous 64-bit identifier of the person"),
            Column(
                "nhs_number",
                "string",
                "10 digits with a valid modulus-11 check digit",
                special="nhs_number",
                identifiable=True,
            ),
            Column(
                "date_of_birth", "date", "First of the month of birth", special="first_of_month"
            ),
            _enum("sex", SEX),
            Column(
                "ethnicity",
                "string",
                "NHS ethnic category (Z = not stated)",
                nullable=True,
                code_list="ethnic_categories",
            ),
            Column(
                "lsoa_code",
                "string",
                "Where the person lives",
                nullable=True,
                references=ForeignKey("lsoas", "lsoa_code"),
            ),
            _date("date_of_death", "Null if alive", nullable=True),
            Column("national_opt_out", "bool", "National data opt-out: no secondary use"),
            Column("type1_opt_out", "bool", "Type 1 opt-out registered at the GP practice"),
        ),
        primary_key=("patient_id",),
        required=True,
        order_rules=(OrderRule("date_of_birth", "date_of_death"),),
    ),
    TableSpec(
        "registrations",
        "population",
        "GP registrations, one row per spell of registration",
        (_patient(), _practice(), _date("start_date"), _date("end_date", "Null if current", True)),
        primary_key=("patient_id", "practice_code", "start_date"),
        required=True,
        order_rules=(OrderRule("start_date", "end_date"),),
    ),
    TableSpec(
        "gp_events",
        "population",
        "Coded GP record entries: diagnoses, measurements, procedures",
        (
            _patient(),
            _date("date"),
            Column("snomed_code", "string", pattern=SNOMED, pattern_name="SNOMED CT code"),
            Column(
                "numeric_value",
                "float64",
                "Null unless a measurement (BMI, BP, HbA1c ...)",
                nullable=True,
            ),
            _practice(),
        ),
    ),
    TableSpec(
        "gp_appointments",
        "population",
        "GP practice appointments",
        (
            _patient(),
            _date("date"),
            _practice(),
            _enum("staff_role", ("gp", "nurse", "pharmacist", "other")),
            _enum("mode", ("face_to_face", "telephone", "video", "home_visit")),
            _enum("status", ATTENDANCE_STATUS),
        ),
    ),
    TableSpec(
        "medications",
        "population",
        "Prescriptions issued in primary care",
        (
            _patient(),
            _date("date"),
            Column(
                "dmd_code", "string", "dm+d product code", pattern=SNOMED, pattern_name="dm+d code"
            ),
            Column(
                "bnf_chapter",
                "string",
                'BNF chapter, two digits ("02")',
                nullable=True,
                code_list="bnf_chapters",
            ),
            _practice(),
        ),
    ),
    TableSpec(
        "deaths",
        "population",
        "Registered deaths",
        (
            _patient(),
            _date("date_of_death"),
            Column(
                "underlying_cause",
                "string",
                "ICD-10",
                nullable=True,
                pattern=ICD10,
                pattern_name="ICD-10 code",
            ),
            _enum(
                "place_of_death",
                ("hospital", "home", "care_home", "hospice", "other"),
                nullable=True,
            ),
        ),
        primary_key=("patient_id",),
    ),
)

HOSPITAL = (
    TableSpec(
        "apc_spells",
        "hospital",
        "Admitted patient care spells (SUS APC)",
        (
            _id("spell_id"),
            _patient(),
            _provider(),
            _date("admission_date"),
            _date("discharge_date", "Null while still in hospital", nullable=True),
            Column(
                "admission_method",
                "string",
                "NHS code: 11-13 elective, 21-28 and 2A-2D emergency, 31-32 maternity, 81-83 other",
                code_list="admission_methods",
            ),
            Column(
                "primary_diagnosis", "string", "ICD-10", pattern=ICD10, pattern_name="ICD-10 code"
            ),
            Column(
                "secondary_diagnoses",
                "string",
                "Pipe-separated ICD-10 codes",
                nullable=True,
                pattern=f"{ICD10}(\\|{ICD10})*",
                pattern_name="pipe-separated ICD-10 codes",
            ),
            Column(
                "primary_procedure",
                "string",
                "OPCS-4",
                nullable=True,
                pattern=OPCS4,
                pattern_name="OPCS-4 code",
            ),
            Column(
                "hrg_code",
                "string",
                "Healthcare resource group",
                pattern=HRG,
                pattern_name="HRG code",
            ),
            _money("cost", minimum=0),
            Column(
                "discharge_destination",
                "string",
                "NHS code",
                nullable=True,
                code_list="discharge_destinations",
            ),
        ),
        primary_key=("spell_id",),
        order_rules=(OrderRule("admission_date", "discharge_date"),),
    ),
    TableSpec(
        "ae_attendances",
        "hospital",
        "A&E attendances (ECDS); the 4-hour standard is measured from arrival and departure",
        (
            _id("attendance_id"),
            _patient(),
            _provider(),
            Column("arrival_time", "timestamp"),
            Column("departure_time", "timestamp", nullable=True),
            Column(
                "department_type",
                "int64",
                "1 major A&E, 2 single specialty, 3 UTC / MIU",
                allowed=(1, 2, 3),
            ),
            Column(
                "acuity",
                "int64",
                "Triage category: 1 immediate to 5 non-urgent",
                nullable=True,
                minimum=1,
                maximum=5,
            ),
            Column(
                "chief_complaint",
                "string",
                "SNOMED CT",
                nullable=True,
                pattern=SNOMED,
                pattern_name="SNOMED CT code",
            ),
            Column(
                "diagnosis",
                "string",
                "SNOMED CT",
                nullable=True,
                pattern=SNOMED,
                pattern_name="SNOMED CT code",
            ),
            _enum(
                "disposal", ("admitted", "discharged", "referred", "left_before_treatment", "died")
            ),
            _money("cost", minimum=0),
        ),
        primary_key=("attendance_id",),
        order_rules=(OrderRule("arrival_time", "departure_time"),),
    ),
    TableSpec(
        "op_appointments",
        "hospital",
        "Outpatient appointments (SUS OP)",
        (
            _id("appointment_id"),
            _patient(),
            _provider(),
            _date("date"),
            _tfc(),
            Column("first_attendance", "bool", "First appointment (else follow-up)"),
            _enum("status", ATTENDANCE_STATUS),
            _money("cost", minimum=0),
        ),
        primary_key=("appointment_id",),
    ),
    TableSpec(
        "rtt_pathways",
        "hospital",
        "Referral-to-treatment pathways",
        (
            _id("pathway_id"),
            _patient(),
            _provider(),
            _tfc(),
            _date("clock_start_date"),
            _date("clock_stop_date", "Null while still waiting", nullable=True),
        ),
        primary_key=("pathway_id",),
        order_rules=(OrderRule("clock_start_date", "clock_stop_date"),),
    ),
)

COMMUNITY = (
    TableSpec(
        "community_contacts",
        "community",
        "Community health service contacts",
        (
            _id("contact_id"),
            _patient(),
            _provider(),
            _date("date"),
            _enum(
                "service",
                ("district_nursing", "physiotherapy", "rapid_response", "podiatry", "other"),
            ),
            _money("cost", minimum=0),
        ),
        primary_key=("contact_id",),
    ),
    TableSpec(
        "mh_contacts",
        "community",
        "Mental health service contacts",
        (
            _id("contact_id"),
            _patient(),
            _provider(),
            _date("date"),
            _enum(
                "service",
                ("talking_therapies", "community_mh_team", "crisis", "inpatient_day", "other"),
            ),
            _money("cost", minimum=0),
        ),
        primary_key=("contact_id",),
    ),
    TableSpec(
        "social_care_services",
        "community",
        "Council-funded adult social care services",
        (
            _id("service_id"),
            _patient(),
            Column(
                "local_authority_code",
                "string",
                "ONS code of the council",
                references=ForeignKey("places", "local_authority_code"),
            ),
            _enum(
                "service_type",
                ("home_care", "residential", "nursing", "reablement", "day_care", "direct_payment"),
            ),
            _date("start_date"),
            _date("end_date", "Null while continuing", nullable=True),
            _money("weekly_cost", minimum=0),
        ),
        primary_key=("service_id",),
        order_rules=(OrderRule("start_date", "end_date"),),
    ),
)

FINANCE = (
    TableSpec(
        "finance_control_totals",
        "finance",
        "Each organisation's control total for a financial year",
        (
            _org("org_code", "The organisation"),
            _financial_year(),
            _money("control_total", "Planned surplus (+) or deficit (-), GBP"),
        ),
        primary_key=("org_code", "financial_year"),
    ),
    TableSpec(
        "finance_ledger",
        "finance",
        "Monthly plan, actual and forecast entries; corrections append, nothing is overwritten",
        (
            _id("entry_id"),
            _org("org_code", "The organisation"),
            _financial_year(),
            _month(),
            _enum("line", LEDGER_LINES),
            _enum("kind", ("plan", "actual", "forecast")),
            _money("amount"),
            Column("recorded_at", "timestamp"),
            Column(
                "supersedes",
                "int64",
                "The entry this one corrects",
                nullable=True,
                references=ForeignKey("finance_ledger", "entry_id"),
            ),
        ),
        primary_key=("entry_id",),
    ),
    TableSpec(
        "contracts",
        "finance",
        "Contracts between commissioners and holders, including alliance and sub-contracts",
        (
            Column("contract_id", "string"),
            _org("commissioner_code", "The commissioning organisation"),
            _org("holder_code", "The organisation holding the contract"),
            _enum(
                "contract_type",
                ("alliance", "icp_lead_provider", "sub_contract", "nhs_standard", "section_75"),
            ),
            Column(
                "parent_contract_id",
                "string",
                "The contract this sits under",
                nullable=True,
                references=ForeignKey("contracts", "contract_id"),
            ),
            Column("services", "string", "Pipe-separated services covered"),
            _money("annual_value", minimum=0),
            _date("start_date"),
            _date("end_date", nullable=True),
            _enum(
                "procurement_route",
                (
                    "direct_award_a",
                    "direct_award_b",
                    "direct_award_c",
                    "most_suitable_provider",
                    "competitive",
                    "legacy",
                ),
            ),
        ),
        primary_key=("contract_id",),
        order_rules=(OrderRule("start_date", "end_date"),),
    ),
    TableSpec(
        "staff",
        "workforce",
        "Staff of member organisations",
        (
            _id("staff_id"),
            _org("employer_code", "The employing organisation"),
            _enum("staff_group", STAFF_GROUPS),
            Column("role", "string"),
            Column("fte", "float64", "Full-time equivalent", minimum=0, maximum=2),
            _date("start_date"),
            _date("end_date", nullable=True),
        ),
        primary_key=("staff_id",),
        order_rules=(OrderRule("start_date", "end_date"),),
    ),
    TableSpec(
        "workforce_plan",
        "workforce",
        "Planned FTE by organisation, month and staff group",
        (
            _org("org_code", "The organisation"),
            _financial_year(),
            _month(),
            _enum("staff_group", STAFF_GROUPS),
            Column("planned_fte", "float64", minimum=0),
        ),
        primary_key=("org_code", "financial_year", "month", "staff_group"),
    ),
)

TABLES: dict[str, TableSpec] = {
    t.name: t for t in (*FOOTPRINT, *POPULATION, *HOSPITAL, *COMMUNITY, *FINANCE)
}


def table(name: str) -> TableSpec:
    """The spec of one table; KeyError names the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"no input-layer table {name!r}; known: {', '.join(TABLES)}") from None


def arrow_schema(name: str, *, warehouse: bool = False) -> pa.Schema:
    """The Parquet schema of input-layer table ``name`` (``warehouse=True``: as stored)."""
    return table(name).arrow_schema(warehouse=warehouse)
