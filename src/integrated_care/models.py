"""Every domain's tables, imported so that ``Base.metadata`` is complete.

Alembic's autogenerate check (tests/test_migrations.py) compares this metadata with the schema
the migrations build, so a model change without a migration fails the tests.
"""

from integrated_care.accounts import models as _accounts  # noqa: F401
from integrated_care.db import Base
from integrated_care.footprint import models as _footprint  # noqa: F401

__all__ = ["Base"]
