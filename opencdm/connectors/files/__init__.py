"""File and object-storage connectors: ``obs-connector`` (any S3 API), ``sftp-connector``,
``ftp-connector`` and ``local-file-connector`` (an opencdm extension, confined to the project's
file roots). They differ only in their link (``store.FileLink``): listing, splitting, reading,
writing, staging and publishing are written once here, and the record formats live in
``connectors.formats``.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from opencdm.connectors import config
from opencdm.connectors.base import Connector, ConnectorContext, Extractor, Inputs, Loader
from opencdm.connectors.files.extract import FileExtractor
from opencdm.connectors.files.load import FileLoader
from opencdm.connectors.files.options import FROM_INPUTS, TO_INPUTS, FileFrom, FileTo
from opencdm.connectors.files.store import FileLink
from opencdm.errors import InvalidInput


class FileConnector(Connector):
    """The shared behaviour; a subclass names itself and its link class."""

    macro_inputs = frozenset({"fromJobConfig.inputDirectory", "fromJobConfig.fileFilter", "fromJobConfig.pathFilter",
                              "fromJobConfig.startTime", "fromJobConfig.endTime", "toJobConfig.outputDirectory",
                              "toJobConfig.filePrefix"})
    time_inputs = frozenset({"fromJobConfig.startTime", "fromJobConfig.endTime"})

    link_config: ClassVar[type[FileLink]]
    from_config, to_config = FileFrom, FileTo
    from_inputs, to_inputs = FROM_INPUTS, TO_INPUTS
    #: Unreadable source records go to dirty data; a file store never rejects a written row.
    records_dirty = True

    def check_link(self, link: Inputs, ctx: ConnectorContext) -> None:
        self.link_config.parse(link).check(ctx)

    def check_job(self, link: Inputs, job: Inputs, direction: str, ctx: ConnectorContext) -> None:
        super().check_job(link, job, direction, ctx)
        store = self.link_config.parse(link)
        if direction == "from":
            cfg = FileFrom.parse(job, store)
            for d in cfg.directories:
                store.location(cfg.bucket, d, ctx, "fromJobConfig.inputDirectory")
        else:
            cfg = FileTo.parse(job, store)
            store.location(cfg.bucket, cfg.directory, ctx, "toJobConfig.outputDirectory")

    def batch_job(self, job: Inputs, item: str, direction: str) -> Inputs:
        """Tables of an entire-database job go to a folder each, named as the table, under outputDirectory."""
        if direction != "to":
            return super().batch_job(job, item, direction)
        if config.given(job, "toJobConfig.columnList"):
            raise InvalidInput("toJobConfig.columnList does not apply to an entire-database job (BATCH_JOB).",
                               code="Cdm.0014")
        base = str(job.get("toJobConfig.outputDirectory") or "").rstrip("/")
        return {**job, "toJobConfig.outputDirectory": f"{base}/{item}" if base else item}

    def dirty_job(self, target: str, create: bool, bucket: str | None = None) -> Inputs:
        """Dirty rows as JSON lines, one file per flush, under ``target`` (in ``bucket`` for OBS)."""
        if self.link_config.buckets and not bucket:
            raise InvalidInput("throttlingConfig.obsBucket is required when dirty data goes to an OBS link.",
                               code="Cdm.0238")
        job = {"toJobConfig.outputDirectory": target, "toJobConfig.outputFormat": "JSON_FILE",
               "toJobConfig.filePrefix": f"dirty-{uuid.uuid4().hex[:12]}-"}
        if bucket:
            if not self.link_config.buckets:
                raise InvalidInput(f"throttlingConfig.obsBucket: links of {self.name} have no buckets.",
                                   code="Cdm.0014")
            job["toJobConfig.bucketName"] = bucket
        return job

    def extractor(self, link: Inputs, job: Inputs, ctx: ConnectorContext) -> Extractor:
        return FileExtractor(self.link_config.parse(link), link, job, ctx)

    def loader(self, link: Inputs, job: Inputs, ctx: ConnectorContext, run_id: str) -> Loader:
        return FileLoader(self.link_config.parse(link), link, job, ctx, run_id)


# the connectors register themselves on import
from opencdm.connectors.files import local, obs, remote  # noqa: E402,F401
