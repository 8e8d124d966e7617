"""Password hashing: argon2id through argon2-cffi, with rehashing when parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 12

# argon2id with RFC 9106's low-memory parameters (the library's default).
DEFAULT_HASHER = PasswordHasher()
_hasher = DEFAULT_HASHER
# Verified against when a username does not exist, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash("not-a-real-password-only-for-timing")


def check_password_strength(password: str) -> None:
    """Raise ValueError with a clear message when a password is too weak to accept."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(
            f"the password must be at least {MIN_PASSWORD_LENGTH} characters long "
            f"(it has {len(password)})"
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; always spends one verification, even with no hash."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
