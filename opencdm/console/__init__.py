"""The operator console: static ES modules and one HTML shell, served under ``/console``.

The console is one more client of the REST API (it logs in with ``POST /v3/auth/tokens`` and sends
``X-Auth-Token``), so it can never do what the API refuses. Nothing is built at install time and no
third-party script, style sheet or font is loaded: every file is in ``static/`` and only the files
found there when the app starts are served (a fixed table, so no request path reaches the disk).
Every answer carries a strict Content-Security-Policy: scripts and styles from this origin only.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

STATIC = Path(__file__).with_name("static")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
       "frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
           "Cache-Control": "no-cache"}
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml", ".png": "image/png"}


def _files() -> dict[str, tuple[bytes, str]]:
    """``{name: (content, media type)}`` of every servable file in ``static/`` (read once)."""
    return {p.name: (p.read_bytes(), TYPES[p.suffix]) for p in sorted(STATIC.iterdir())
            if p.is_file() and p.suffix in TYPES}


def install(app: FastAPI) -> None:
    """Serve the console at ``/console`` and ``/console/`` (the shell) and ``/console/<file>``."""
    files = _files()

    def answer(request: Request, name: str) -> Response:
        found = files.get(name)
        if found is None:
            return Response("Not found\n", status_code=404, media_type="text/plain; charset=utf-8", headers=HEADERS)
        content, media_type = found
        body = b"" if request.method == "HEAD" else content
        headers = {**HEADERS, "Content-Length": str(len(content))}
        return Response(body, media_type=media_type, headers=headers)

    @app.api_route("/console", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/console/", methods=["GET", "HEAD"], include_in_schema=False)
    def shell(request: Request) -> Response:
        return answer(request, "index.html")

    @app.api_route("/console/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    def static_file(request: Request, name: str) -> Response:
        return answer(request, name)
