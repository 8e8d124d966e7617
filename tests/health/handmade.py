"""A small hand-made population, written as an input-layer folder and loaded into a warehouse.

``Handmade`` is a builder others may reuse: add people, GP codes, medicines, spells, A&E,
outpatient, community, mental-health, social-care and GP-appointment rows, then ``write(folder)``
and ``load_warehouse(tmp_path)``. ``population()`` is the population the health tests use; every
person is there to hit one rule or edge case, and the tests' expected values are worked out by
hand from the table in its docstring, not by the code under test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from integrated_care.settings import Settings
from integrated_care.warehouse.load import load
from integrated_care.warehouse.nhs_number import check_digit
from integrated_care.warehouse.schema import arrow_schema

AS_OF = dt.date(2026, 3, 31)
D = dt.date

# Footprint: two places, two PCNs, three practices, one trust.
ORGANISATIONS = [
    ("QK1", "Test ICB", "icb", "nhs", True, None, None),
    ("03W", "Test sub-ICB", "sub_icb_location", "nhs", True, "QK1", "PL1"),
    ("U00001", "PCN One", "pcn", "nhs", False, "03W", "PL1"),
    ("U00002", "PCN Two", "pcn", "nhs", False, "03W", "PL2"),
    ("A00001", "Practice A1", "gp_practice", "nhs", False, "U00001", "PL1"),
    ("A00002", "Practice A2", "gp_practice", "nhs", False, "U00001", "PL1"),
    ("B00001", "Practice B1", "gp_practice", "nhs", False, "U00002", "PL2"),
    ("RWE", "Test Hospitals NHS Trust", "acute_trust", "nhs", True, "QK1", None),
]
PLACES = [("PL1", "Place One", "E06000016"), ("PL2", "Place Two", "E10000018")]
LSOAS = [("E01000001", "PL1", 1, 1500), ("E01000002", "PL2", 10, 1500)]


def nhs_number(patient_id: int) -> str:
    stem = 943_000_000 + patient_id * 7
    while (digit := check_digit(str(stem))) is None:
        stem += 1
    return f"{stem}{digit}"


@dataclass
class Handmade:
    """Rows of each input-layer table, added by hand."""

    people: list[dict] = field(default_factory=list)
    registrations: list[dict] = field(default_factory=list)
    gp_events: list[dict] = field(default_factory=list)
    medications: list[dict] = field(default_factory=list)
    apc_spells: list[dict] = field(default_factory=list)
    ae_attendances: list[dict] = field(default_factory=list)
    op_appointments: list[dict] = field(default_factory=list)
    community_contacts: list[dict] = field(default_factory=list)
    mh_contacts: list[dict] = field(default_factory=list)
    social_care_services: list[dict] = field(default_factory=list)
    gp_appointments: list[dict] = field(default_factory=list)

    def person(
        self,
        pid: int,
        born: dt.date,
        practice: str = "A00001",
        *,
        sex: str = "female",
        lsoa: str = "E01000001",
        died: dt.date | None = None,
        registered: tuple[tuple[dt.date, dt.date | None], ...] = ((D(2000, 1, 1), None),),
        practices: tuple[str, ...] | None = None,
    ) -> Handmade:
        self.people.append(
            {
                "patient_id": pid,
                "nhs_number": nhs_number(pid),
                "date_of_birth": born,
                "sex": sex,
                "ethnicity": "A",
                "lsoa_code": lsoa,
                "date_of_death": died,
                "national_opt_out": False,
                "type1_opt_out": False,
            }
        )
        for i, (start, end) in enumerate(registered):
            where = practices[i] if practices else practice
            self.registrations.append(
                {"patient_id": pid, "practice_code": where, "start_date": start, "end_date": end}
            )
        return self

    def code(self, pid: int, snomed: str, on: dt.date, value: float | None = None) -> Handmade:
        self.gp_events.append(
            {
                "patient_id": pid,
                "date": on,
                "snomed_code": snomed,
                "numeric_value": value,
                "practice_code": "A00001",
            }
        )
        return self

    def med(self, pid: int, dmd: str, *dates: dt.date) -> Handmade:
        for on in dates:
            self.medications.append(
                {
                    "patient_id": pid,
                    "date": on,
                    "dmd_code": dmd,
                    "bnf_chapter": "04",
                    "practice_code": "A00001",
                }
            )
        return self

    def spell(
        self,
        pid: int,
        admitted: dt.date,
        method: str,
        diagnosis: str,
        cost: str,
        secondary: str | None = None,
    ) -> Handmade:
        self.apc_spells.append(
            {
                "spell_id": len(self.apc_spells) + 1,
                "patient_id": pid,
                "provider_code": "RWE",
                "admission_date": admitted,
                "discharge_date": admitted + dt.timedelta(days=2),
                "admission_method": method,
                "primary_diagnosis": diagnosis,
                "secondary_diagnoses": secondary,
                "primary_procedure": None,
                "hrg_code": "DZ65K",
                "cost": Decimal(cost),
                "discharge_destination": "19",
            }
        )
        return self

    def ae(self, pid: int, arrived: dt.datetime, cost: str) -> Handmade:
        self.ae_attendances.append(
            {
                "attendance_id": len(self.ae_attendances) + 1,
                "patient_id": pid,
                "provider_code": "RWE",
                "arrival_time": arrived,
                "departure_time": arrived + dt.timedelta(hours=3),
                "department_type": 1,
                "acuity": 3,
                "chief_complaint": None,
                "diagnosis": None,
                "disposal": "discharged",
                "cost": Decimal(cost),
            }
        )
        return self

    def outpatient(self, pid: int, on: dt.date, cost: str, status: str = "attended") -> Handmade:
        self.op_appointments.append(
            {
                "appointment_id": len(self.op_appointments) + 1,
                "patient_id": pid,
                "provider_code": "RWE",
                "date": on,
                "treatment_function_code": "300",
                "first_attendance": True,
                "status": status,
                "cost": Decimal(cost),
            }
        )
        return self

    def community(self, pid: int, on: dt.date, cost: str) -> Handmade:
        self.community_contacts.append(
            {
                "contact_id": len(self.community_contacts) + 1,
                "patient_id": pid,
                "provider_code": "RWE",
                "date": on,
                "service": "district_nursing",
                "cost": Decimal(cost),
            }
        )
        return self

    def mental_health(self, pid: int, on: dt.date, cost: str) -> Handmade:
        self.mh_contacts.append(
            {
                "contact_id": len(self.mh_contacts) + 1,
                "patient_id": pid,
                "provider_code": "RWE",
                "date": on,
                "service": "community_mh_team",
                "cost": Decimal(cost),
            }
        )
        return self

    def social_care(self, pid: int, start: dt.date, end: dt.date | None, weekly: str) -> Handmade:
        self.social_care_services.append(
            {
                "service_id": len(self.social_care_services) + 1,
                "patient_id": pid,
                "local_authority_code": "E06000016",
                "service_type": "home_care",
                "start_date": start,
                "end_date": end,
                "weekly_cost": Decimal(weekly),
            }
        )
        return self

    def gp_visit(self, pid: int, on: dt.date, status: str = "attended") -> Handmade:
        self.gp_appointments.append(
            {
                "patient_id": pid,
                "date": on,
                "practice_code": "A00001",
                "staff_role": "gp",
                "mode": "face_to_face",
                "status": status,
            }
        )
        return self

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        footprint = {
            "organisations": [
                dict(
                    zip(
                        (
                            "org_code",
                            "name",
                            "org_type",
                            "sector",
                            "statutory",
                            "parent_code",
                            "place_code",
                        ),
                        row,
                        strict=True,
                    ),
                    postcode=None,
                )
                for row in ORGANISATIONS
            ],
            "places": [
                dict(zip(("place_code", "name", "local_authority_code"), r, strict=True))
                for r in PLACES
            ],
            "lsoas": [
                dict(zip(("lsoa_code", "place_code", "imd_decile", "population"), r, strict=True))
                for r in LSOAS
            ],
            "patients": self.people,
        }
        tables = footprint | {
            name: getattr(self, name)
            for name in (
                "registrations",
                "gp_events",
                "medications",
                "apc_spells",
                "ae_attendances",
                "op_appointments",
                "community_contacts",
                "mh_contacts",
                "social_care_services",
                "gp_appointments",
            )
        }
        for name, rows in tables.items():
            schema = arrow_schema(name)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")
        return folder

    def load_warehouse(self, root: Path) -> Settings:
        settings = Settings(data_dir=root / "ics-data")
        load(self.write(root / "extract"), settings)
        return settings


# SNOMED CT codes the population uses (all in health/data/codelists).
DM, DM_RES, HYP, HYP_RES, AF = "44054006", "315051004", "38341003", "162659009", "49436004"
AST, DEP, CHD, HF, COPD = "195967001", "35489007", "414545008", "84114007", "13645005"
CKD4, DEM, PC, CAN, CAN_META = "431857002", "52448006", "103735009", "363346000", "128462008"
LD, OB, QRISK, EP, MH, RA = (
    "110359009",
    "414916001",
    "718087004",
    "84757009",
    "58214004",
    "69896004",
)
OST, PAD, STIA = "64859006", "399957001", "230690007"
FALLS, MOBIL, HOUSEB, INCONT, DIZZY = "161898004", "82971005", "160689007", "165232002", "404640003"
DYSP, HEAR, VISION, SLEEP, THY = "267036007", "15188001", "397540003", "39898005", "40930008"
OA, ANAEM, SKINU, WEIGHTL = "396275006", "271737000", "46742003", "89362005"
CAREREQ, SOCVUL, URIN, PEPTIC = "371156003", "422650009", "68566005", "13200003"
SERTRALINE, SALBUTAMOL, LACTULOSE = "321949006", "320176004", "317566008"
PARACETAMOL, LEVETIRACETAM = "322236009", "407917003"
OTHER_MEDS = ("3000001", "3000002", "3000003", "3000004", "3000005")
NINE = (FALLS, MOBIL, INCONT, DIZZY, DYSP, HEAR, VISION, SLEEP, THY)
THIRTEEN = (FALLS, MOBIL, HOUSEB, INCONT, DIZZY, DYSP, HEAR, VISION, SLEEP, THY, OA, ANAEM, SKINU)


_LOADED: dict[str, Settings] = {}


def shared_warehouse(tmp_path_factory: object) -> Settings:
    """The hand-made population loaded once per test process (loading is the slow part)."""
    if "population" not in _LOADED:
        root = tmp_path_factory.mktemp("handmade")  # type: ignore[attr-defined]
        _LOADED["population"] = population().load_warehouse(root)
    return _LOADED["population"]


def population() -> Handmade:
    """38 people; ages on AS_OF (31 March 2026). Practice A00001 (PCN U00001, place PL1) unless
    noted; A00002 is also PCN U00001 / PL1; B00001 is PCN U00002 / PL2.

    id age  what                                                       expected segment
     1  70  DM 2010, HYP 2015, AF 2018                                 long_term_conditions
     2  17  DM 2024 (A00002): on the DM register (17+)                 long_term_conditions
     3  16  DM 2024 (A00002): too young for the DM register            long_term_conditions
     4   5  asthma, no inhaler: too young for AST (6+)                 long_term_conditions
     5   6  asthma + salbutamol Jan 2026                               long_term_conditions
     6  56  DM 2015, resolved 2020                                     healthy
     7  56  DM 2015, resolved 2018, DM again 2021                      long_term_conditions
     8  56  HYP and HYP resolved the same day                          healthy
     9  66  CHD coded May 2026, after the date                         healthy
    10  86  HF; died Dec 2025                                          (not registered)
    11  76  COPD; deregistered June 2025                               (not registered)
    12  46  epilepsy + levetiracetam; moved A00001 -> B00001 in 2024   long_term_conditions
    13  18  depression 2020 + 4 sertraline in 12 months                long_term_conditions
    14  17  depression Feb 2026: too young for DEP (18+)               long_term_conditions
    15  80  9 eFI deficits: moderate                                   frailty_dementia
    16  66  4 deficits + 5 medicines in 12 months: mild                healthy
    17  64  13 deficits incl. housebound, under 65: no eFI score      disability
    18  90  13 deficits: severe; home care 700/week from Oct 2025      frailty_dementia
    19  65  4 deficits; 5 medicines but one a year before: fit;
            4 lactulose in 12 months (CMS constipation)                healthy
    20  81  palliative care 2026; cancer 2025                          end_of_life
    21  75  dementia; home care 350/week Jan 2024 - June 2025          frailty_dementia
    22  60  heart failure                                              organ_failure
    23  72  CKD stage 4                                                organ_failure
    24  70  COPD + emergency COPD admission Nov 2025 (2,000) + A&E 150 organ_failure
    25  70  COPD + emergency COPD admission Feb 2024                   long_term_conditions
    26  68  secondary (metastatic) cancer code                         incurable_cancer
    27  67  cancer 2024 + emergency cancer admission Feb 2026 (3,500)  incurable_cancer
    28  30  learning disability                                        disability
    29  28  obesity; maternity spell Aug 2025 (3,000)                  maternal
    30   0  born Oct 2025                                              maternal
    31  40  outpatient 120 (+ a DNA), community 60, MH 200, GP visit   healthy
    32  76  cancer 2019 (B00001)                                       long_term_conditions
    33  50  QRISK 12.5, MH, RA, PAD, stroke, CHD (B00001)              long_term_conditions
    34  50  QRISK 8.0 (B00001)                                         healthy
    35  76  QRISK 15.0, too old for CVDPP (B00001)                     healthy
    36  60  osteoporosis (B00001)                                      long_term_conditions
    37  50  QRISK coded without a value (B00001)                       healthy
    38  46  emergency admission May 2025 (1,000), I10 | E11.9 N18.4,
            nothing coded in primary care (A00002)                     healthy
    """
    h = Handmade()
    h.person(1, D(1955, 6, 1)).code(1, DM, D(2010, 5, 1)).code(1, HYP, D(2015, 1, 1))
    h.code(1, AF, D(2018, 1, 1))
    h.person(2, D(2009, 3, 1), "A00002").code(2, DM, D(2024, 1, 1))
    h.person(3, D(2009, 4, 1), "A00002").code(3, DM, D(2024, 1, 1))
    h.person(4, D(2020, 9, 1), registered=((D(2020, 9, 1), None),)).code(4, AST, D(2024, 6, 1))
    h.person(5, D(2020, 3, 1), registered=((D(2020, 3, 1), None),)).code(5, AST, D(2024, 6, 1))
    h.med(5, SALBUTAMOL, D(2026, 1, 10))
    h.person(6, D(1970, 1, 1)).code(6, DM, D(2015, 1, 1)).code(6, DM_RES, D(2020, 1, 1))
    h.person(7, D(1970, 1, 1)).code(7, DM, D(2015, 1, 1)).code(7, DM_RES, D(2018, 1, 1))
    h.code(7, DM, D(2021, 1, 1))
    h.person(8, D(1970, 1, 1)).code(8, HYP, D(2019, 5, 5)).code(8, HYP_RES, D(2019, 5, 5))
    h.person(9, D(1960, 1, 1)).code(9, CHD, D(2026, 5, 1))
    h.person(10, D(1940, 1, 1), died=D(2025, 12, 1)).code(10, HF, D(2020, 1, 1))
    h.person(11, D(1950, 1, 1), registered=((D(2000, 1, 1), D(2025, 6, 30)),))
    h.code(11, COPD, D(2019, 1, 1))
    h.person(
        12,
        D(1980, 1, 1),
        lsoa="E01000002",
        registered=((D(2000, 1, 1), D(2024, 1, 1)), (D(2024, 1, 1), None)),
        practices=("A00001", "B00001"),
    )
    h.code(12, EP, D(2010, 1, 1)).med(12, LEVETIRACETAM, D(2025, 11, 1))
    h.person(13, D(2008, 3, 1), registered=((D(2008, 3, 1), None),)).code(13, DEP, D(2020, 1, 1))
    h.med(13, SERTRALINE, D(2025, 5, 1), D(2025, 8, 1), D(2025, 11, 1), D(2026, 2, 1))
    h.person(14, D(2008, 4, 1), registered=((D(2008, 4, 1), None),)).code(14, DEP, D(2026, 2, 1))
    h.person(15, D(1946, 1, 1))
    for code in NINE:
        h.code(15, code, D(2022, 1, 1))
    h.person(16, D(1960, 1, 1))
    for code in (OA, ANAEM, SKINU, WEIGHTL):
        h.code(16, code, D(2021, 1, 1))
    for med in OTHER_MEDS:
        h.med(16, med, D(2025, 12, 1))
    h.person(17, D(1962, 1, 1))
    h.person(18, D(1936, 1, 1)).social_care(18, D(2025, 10, 1), None, "700.00")
    for pid in (17, 18):
        for code in THIRTEEN:
            h.code(pid, code, D(2023, 1, 1))
    h.person(19, D(1961, 3, 1))
    for code in (CAREREQ, SOCVUL, URIN, PEPTIC):
        h.code(19, code, D(2024, 1, 1))
    h.med(19, LACTULOSE, D(2025, 6, 1), D(2025, 9, 1), D(2025, 12, 1), D(2026, 3, 1))
    h.med(19, PARACETAMOL, D(2025, 7, 1), D(2025, 10, 1), D(2026, 1, 1))
    h.med(19, OTHER_MEDS[0], D(2025, 5, 1)).med(19, OTHER_MEDS[1], D(2025, 6, 1))
    h.med(19, OTHER_MEDS[2], D(2025, 3, 31))
    h.person(20, D(1945, 1, 1)).code(20, PC, D(2026, 1, 15)).code(20, CAN, D(2025, 6, 1))
    h.person(21, D(1951, 1, 1)).code(21, DEM, D(2023, 1, 1))
    h.social_care(21, D(2024, 1, 1), D(2025, 6, 30), "350.00")
    h.person(22, D(1966, 1, 1)).code(22, HF, D(2022, 1, 1))
    h.person(23, D(1954, 1, 1)).code(23, CKD4, D(2021, 1, 1))
    h.person(24, D(1956, 1, 1)).code(24, COPD, D(2018, 1, 1))
    h.spell(24, D(2025, 11, 10), "21", "J44.1", "2000.00")
    h.ae(24, dt.datetime(2025, 11, 10, 8, 0), "150.00")
    h.person(25, D(1956, 1, 1)).code(25, COPD, D(2018, 1, 1))
    h.spell(25, D(2024, 2, 1), "21", "J44.1", "2000.00")
    h.person(26, D(1958, 1, 1)).code(26, CAN_META, D(2025, 9, 1))
    h.person(27, D(1959, 1, 1)).code(27, CAN, D(2024, 3, 1))
    h.spell(27, D(2026, 2, 1), "21", "C80.9", "3500.00")
    h.person(28, D(1996, 1, 1), registered=((D(2000, 1, 1), None),)).code(28, LD, D(2000, 6, 1))
    h.person(29, D(1998, 1, 1), registered=((D(2000, 1, 1), None),)).code(29, OB, D(2024, 1, 1))
    h.spell(29, D(2025, 8, 1), "31", "O80", "3000.00")
    h.person(30, D(2025, 10, 1), sex="male", registered=((D(2025, 10, 1), None),))
    h.person(31, D(1986, 1, 1), sex="male")
    h.outpatient(31, D(2025, 9, 1), "120.00").outpatient(
        31, D(2025, 10, 1), "120.00", "did_not_attend"
    )
    h.community(31, D(2025, 12, 1), "60.00").mental_health(31, D(2025, 7, 1), "200.00")
    h.gp_visit(31, D(2026, 3, 1)).gp_visit(31, D(2026, 3, 20), "did_not_attend")
    b = {"practice": "B00001", "lsoa": "E01000002"}
    h.person(32, D(1950, 1, 1), **b).code(32, CAN, D(2019, 1, 1))
    h.person(33, D(1976, 1, 1), **b).code(33, QRISK, D(2025, 6, 1), 12.5)
    for code, year in ((MH, 2015), (RA, 2016), (PAD, 2017), (STIA, 2018), (CHD, 2019)):
        h.code(33, code, D(year, 1, 1))
    h.person(34, D(1976, 1, 1), **b).code(34, QRISK, D(2025, 6, 1), 8.0)
    h.person(35, D(1950, 1, 1), **b).code(35, QRISK, D(2025, 6, 1), 15.0)
    h.person(36, D(1966, 1, 1), **b).code(36, OST, D(2020, 1, 1))
    h.person(37, D(1976, 1, 1), **b).code(37, QRISK, D(2025, 1, 1))
    h.person(38, D(1980, 1, 1), "A00002")
    h.spell(38, D(2025, 5, 1), "22", "I10", "1000.00", secondary="E11.9|N18.4")
    return h
