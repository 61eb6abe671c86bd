"""A real ``opencdm serve``, a password user, two PostgreSQL databases and real headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright for Python; Playwright's own
browser downloads are never used. Screenshots go to ``test-artifacts/console/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from playwright.sync_api import Browser, Page, Response, sync_playwright

from opencdm.client import CdmClient
from tests.infra.data import make_mixed_table
from tests.infra.postgres import PostgresServer
from tests.infra.server import Server, make_server

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
PROJECT = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0"
USER, PASSWORD = "operator", "console-pw-Ω-1234"
ROWS = 1500
WIDE, NARROW = {"width": 1280, "height": 900}, {"width": 390, "height": 844}


@dataclass
class Env:
    server: Server
    pg: PostgresServer
    src_db: str
    dst_db: str
    client: CdmClient  # AK/SK: setup and checks the browser does not do
    cluster_id: str

    @property
    def src(self) -> str:
        return self.pg.dsn(self.src_db)

    @property
    def dst(self) -> str:
        return self.pg.dsn(self.dst_db)


@pytest.fixture(scope="session")
def console_env(tmp_path_factory, pg: PostgresServer) -> Iterator[Env]:
    src_db, dst_db = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src_db), "orders", ROWS)
    with psycopg.connect(pg.dsn(src_db), autocommit=True) as conn:  # rows a checked target refuses: dirty data
        conn.execute("CREATE TABLE raw (id bigint PRIMARY KEY, qty text, note text)")
        conn.execute("INSERT INTO raw SELECT g, CASE WHEN g IN (7, 70) THEN 'x' || g ELSE (g % 50)::text END, "
                     "'n' || g FROM generate_series(1, 200) g")
    with psycopg.connect(pg.dsn(dst_db), autocommit=True) as conn:
        for table in ("clean", "clean_api"):  # one per test module that loads it
            conn.execute(f"CREATE TABLE {table} (id bigint PRIMARY KEY, qty integer NOT NULL, note text)")
    server = make_server(tmp_path_factory.mktemp("console"))
    server.start()
    try:
        server.cli("user", "create", "--name", USER, "--password", PASSWORD, "--project-id", PROJECT)
        ak, sk = server.credentials(PROJECT)
        client = CdmClient(server.url, ak, sk, PROJECT)
        cid = client.call("POST", "/clusters", {"cluster": {"name": "console", "vpcId": "v"}})["id"]
        deadline = time.monotonic() + 60
        while client.call("GET", f"/clusters/{cid}")["status"] != "200":
            assert time.monotonic() < deadline, "the cluster did not start"
            time.sleep(0.2)
        yield Env(server, pg, src_db, dst_db, client, cid)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@dataclass
class Seen:
    """What the page received and reported while a test ran."""

    responses: list[Response] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Browser, console_env: Env) -> Iterator[tuple[Page, Seen]]:
    context = browser.new_context(viewport=WIDE, base_url=console_env.server.url)
    context.set_default_timeout(20_000)
    pg_ = context.new_page()
    seen = Seen()
    pg_.on("response", lambda r: seen.responses.append(r))
    pg_.on("console", lambda m: seen.console_errors.append(m.text) if m.type == "error" else None)
    pg_.on("pageerror", lambda e: seen.console_errors.append(f"page error: {e}"))
    yield pg_, seen
    context.close()


def shoot(page: Page, name: str) -> None:
    """Screenshots of the current page at 1280 px and 390 px (full page), then back to 1280 px."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("1280", WIDE), ("390", NARROW)):
        page.set_viewport_size(size)
        page.wait_for_timeout(150)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{name} at {label} px scrolls sideways by {overflow} px"
    page.set_viewport_size(WIDE)


def log_in(page: Page, user: str = USER, password: str = PASSWORD, project: str = PROJECT) -> None:
    page.goto("/console/")
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Project id").fill(project)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("navigation", name="Main").wait_for()
