"""The probe's attacks once more through the official ``huaweicloudsdkcdm`` client, as a CDM user would
send them: each is refused with the CDM error the SDK reports, and changes nothing."""

from __future__ import annotations

import time

import pytest
from huaweicloudsdkcdm.v1 import model as m
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException

from tests.infra.fake_pg import FakePostgres
from tests.infra.server import make_server, sdk_client

P = "abab7777abab7777abab7777abab7777"


def _link(name: str, inputs: dict) -> m.CdmCreateAndUpdateLinkReq:
    return m.CdmCreateAndUpdateLinkReq(links=[m.Links(
        name=name, connector_name="generic-jdbc-connector", link_config_values=m.LinksLinkconfigvalues(configs=[
            m.Configs(name="linkConfig", inputs=[m.Input(name=k, value=v) for k, v in inputs.items()])]))])


def _refused(call, status: int = 400, code: str = "Cdm.0014") -> str:
    with pytest.raises(ClientRequestException) as info:
        call()
    assert info.value.status_code == status and info.value.error_code == code, info.value
    return info.value.error_msg


@pytest.fixture(scope="module")
def sdk(tmp_path_factory, pg):
    server = make_server(tmp_path_factory.mktemp("sdk-attacks"))
    server.start()
    client = sdk_client(server, P, *server.credentials(P))
    spec = m.CdmCreateClusterReqCluster(name="sdk", vpc_id="v")
    cid = client.create_cluster(m.CreateClusterRequest(body=m.CdmCreateClusterReq(cluster=spec))).id
    while client.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=cid)).status != "200":
        time.sleep(0.05)
    inputs = pg.link_inputs(pg.create_database())
    client.create_link(m.CreateLinkRequest(cluster_id=cid, body=_link("pg", inputs)))
    yield server, client, cid, inputs
    server.stop()


def test_metadata_database_through_a_sqlite_link(sdk):
    server, client, cid, _ = sdk
    metadata = str(server.data_dir / "opencdm.db")
    body = _link("meta", {"linkConfig.databaseType": "SQLITE", "linkConfig.database": metadata})
    assert "file root" in _refused(lambda: client.create_link(m.CreateLinkRequest(cluster_id=cid, body=body)))


def test_kept_password_to_another_port(sdk):
    _server, client, cid, inputs = sdk
    fake = FakePostgres()
    try:
        moved = dict(inputs, **{"linkConfig.password": "******", "linkConfig.port": str(fake.port)})
        update = m.UpdateLinkRequest(cluster_id=cid, link_name="pg", body=_link("pg", moved))
        _refused(lambda: client.update_link(update))
        assert fake.connections == 0
    finally:
        fake.close()


def test_names_and_types(sdk):
    _server, client, cid, _ = sdk
    job = m.Job(job_type="NORMAL_JOB", name="..", from_connector_name="generic-jdbc-connector",
                to_connector_name="generic-jdbc-connector", from_link_name="pg", to_link_name="pg",
                from_config_values=m.ConfigValues(configs=[m.Configs(name="fromJobConfig", inputs=[
                    m.Input(name="fromJobConfig.tableName", value="t")])]),
                to_config_values=m.ConfigValues(configs=[m.Configs(name="toJobConfig", inputs=[
                    m.Input(name="toJobConfig.tableName", value="t2")])]),
                driver_config_values=m.ConfigValues(configs=[]))
    _refused(lambda: client.create_job(m.CreateJobRequest(cluster_id=cid, body=m.CdmCreateJobJsonReq(jobs=[job]))))
    restart = m.CdmRestartClusterReq(restart=m.CdmRestartClusterReqRestart(restart_delay_time=False, type="cdm"))
    _refused(lambda: client.restart_cluster(m.RestartClusterRequest(cluster_id=cid, body=restart)))
    assert client.show_cluster_detail(m.ShowClusterDetailRequest(cluster_id=cid)).status == "200"
