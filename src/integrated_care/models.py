"""Every domain's tables, imported so that ``Base.metadata`` is complete.

Alembic's autogenerate check (tests/test_migrations.py) compares this metadata with the schema
the migrations build, so a model change without a migration fails the tests.
"""

from integrated_care.db import Base

__all__ = ["Base"]
