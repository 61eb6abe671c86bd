"""``obs-connector``: OBS and any store speaking the S3 API, through ``pyarrow.fs.S3FileSystem``
(C++, multipart uploads in parallel, no Python in the byte path). Path-style addressing, so
Ceph RGW, MinIO and the like work as well as OBS. ``linkConfig.port`` 443 means https and 80
http, as CDM documents; a scheme written into ``linkConfig.server`` (``http://host``) wins, and any
other port means https.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import pyarrow.fs as pafs

from opencdm.connectors import config, egress, register
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.files import FileConnector
from opencdm.connectors.files.options import FROM_INPUTS, TO_INPUTS, bucket_inputs
from opencdm.connectors.files.store import FileLink, guarded
from opencdm.connectors.inputs import enum, integer, secret, string
from opencdm.errors import InvalidInput
from opencdm.text import has_control

STORAGE_TYPES = ("OBS", "S3", "OSS")
_REGION = re.compile(r"^(?:obs|s3)[.-]([a-z0-9-]+)\.(?:myhuaweicloud\.com|amazonaws\.com)$")


@dataclass(frozen=True)
class ObsLink(FileLink):
    storage_type: str
    scheme: str
    host: str
    port: int
    access_key: str
    secret_key: str = field(repr=False)
    buckets = True

    @classmethod
    def parse(cls, link: Inputs) -> ObsLink:
        config.require(link, "linkConfig.storageType", "linkConfig.server", "linkConfig.port",
                       "linkConfig.accessKey", "linkConfig.securityKey")
        server = config.get_str(link, "linkConfig.server")
        port = config.get_int(link, "linkConfig.port")
        if not 0 < port < 65536:
            raise config.invalid("linkConfig.port", port, "a TCP port")
        scheme = "http" if port == 80 else "https"
        for prefix in ("http://", "https://"):
            if server.lower().startswith(prefix):
                scheme, server = prefix[:-3], server[len(prefix):]
        host = server.rstrip("/")
        if not host or "/" in host or "@" in host or has_control(host):
            raise config.invalid("linkConfig.server", server, "a host name or address")
        return cls(config.get_enum(link, "linkConfig.storageType", STORAGE_TYPES), scheme, host, port,
                   config.get_str(link, "linkConfig.accessKey"), config.get_secret(link, "linkConfig.securityKey"))

    def filesystem(self, ctx: ConnectorContext) -> pafs.FileSystem:
        # The AWS SDK inside pyarrow sends its new default checksums with streamed uploads, which stores
        # that are not AWS (Ceph RGW, OBS) refuse (411 MissingContentLength); only when a request needs them.
        os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
        os.environ.setdefault("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
        address = egress.address(self.host, self.port, ctx, "linkConfig.server")
        host = f"[{address}]" if ":" in address else address
        return pafs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key, scheme=self.scheme,
                                 endpoint_override=f"{host}:{self.port}", region=self.region,
                                 force_virtual_addressing=False, connect_timeout=10, request_timeout=60,
                                 allow_bucket_creation=False, allow_bucket_deletion=False)

    @property
    def region(self) -> str:
        """The signing region: read from an OBS or AWS endpoint name (``obs.cn-north-4.myhuaweicloud.com``,
        ``s3.eu-west-1.amazonaws.com``); ``us-east-1`` for any other store, which ignores it."""
        m = _REGION.match(self.host.lower())
        return m[1] if m else "us-east-1"

    def location(self, bucket: str | None, directory: str, ctx: ConnectorContext, name: str) -> str:
        if not bucket or "/" in bucket or has_control(bucket):
            raise InvalidInput(f"Invalid bucket name [{bucket}].", code="Cdm.0014")
        if has_control(directory) or any(p == ".." for p in directory.split("/")):
            raise InvalidInput(f"{name} [{directory}] must not contain '..' or control characters.", code="Cdm.0014")
        path = "/".join(p for p in directory.split("/") if p and p != ".")  # with or without a leading /
        return f"{bucket}/{path}" if path else bucket

    def check(self, ctx: ConnectorContext) -> None:
        fs = self.filesystem(ctx)
        guarded(lambda: fs.get_file_info(pafs.FileSelector("", recursive=False)), "listing buckets")


LINK_INPUTS = (
    enum("linkConfig.storageType", STORAGE_TYPES, "The store's kind; all three speak the S3 API.", required=True),
    string("linkConfig.server", "Host name or address of the endpoint; http:// or https:// may lead it.",
           required=True),
    integer("linkConfig.port", "The endpoint's port: 443 means https, 80 http, any other https.", required=True),
    string("linkConfig.accessKey", "The access key (AK).", required=True),
    secret("linkConfig.securityKey", "The secret key (SK).", required=True),
)


@register
class ObsConnector(FileConnector):
    name = "obs-connector"
    link_config = ObsLink
    link_inputs, from_inputs, to_inputs = LINK_INPUTS, bucket_inputs(FROM_INPUTS), bucket_inputs(TO_INPUTS)
    sensitive_inputs = frozenset({"linkConfig.securityKey"})
