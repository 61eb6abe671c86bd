"""create_app(settings): routers, exception handlers, and the lifespan that owns store and clusters."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from opencdm import __version__, connectors
from opencdm.api import clusters, errors, iam, jobs, links, misc
from opencdm.api.auth import AkLockout
from opencdm.api.deps import RequestIds, SlashSafePaths
from opencdm.engine.supervisor import Supervisor
from opencdm.settings import Settings
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox

log = logging.getLogger("opencdm")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = Store(settings.metadata_url)
        store.migrate()
        connectors.load()
        box = SecretBox(settings.key_file)
        supervisor = Supervisor(store, box, settings)
        app.state.store, app.state.box, app.state.supervisor = store, box, supervisor
        supervisor.start()
        log.info("opencdm %s ready: metadata=%s connectors=%s", __version__, _safe_url(store.url),
                 ",".join(connectors.names()))
        try:
            yield
        finally:
            supervisor.shutdown()
            store.close()

    app = FastAPI(title="opencdm", version=__version__, lifespan=lifespan,
                  description="A self-hosted server for the CDM (Cloud Data Migration) v1.1 REST API.")
    app.state.settings = settings
    app.state.lockout = AkLockout()
    errors.install(app)
    for module in (iam, clusters, jobs, links, misc):
        app.include_router(module.router)
    app.add_middleware(SlashSafePaths)
    app.add_middleware(RequestIds)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def _safe_url(url: str) -> str:
    """The metadata URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
