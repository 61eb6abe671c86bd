"""The official huaweicloudsdkcdm client, unmodified, through all 28 operations against a real server.

Runs once with SQLite metadata and once with PostgreSQL metadata (the ``server`` fixture), and checks
the migrated data in a real PostgreSQL.
"""

from __future__ import annotations

import json
import time

import pytest
from huaweicloudsdkcdm.v1 import model as m
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from tests.infra.data import checksums, make_empty_like, make_mixed_table
from tests.infra.server import sdk_client

PROJECT = "0123456789abcdef0123456789abcdef"
ROWS = 20_000


def cv(group: str, **inputs) -> m.ConfigValues:
    return m.ConfigValues(configs=[m.Configs(name=group, inputs=[m.Input(name=f"{group}.{k}", value=v)
                                                                 for k, v in inputs.items()])])


def link_body(name: str, inputs: dict) -> m.CdmCreateAndUpdateLinkReq:
    return m.CdmCreateAndUpdateLinkReq(links=[m.Links(
        name=name, connector_name="generic-jdbc-connector", enabled=True,
        link_config_values=m.LinksLinkconfigvalues(configs=[m.Configs(
            name="linkConfig", inputs=[m.Input(name=k, value=v) for k, v in inputs.items()])]))])


def pg_job(name: str | None, src_table: str, dst_table: str, extractors: int = 2, **to) -> m.Job:
    driver = m.ConfigValues(configs=[
        m.Configs(name="throttlingConfig", inputs=[m.Input(name="throttlingConfig.numExtractors", value=str(extractors))]),
        m.Configs(name="jarConfig", inputs=[])])
    return m.Job(
        job_type="NORMAL_JOB", name=name, from_connector_name="generic-jdbc-connector",
        to_connector_name="generic-jdbc-connector", from_link_name="src", to_link_name="dst",
        from_config_values=cv("fromJobConfig", schemaName="public", tableName=src_table),
        to_config_values=cv("toJobConfig", schemaName="public", tableName=dst_table,
                            tablePreparation=to.get("prep", "DO_NOTHING"), shouldClearTable="true"),
        driver_config_values=driver)


def wait_cluster(client, cluster_id: str, status: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=cluster_id)).status
        if got == status:
            return
        time.sleep(0.2)
    raise AssertionError(f"cluster {cluster_id} never reached {status} (last {got})")


def wait_job(client, cluster_id: str, job: str, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sub = client.show_job_status(m.ShowJobStatusRequest(cluster_id=cluster_id, job_name=job)).submissions[0]
        if sub.status in ("SUCCEEDED", "FAILED"):
            return sub
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish")


@pytest.fixture(scope="module")
def world(server, pg):
    """Three clusters (the third stopped), source and destination databases, and an SDK client."""
    ak, sk = server.credentials(PROJECT)
    client = sdk_client(server, PROJECT, ak, sk)
    src_db, dst_db = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src_db), "orders", ROWS)
    ids = []
    for name in ("c1", "c2", "c3"):
        body = m.CdmCreateClusterReq(cluster=m.CdmCreateClusterReqCluster(
            name=name, vpc_id="vpc-local",
            instances=[m.Instance(availability_zone="local", flavor_ref="a79fd5ae-1833-448a-88e8-3ea2b913e1f6",
                                  type="cdm", nics=[m.Nics(security_group_id="sg", net_id="net")])]))
        resp = client.create_cluster(m.CreateClusterRequest(x_language="en-us", body=body))
        assert resp.status_code == 202 and resp.id
        ids.append(resp.id)
    for cid in ids:
        wait_cluster(client, cid, "200")
    return {"client": client, "clusters": ids, "src": pg.dsn(src_db), "dst": pg.dsn(dst_db),
            "src_inputs": pg.link_inputs(src_db), "dst_inputs": pg.link_inputs(dst_db), "password": pg.password}


def test_every_operation(world, server):
    c = world["client"]
    c1, c2, c3 = world["clusters"]
    raw_bodies: list[bytes] = []

    # clusters: list, detail, modify, stop (the stopped one must never receive random-cluster jobs)
    listed = c.list_clusters(m.ListClustersRequest())
    assert {x.id for x in listed.clusters} >= {c1, c2, c3}
    detail = c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=c1))
    assert detail.name == "c1" and detail.status == "200" and detail.instances[0].type == "cdm"
    c.modify_cluster(m.ModifyClusterRequest(cluster_id=c1, body=m.CdmModifyClusterReq(auto_off=False, email="ops@x")))
    assert c.stop_cluster(m.StopClusterRequest(cluster_id=c3, body=m.CdmStopClusterReq(
        stop=m.CdmStopClusterReqStop(stop_mode="IMMEDIATELY")))).status_code == 200
    wait_cluster(c, c3, "900")

    # links on both running clusters: validate-only first, then for real
    for cid in (c1, c2):
        resp = c.create_link(m.CreateLinkRequest(cluster_id=cid, validate="true",
                                                 body=link_body("src", world["src_inputs"])))
        raw_bodies.append(resp.raw_content)
        for name, key in (("src", "src_inputs"), ("dst", "dst_inputs")):
            resp = c.create_link(m.CreateLinkRequest(cluster_id=cid, body=link_body(name, world[key])))
            assert resp.name == name
            raw_bodies.append(resp.raw_content)
    shown = c.show_link(m.ShowLinkRequest(cluster_id=c1, link_name="src"))
    raw_bodies.append(shown.raw_content)
    inputs = {i.name: i.value for i in shown.links[0].link_config_values.configs[0].inputs}
    assert inputs["linkConfig.host"] == world["src_inputs"]["linkConfig.host"]
    assert inputs["linkConfig.password"] != world["password"]
    resp = c.update_link(m.UpdateLinkRequest(cluster_id=c1, link_name="src", body=link_body("src", world["src_inputs"])))
    assert resp.status_code == 200

    # a job in c1: create, show one and all, update, start, status, history; data verified in PostgreSQL
    make_empty_like(world["dst"], "orders_copy")
    c.create_job(m.CreateJobRequest(cluster_id=c1, body=m.CdmCreateJobJsonReq(jobs=[pg_job("copy", "orders", "x")])))
    one = c.show_jobs(m.ShowJobsRequest(cluster_id=c1, job_name="copy"))
    assert one.jobs[0].name == "copy" and one.jobs[0].status == "NEW"
    c.update_job(m.UpdateJobRequest(cluster_id=c1, job_name="copy",
                                    body=m.CdmUpdateJobJsonReq(jobs=[pg_job("copy", "orders", "orders_copy")])))
    listing = c.show_jobs(m.ShowJobsRequest(cluster_id=c1, job_name="all", filter="cop", page_no=1, page_size=10,
                                            job_type="NORMAL_JOB"))
    assert listing.total == 1 and listing.jobs[0].to_config_values.configs[0].inputs[1].value == "orders_copy"
    started = c.start_job(m.StartJobRequest(cluster_id=c1, job_name="copy", body=m.CdmStartJobReq(variables={})))
    assert started.submissions[0].status in ("BOOTING", "RUNNING")
    sub = wait_job(c, c1, "copy")
    assert sub.status == "SUCCEEDED", sub.error_summary
    counters = sub.counters.org_apache_sqoop_submission_counter_sqoop_counters
    assert counters.rows_read == ROWS and counters.rows_written == ROWS
    assert checksums(world["dst"], "orders_copy") == checksums(world["src"], "orders")
    history = c.show_submissions(m.ShowSubmissionsRequest(cluster_id=c1, jname="copy"))
    assert history.total == 1 and history.submissions[0].status == "SUCCEEDED"

    # stop: a job that is not running is refused with Cdm.0053
    with pytest.raises(ClientRequestException) as err:
        c.stop_job(m.StopJobRequest(cluster_id=c1, job_name="copy"))
    assert err.value.error_code == "Cdm.0053"

    # the random-cluster call over three clusters, one stopped: never lands on the stopped one
    landed = []
    for i in range(6):
        table = f"orders_r{i}"
        make_empty_like(world["dst"], table)
        job = pg_job(None if i % 2 else f"rand{i}", "orders", table)
        resp = c.create_and_start_random_cluster_job(m.CreateAndStartRandomClusterJobRequest(
            x_language="en-us", body=m.CdmRandomCreateAndStartJobJsonReq(jobs=[job], clusters=[c1, c2, c3, c1])))
        raw = json.loads(resp.raw_content)["submissions"][0]
        assert set(raw) >= {"isIncrementing", "delete_rows", "update_rows", "write_rows", "submission-id", "job-name",
                            "creation-user", "creation-date", "execute-date", "progress", "status",
                            "isStopingIncrement", "is-execute-auto", "last-update-date", "last-udpate-user",
                            "isDeleteJob", "cluster_id"}
        assert raw["cluster_id"] in (c1, c2)
        landed.append((raw["cluster_id"], raw["job-name"], table))
    for cid, job_name, table in landed:
        assert wait_job(c, cid, job_name).status == "SUCCEEDED"
        assert checksums(world["dst"], table)["count"] == ROWS
    assert not c.show_jobs(m.ShowJobsRequest(cluster_id=c3, job_name="all")).jobs

    # restart and start cluster actions
    c.restart_cluster(m.RestartClusterRequest(cluster_id=c2, body=m.CdmRestartClusterReq(
        restart=m.CdmRestartClusterReqRestart(restart_delay_time=0, restart_mode="IMMEDIATELY",
                                              restart_level="SERVICE", type="cdm", instance="", group=""))))
    wait_cluster(c, c2, "200")
    c.start_cluster(m.StartClusterRequest(cluster_id=c3, body=m.CdmStartClusterReq(start={})))
    wait_cluster(c, c3, "200")

    # the self-hosted "other" operations
    azs = c.show_availability_zones(m.ShowAvailabilityZonesRequest(region_id="local"))
    assert azs.available_zones[0].available_zone_id
    stores = c.show_datastores(m.ShowDatastoresRequest())
    ds = stores.datastores[0]
    flavors = c.show_flavors(m.ShowFlavorsRequest(datastore_id=ds.id))
    flavor_id = flavors.versions[0].flavors[0].str_id
    assert c.show_flavor_detail(m.ShowFlavorDetailRequest(flavor_id=flavor_id)).name == "cdm.small"
    assert c.show_enterprise_projects(m.ShowEnterpriseProjectsRequest()).resources
    assert c.show_cluster_enterprise_projects(m.ShowClusterEnterpriseProjectsRequest(cluster_id=c1)).sys_tags
    inst = c.show_instance_detail(m.ShowInstanceDetailRequest(instance_id=detail.instances[0].id))
    assert inst.instance.cluster_id == c1

    # deletes: a link in use is refused; then job, links and a cluster go
    with pytest.raises(ClientRequestException) as err:
        c.delete_link(m.DeleteLinkRequest(cluster_id=c1, link_name="src"))
    assert err.value.error_code == "Cdm.0321"
    for cid in (c1, c2):
        for job in c.show_jobs(m.ShowJobsRequest(cluster_id=cid, job_name="all", page_size=100)).jobs:
            c.delete_job(m.DeleteJobRequest(cluster_id=cid, job_name=job.name))
    c.delete_link(m.DeleteLinkRequest(cluster_id=c1, link_name="src"))
    with pytest.raises(ClientRequestException) as err:
        c.show_link(m.ShowLinkRequest(cluster_id=c1, link_name="src"))
    assert err.value.error_code == "Cdm.0101"
    resp = c.delete_cluster(m.DeleteClusterRequest(cluster_id=c3, body=m.CdmDeleteClusterReq(keep_last_manual_backup=0)))
    assert resp.status_code == 202
    assert c3 not in {x.id for x in c.list_clusters(m.ListClustersRequest()).clusters}

    # the database password never came back in any response
    for body in raw_bodies:
        assert world["password"].encode() not in body
    assert world["password"] not in server.log_text()


def test_postgresql_to_parquet_on_s3_through_the_sdk(world, s3_server):
    """A job that writes PostgreSQL -> Parquet on S3 (Ceph RGW), created, started and watched with the SDK;
    the Parquet files read back with pyarrow hold exactly the source's rows."""
    import pyarrow.dataset as ds
    from pyarrow.fs import FileSelector

    c, (c1, _, _) = world["client"], world["clusters"]
    bucket = s3_server.make_bucket()
    obs = {"linkConfig.storageType": "OBS", "linkConfig.server": "http://127.0.0.1",
           "linkConfig.port": str(s3_server.port), "linkConfig.accessKey": s3_server.access_key,
           "linkConfig.securityKey": s3_server.secret_key}
    body = link_body("lake", obs)
    body.links[0].connector_name = "obs-connector"
    c.create_link(m.CreateLinkRequest(cluster_id=c1, body=body))
    shown = c.show_link(m.ShowLinkRequest(cluster_id=c1, link_name="lake"))
    inputs = {i.name: i.value for i in shown.links[0].link_config_values.configs[0].inputs}
    assert inputs["linkConfig.securityKey"] != s3_server.secret_key  # masked
    c.create_link(m.CreateLinkRequest(cluster_id=c1, body=link_body("pgsrc", world["src_inputs"])))
    job = m.Job(
        job_type="NORMAL_JOB", name="to_lake", from_connector_name="generic-jdbc-connector",
        to_connector_name="obs-connector", from_link_name="pgsrc", to_link_name="lake",
        from_config_values=cv("fromJobConfig", schemaName="public", tableName="orders"),
        to_config_values=cv("toJobConfig", bucketName=bucket, outputDirectory="/warehouse/orders",
                            outputFormat="PARQUET_FILE", writeToTempFile="true"),
        driver_config_values=m.ConfigValues(configs=[m.Configs(name="throttlingConfig", inputs=[
            m.Input(name="throttlingConfig.numExtractors", value="2")])]))
    c.create_job(m.CreateJobRequest(cluster_id=c1, body=m.CdmCreateJobJsonReq(jobs=[job])))
    c.start_job(m.StartJobRequest(cluster_id=c1, job_name="to_lake"))
    sub = wait_job(c, c1, "to_lake")
    assert sub.status == "SUCCEEDED", (sub.error_summary, sub.error_details)
    counters = sub.counters.org_apache_sqoop_submission_counter_sqoop_counters
    fs = s3_server.client()
    table = ds.dataset(f"{bucket}/warehouse/orders", format="parquet", filesystem=fs).to_table()
    assert table.num_rows == ROWS == counters.rows_written
    assert counters.files_written == len(fs.get_file_info(FileSelector(f"{bucket}/warehouse/orders"))) > 1
    # the same ids as the source, each once
    ids = sorted(table.column("id").to_pylist())
    assert ids == list(range(1, ROWS + 1))
