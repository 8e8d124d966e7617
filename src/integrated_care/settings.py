"""One settings object for the whole platform.

Values come, highest priority first, from keyword arguments, environment variables prefixed
``ICS_`` (for example ``ICS_DATA_DIR``), an ``ics.toml`` file in the working directory (or the
file named by ``ICS_CONFIG``), and the defaults below.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    """Where the platform keeps its data and how it reaches its stores."""

    model_config = SettingsConfigDict(env_prefix="ICS_", extra="ignore")

    data_dir: Path = Field(default=Path("./ics-data"), description="Folder for every local file")
    database_url: str = Field(
        default="", description="Operational store (SQLAlchemy URL); default SQLite in data_dir"
    )
    warehouse_url: str = Field(
        default="", description="Analytics warehouse; default a DuckDB file in data_dir"
    )
    analytics_engine: Literal["duckdb", "spark"] = "duckdb"
    spark_master: str = Field(
        default="", description="Spark master URL for the spark engine; empty: local[2]"
    )
    secret_key: str = Field(default="", description="Signs session cookies; generated if unset")
    session_max_age_seconds: int = 8 * 60 * 60
    secure_cookies: bool = Field(
        default=False, description="Mark cookies Secure (set true behind HTTPS)"
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("ICS_CONFIG", "ics.toml"))
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=toml_file),
        )

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        self.data_dir = self.data_dir.expanduser()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'ics.sqlite').resolve()}"
        if not self.warehouse_url:
            self.warehouse_url = f"duckdb:///{(self.data_dir / 'warehouse.duckdb').resolve()}"
        return self

    def ensure_data_dir(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self.data_dir

    def session_secret(self) -> str:
        """The cookie-signing key: the configured one, else one kept in the data directory.

        Kept on disk so that sessions survive a restart of `ics serve`.
        """
        if self.secret_key:
            return self.secret_key
        key_file = self.ensure_data_dir() / "secret_key"
        if not key_file.exists():
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
