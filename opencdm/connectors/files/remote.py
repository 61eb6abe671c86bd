"""``sftp-connector`` and ``ftp-connector``: one link shape (server, port, username, password), each
through fsspec's implementation (paramiko for SFTP, the standard library's ftplib for FTP) wrapped
as a ``pyarrow.fs`` file system, so they share every reader and writer with OBS and local files.
Paths are the server's: absolute, or relative to the login directory. SFTP never uses the
opencdm host's own SSH keys or agent, only the link's password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pyarrow.fs as pafs

from opencdm.connectors import config, egress, register
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.files import FileConnector
from opencdm.connectors.files.store import FileLink, guarded
from opencdm.connectors.inputs import integer, secret, string
from opencdm.errors import InvalidInput
from opencdm.text import has_control


@dataclass(frozen=True)
class ServerLink(FileLink):
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    protocol: ClassVar[str] = ""
    concurrent = False

    @classmethod
    def parse(cls, link: Inputs) -> ServerLink:
        config.require(link, "linkConfig.server", "linkConfig.port", "linkConfig.username", "linkConfig.password")
        port = config.get_int(link, "linkConfig.port")
        if not 0 < port < 65536:
            raise config.invalid("linkConfig.port", port, "a TCP port")
        host = config.get_str(link, "linkConfig.server")
        if "/" in host or has_control(host):
            raise config.invalid("linkConfig.server", host, "a host name or address")
        return cls(host, port, config.get_str(link, "linkConfig.username"),
                   config.get_secret(link, "linkConfig.password"))

    def location(self, bucket: str | None, directory: str, ctx: ConnectorContext, name: str) -> str:
        if has_control(directory):
            raise InvalidInput(f"{name} must not contain control characters.", code="Cdm.0014")
        return directory.rstrip("/") or "/"

    def filesystem(self, ctx: ConnectorContext) -> pafs.FileSystem:
        address = egress.address(self.host, self.port, ctx, "linkConfig.server")
        return pafs.PyFileSystem(pafs.FSSpecHandler(guarded(lambda: self._fsspec(address), "login")))

    def _fsspec(self, address: str):
        raise NotImplementedError

    def check(self, ctx: ConnectorContext) -> None:
        fs = self.filesystem(ctx)
        guarded(lambda: fs.get_file_info("/"), "login")


class SftpLink(ServerLink):
    protocol = "sftp"

    def _fsspec(self, address: str):
        from fsspec.implementations.sftp import SFTPFileSystem

        class Pipelined(SFTPFileSystem):
            def _open(self, path, mode="rb", block_size=None, **kwargs):
                f = super()._open(path, mode, block_size, **kwargs)
                if "w" in mode:
                    f.set_pipelined(True)  # writes without a round trip per 32 KiB block
                return f

            def mv(self, path1, path2, recursive=False, maxdepth=None, **kwargs):
                super().mv(path1, path2)  # pyarrow's handler passes recursive=, which this mv lacks

        return Pipelined(address, port=self.port, username=self.username, password=self.password,
                              look_for_keys=False, allow_agent=False, timeout=30, skip_instance_cache=True)


class FtpLink(ServerLink):
    protocol = "ftp"

    def _fsspec(self, address: str):
        from fsspec.implementations.ftp import FTPFileSystem

        return FTPFileSystem(address, port=self.port, username=self.username, password=self.password,
                             timeout=30, skip_instance_cache=True, use_listings_cache=False)


LINK_INPUTS = (
    string("linkConfig.server", "Host name or address of the server.", required=True),
    integer("linkConfig.port", "The server's TCP port.", required=True),
    string("linkConfig.username", "User to log in as.", required=True),
    secret("linkConfig.password", "Password of the user.", required=True),
)


@register
class SftpConnector(FileConnector):
    name = "sftp-connector"
    link_config = SftpLink
    link_inputs = LINK_INPUTS


@register
class FtpConnector(FileConnector):
    name = "ftp-connector"
    link_config = FtpLink
    link_inputs = LINK_INPUTS
