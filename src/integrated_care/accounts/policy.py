from typing import Any


def allows(principal: Any, permission: str) -> bool:
    return False
