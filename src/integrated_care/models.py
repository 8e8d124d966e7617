"""Every domain's tables, imported so that ``Base.metadata`` is complete.

Alembic's autogenerate check (tests/test_migrations.py) compares this metadata with the schema
the migrations build, so a model change without a migration fails the tests.
"""

from integrated_care.accounts import models as _accounts  # noqa: F401
from integrated_care.coordination import mdt_models as _mdt  # noqa: F401
from integrated_care.coordination import referral_models as _referrals  # noqa: F401
from integrated_care.db import Base
from integrated_care.finance import models as _finance  # noqa: F401
from integrated_care.footprint import models as _footprint  # noqa: F401
from integrated_care.governance import models as _governance  # noqa: F401
from integrated_care.governance import voice_models as _governance_voice  # noqa: F401
from integrated_care.health import models as _health  # noqa: F401
from integrated_care.record import access_models as _record_access  # noqa: F401
from integrated_care.record import export_models as _record_export  # noqa: F401
from integrated_care.record import models as _record  # noqa: F401
from integrated_care.workforce import models as _workforce  # noqa: F401

__all__ = ["Base"]
