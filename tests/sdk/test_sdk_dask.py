"""Clusters on Dask distributed through the official huaweicloudsdkcdm client and a real server: a cluster
bound to a real Dask scheduler (tests/infra/dask.py: scheduler and worker processes on loopback, each
worker in a directory of its own) by the system tag ``opencdm.dask-scheduler``; relational and file
jobs on it; the random-cluster call spreading jobs over a local and a Dask cluster, each copy exact;
the cluster's status following its scheduler."""

from __future__ import annotations

import json
import time

import pytest
from huaweicloudsdkcdm.v1 import model as m

from tests.infra.dask import THREADS, WORKERS
from tests.infra.data import checksums, make_empty_like, make_mixed_table
from tests.infra.server import make_server, sdk_client
from tests.sdk.test_sdk_operations import cv, link_body, pg_job, wait_cluster, wait_job

PROJECT = "d45cd45cd45cd45cd45cd45cd45cd45c"
FLAVOR = "a79fd5ae-1833-448a-88e8-3ea2b913e1f6"


def cluster_body(name: str, scheduler: str | None = None) -> m.CdmCreateClusterReq:
    tags = [m.SysTags(key="opencdm.dask-scheduler", value=scheduler)] if scheduler else None
    return m.CdmCreateClusterReq(cluster=m.CdmCreateClusterReqCluster(
        name=name, vpc_id="v", sys_tags=tags, instances=[m.Instance(
            availability_zone="z", flavor_ref=FLAVOR, type="cdm", nics=[m.Nics(security_group_id="s", net_id="n")])]))


@pytest.fixture(scope="module")
def world(tmp_path_factory, pg, dask_cluster):
    src, dst = pg.create_database(), pg.create_database()
    make_mixed_table(pg.dsn(src), "orders", 4000)
    server = make_server(tmp_path_factory.mktemp("sdk-dask"))
    server.start()
    try:
        client = sdk_client(server, PROJECT, *server.credentials(PROJECT))
        local = client.create_cluster(m.CreateClusterRequest(body=cluster_body("local"))).id
        dask = client.create_cluster(m.CreateClusterRequest(body=cluster_body("dask", dask_cluster.address))).id
        for cid in (local, dask):
            wait_cluster(client, cid, "200")
            client.create_link(m.CreateLinkRequest(cluster_id=cid, body=link_body("src", pg.link_inputs(src))))
            client.create_link(m.CreateLinkRequest(cluster_id=cid, body=link_body("dst", pg.link_inputs(dst))))
        yield {"client": client, "local": local, "dask": dask, "src": pg.dsn(src), "dst": pg.dsn(dst),
               "server": server}
    finally:
        server.stop()


def test_dask_cluster_runs_relational_and_file_jobs(world, dask_cluster):
    c, dask = world["client"], world["dask"]
    detail = c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=dask))
    assert detail.status == "200" and "workers" in json.loads(detail.raw_content)["statusDetail"]
    make_empty_like(world["dst"], "on_dask")
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=[
        pg_job("rel", "orders", "on_dask", extractors=2)])))
    c.start_job(m.StartJobRequest(cluster_id=dask, job_name="rel", body=m.CdmStartJobReq()))
    assert wait_job(c, dask, "rel").status == "SUCCEEDED"
    assert checksums(world["dst"], "on_dask") == checksums(world["src"], "orders")
    assert "run start" in world["server"].log_text()
    c.create_link(m.CreateLinkRequest(cluster_id=dask, body=m.CdmCreateAndUpdateLinkReq(links=[m.Links(
        name="files", connector_name="local-file-connector", enabled=True,
        link_config_values=m.LinksLinkconfigvalues(configs=[m.Configs(name="linkConfig", inputs=[])]))])))
    job = m.Job(job_type="NORMAL_JOB", name="tofiles", from_connector_name="generic-jdbc-connector",
                to_connector_name="local-file-connector", from_link_name="src", to_link_name="files",
                from_config_values=cv("fromJobConfig", schemaName="public", tableName="orders"),
                to_config_values=cv("toJobConfig", outputDirectory="dask_out", outputFormat="CSV_FILE",
                                    firstRowAsHeader="true"),
                driver_config_values=m.ConfigValues(configs=[m.Configs(name="throttlingConfig", inputs=[
                    m.Input(name="throttlingConfig.numExtractors", value="2")])]))
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=[job])))
    c.start_job(m.StartJobRequest(cluster_id=dask, job_name="tofiles", body=m.CdmStartJobReq()))
    sub = wait_job(c, dask, "tofiles")
    assert sub.status == "SUCCEEDED"
    out = world["server"].data_dir / "projects" / PROJECT / "dask_out"
    lines = sum(len(f.read_text().splitlines()) - 1 for f in out.iterdir() if not f.name.startswith("."))
    assert lines == 4000


def test_random_cluster_call_spreads_jobs_over_local_and_dask(world):
    c = world["client"]
    jobs = []
    for i in range(14):
        make_empty_like(world["dst"], f"spread_{i}")
        jobs.append(pg_job(f"spread{i}", "orders", f"spread_{i}", extractors=1))
    landed = []
    for job in jobs:  # one call per job: each picks a running cluster at random
        resp = c.create_and_start_random_cluster_job(m.CreateAndStartRandomClusterJobRequest(
            body=m.CdmRandomCreateAndStartJobJsonReq(jobs=[job], clusters=[world["local"], world["dask"]])))
        raw = json.loads(resp.raw_content)["submissions"][0]
        landed.append((raw["cluster_id"], raw["job-name"]))
    assert {cid for cid, _ in landed} == {world["local"], world["dask"]}  # 2 in 8192 to fail by chance
    want = checksums(world["src"], "orders")
    for (cid, name), i in zip(landed, range(14)):
        assert wait_job(c, cid, name).status == "SUCCEEDED"
        assert checksums(world["dst"], f"spread_{i}") == want


def test_dask_cluster_status_follows_its_scheduler(world, dask_cluster):
    c, dask = world["client"], world["dask"]
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=[
        pg_job("follow", "orders", "never_written", extractors=1)])))
    try:
        dask_cluster.stop_scheduler()
        deadline = time.monotonic() + 30
        while (d := c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=dask))).status != "300":
            assert time.monotonic() < deadline, d.status
            time.sleep(0.3)
        assert "unreachable" in json.loads(d.raw_content)["statusDetail"]
        with pytest.raises(Exception) as err:  # jobs are refused while it is abnormal
            c.start_job(m.StartJobRequest(cluster_id=dask, job_name="follow", body=m.CdmStartJobReq()))
        assert "Cdm.0037" in str(err.value) or "not running" in str(err.value)
    finally:
        dask_cluster.restore()
    wait_cluster(c, dask, "200", timeout=60)
    # the cluster is back when the scheduler answers with one worker; the tests after this one expect
    # opencdm to count both again (its status shows the threads as last counted, a moment behind)
    deadline = time.monotonic() + 30
    while (slots := _capacity(c, dask)["slots"]) != WORKERS * THREADS:
        assert time.monotonic() < deadline, slots
        time.sleep(0.3)


def _capacity(c, cid: str) -> dict:
    return json.loads(c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=cid)).raw_content)["capacity"]


def test_dask_dirty_data_needs_a_link(world):
    c, dask = world["client"], world["dask"]
    job = pg_job("dirtyfiles", "orders", "on_dask_dirty", extractors=1)
    job.driver_config_values.configs[0].inputs.append(m.Input(name="throttlingConfig.recordDirtyData", value="true"))
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=[job])))
    with pytest.raises(Exception) as err:  # files would land on a worker's disk: refused, not silently misplaced
        c.start_job(m.StartJobRequest(cluster_id=dask, job_name="dirtyfiles", body=m.CdmStartJobReq()))
    assert "writeToLink" in str(err.value)


def _link(name: str, connector: str, inputs: dict) -> m.CdmCreateAndUpdateLinkReq:
    return m.CdmCreateAndUpdateLinkReq(links=[m.Links(
        name=name, connector_name=connector, enabled=True, link_config_values=m.LinksLinkconfigvalues(configs=[
            m.Configs(name="linkConfig", inputs=[m.Input(name=k, value=v) for k, v in inputs.items()])]))])


def test_dask_runs_search_and_stream_connectors(world, kafka_broker, dis_server, search_server):
    """Elasticsearch -> DIS and Kafka -> PostgreSQL on Dask workers: connectors rebuilt there by name."""
    import uuid

    import psycopg

    c, dask = world["client"], world["dask"]
    suffix = uuid.uuid4().hex[:6]
    index, stream, topic = f"dk_{suffix}", f"dk-{suffix}", f"dk{suffix}"
    search_server.bulk(index, [{"id": i, "name": f"n{i}"} for i in range(1, 301)])
    dis_server.create_stream(stream, partitions=2)
    kafka_broker.create_topic(topic, 2)
    kafka_broker.produce(topic, [f"{i},k{i}" for i in range(500)])
    with psycopg.connect(world["dst"], autocommit=True) as conn:
        conn.execute(f"CREATE TABLE from_kafka_{suffix} (id int, v text)")
    for name, connector, inputs in (("css", "elasticsearch-connector", search_server.link_inputs()),
                                    ("dis", "dis-connector", dis_server.link_inputs()),
                                    ("kafka", "kafka-connector", kafka_broker.link_inputs())):
        try:
            c.create_link(m.CreateLinkRequest(cluster_id=dask, body=_link(name, connector, inputs)))
        except Exception:
            c.update_link(m.UpdateLinkRequest(cluster_id=dask, link_name=name, body=_link(name, connector, inputs)))
    jobs = [m.Job(job_type="NORMAL_JOB", name=f"es2dis{suffix}", from_connector_name="elasticsearch-connector",
                  to_connector_name="dis-connector", from_link_name="css", to_link_name="dis",
                  from_config_values=cv("fromJobConfig", index=index, columnList="id:long&name:string"),
                  to_config_values=cv("toJobConfig", streamName=stream, separator="|"),
                  driver_config_values=cv("throttlingConfig", numExtractors="2")),
            m.Job(job_type="NORMAL_JOB", name=f"k2pg{suffix}", from_connector_name="kafka-connector",
                  to_connector_name="generic-jdbc-connector", from_link_name="kafka", to_link_name="dst",
                  from_config_values=cv("fromJobConfig", topicsList=topic, kafkaConsumerStrategy="EARLIEST",
                                        dataFormat="CSV", isPermanency="false"),
                  to_config_values=cv("toJobConfig", schemaName="public", tableName=f"from_kafka_{suffix}",
                                      tablePreparation="DO_NOTHING"),
                  driver_config_values=cv("throttlingConfig", numExtractors="2"))]
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=jobs)))
    for job in jobs:
        c.start_job(m.StartJobRequest(cluster_id=dask, job_name=job.name, body=m.CdmStartJobReq()))
    for job in jobs:
        assert wait_job(c, dask, job.name).status == "SUCCEEDED", job.name
    assert sorted(dis_server.records(stream)) == sorted(f"{i}|n{i}".encode() for i in range(1, 301))
    with psycopg.connect(world["dst"]) as conn:
        got = conn.execute(f"SELECT id, v FROM from_kafka_{suffix} ORDER BY id").fetchall()
    assert got == [(i, f"k{i}") for i in range(500)]


def test_dask_cluster_actions_act_on_opencdm_only(world, dask_cluster):
    """Stop, start, restart and delete of a Dask-bound cluster: opencdm's side changes, the Dask cluster never."""
    c, dask = world["client"], world["dask"]
    raw = json.loads(c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=dask)).raw_content)
    assert raw["backend"] == {"type": "dask", "address": dask_cluster.address}
    assert raw["capacity"] == {"slots": 4, "in-use": 0, "waiting": 0, "runs": 0}, raw["capacity"]
    local = json.loads(c.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=world["local"])).raw_content)
    assert local["backend"] == {"type": "local"} and local["capacity"]["slots"] >= 1
    make_empty_like(world["dst"], "after_actions")
    c.create_job(m.CreateJobRequest(cluster_id=dask, body=m.CdmCreateJobJsonReq(jobs=[
        pg_job("acts", "orders", "after_actions", extractors=2)])))
    workers = dask_cluster.worker_pids()
    c.stop_cluster(m.StopClusterRequest(cluster_id=dask, body=m.CdmStopClusterReq(
        stop=m.CdmStopClusterReqStop(stop_mode="IMMEDIATELY"))))
    wait_cluster(c, dask, "900")
    assert dask_cluster.worker_pids() == workers  # the user's scheduler and workers run on
    with pytest.raises(Exception) as err:
        c.start_job(m.StartJobRequest(cluster_id=dask, job_name="acts", body=m.CdmStartJobReq()))
    assert "Cdm.0037" in str(err.value) or "not running" in str(err.value)
    c.start_cluster(m.StartClusterRequest(cluster_id=dask, body=m.CdmStartClusterReq(start={})))
    wait_cluster(c, dask, "200")
    c.restart_cluster(m.RestartClusterRequest(cluster_id=dask, body=m.CdmRestartClusterReq(
        restart=m.CdmRestartClusterReqRestart(restart_delay_time=0, restart_mode="IMMEDIATELY",
                                              restart_level="SERVICE", type="cdm", instance="", group=""))))
    wait_cluster(c, dask, "200")
    assert dask_cluster.worker_pids() == workers
    c.start_job(m.StartJobRequest(cluster_id=dask, job_name="acts", body=m.CdmStartJobReq()))
    assert wait_job(c, dask, "acts").status == "SUCCEEDED"
    assert checksums(world["dst"], "after_actions") == checksums(world["src"], "orders")
    spare = c.create_cluster(m.CreateClusterRequest(body=cluster_body("spare", dask_cluster.address))).id
    wait_cluster(c, spare, "200")
    c.delete_cluster(m.DeleteClusterRequest(cluster_id=spare, body=m.CdmDeleteClusterReq(keep_last_manual_backup=0)))
    time.sleep(1)
    assert dask_cluster.worker_pids() == workers
