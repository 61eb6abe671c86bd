"""Server settings: one object, and the only place environment variables are read."""

from __future__ import annotations

import ipaddress
import re
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: What a project id may look like: it names the project's file root, so nothing path-like.
PROJECT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class Settings(BaseSettings):
    """Every knob of a running opencdm server (env prefix ``OPENCDM_``)."""

    model_config = SettingsConfigDict(env_prefix="OPENCDM_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path(".opencdm"), description="Metadata, keys and run control live here.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the metadata store; default sqlite:///DATA_DIR/opencdm.db."
    )
    secret_key_file: Path | None = Field(
        default=None, description="Key for link secrets and SKs; default DATA_DIR/secret.key (out of the database)."
    )
    project_files_dir: Path | None = Field(
        default=None, description="Parent of the per-project file roots (DIR/<project_id>); default DATA_DIR/projects.")
    shared_file_roots: dict[str, list[Path]] = Field(
        default_factory=dict, validation_alias=AliasChoices("OPENCDM_SHARED_FILE_ROOTS", "OPENCDM_SQLITE_ALLOWED_DIRS"),
        description='Directories links may reach besides their project root: {"*": [...], "<project_id>": [...]} '
                    "or a list (every project).")
    token_ttl_seconds: int = Field(default=24 * 3600, description="Lifetime of IAM-style X-Auth-Token tokens.")
    signature_skew_seconds: int = Field(default=15 * 60, description="Allowed X-Sdk-Date distance from server time.")
    max_concurrent_runs: int = Field(default=0, description="Runs executing at once per cluster; 0 = 2 x workers.")
    progress_interval_seconds: float = Field(default=0.5, description="How often workers report counters.")
    retry_backoff_seconds: float = Field(default=30.0, ge=0,
                                         description="First wait before a RETRY_TRIPLE retry; doubles each time.")
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="Largest request body accepted (413 above).")
    max_items_per_request: int = Field(default=100, ge=1, description="Jobs or links one request may create.")
    max_clusters_per_project: int = Field(default=10, ge=1, description="Clusters one project may own.")
    worker_idle_seconds: float = Field(default=120.0, ge=0, description="A cluster's idle workers stop after this.")
    login_failures_per_user: int = Field(default=5, ge=1, description="Failed logins of one user before back-off.")
    login_failures_per_client: int = Field(default=10, ge=1, description="Failed logins from one address per window.")
    login_window_seconds: int = Field(default=300, ge=1, description="Window and longest back-off of login throttling.")
    login_concurrency: int = Field(default=1, ge=1, description="Password hashes computed at once.")
    ak_lockout_failures: int = Field(default=5, ge=0,
                                     description="Bad signatures of one AK from one address before lockout; 0: never.")
    ak_lockout_seconds: int = Field(default=300, ge=1, description="How long an AK stays locked for that address.")
    link_egress_allow: list[str] = Field(
        default_factory=list, description="Networks/hosts links may connect to (JSON list of CIDRs or host names); "
                                          "empty = anywhere.")
    log_level: str = Field(default="INFO", description="debug, info, warning, error or critical.")
    log_format: str = Field(default="text", pattern="^(text|json)$",
                            description="text lines, or one JSON object per line.")
    metrics: str = Field(default="loopback", pattern="^(loopback|open|off)$",
                         description="Who may scrape /metrics: loopback clients, anyone, or nobody.")
    metrics_token: str | None = Field(default=None, repr=False,
                                      description="When set, /metrics needs 'Authorization: Bearer <token>'.")
    timezone: str = Field(default="UTC", description="Zone of schedules' dates and of ${dateformat(...)} macros.")
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, description="How often due schedules are looked for.")

    @field_validator("shared_file_roots", mode="before")
    @classmethod
    def _roots(cls, value: Any) -> Any:
        return {"*": value} if isinstance(value, list) else value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        from opencdm.logs import check_level

        return check_level(value)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)  # an unknown zone stops the server with its name
        return value

    @field_validator("link_egress_allow")
    @classmethod
    def _egress(cls, value: list[str]) -> list[str]:
        for item in value:
            if "/" in item:
                ipaddress.ip_network(item, strict=False)  # a ValueError names the bad entry
        return value

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
    def control_root(self) -> Path:
        """Where local runs keep their cancel flags and progress files."""
        return self.resolved_data_dir / "runs"

    @cached_property
    def projects_dir(self) -> Path:
        return (self.project_files_dir or self.resolved_data_dir / "projects").expanduser().resolve()

    def project_root(self, project_id: str) -> Path:
        """The project's own file root (created 0700 on first use): relative link paths start here."""
        if not PROJECT_ID.fullmatch(project_id):
            raise ValueError(f"project id {project_id!r} cannot name a file root")
        root = self.projects_dir / project_id
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        return root

    def shared_roots(self, project_id: str) -> list[Path]:
        """Directories the operator opened to this project (and to every project, key ``*``)."""
        dirs = [*self.shared_file_roots.get("*", []), *self.shared_file_roots.get(project_id, [])]
        return [d.expanduser().resolve() for d in dirs]

    def server_paths(self) -> list[Path]:
        """Files and directories only the server may touch: no link may ever reach them."""
        paths = [self.key_file.expanduser().resolve(), self.control_root]
        if self.metadata_url.startswith("sqlite:///"):
            paths.append(Path(self.metadata_url.removeprefix("sqlite:///")).expanduser().resolve())
        return paths

    def check_file_roots(self) -> None:
        """Refuse to start when a directory links may reach holds (or sits in) a server file."""
        roots = [self.projects_dir, *(d.expanduser().resolve() for ds in self.shared_file_roots.values() for d in ds)]
        for root in roots:
            for path in self.server_paths():
                if root == path or root in path.parents or (path.is_dir() and path in root.parents):
                    raise ValueError(f"{root} may be reached by links but holds or sits in the server's own "
                                     f"{path}; choose a directory apart from the metadata store, key and run files")
