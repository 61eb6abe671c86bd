"""The console end to end in real headless Chromium: log in, links and a job from generated forms,
a run watched to 100 %, a failing run's error, dirty rows, and log out (the token is revoked)."""

from __future__ import annotations

import json
import re

import httpx
import psycopg
from playwright.sync_api import Page, expect

from tests.console.conftest import ARTIFACTS, PROJECT, ROWS, WIDE, Env, Seen, log_in, shoot


def fill_pg_link(page: Page, env: Env, name: str, db: str) -> None:
    """The new-link form, filled for a PostgreSQL database through the generated linkConfig inputs."""
    page.goto("/console/#/links/new")
    page.get_by_label("Link name").fill(name)
    page.get_by_label("Connector").select_option("generic-jdbc-connector")
    inputs = env.pg.link_inputs(db)
    page.locator("#link-linkConfig-databaseType").select_option(inputs["linkConfig.databaseType"])
    for key in ("host", "port", "database", "username", "password"):
        page.locator(f"#link-linkConfig-{key}").fill(inputs[f"linkConfig.{key}"])
    expect(page.locator("#link-linkConfig-password")).to_have_attribute("type", "password")


def save_link(page: Page, name: str) -> None:
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#link-result")).to_have_text("Connection OK.")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Links")).to_be_visible()
    expect(page.get_by_role("region", name="Links of this cluster")).to_contain_text(name)


def run_and_wait(page: Page, status: str) -> None:
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.locator("#run-status")).to_have_attribute("data-status", status, timeout=90_000)


def counter(page: Page, name: str) -> int:
    return int(page.locator(f'dd[data-counter="{name}"]').inner_text().replace(",", ""))


def test_operator_flow(page: tuple[Page, Seen], console_env: Env):
    page, seen = page
    env = console_env
    log_in(page)
    # clusters: status, backend and capacity
    row = page.get_by_role("row", name=re.compile("console"))
    expect(row).to_contain_text("Normal (200)")
    expect(row).to_contain_text("local processes")
    expect(row).to_contain_text(re.compile(r"\d+ of \d+ slots in use"))
    expect(page.get_by_role("button", name="Start cluster console", exact=True)).to_be_disabled()
    shoot(page, "clusters")

    # two links from the forms generated from the connector's inputs
    fill_pg_link(page, env, "pg_src", env.src_db)
    shoot(page, "link-form")
    save_link(page, "pg_src")
    fill_pg_link(page, env, "pg_dst", env.dst_db)
    save_link(page, "pg_dst")
    shoot(page, "links")
    assert env.client.call("GET", f"/clusters/{env.cluster_id}/cdm/link/pg_dst")["links"][0]["connector-name"] == \
        "generic-jdbc-connector"

    # a job from the form: from/to link pickers, the connectors' from/to inputs, job inputs
    page.goto("/console/#/jobs/new")
    page.get_by_label("Job name").fill("copy_orders")
    page.get_by_label("From link").select_option("pg_src")
    page.get_by_label("To link").select_option("pg_dst")
    page.locator("#job-from-fromJobConfig-schemaName").fill("public")
    page.locator("#job-from-fromJobConfig-tableName").fill("orders")
    page.locator("#job-from-fromJobConfig-partitionColumn").fill("id")
    page.locator("#job-to-toJobConfig-schemaName").fill("public")
    page.locator("#job-to-toJobConfig-tableName").fill("orders_copy")
    page.locator("#job-to-toJobConfig-tablePreparation").select_option("CREATE_WHEN_NOT_EXIST")
    page.get_by_text("Job options (throttling, schedule, retries)").click()
    page.locator("#job-driver-throttlingConfig-numExtractors").fill("3")
    shoot(page, "job-form")
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job copy_orders")).to_be_visible()
    stored = env.client.call("GET", f"/clusters/{env.cluster_id}/cdm/job/copy_orders")["jobs"][0]
    assert stored["from-link-name"] == "pg_src" and stored["to-connector-name"] == "generic-jdbc-connector"

    # run it: progress reaches 100 % and the counters match the source
    expect(page.locator("#run-status")).to_have_text("Never run (NEVER_EXECUTED)")
    run_and_wait(page, "SUCCEEDED")
    expect(page.locator("#run-progress")).to_have_js_property("value", 100)
    expect(page.locator("#run-percent")).to_have_text("100 %")
    expect(page.locator('dd[data-counter="Rows written"]')).to_have_text(f"{ROWS:,}")
    assert counter(page, "Rows read") == ROWS
    with psycopg.connect(env.dst) as conn:
        assert conn.execute("SELECT count(*) FROM orders_copy").fetchone()[0] == ROWS
    expect(page.locator("#run-history")).to_contain_text("SUCCEEDED")
    expect(page.get_by_role("img", name="Rows read per second during this run")).to_be_visible()
    expect(page.get_by_role("img", name="Rows written per run, oldest first")).to_be_visible()
    expect(page.get_by_role("region", name="Schedule (schedulerConfig)")).to_contain_text(
        "schedulerConfig.isSchedulerJob")
    shoot(page, "job")
    page.set_viewport_size({"width": 1024, "height": 700})  # the README's picture (docs/console.png)
    page.screenshot(path=str(ARTIFACTS / "readme-job.png"))
    page.set_viewport_size(WIDE)

    # a failing run, from a clone whose source table is gone when it runs
    with psycopg.connect(env.src, autocommit=True) as conn:
        conn.execute("CREATE TABLE doomed AS SELECT * FROM orders WHERE id <= 10")
    page.goto("/console/#/jobs")
    page.get_by_role("link", name="Clone job copy_orders").click()
    text = page.get_by_label("CDM job JSON").input_value()
    body = json.loads(text)
    assert body["jobs"][0]["name"] == "copy_orders_copy"
    clone = body["jobs"][0]
    clone["name"] = "doomed_job"
    for item in clone["from-config-values"]["configs"][0]["inputs"]:
        if item["name"] == "fromJobConfig.tableName":
            item["value"] = "doomed"
    page.get_by_label("CDM job JSON").fill(json.dumps(body))
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job doomed_job")).to_be_visible()
    with psycopg.connect(env.src, autocommit=True) as conn:
        conn.execute("DROP TABLE doomed")
    run_and_wait(page, "FAILED")
    expect(page.locator("#run-error")).to_contain_text("doomed")
    page.locator("#run-error").get_by_text("Error details").click()
    expect(page.locator("#run-error pre")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("FAILED")
    shoot(page, "job-failed")

    # dirty rows: a job pasted as CDM JSON whose target refuses two rows
    page.goto("/console/#/jobs/json")
    page.get_by_label("CDM job JSON").fill(json.dumps(dirty_job()))
    page.get_by_role("button", name="Create job").click()
    expect(page.get_by_role("heading", name="Job dirty_rows")).to_be_visible()
    run_and_wait(page, "SUCCEEDED")
    expect(page.locator('dd[data-counter="Dirty rows"]')).to_have_text("2")
    assert counter(page, "Rows written") == 198
    page.get_by_role("button", name="Show 2 dirty rows").click()
    dirty = page.get_by_role("region", name=re.compile("Dirty rows of submission"))
    expect(dirty.locator("tbody tr")).to_have_count(2)
    expect(dirty.locator("tbody tr").nth(0)).to_contain_text('{"id":7,"qty":"x7"')
    expect(dirty.locator("tbody tr").nth(1)).to_contain_text('{"id":70,"qty":"x70"')
    expect(dirty.locator("tbody tr").nth(1)).to_contain_text("invalid input syntax for type integer")
    shoot(page, "dirty-rows")

    page.get_by_role("link", name="Submissions").click()
    runs = page.get_by_role("region", name="Latest runs in this cluster")
    expect(runs.locator("tbody tr")).to_have_count(3)
    shoot(page, "submissions")

    # log out: back to the login form, and the old token is revoked on the server
    token = json.loads(page.evaluate("sessionStorage.getItem('opencdm.session')"))["token"]
    assert httpx.get(f"{env.server.url}/v1.1/{PROJECT}/clusters", headers={"X-Auth-Token": token}).status_code == 200
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to opencdm")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('opencdm.session')") is None
    assert httpx.get(f"{env.server.url}/v1.1/{PROJECT}/clusters", headers={"X-Auth-Token": token}).status_code == 401
    shoot(page, "login")
    assert not seen.console_errors, seen.console_errors  # no CSP violation, no script error


def dirty_job() -> dict:
    def configs(group: str, **inputs: str) -> dict:
        return {"configs": [{"name": group, "inputs": [{"name": f"{group}.{k}", "value": v}
                                                        for k, v in inputs.items()]}]}

    return {"jobs": [{"name": "dirty_rows", "job_type": "NORMAL_JOB", "from-connector-name": "generic-jdbc-connector",
                      "to-connector-name": "generic-jdbc-connector", "from-link-name": "pg_src",
                      "to-link-name": "pg_dst",
                      "from-config-values": configs("fromJobConfig", schemaName="public", tableName="raw"),
                      "to-config-values": configs("toJobConfig", schemaName="public", tableName="clean",
                                                  tablePreparation="DO_NOTHING", shouldClearTable="true"),
                      "driver-config-values": configs("throttlingConfig", numExtractors="1",
                                                      recordDirtyData="true")}]}
