"""create_app(settings): routers, exception handlers, and the lifespan that owns store and clusters."""

from __future__ import annotations

import logging
from collections import Counter
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response

from opencdm import __version__, connectors, metrics
from opencdm import console
from opencdm.api import catalog, clusters, dirty, errors, iam, jobs, links, misc, openapi
from opencdm.api.deps import RequestIds
from opencdm.api.guard import Guard
from opencdm.api.limits import FailureGate, LoginThrottle
from opencdm.engine.supervisor import Supervisor
from opencdm.errors import CdmError, Forbidden
from opencdm.settings import Settings
from opencdm.store import credentials
from opencdm.store import links as link_store
from opencdm.store.db import Store
from opencdm.store.secrets import SecretBox

log = logging.getLogger("opencdm")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_file_roots()  # before anything listens: no link may reach the server's own files

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store = Store(settings.metadata_url)
        store.migrate()
        connectors.load()
        box = SecretBox(settings.key_file)
        reseal_legacy_secrets(store, box)
        supervisor = Supervisor(store, box, settings)
        app.state.store, app.state.box, app.state.supervisor = store, box, supervisor
        metrics.install(supervisor.runtimes.items)
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
    app.state.lockout = FailureGate(settings.ak_lockout_failures, settings.ak_lockout_seconds)
    app.state.login = LoginThrottle(settings)
    errors.install(app)
    for module in (iam, clusters, jobs, links, misc, dirty, catalog):
        app.include_router(module.router)
    console.install(app)
    openapi.install(app)
    app.add_middleware(Guard)
    app.add_middleware(RequestIds)  # outermost: every answer, the guard's too, carries X-Request-Id

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        client = request.client.host if request.client else None
        if not metrics.allowed(settings.metrics, settings.metrics_token, client, request.headers.get("authorization")):
            raise Forbidden("Scraping /metrics needs a loopback client or the metrics token (OPENCDM_METRICS, "
                            "OPENCDM_METRICS_TOKEN).")
        body, content_type = metrics.exposition()
        return Response(body, media_type=content_type)

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app


def reseal_legacy_secrets(store: Store, box: SecretBox) -> None:
    """Once, after an upgrade: bind ``enc:v1:`` secrets to their place (see ``store.secrets``)."""

    def sensitive_for(name: str) -> frozenset[str]:
        try:
            return connectors.get(name).sensitive_inputs
        except CdmError:
            return frozenset()

    with store.session() as s:
        taken = Counter(credentials.legacy_values(s) + link_store.legacy_values(s))
        if not taken:
            return
        count = credentials.upgrade_legacy_secrets(s, box) + link_store.upgrade_legacy_secrets(s, box, sensitive_for,
                                                                                              taken)
    log.info("re-sealed %d stored secrets for their project, link and input", count)


def _safe_url(url: str) -> str:
    """The metadata URL without its password, for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
