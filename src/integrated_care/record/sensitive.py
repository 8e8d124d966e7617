"""Sensitive information: sexual health, gender identity, assisted conception, safeguarding.

A resource is sensitive when any of its codes (any Coding anywhere in it) is on the versioned
code list ``data/sensitive_codes.csv`` (SNOMED CT codes, ICD-10 codes or prefixes), or when its
``meta.security`` carries the confidentiality code R (restricted) or V (very restricted), which
makes it sensitive in the category ``restricted``. Sensitive resources are sealed: only the
organisation that recorded them sees them, unless the patient consented to share that category
(consent.py).

The recording organisation is stamped on every write as a ``meta.tag`` (``RECORDED_BY_SYSTEM``,
the ODS code) and kept through later versions: an update by anyone keeps the first recorder.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

CODES_FILE = Path(__file__).parent / "data" / "sensitive_codes.csv"
RECORDED_BY_SYSTEM = "https://fhir.integrated-care.nhs.uk/CodeSystem/recorded-by"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
SEALING_CONFIDENTIALITY = ("R", "V")
RESTRICTED = "restricted"
SYSTEMS = {"snomed": "http://snomed.info/sct", "icd10": "http://hl7.org/fhir/sid/icd-10"}


@dataclass(frozen=True)
class CodeList:
    version: str
    exact: dict[tuple[str, str], str]  # (system, code) -> category
    prefixes: tuple[tuple[str, str, str], ...]  # (system, prefix, category)

    def category(self, system: str | None, code: str | None) -> str | None:
        if not system or not code:
            return None
        code = code.replace(".", "").upper() if system == SYSTEMS["icd10"] else code
        found = self.exact.get((system, code))
        if found:
            return found
        for prefix_system, prefix, category in self.prefixes:
            if system == prefix_system and code.startswith(prefix):
                return category
        return None

    @property
    def categories(self) -> list[str]:
        return sorted({*self.exact.values(), *(c for _s, _p, c in self.prefixes), RESTRICTED})


def load_code_list(path: Path = CODES_FILE) -> CodeList:
    version = "unversioned"
    lines = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            if "Version " in line:
                version = line.split("Version ", 1)[1].strip().rstrip(".")
            continue
        lines.append(line)
    exact: dict[tuple[str, str], str] = {}
    prefixes = []
    for row in csv.DictReader(lines):
        system = SYSTEMS[row["system"]]
        code = row["code"].replace(".", "").upper() if row["system"] == "icd10" else row["code"]
        if row["match"] == "prefix":
            prefixes.append((system, code, row["category"]))
        elif row["match"] == "exact":
            exact[(system, code)] = row["category"]
        else:
            raise ValueError(f"{path}: match must be exact or prefix, not {row['match']!r}")
    return CodeList(version, exact, tuple(prefixes))


@lru_cache(maxsize=1)
def code_list() -> CodeList:
    return load_code_list()


_CODE_VALUE = re.compile(r'"code"\s*:\s*"((?:[^"\\]|\\.)*)"')


@lru_cache(maxsize=1)
def _listed() -> tuple[frozenset[str], tuple[str, ...]]:
    """Every code on the list, and every prefix, whatever their system."""
    known = code_list()
    return frozenset(code for _system, code in known.exact), tuple(
        prefix for _system, prefix, _category in known.prefixes
    )


def may_be_sensitive(content: str | None) -> bool:
    """False only when the stored JSON `content` cannot be sensitive: none of its ``code``
    values is on the code list (in any system, ICD-10 dots ignored) and it carries no
    confidentiality label. A test on the text, much cheaper than parsing, so that only the
    resources that may be sealed are parsed and given to :func:`categories`, which decides."""
    if not content:
        return False
    if CONFIDENTIALITY_SYSTEM in content:
        return True
    codes, prefixes = _listed()
    for raw in _CODE_VALUE.findall(content):
        if "\\" in raw:  # an escaped value: leave it to the full check
            return True
        for code in (raw, raw.replace(".", "").upper()):
            if code in codes or code.startswith(prefixes):
                return True
    return False


def _codings(value: Any, *, skip_meta: bool = True):  # type: ignore[no-untyped-def]
    if isinstance(value, dict):
        if "code" in value and "system" in value and isinstance(value.get("code"), str):
            yield value
        for key, item in value.items():
            if skip_meta and key == "meta":
                continue
            yield from _codings(item, skip_meta=False)
    elif isinstance(value, list):
        for item in value:
            yield from _codings(item, skip_meta=False)


def categories(resource: dict[str, Any] | None) -> frozenset[str]:
    """The sensitive categories of a resource (empty when it is not sensitive)."""
    if not resource:
        return frozenset()
    # Every read asks; nearly every resource is not sensitive, and the test on the text finds
    # that for far less than walking every coding.
    if not may_be_sensitive(orjson.dumps(resource).decode()):
        return frozenset()
    found = set()
    known = code_list()
    for coding in _codings(resource):
        category = known.category(coding.get("system"), coding.get("code"))
        if category:
            found.add(category)
    for label in (resource.get("meta") or {}).get("security") or []:
        if (
            label.get("system") == CONFIDENTIALITY_SYSTEM
            and label.get("code") in SEALING_CONFIDENTIALITY
        ):
            found.add(RESTRICTED)
    return frozenset(found)


def recorded_by(resource: dict[str, Any] | None) -> str | None:
    """The ODS code of the organisation that recorded the resource, if stamped."""
    for tag in ((resource or {}).get("meta") or {}).get("tag") or []:
        if tag.get("system") == RECORDED_BY_SYSTEM and tag.get("code"):
            return str(tag["code"])
    return None


def stamp_recorder(body: Any, organisation_code: str, previous: dict[str, Any] | None) -> Any:
    """`body` with the recording organisation in meta.tag: the previous version's recorder
    when there is one, else `organisation_code`. Anything else is returned unchanged."""
    if not isinstance(body, dict) or not isinstance(body.get("meta", {}), dict):
        return body
    recorder = recorded_by(previous) or organisation_code
    meta = dict(body.get("meta") or {})
    tags = [
        t
        for t in (meta.get("tag") or [])
        if not (isinstance(t, dict) and t.get("system") == RECORDED_BY_SYSTEM)
    ]
    tags.append({"system": RECORDED_BY_SYSTEM, "code": recorder})
    meta["tag"] = tags
    return {**body, "meta": meta}
