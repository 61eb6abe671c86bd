"""The headline page's own example, through the official huaweicloudsdkcdm client: the request body
printed in the seed (only the cluster ids replaced by real ones) moves the Elasticsearch index ``52est``
(an emulator, see tests/infra/search.py) into the DIS stream ``dis-lkGm`` (the DIS-protocol server of
tests/infra/dis.py) as ``f1|f2|{json}`` lines, in a random running cluster."""

from __future__ import annotations

import json
import time

from huaweicloudsdkcdm.v1 import model as m

from tests.infra.server import make_server, sdk_client
from tests.sdk.test_sdk_operations import wait_cluster, wait_job

PROJECT = "1551c7f6c808414d8e9f3c514a170f2e"

#: The seed's example request, as printed (its cluster ids are replaced at run time).
SEED_JOB = json.loads("""{
  "job_type" : "NORMAL_JOB",
  "from-connector-name" : "elasticsearch-connector",
  "to-config-values" : {"configs" : [ {"inputs" : [
      {"name" : "toJobConfig.streamName", "value" : "dis-lkGm"},
      {"name" : "toJobConfig.separator", "value" : "|"},
      {"name" : "toJobConfig.columnList", "value" : "1&2&3"} ], "name" : "toJobConfig"} ]},
  "to-link-name" : "dis",
  "driver-config-values" : {"configs" : [
      {"inputs" : [ {"name" : "throttlingConfig.numExtractors", "value" : "1"},
                    {"name" : "throttlingConfig.submitToCluster", "value" : "false"},
                    {"name" : "throttlingConfig.numLoaders", "value" : "1"},
                    {"name" : "throttlingConfig.recordDirtyData", "value" : "false"} ], "name" : "throttlingConfig"},
      {"inputs" : { }, "name" : "jarConfig"},
      {"inputs" : [ {"name" : "schedulerConfig.isSchedulerJob", "value" : "false"},
                    {"name" : "schedulerConfig.disposableType", "value" : "NONE"} ], "name" : "schedulerConfig"},
      {"inputs" : { }, "name" : "transformConfig"},
      {"inputs" : [ {"name" : "retryJobConfig.retryJobType", "value" : "NONE"} ], "name" : "retryJobConfig"} ]},
  "from-config-values" : {"configs" : [ {"inputs" : [
      {"name" : "fromJobConfig.index", "value" : "52est"},
      {"name" : "fromJobConfig.type", "value" : "est_array"},
      {"name" : "fromJobConfig.columnList", "value" : "array_f1_int:long&array_f2_text:string&array_f3_object:nested"},
      {"name" : "fromJobConfig.splitNestedField", "value" : "false"} ], "name" : "fromJobConfig"} ]},
  "to-connector-name" : "dis-connector",
  "name" : "es_css",
  "from-link-name" : "css"
}""")
DOCS = [{"array_f1_int": i, "array_f2_text": f"text {i}", "array_f3_object": [{"a": i, "b": "x"}, {"a": -i}]}
        for i in range(1, 301)]


def _values(doc: dict) -> m.ConfigValues:
    return m.ConfigValues(configs=[m.Configs(name=c["name"], inputs=[m.Input(name=i["name"], value=i["value"])
                                                                      for i in c["inputs"]] or {})
                                   for c in doc["configs"]])


def _job(doc: dict) -> m.Job:
    return m.Job(job_type=doc["job_type"], name=doc["name"], from_connector_name=doc["from-connector-name"],
                 to_connector_name=doc["to-connector-name"], from_link_name=doc["from-link-name"],
                 to_link_name=doc["to-link-name"], from_config_values=_values(doc["from-config-values"]),
                 to_config_values=_values(doc["to-config-values"]),
                 driver_config_values=_values(doc["driver-config-values"]))


def _link(name: str, connector: str, inputs: dict) -> m.CdmCreateAndUpdateLinkReq:
    return m.CdmCreateAndUpdateLinkReq(links=[m.Links(
        name=name, connector_name=connector, enabled=True, link_config_values=m.LinksLinkconfigvalues(configs=[
            m.Configs(name="linkConfig", inputs=[m.Input(name=k, value=v) for k, v in inputs.items()])]))])


def test_emulator_seed_example_through_the_official_sdk(tmp_path, search_server, dis_server):
    if any(i["index"] == "52est" for i in search_server.call("GET", "/_cat/indices?format=json")):
        search_server.call("DELETE", "/52est")
    search_server.bulk("52est", [dict(d, id=d["array_f1_int"]) for d in DOCS])
    try:
        dis_server.delete_stream("dis-lkGm")
    except Exception:
        pass
    dis_server.create_stream("dis-lkGm", partitions=2)
    server = make_server(tmp_path)
    server.start()
    try:
        client = sdk_client(server, PROJECT, *server.credentials(PROJECT))
        clusters = []
        for name in ("c1", "c2"):
            body = m.CdmCreateClusterReq(cluster=m.CdmCreateClusterReqCluster(
                name=name, vpc_id="vpc", instances=[m.Instance(
                    availability_zone="local", flavor_ref="a79fd5ae-1833-448a-88e8-3ea2b913e1f6", type="cdm",
                    nics=[m.Nics(security_group_id="sg", net_id="net")])]))
            clusters.append(client.create_cluster(m.CreateClusterRequest(body=body)).id)
        for cid in clusters:
            wait_cluster(client, cid, "200")
            made = client.create_link(m.CreateLinkRequest(cluster_id=cid, body=_link(
                "css", "elasticsearch-connector", search_server.link_inputs())))
            assert json.loads(made.raw_content)["link-check"].split()[0] in ("Elasticsearch", "OpenSearch")
            client.create_link(m.CreateLinkRequest(cluster_id=cid, body=_link(
                "dis", "dis-connector", dis_server.link_inputs())))
        resp = client.create_and_start_random_cluster_job(m.CreateAndStartRandomClusterJobRequest(
            body=m.CdmRandomCreateAndStartJobJsonReq(jobs=[_job(SEED_JOB)],
                                                     clusters=[clusters[0], clusters[1], clusters[1]])))
        raw = json.loads(resp.raw_content)["submissions"][0]
        assert set(raw) >= {"isIncrementing", "job-name", "submisson-id", "isStopingIncrement", "last-update-date",
                            "is-execute-auto", "delete_rows", "write_rows", "last-update-user", "isDeleteJob",
                            "creation-user", "progress", "creation-date", "update_rows", "status"}
        assert raw["job-name"] == "es_css" and raw["submisson-id"] == raw["submission-id"]
        sub = wait_job(client, raw["cluster_id"], "es_css")
        assert sub.status == "SUCCEEDED", sub
        deadline = time.monotonic() + 10
        while len(dis_server.records("dis-lkGm")) < len(DOCS) and time.monotonic() < deadline:
            time.sleep(0.1)
        got = sorted(dis_server.records("dis-lkGm"), key=lambda line: int(line.split(b"|")[0]))
        assert got == [f"{d['array_f1_int']}|{d['array_f2_text']}|{json.dumps(d['array_f3_object'])}".encode()
                       for d in DOCS]
    finally:
        server.stop()
