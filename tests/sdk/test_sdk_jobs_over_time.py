"""Jobs over time through the official huaweicloudsdkcdm client against a real server: a scheduled job
that runs by itself (``is-execute-auto``), and an entire-database job (BATCH_JOB)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from huaweicloudsdkcdm.v1 import model as m

from tests.infra.data import make_mixed_table
from tests.infra.server import make_server, sdk_client
from tests.sdk.test_sdk_operations import cv, link_body, wait_cluster, wait_job

PROJECT = "5cdfd5a4b0a94e45a2c5a4b0a94e45a2"


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg):
    src, dst = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src), "orders", 500)
    make_mixed_table(pg.dsn(src), "customers", 300)
    server = make_server(tmp_path_factory.mktemp("sdk-time"))
    server.start()
    client = sdk_client(server, PROJECT, *server.credentials(PROJECT))
    instance = m.Instance(availability_zone="z", flavor_ref="a79fd5ae-1833-448a-88e8-3ea2b913e1f6", type="cdm",
                          nics=[m.Nics(security_group_id="s", net_id="n")])
    cid = client.create_cluster(m.CreateClusterRequest(body=m.CdmCreateClusterReq(
        cluster=m.CdmCreateClusterReqCluster(name="sched", vpc_id="v", instances=[instance])))).id
    wait_cluster(client, cid, "200")
    client.create_link(m.CreateLinkRequest(cluster_id=cid, body=link_body("src", pg.link_inputs(src))))
    client.create_link(m.CreateLinkRequest(cluster_id=cid, body=link_body("dst", pg.link_inputs(dst))))
    yield {"client": client, "cid": cid, "dst": pg.dsn(dst)}
    server.stop()


def test_sdk_scheduled_job_runs_by_itself_with_execute_auto(world):
    client, cid = world["client"], world["cid"]
    start = (datetime.now(UTC) - timedelta(seconds=57)).replace(microsecond=0)  # planned: start + 1 minute
    job = m.Job(job_type="NORMAL_JOB", name="nightly", from_connector_name="generic-jdbc-connector",
                to_connector_name="generic-jdbc-connector", from_link_name="src", to_link_name="dst",
                from_config_values=cv("fromJobConfig", schemaName="public", tableName="orders"),
                to_config_values=cv("toJobConfig", schemaName="public", tableName="orders_${dateformat(HHmmss)}",
                                    tablePreparation="CREATE_WHEN_NOT_EXIST", shouldClearTable="true"),
                driver_config_values=m.ConfigValues(configs=[m.Configs(name="schedulerConfig", inputs=[
                    m.Input(name="schedulerConfig.isSchedulerJob", value="true"),
                    m.Input(name="schedulerConfig.cycleType", value="minute"),
                    m.Input(name="schedulerConfig.cycle", value="1"),
                    m.Input(name="schedulerConfig.startDate", value=start.strftime("%Y-%m-%d %H:%M:%S"))])]))
    client.create_job(m.CreateJobRequest(cluster_id=cid, body=m.CdmCreateJobJsonReq(jobs=[job])))
    deadline = time.monotonic() + 30
    while True:
        subs = client.show_job_status(m.ShowJobStatusRequest(cluster_id=cid, job_name="nightly")).submissions
        if subs and subs[0].status == "SUCCEEDED":
            break
        assert time.monotonic() < deadline, subs
        time.sleep(0.3)
    assert subs[0].is_execute_auto is True
    planned = (start + timedelta(minutes=1)).strftime("%H%M%S")  # macros read the planned time, to the second
    with psycopg.connect(world["dst"]) as conn:
        assert conn.execute(f"SELECT count(*) FROM orders_{planned}").fetchone()[0] == 500
    bad = m.Job(job_type="NORMAL_JOB", name="badsched", from_connector_name="generic-jdbc-connector",
                to_connector_name="generic-jdbc-connector", from_link_name="src", to_link_name="dst",
                from_config_values=job.from_config_values, to_config_values=job.to_config_values,
                driver_config_values=m.ConfigValues(configs=[m.Configs(name="schedulerConfig", inputs=[
                    m.Input(name="schedulerConfig.isSchedulerJob", value="true"),
                    m.Input(name="schedulerConfig.cycleType", value="fortnight")])]))
    with pytest.raises(Exception) as err:
        client.create_job(m.CreateJobRequest(cluster_id=cid, body=m.CdmCreateJobJsonReq(jobs=[bad])))
    assert "schedulerConfig" in str(err.value)


def test_sdk_batch_job_moves_every_table(world):
    client, cid = world["client"], world["cid"]
    job = m.Job(job_type="BATCH_JOB", name="wholedb", from_connector_name="generic-jdbc-connector",
                to_connector_name="generic-jdbc-connector", from_link_name="src", to_link_name="dst",
                from_config_values=cv("fromJobConfig", schemaName="public", tableName="orders&customers"),
                to_config_values=cv("toJobConfig", schemaName="public", tablePreparation="DROP_AND_CREATE"),
                driver_config_values=m.ConfigValues(configs=[m.Configs(name="throttlingConfig", inputs=[
                    m.Input(name="throttlingConfig.concurrentSubJobs", value="2")])]))
    client.create_job(m.CreateJobRequest(cluster_id=cid, body=m.CdmCreateJobJsonReq(jobs=[job])))
    client.start_job(m.StartJobRequest(cluster_id=cid, job_name="wholedb", body=m.CdmStartJobReq()))
    assert wait_job(client, cid, "wholedb").status == "SUCCEEDED"
    listed = client.show_jobs(m.ShowJobsRequest(cluster_id=cid, job_name="all", job_type="BATCH_JOB")).jobs
    assert [j.name for j in listed] == ["wholedb"]
    with psycopg.connect(world["dst"]) as conn:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 300
        assert conn.execute("SELECT count(*) FROM orders").fetchone()[0] == 500
