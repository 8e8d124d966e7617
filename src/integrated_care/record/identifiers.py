"""UK identifiers in the record: NHS numbers (modulus-11 check digit) and ODS codes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
ODS_CODE_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
_ODS_CODE = re.compile(r"^[A-Z0-9]{3,10}$")


def nhs_number_check_digit(first_nine: str) -> int | None:
    """The check digit for the first nine digits of an NHS number, or None if no valid NHS
    number starts with them (the modulus-11 remainder gives 10).

    Each digit is multiplied by a weight from 10 down to 2; the check digit is 11 minus the
    remainder of the sum divided by 11, and 11 becomes 0.
    """
    if len(first_nine) != 9 or not first_nine.isdigit():
        raise ValueError("give the first nine digits of an NHS number")
    total = sum(int(d) * w for d, w in zip(first_nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_number_problem(value: Any) -> str | None:
    """Why `value` is not a valid NHS number, or None if it is one."""
    if not isinstance(value, str) or len(value) != 10 or not value.isdigit():
        return "an NHS number is 10 digits with no spaces"
    check = nhs_number_check_digit(value[:9])
    if check is None:
        return "this is not a valid NHS number: its first nine digits cannot have a check digit"
    if check != int(value[9]):
        return f"this is not a valid NHS number: the check digit should be {check}, not {value[9]}"
    return None


def is_valid_nhs_number(value: Any) -> bool:
    return nhs_number_problem(value) is None


def ods_code_problem(value: Any) -> str | None:
    """Why `value` is not shaped like an ODS code (3-10 upper-case letters and digits)."""
    if not isinstance(value, str) or not _ODS_CODE.match(value):
        return "an ODS code is 3 to 10 upper-case letters and digits, e.g. RWE or C82001"
    return None


def identifier_problems(resource: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(FHIRPath of the value, problem) for every NHS number or ODS code that is not valid
    in the resource's top-level ``identifier`` list."""
    resource_type = resource.get("resourceType", "Resource")
    identifiers = resource.get("identifier")
    if not isinstance(identifiers, list):
        return
    for i, identifier in enumerate(identifiers):
        if not isinstance(identifier, dict):
            continue
        system, value = identifier.get("system"), identifier.get("value")
        where = f"{resource_type}.identifier[{i}].value"
        if system == NHS_NUMBER_SYSTEM:
            problem = nhs_number_problem(value)
        elif system == ODS_CODE_SYSTEM:
            problem = ods_code_problem(value)
        else:
            continue
        if problem:
            yield where, problem
