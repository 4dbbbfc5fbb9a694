"""Engine, sessions and schema upgrades for the registry.

SQLite is the embedded default, configured with the recipe that survived crash tests on this
kind of machine (see STYLE.md): the driver's own transaction handling is switched off and every
write transaction starts with ``BEGIN IMMEDIATE``, so read-then-write sequences (like appending
to the audit chain) never interleave between processes; WAL, ``synchronous=FULL``, foreign
keys and a busy timeout are set on every connection.

PostgreSQL (``postgresql+psycopg://…``, a team's shared registry) gets the same one-writer
discipline by other means: every write transaction starts by taking one transaction-level
advisory lock (``pg_advisory_xact_lock``), released by its commit or rollback, and reads run as
read-only REPEATABLE READ snapshots, as a SQLite reader sees one (see ``_configure_postgresql``).
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


#: The advisory lock every PostgreSQL write transaction holds: a fixed 64-bit number (the first
#: eight bytes of SHA-256("mlwb registry writer")), so the workbenches of a team that share one
#: registry agree on it and nothing else on the server is likely to use it.
PG_WRITER_LOCK = 0x6AE8_5A97_1CC3_3064
#: How long a PostgreSQL writer waits for the writer lock (or any row lock) before it gives up
#: with a clear error; SQLite's busy timeout, a little longer because a team shares the lock.
PG_LOCK_TIMEOUT_MS = 60_000


def _configure_postgresql(engine: Engine) -> None:
    """Serialise writers on PostgreSQL as ``BEGIN IMMEDIATE`` does on SQLite.

    Why a lock and not row locks or SERIALIZABLE: the workbench's write transactions read
    before they write (the audit chain's head before appending event head+1, a job's state
    before claiming it, the newest row of a governed table before binding it to the chain).
    Under PostgreSQL's default READ COMMITTED two writers would both read head N and both
    append N+1 (one then fails on the primary key, or worse, two rows link to the same
    predecessor); SERIALIZABLE would instead abort one of them with a serialization failure
    that every service would have to retry. One transaction-level advisory lock, taken as the
    first statement of every write transaction, lets exactly one writer in at a time, across
    processes and machines, and each of its statements then sees everything committed before
    it got the lock (READ COMMITTED takes a fresh snapshot per statement). The lock goes with
    the commit or rollback, so a crashed writer never leaves it held. Writes are short (the
    parent persists results a worker computed), so one lock costs the team little.
    """

    @event.listens_for(engine, "begin")
    def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
        if conn.get_execution_options().get("mlwb_read_only"):
            return
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_WRITER_LOCK})")


class Database:
    """One registry database: a writer session factory and a read-only one."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.is_postgresql = url.startswith("postgresql")
        kwargs: dict = {}
        read_options: dict = {"mlwb_read_only": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        if self.is_postgresql:
            kwargs["connect_args"] = {"options": f"-c lock_timeout={PG_LOCK_TIMEOUT_MS}",
                                      "application_name": "mlwb"}
            kwargs["pool_pre_ping"] = True  # a team server restarts; a stale pooled connection is retried
            # a reader sees one snapshot for its whole transaction, as a SQLite reader in WAL mode
            # does, and cannot write by mistake (writes take the writer lock: ``write``)
            read_options |= {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        self.engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        if self.is_postgresql:
            _configure_postgresql(self.engine)
        self._writer = sessionmaker(self.engine, expire_on_commit=False)
        self._reader = sessionmaker(self.engine.execution_options(**read_options), expire_on_commit=False)

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back everything on any error.

        A writer that waited too long for the write lock (another process held it past the busy
        or lock timeout) gets a ``WorkbenchError`` that says so, not a driver traceback."""
        from sqlalchemy.exc import OperationalError

        try:
            with self._writer() as session, session.begin():
                yield session
        except OperationalError as exc:
            if not _lock_wait_ran_out(exc):
                raise
            from app.errors import WorkbenchError

            raise WorkbenchError(
                f"the registry {self.display_url} stayed locked by another writer for longer than "
                "the wait allows, and nothing was changed: try again (`mlwb jobs` shows what is running)"
            ) from None

    @property
    def display_url(self) -> str:
        """The URL with its password masked, for messages."""
        from sqlalchemy.engine import make_url

        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; run on every open, a no-op when current."""
        if self.revision() == schema_head():
            return
        self._check_reachable()
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

    def _check_reachable(self) -> None:
        """A registry server that is down or refuses us is the user's to fix: say which URL."""
        if self.is_sqlite:
            return
        from sqlalchemy.exc import OperationalError

        try:
            with self.engine.execution_options(mlwb_read_only=True).connect():
                pass
        except OperationalError as exc:
            from app.errors import WorkbenchError

            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise WorkbenchError(f"cannot reach the registry {self.display_url} ({reason}): start the "
                                 "database server or correct MLWB_DATABASE_URL") from None

    def dispose(self) -> None:
        self.engine.dispose()


def _lock_wait_ran_out(exc: BaseException) -> bool:
    """Did this driver error mean "waited for another writer's lock until the timeout"?
    SQLite says "database is locked"; PostgreSQL raises lock_not_available (SQLSTATE 55P03)."""
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) == "55P03" or "database is locked" in str(orig or exc)


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg
