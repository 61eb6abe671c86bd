"""What the console promises about secrets, sessions and its own pages, checked in real Chromium."""

from __future__ import annotations

import json

import httpx
import pytest
from playwright.sync_api import Page, expect

from opencdm.console import CSP, STATIC
from tests.console.conftest import PASSWORD, PROJECT, Env, Seen, log_in, shoot
from tests.console.test_console_e2e import fill_pg_link


def bodies(seen: Seen) -> dict[str, bytes]:
    """Every response body the page received, by URL (a body the browser no longer has is a failure)."""
    out = {}
    for response in seen.responses:
        if response.status in (204, 304) or response.request.method == "HEAD":
            out[response.url] = b""
            continue
        out[f"{response.request.method} {response.url}"] = response.body()
    return out


def test_a_typed_secret_never_comes_back(page: tuple[Page, Seen], console_env: Env):
    page, seen = page
    env = console_env
    secret = env.pg.link_inputs()["linkConfig.password"]
    log_in(page)
    fill_pg_link(page, env, "secret_link", env.src_db)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_have_text("Connection OK.")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("link", name="Edit link secret_link").click()
    expect(page.get_by_role("heading", name="Edit link secret_link")).to_be_visible()
    expect(page.locator("#link-linkConfig-host")).to_have_value(env.pg.host)  # the form is filled ...
    password = page.locator("#link-linkConfig-password")
    expect(password).to_have_value("")  # ... but the stored secret is not in it
    expect(password).to_have_attribute("placeholder", "unchanged (leave empty to keep the stored secret)")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_contain_text("type it again to test")
    # saving untouched keeps the secret: the server checks the connection with it before it saves
    page.locator("#link-linkConfig-fetchSize").fill("5000")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("region", name="Links of this cluster")).to_contain_text("secret_link")
    stored = env.client.call("GET", f"/clusters/{env.cluster_id}/cdm/link/secret_link")["links"][0]
    values = {i["name"]: i["value"] for c in stored["link-config-values"]["configs"] for i in c["inputs"]}
    assert values["linkConfig.fetchSize"] == "5000" and values["linkConfig.password"] == "******"
    got = bodies(seen)
    api = [url for url in got if "/v1.1/" in url]
    assert any("/cdm/link/secret_link" in url for url in api) and any(url.endswith("/cdm/link") for url in api)
    leaked = [url for url, body in got.items() if secret.encode() in body]
    assert not leaked, f"the secret came back in {leaked}"
    # and the request that carried it was the page's own, to this server only
    sent = [r for r in seen.responses if r.request.post_data and secret in r.request.post_data]
    assert sent and all(r.url.startswith(env.server.url + f"/v1.1/{PROJECT}/") for r in sent)


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/index.html", "/console/app.js",
                                  "/console/console.css", "/console/nothing-here.js", "/console/__init__.py"])
def test_console_answers_carry_the_csp(console_env: Env, path: str):
    resp = httpx.get(console_env.server.url + path)
    assert resp.status_code == (404 if "nothing" in path or ".py" in path else 200), resp.text
    assert resp.headers["content-security-policy"] == CSP
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    if resp.status_code == 200 and path.endswith(".js"):
        assert resp.headers["content-type"].startswith("text/javascript")


def test_every_static_file_is_served_and_nothing_else(console_env: Env):
    names = sorted(p.name for p in STATIC.iterdir())
    assert {"index.html", "app.js", "console.css"} <= set(names)
    for name in names:
        resp = httpx.get(f"{console_env.server.url}/console/{name}")
        assert resp.status_code == 200 and resp.content == (STATIC / name).read_bytes(), name
    for path in ("/console/..%2Fapp.py", "/console/%2e%2e/app.py", "/console/../app.py", "/console/static/app.js"):
        resp = httpx.get(console_env.server.url + path)
        assert resp.status_code in (400, 404), path
        assert b"create_app" not in resp.content
    # the shell loads nothing from elsewhere: every src/href is this server's /console/ or a data: URL
    shell = (STATIC / "index.html").read_text()
    for attr in ("src=", "href="):
        for chunk in shell.split(attr)[1:]:
            target = chunk.split('"')[1]
            assert target.startswith(("/console/", "#", "data:")), target


def test_the_api_still_needs_credentials(console_env: Env):
    """Serving the console opened nothing: the API refuses anonymous calls as before."""
    url = console_env.server.url
    assert httpx.get(f"{url}/v1.1/{PROJECT}/clusters").status_code == 401
    assert httpx.get(f"{url}/v1.1/{PROJECT}/connectors").status_code == 401
    assert httpx.get(f"{url}/v1.1/{PROJECT}/clusters", headers={"Referer": f"{url}/console/"}).status_code == 401


def test_a_401_sends_the_page_back_to_login(page: tuple[Page, Seen], console_env: Env):
    page, seen = page
    log_in(page)
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    token = json.loads(page.evaluate("sessionStorage.getItem('opencdm.session')"))["token"]
    resp = httpx.delete(f"{console_env.server.url}/v3/auth/tokens",
                        headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert resp.status_code == 204  # the token ends elsewhere (another tab logged out, or it expired)
    page.get_by_role("link", name="Jobs").click()
    expect(page.locator("#login-error")).to_have_text("Session expired: log in again.")
    expect(page.get_by_label("User name")).to_be_focused()
    assert page.evaluate("sessionStorage.getItem('opencdm.session')") is None
    log_in(page)  # and one can log in again
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()


def test_a_wrong_password_is_refused_in_the_form(page: tuple[Page, Seen], console_env: Env):
    page, _ = page
    page.goto("/console")
    page.get_by_label("User name").fill("operator")
    page.get_by_label("Password").fill(PASSWORD + "-wrong")
    page.get_by_label("Project id").fill(PROJECT)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).to_contain_text("The username or password is wrong")
    assert page.evaluate("sessionStorage.getItem('opencdm.session')") is None


def test_keyboard_only_login_and_navigation(page: tuple[Page, Seen], console_env: Env):
    page, seen = page
    page.goto("/console/")
    expect(page.get_by_label("User name")).to_be_focused()
    page.keyboard.type("operator")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(PROJECT)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Clusters")).to_be_visible()
    links = page.get_by_role("link", name="Links")
    for _ in range(30):  # Tab to it, as a keyboard user would (programmatic focus may not show :focus-visible)
        if links.evaluate("e => e === document.activeElement"):
            break
        page.keyboard.press("Tab")
    assert links.evaluate("e => e === document.activeElement")
    ring = links.evaluate("e => [getComputedStyle(e).outlineStyle, getComputedStyle(e).outlineColor]")
    assert ring == ["solid", "rgb(255, 159, 28)"], ring  # the console's own visible focus ring
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Links")).to_be_visible()
    expect(page.get_by_role("link", name="Links")).to_have_attribute("aria-current", "page")
    shoot(page, "links-keyboard")
    for control in page.locator("main input, main select, main textarea").all():
        assert control.evaluate("e => e.labels && e.labels.length > 0"), control
    assert not seen.console_errors, seen.console_errors
