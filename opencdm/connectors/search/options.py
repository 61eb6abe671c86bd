"""The inputs of ``elasticsearch-connector`` (spec §10.12, §11.12) parsed once into frozen objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa

from opencdm.connectors import config
from opencdm.connectors.base import Inputs
from opencdm.connectors.inputs import boolean, enum, secret, string
from opencdm.errors import InvalidInput

LINK_TYPES = ("CSS", "ELASTICSEARCH", "OPENSEARCH")

#: ``columnList`` types (Elasticsearch field types and CDM's ``string``) -> Arrow.
FIELD_TYPES = {
    "long": pa.int64(), "integer": pa.int32(), "int": pa.int32(), "short": pa.int16(), "byte": pa.int8(),
    "double": pa.float64(), "float": pa.float32(), "half_float": pa.float32(), "scaled_float": pa.float64(),
    "boolean": pa.bool_(), "string": pa.string(), "text": pa.string(), "keyword": pa.string(),
    "date": pa.string(), "ip": pa.string(), "nested": pa.string(), "object": pa.string(), "geo_point": pa.string(),
}


@dataclass(frozen=True)
class EsLink:
    hosts: tuple[tuple[str, int], ...]
    link_type: str
    safemode: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    https: bool = False

    @classmethod
    def parse(cls, link: Inputs) -> EsLink:
        config.require(link, "linkConfig.host", "linkConfig.linkType")
        hosts = config.get_hosts(link, "linkConfig.host", ";")
        safemode = config.get_bool(link, "linkConfig.safemode")
        if safemode:
            config.require(link, "linkConfig.user", "linkConfig.password")
        kind = config.get_str(link, "linkConfig.linkType").upper()
        if kind not in LINK_TYPES:
            raise config.invalid("linkConfig.linkType", kind, "one of " + ", ".join(LINK_TYPES))
        return cls(tuple(hosts), kind, safemode, config.get_str(link, "linkConfig.user"),
                   config.get_secret(link, "linkConfig.password"), config.get_bool(link, "linkConfig.httpsAccess"))

    @property
    def auth(self) -> tuple[str, str] | None:
        return (self.user or "", self.password or "") if self.safemode else None


@dataclass(frozen=True)
class EsFrom:
    index: str
    doc_type: str | None = None  # accepted; servers since 7 have no types (one per index)
    columns: tuple[tuple[str, str], ...] = ()  # (name, type) from columnList
    split_nested: bool = False
    query: str | None = None

    @classmethod
    def parse(cls, job: Inputs, link: EsLink) -> EsFrom:
        config.require(job, "fromJobConfig.index")
        index = config.get_str(job, "fromJobConfig.index")
        if any(c in index for c in "/?#\\ ") or index.startswith(("_", "-")):
            raise config.invalid("fromJobConfig.index", index, "index names, wildcards and commas")
        columns = []
        for item in config.get_list(job, "fromJobConfig.columnList"):
            name, sep, kind = item.partition(":")
            kind = (kind.strip() or "string").lower()
            if not name.strip() or kind not in FIELD_TYPES:
                raise InvalidInput(f"fromJobConfig.columnList item [{item}] must be name:type with a type among "
                                   f"{', '.join(sorted(FIELD_TYPES))}.", code="Cdm.0014")
            columns.append((name.strip(), kind))
        return cls(index, config.get_str(job, "fromJobConfig.type"), tuple(columns),
                   config.get_bool(job, "fromJobConfig.splitNestedField"),
                   config.get_str(job, "fromJobConfig.queryString"))


ROLLING = {"EveryHour": "%Y%m%d%H", "EveryDay": "%Y%m%d", "EveryWeek": "%G%V", "EveryMonth": "%Y%m"}


@dataclass(frozen=True)
class EsTo:
    index: str
    doc_type: str | None = None  # accepted; servers since 7 have one type per index
    clear: bool = False  # shouldClearType: the target's documents are deleted at commit, before the new ones
    primary_key: tuple[str, ...] = ()  # columns whose values make the document _id
    columns: tuple[str, ...] = ()  # target field names of the source columns, in order
    pipeline: str | None = None
    rolling: str | None = None  # createIndexStrategy: a strftime suffix of ROLLING

    @classmethod
    def parse(cls, job: Inputs, link: EsLink) -> EsTo:
        config.require(job, "toJobConfig.index")
        index = config.get_str(job, "toJobConfig.index")
        if any(c in index for c in "/?#\\ ,*\"<>|") or index.startswith(("_", "-", "+", ".")) or index != index.lower():
            raise config.invalid("toJobConfig.index", index, "one lower-case index name")
        strategy = config.get_str(job, "toJobConfig.createIndexStrategy")
        if strategy is not None and strategy not in ROLLING:
            raise config.invalid("toJobConfig.createIndexStrategy", strategy, "one of " + ", ".join(ROLLING))
        pipeline = config.get_str(job, "toJobConfig.pipeLine")
        if pipeline is not None and any(c in pipeline for c in "/?#&% "):
            raise config.invalid("toJobConfig.pipeLine", pipeline, "an ingest pipeline id")
        return cls(index, config.get_str(job, "toJobConfig.type"), config.get_bool(job, "toJobConfig.shouldClearType"),
                   tuple(re.split(r"[,&]\s*", config.get_str(job, "toJobConfig.primaryKey") or "")) if
                   config.given(job, "toJobConfig.primaryKey") else (),
                   tuple(c.strip() for c in config.get_list(job, "toJobConfig.columnList") if c.strip()),
                   pipeline, ROLLING.get(strategy) if strategy else None)


_TYPE = "Accepted for CDM's clients and not used: servers since Elasticsearch 7 have one type per index."
LINK_INPUTS = (
    string("linkConfig.host", "Nodes as ip:port joined by ;, tried in turn.", required=True),
    enum("linkConfig.linkType", LINK_TYPES, "The cluster's kind (any letter case).", required=True),
    boolean("linkConfig.httpsAccess", "Talk to the cluster over https."),
    boolean("linkConfig.safemode", "The cluster is secured: log in with user and password."),
    string("linkConfig.user", "User to log in as; required when safemode is true."),
    secret("linkConfig.password", "Password of the user; required when safemode is true."),
)
FROM_INPUTS = (
    string("fromJobConfig.index", "Indexes to read: names, wildcards and commas.", required=True),
    string("fromJobConfig.type", _TYPE),
    string("fromJobConfig.columnList", "Fields to read as name:type joined by &; default from the index mapping."),
    boolean("fromJobConfig.splitNestedField", "Object fields become parent.child columns."),
    string("fromJobConfig.queryString", "A query-string filter the documents read must match."),
)
TO_INPUTS = (
    string("toJobConfig.index", "The target index (one lower-case name).", required=True),
    string("toJobConfig.type", _TYPE),
    string("toJobConfig.primaryKey", "Columns, joined by , or &, whose values make the document _id."),
    string("toJobConfig.columnList", "Field names for the source columns, by position, joined by &."),
    boolean("toJobConfig.shouldClearType", "Delete the index's documents at commit, before the new ones."),
    string("toJobConfig.pipeLine", "An ingest pipeline the documents pass through."),
    enum("toJobConfig.createIndexStrategy", tuple(ROLLING), "Add the hour, day, ISO week or month (UTC, at "
                                                            "commit) to the index name."),
)
