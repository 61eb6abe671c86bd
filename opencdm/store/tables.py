"""Metadata tables. Every resource row carries its ``project_id``; every query filters on it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Credential(Base):
    """An AK/SK pair for SDK-HMAC-SHA256 signing; the SK is encrypted with the server key."""

    __tablename__ = "credentials"
    ak: Mapped[str] = mapped_column(String(64), primary_key=True)
    sk_encrypted: Mapped[str] = mapped_column(Text)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    user_name: Mapped[str] = mapped_column(String(255), default="cdm")
    created: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    """A user who can get an IAM-style token with the password method."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    created: Mapped[int] = mapped_column(BigInteger)


class Token(Base):
    """An issued X-Auth-Token; only its SHA-256 is stored."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    expires_at: Mapped[int] = mapped_column(BigInteger)  # epoch ms


class SeenSignature(Base):
    """A state-changing AK/SK request already accepted: a second request with its signature is a replay.
    Kept for twice the allowed clock skew, in the store so that every server of a deployment agrees."""

    __tablename__ = "seen_signatures"
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[int] = mapped_column(BigInteger, index=True)  # epoch ms


class Cluster(Base):
    __tablename__ = "clusters"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(8))  # CDM status code as a string: "100", "200", "900", ...
    flavor_id: Mapped[str] = mapped_column(String(64))
    created: Mapped[int] = mapped_column(BigInteger)  # epoch ms; rendered as ISO-8601 on the wire
    updated: Mapped[int] = mapped_column(BigInteger)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the create body's cluster fields + modify


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    connector_name: Mapped[str] = mapped_column(String(128))
    #: ``link-config-values`` as received, sensitive input values replaced by ciphertext.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    creation_user: Mapped[str] = mapped_column(String(255))
    creation_date: Mapped[int] = mapped_column(BigInteger)
    update_user: Mapped[str] = mapped_column(String(255))
    update_date: Mapped[int] = mapped_column(BigInteger)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("cluster_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    job_type: Mapped[str] = mapped_column(String(32), default="NORMAL_JOB")
    from_connector: Mapped[str] = mapped_column(String(128))
    to_connector: Mapped[str] = mapped_column(String(128))
    from_link: Mapped[str] = mapped_column(String(255))
    to_link: Mapped[str] = mapped_column(String(255))
    from_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    to_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    driver_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Top-level job fields we do not model, stored as given and echoed back.
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    creation_user: Mapped[str] = mapped_column(String(255))
    creation_date: Mapped[int] = mapped_column(BigInteger)
    update_user: Mapped[str] = mapped_column(String(255))
    update_date: Mapped[int] = mapped_column(BigInteger)


class Submission(Base):
    """One run of a job."""

    __tablename__ = "submissions"
    #: submission-id only grows (spec §14.5): SQLite must not reuse the ids of deleted rows
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)  # submission-id
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    cluster_id: Mapped[str] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"), index=True)
    #: None once the job was deleted by its own ``disposableType``: the run stays readable by job name.
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True, nullable=True)
    job_name: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(32), index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    external_id: Mapped[str] = mapped_column(String(128), default="")
    creation_user: Mapped[str] = mapped_column(String(255))
    creation_date: Mapped[int] = mapped_column(BigInteger)
    execute_date: Mapped[int] = mapped_column(BigInteger, default=0)
    last_update_date: Mapped[int] = mapped_column(BigInteger)
    rows_read: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_written: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_read: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_written: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_dirty: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    files_read: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    files_written: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    files_skipped: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_files: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_size: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    is_execute_auto: Mapped[bool] = mapped_column(Boolean, default=False)
    is_delete_job: Mapped[bool] = mapped_column(Boolean, default=False)
    variables: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_details: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: The tables of an entire-database run (BATCH_JOB): one entry each with its status and counters.
    sub_jobs: Mapped[list[Any] | None] = mapped_column(nullable=True)
    #: A resumable run's plan and finished partitions (``engine.checkpoint``), kept while its staging is.
    checkpoint: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    #: How the run writes its target (``Loader.write_path``), once it has prepared it.
    write_path: Mapped[str | None] = mapped_column(Text, nullable=True)


class JobSchedule(Base):
    """Where a scheduled job stands: the planned time of its last started run (before the first run,
    when the schedule was enabled) and its next planned time, epoch ms. Servers claim a planned run
    by moving ``next_planned`` on from the value they read (compare and set), so it starts once."""

    __tablename__ = "job_schedules"
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    last_planned: Mapped[int] = mapped_column(BigInteger)
    next_planned: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    #: The scheduler inputs this state was computed from; a change of them starts the schedule afresh.
    config: Mapped[str] = mapped_column(Text)


class StreamPosition(Base):
    """Where a job's stream source (Kafka, DIS) got to: saved only after the destination committed the
    records before it. ``source`` names the stream and consumer (``dis:stream/app``); ``positions`` maps a
    shard or partition to the next record to read."""

    __tablename__ = "stream_positions"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    source: Mapped[str] = mapped_column(String(512), primary_key=True)
    positions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated: Mapped[int] = mapped_column(BigInteger)
