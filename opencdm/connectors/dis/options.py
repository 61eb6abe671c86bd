"""The inputs of ``dis-connector`` (CDM's DIS link; spec §11.10, §12.9 and the seed) parsed once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from opencdm.connectors import config
from opencdm.connectors.base import Inputs
from opencdm.connectors.inputs import boolean, enum, integer, secret, string
from opencdm.connectors.streams.records import LINE_INPUTS, RECORD_INPUTS, LineFormat, RecordFormat

STRATEGIES = ("LATEST", "EARLIEST", "FROM_LAST_STOP")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class DisLink:
    region: str
    endpoint: str
    ak: str
    sk: str = field(repr=False)
    project_id: str

    @classmethod
    def parse(cls, link: Inputs) -> DisLink:
        config.require(link, "linkConfig.region", "linkConfig.endpoint", "linkConfig.ak", "linkConfig.sk",
                       "linkConfig.projectId")
        endpoint = config.get_str(link, "linkConfig.endpoint").rstrip("/")
        url = urlsplit(endpoint if "://" in endpoint else "https://" + endpoint)
        if url.scheme not in ("http", "https") or not url.hostname or url.path or url.query:
            raise config.invalid("linkConfig.endpoint", endpoint, "a URL such as https://dis.<region>.myhuaweicloud.com")
        project = config.get_str(link, "linkConfig.projectId")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", project):
            raise config.invalid("linkConfig.projectId", project, "a project id")
        return cls(config.get_str(link, "linkConfig.region"), f"{url.scheme}://{url.netloc}",
                   config.get_str(link, "linkConfig.ak"), config.get_secret(link, "linkConfig.sk") or "", project)


def _stream(job: Inputs, side: str) -> str:
    config.require(job, f"{side}.streamName")
    name = config.get_str(job, f"{side}.streamName")
    if not _NAME.fullmatch(name):
        raise config.invalid(f"{side}.streamName", name, "a DIS stream name (letters, digits, _ and -)")
    return name


@dataclass(frozen=True)
class DisFrom:
    stream: str
    strategy: str = "LATEST"
    permanent: bool = False
    max_poll_records: int = 1000  # GetRecords limit
    shards: tuple[int, ...] = ()  # empty: every partition of the stream
    records: RecordFormat = RecordFormat()
    app: str = "opencdm"

    @classmethod
    def parse(cls, job: Inputs, link: DisLink) -> DisFrom:
        stream = _stream(job, "fromJobConfig")
        shards = []
        for item in config.get_list(job, "fromJobConfig.shardId", ","):
            digits = item.removeprefix("shardId-")
            if not digits.isdigit():
                raise config.invalid("fromJobConfig.shardId", item, "partition numbers joined by commas, e.g. 0,1")
            shards.append(int(digits))
        poll = config.get_int(job, "fromJobConfig.maxPollRecords", 1000)
        if not 0 < poll <= 10_000:
            raise config.invalid("fromJobConfig.maxPollRecords", poll, "1 to 10000 (DIS's GetRecords limit)")
        app = config.get_str(job, "fromJobConfig.appName") or "opencdm"
        if not _NAME.fullmatch(app):
            raise config.invalid("fromJobConfig.appName", app, "letters, digits, _ and -")
        return cls(stream, config.get_enum(job, "fromJobConfig.disConsumerStrategy", STRATEGIES, "LATEST"),
                   config.get_bool(job, "fromJobConfig.isPermanency"), poll, tuple(sorted(set(shards))),
                   RecordFormat.parse(job), app)


@dataclass(frozen=True)
class DisTo:
    stream: str
    lines: LineFormat = LineFormat()

    @classmethod
    def parse(cls, job: Inputs, link: DisLink) -> DisTo:
        return cls(_stream(job, "toJobConfig"), LineFormat.parse(job))


LINK_INPUTS = (
    string("linkConfig.region", "The region, e.g. cn-north-4.", required=True),
    string("linkConfig.endpoint", "DIS's URL, e.g. https://dis.cn-north-4.myhuaweicloud.com.", required=True),
    string("linkConfig.ak", "The access key (AK).", required=True),
    secret("linkConfig.sk", "The secret key (SK).", required=True),
    string("linkConfig.projectId", "The project the streams belong to.", required=True),
)
_STREAM = "The stream's name."
FROM_INPUTS = (
    string("fromJobConfig.streamName", _STREAM, required=True),
    enum("fromJobConfig.disConsumerStrategy", STRATEGIES, "Where a run starts: new records, the oldest, or after "
                                                          "what this job and appName last committed.",
         default="LATEST"),
    string("fromJobConfig.appName", "The name positions are kept under for FROM_LAST_STOP.", default="opencdm"),
    string("fromJobConfig.shardId", "Partitions to read, numbers joined by commas; default every one."),
    integer("fromJobConfig.maxPollRecords", "Records per GetRecords call, 1 to 10000.", default=1000),
    boolean("fromJobConfig.isPermanency", "Keep reading until the run is stopped."),
    *RECORD_INPUTS,
)
TO_INPUTS = (string("toJobConfig.streamName", _STREAM, required=True), *LINE_INPUTS)
