"""Engine and session factory for the metadata store (SQLite in WAL mode, or PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker


def now_ms() -> int:
    return int(time.time() * 1000)


def make_engine(url: str) -> Engine:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # WAL: readers never wait for the writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            dbapi_conn.isolation_level = None  # pysqlite must not emit its own BEGIN; the hook below does

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:
            # A unit of work takes the write lock up front (no deadlock on a lock upgrade); a read-only
            # one (Store.reading) begins deferred: under WAL it neither waits for writers nor holds them up.
            conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("opencdm_read_only") else
                                 "BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Store:
    """The metadata store of one server: an engine plus a session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.readers = sessionmaker(self.engine.execution_options(opencdm_read_only=True), expire_on_commit=False)

    def migrate(self) -> None:
        upgrade(self.engine)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on any exception."""
        with self.sessions() as session:
            with session.begin():
                yield session
            for callback in session.info.pop("after_commit", []):  # e.g. queue a run once its row is visible
                callback()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only unit of work (status polls, listings, authentication): never writes, so on SQLite
        it does not queue behind the runs' progress writes; rolled back at the end."""
        with self.readers() as session:
            try:
                yield session
                if session.new or session.dirty or session.deleted:
                    raise RuntimeError("Store.reading() is read-only: use Store.session() to write")
            finally:
                session.rollback()

    def close(self) -> None:
        self.engine.dispose()
