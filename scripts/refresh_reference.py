"""Copy the public reference data the platform needs from ``../shared/reference`` into the package.

The installed platform must not depend on ``../shared`` existing, so the files it reads live in
``src/integrated_care/reference/data`` as versioned data files, each listed with its source,
year, licence and checksum in ``manifest.json``. Run this only when the shared reference changes:

    uv run python scripts/refresh_reference.py [--shared ../shared/reference]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
from pathlib import Path

DEST = Path(__file__).resolve().parents[1] / "src" / "integrated_care" / "reference" / "data"

# (file in shared/reference, name in the package, source, year of the figures)
COPIES = [
    (
        "icb_summary_2023_ons_mid2022.csv",
        "icb_summary.csv",
        "ONS mid-2022 population by ICB",
        "2022",
    ),
    (
        "strategyunit_pfm/ICB_Population_estimates_2022.csv",
        "sicbl_population_mid2022.csv",
        "ONS mid-2022 population by sub-ICB location, single year of age and sex",
        "2022",
    ),
    (
        "strategyunit_pfm/providers_to_ICB_lookup.csv",
        "nhs_trusts_by_icb.csv",
        "NHS trust to ICB lookup (The Strategy Unit)",
        "2023",
    ),
    (
        "nhsd_gp_map_jan2022/gp-reg-pat-prac-map_01Jan2022.csv",
        "gp_practices_jan2022.csv",
        "NHS Digital GP practice to PCN / CCG / ICB map",
        "2022",
    ),
    (
        "hocl_qof1920/gp-by-age.csv",
        "gp_list_size_apr2020.csv",
        "NHS Digital practice list size by age, April 2020 (House of Commons Library)",
        "2020",
    ),
    (
        "qof2019_20_prevalence_by_imd2019_decile_summary.csv",
        "qof_prevalence_by_imd_decile_1920.csv",
        "QOF 2019/20 crude prevalence by IMD 2019 decile",
        "2019/20",
    ),
    (
        "hocl_qof1920/output_imd_prevalence.csv",
        "qof_register_by_imd_decile_1920.csv",
        "QOF 2019/20 register and list size by IMD 2019 decile",
        "2019/20",
    ),
    ("efi_definition.json", "efi_definition.json", "Clegg et al., Age Ageing 2016", "2016"),
    (
        "cambridge_multimorbidity_score_weights.json",
        "cms_weights.json",
        "Payne et al., CMAJ 2020",
        "2020",
    ),
    ("core20plus5.json", "core20plus5.json", "NHS England Core20PLUS5", "2023"),
    (
        "strategyunit_pfm/non_elec_inpat_costs_23_24.csv",
        "non_elective_costs_2324.csv",
        "Non-elective spell cost by HRG (indicative)",
        "2023/24",
    ),
    ("strategyunit_pfm/ed_hrg.csv", "ed_costs.csv", "Emergency department cost by HRG", "2023/24"),
    ("strategyunit_pfm/op_hrg.csv", "op_costs.csv", "Outpatient cost by HRG", "2023/24"),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _derive_lsoa_footprint(shared: Path, out: Path) -> None:
    """One row per LSOA 2011: its local authority, sub-ICB location, ICB and IMD 2019 decile."""
    with (shared / "geographr/lsoa11_sicbl22_icb22_ltla22_lookup.csv").open(
        encoding="utf-8-sig"
    ) as f:
        la = {r["lsoa11_code"]: r for r in csv.DictReader(f)}
    with (
        (shared / "lsoa11_imd2019_decile_icb22.csv").open(encoding="utf-8-sig") as f,
        out.open("w", newline="") as g,
    ):
        w = csv.writer(g)
        w.writerow(
            [
                "lsoa11_code",
                "lsoa11_name",
                "la_code",
                "la_name",
                "sicbl_code",
                "icb_code",
                "imd2019_rank",
                "imd2019_decile",
            ]
        )
        for r in csv.DictReader(f):
            geo = la[r["LSOA11CD"]]
            w.writerow(
                [
                    r["LSOA11CD"],
                    r["LSOA11NM"],
                    geo["ltla22_code"],
                    geo["ltla22_name"],
                    r["sicbl22_code_h"],
                    r["icb22_code_h"],
                    r["IMD19_rank"],
                    r["IMD19_decile"],
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/reference"))
    shared = parser.parse_args().shared
    DEST.mkdir(parents=True, exist_ok=True)
    manifest = []
    for src, name, source, year in COPIES:
        shutil.copyfile(shared / src, DEST / name)
        manifest.append({"file": name, "from": src, "source": source, "year": year})
    _derive_lsoa_footprint(shared, DEST / "lsoa_footprint.csv")
    manifest.append(
        {
            "file": "lsoa_footprint.csv",
            "from": "geographr/lsoa11_sicbl22_icb22_ltla22_lookup.csv + "
            "lsoa11_imd2019_decile_icb22.csv",
            "source": "ONS LSOA 2011 lookups; MHCLG IMD 2019",
            "year": "2019/2022",
        }
    )
    for entry in manifest:
        entry["licence"] = "Open Government Licence v3.0"
        entry["sha256"] = _sha256(DEST / entry["file"])
    (DEST / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"wrote {len(manifest)} reference files to {DEST}")


if __name__ == "__main__":
    main()
