"""Server settings: one object, and the only place environment variables are read."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of a running opencdm server (env prefix ``OPENCDM_``)."""

    model_config = SettingsConfigDict(env_prefix="OPENCDM_", extra="ignore")

    data_dir: Path = Field(default=Path(".opencdm"), description="Metadata, keys and local files live here.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata store; default sqlite:///DATA_DIR/opencdm.db."
    )
    secret_key_file: Path | None = Field(
        default=None, description="Fernet key for link secrets; default DATA_DIR/secret.key (kept out of the database)."
    )
    sqlite_allowed_dirs: list[Path] = Field(
        default_factory=list,
        description="Directories SQLITE links may open; default [DATA_DIR]. JSON list in the env variable.",
    )
    token_ttl_seconds: int = Field(default=24 * 3600, description="Lifetime of IAM-style X-Auth-Token tokens.")
    signature_skew_seconds: int = Field(default=15 * 60, description="Allowed X-Sdk-Date distance from server time.")
    max_concurrent_runs: int = Field(default=0, description="Runs executing at once per cluster; 0 = 2 x workers.")
    progress_interval_seconds: float = Field(default=0.5, description="How often workers report counters.")
    log_level: str = "INFO"

    @cached_property
    def resolved_data_dir(self) -> Path:
        path = self.data_dir.expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def metadata_url(self) -> str:
        return self.database_url or f"sqlite:///{self.resolved_data_dir / 'opencdm.db'}"

    @property
    def key_file(self) -> Path:
        return self.secret_key_file or self.resolved_data_dir / "secret.key"

    @property
    def sqlite_dirs(self) -> list[Path]:
        dirs = self.sqlite_allowed_dirs or [self.resolved_data_dir]
        return [d.expanduser().resolve() for d in dirs]
