"""Engine, sessions and schema upgrades for the registry.

SQLite is the embedded default, configured with the recipe that survived crash tests on this
kind of machine (see STYLE.md): the driver's own transaction handling is switched off and every
write transaction starts with ``BEGIN IMMEDIATE``, so read-then-write sequences (like appending
to the audit chain) never interleave between processes; WAL, ``synchronous=FULL``, foreign
keys and a busy timeout are set on every connection.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def schema_head() -> str:
    """The newest migration's revision, read from the file names (``0006_….py`` is revision
    0006): a registry already there needs no upgrade, and knowing that costs a directory listing
    and one row instead of importing Alembic and parsing every script (0.2 s of every command's
    start). ``tests/test_storage.py`` checks it is Alembic's own head."""
    return max(p.name.partition("_")[0] for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
BUSY_TIMEOUT_MS = 15_000


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        mode = "DEFERRED" if conn.get_execution_options().get("mlwb_read_only") else "IMMEDIATE"
        conn.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One registry database: a writer session factory and a read-only one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(
            self.engine.execution_options(mlwb_read_only=True), expire_on_commit=False
        )

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back everything on any error."""
        with self._writer() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; run on every open, a no-op when current."""
        if self.revision() == schema_head():
            return
        from alembic import command

        with self.engine.connect() as connection:
            cfg = alembic_config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            if connection.in_transaction():
                connection.commit()

    def revision(self) -> str | None:
        """The schema revision the registry records, or None (a new or foreign database)."""
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        try:
            with self.engine.execution_options(mlwb_read_only=True).connect() as connection:
                return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError:
            return None

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg
