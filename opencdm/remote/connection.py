"""Which server the CLI talks to, as whom, and what its answers mean as exit codes.

Each setting comes from the first of: a command-line flag, an environment variable, the config file
(``--config``, ``OPENCDM_CLI_CONFIG``, else ``~/.config/opencdm/cli.toml``: TOML with the keys
``endpoint``, ``project_id``, ``ak``, ``sk``, ``token``, ``cluster``). A user authenticates as they do
with the API: an AK/SK pair (requests are signed like the official SDK's) or an ``X-Auth-Token``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from opencdm.client import CdmClient

#: Exit codes: the same meaning in every command (documented in the README).
OK, RUN_FAILED, BAD_INPUT, NOT_FOUND, REFUSED, UNAVAILABLE, TIMED_OUT = 0, 1, 2, 3, 4, 5, 6

ENV = {"endpoint": "OPENCDM_ENDPOINT", "project_id": "OPENCDM_PROJECT_ID", "ak": "OPENCDM_AK",
       "sk": "OPENCDM_SK", "token": "OPENCDM_TOKEN", "cluster": "OPENCDM_CLUSTER"}


class CliError(Exception):
    """Ends the command with ``code`` after printing ``message`` (and ``body`` under ``--output json``)."""

    def __init__(self, code: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.body = code, message, body


def _exit_code(status: int) -> int:
    if status == 404:
        return NOT_FOUND
    if status in (401, 403):
        return REFUSED
    if status == 429 or status >= 500:
        return UNAVAILABLE
    return BAD_INPUT


@dataclass
class Remote:
    """A configured connection: ``call`` returns the JSON answer or raises ``CliError``."""

    client: CdmClient
    cluster: str | None = None

    def call(self, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
        try:
            resp = self.client.request(method, path, body, query)
        except httpx.HTTPError as exc:
            raise CliError(UNAVAILABLE, f"cannot reach {self.client.endpoint}: {exc}") from None
        try:
            doc = resp.json() if resp.content else {}
        except ValueError:
            doc = {"text": resp.text[:500]}
        if resp.status_code >= 400:
            err = doc if isinstance(doc, dict) else {}
            code, msg = err.get("error_code") or "", err.get("error_msg") or ""
            text = f"{method} {path}: HTTP {resp.status_code} {code} {msg}".strip()
            raise CliError(_exit_code(resp.status_code), text, doc)
        return doc

    def cluster_id(self, given: str | None) -> str:
        """The cluster named or numbered by ``given`` (or the configured default)."""
        wanted = given or self.cluster
        if not wanted:
            raise CliError(BAD_INPUT, "no cluster given: use --cluster, OPENCDM_CLUSTER or `cluster` in the config")
        clusters = self.call("GET", "/clusters").get("clusters", [])
        for c in clusters:
            if wanted in (c.get("id"), c.get("name")):
                return c["id"]
        raise CliError(NOT_FOUND, f"no cluster named or numbered {wanted!r} in project {self.client.project_id}")


def config_file(path: Path | None) -> dict[str, Any]:
    path = path or (Path(os.environ["OPENCDM_CLI_CONFIG"]) if os.environ.get("OPENCDM_CLI_CONFIG")
                    else Path.home() / ".config" / "opencdm" / "cli.toml")
    if not path.is_file():
        return {}
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CliError(BAD_INPUT, f"cannot read the config file {path}: {exc}") from None
    unknown = set(doc) - set(ENV)
    if unknown:
        raise CliError(BAD_INPUT, f"unknown keys in {path}: {', '.join(sorted(unknown))} (known: {', '.join(ENV)})")
    return doc


def connect(flags: dict[str, str | None], config: Path | None = None) -> Remote:
    """Flags, then the environment, then the config file."""
    doc = config_file(config)
    value = {k: flags.get(k) or os.environ.get(env) or doc.get(k) for k, env in ENV.items()}
    if not value["endpoint"] or not value["project_id"]:
        raise CliError(BAD_INPUT, "no server given: set --endpoint and --project-id (or OPENCDM_ENDPOINT and "
                                  "OPENCDM_PROJECT_ID, or the config file)")
    if not (value["ak"] and value["sk"]) and not value["token"]:
        raise CliError(BAD_INPUT, "no credentials: give --ak and --sk, or --token (or their environment variables)")
    client = CdmClient(str(value["endpoint"]), value["ak"], value["sk"], str(value["project_id"]),
                       token=value["token"])
    return Remote(client, value["cluster"])
