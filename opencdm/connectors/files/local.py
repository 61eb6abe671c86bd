"""``local-file-connector`` (an opencdm extension): files on the opencdm machine, for the embedded
default. Every path, and every file a listing finds (symlinks followed), must resolve inside the
project's file root or a shared root the operator opened (``OPENCDM_SHARED_FILE_ROOTS``); ``..``,
absolute paths elsewhere and symlinks that lead out are refused with Cdm.0014.

Link input: ``linkConfig.directory`` (optional): the directory relative job paths start from
(itself relative to the project's file root, which is the default).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs

from opencdm.connectors import config, register
from opencdm.connectors.base import ConnectorContext, Inputs
from opencdm.connectors.files import FileConnector
from opencdm.connectors.files.paths import confine
from opencdm.connectors.files.store import FileLink
from opencdm.connectors.inputs import string


@dataclass(frozen=True)
class LocalLink(FileLink):
    directory: str = ""

    @classmethod
    def parse(cls, link: Inputs) -> LocalLink:
        return cls(config.get_str(link, "linkConfig.directory") or "")

    def _base(self, ctx: ConnectorContext) -> str:
        return str(confine(self.directory or ".", ctx, "linkConfig.directory"))

    def filesystem(self, ctx: ConnectorContext) -> pafs.FileSystem:
        return pafs.LocalFileSystem()

    def location(self, bucket: str | None, directory: str, ctx: ConnectorContext, name: str) -> str:
        return confine(directory, ctx, name, base=self._base(ctx)).as_posix()

    def confined(self, path: str, ctx: ConnectorContext) -> bool:
        confine(path, ctx, "a listed file")
        return True

    def check(self, ctx: ConnectorContext) -> None:
        self._base(ctx)


@register
class LocalFileConnector(FileConnector):
    name = "local-file-connector"
    link_config = LocalLink
    link_inputs = (string("linkConfig.directory", "Directory relative job paths start from, itself relative to the "
                                                  "project's file root (the default)."),)
    sensitive_inputs = frozenset()
