"""Which registry the tests' workspaces use: their SQLite file, or on a PostgreSQL server
(``MLWB_TEST_DATABASE_URL``) a fresh database each. A module of its own, not part of
``conftest``: pytest imports ``conftest`` under that name while tests import
``tests.conftest``, two copies that would each keep their own list of databases.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

#: The PostgreSQL server the suite runs against (its maintenance database), or "" for SQLite.
PG_ADMIN_URL = os.environ.get("MLWB_TEST_DATABASE_URL", "")
ON_POSTGRESQL = PG_ADMIN_URL.startswith("postgresql")
#: For tests that read or write the SQLite file itself (its bytes, PRAGMAs, the backup API).
sqlite_only = pytest.mark.skipif(ON_POSTGRESQL, reason="reads the registry's SQLite file itself; "
                                 "the suite runs on PostgreSQL (MLWB_TEST_DATABASE_URL)")
#: The databases this process made per home (home → URL), and those to drop after this test.
_HOME_URLS: dict[Path, str] = {}
_TO_DROP: list[str] = []


def _pg_admin(sql: str) -> None:
    """Run one statement on the server's maintenance database, outside a transaction (CREATE and
    DROP DATABASE refuse to run inside one)."""
    import psycopg
    from sqlalchemy.engine import make_url

    conninfo = make_url(PG_ADMIN_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql)


def _new_database(name: str, *, template: str | None = None) -> str:
    """CREATE DATABASE ``name`` (a copy of ``template`` when given); its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url

    _pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    return make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return str(make_url(url).database)


def use_registry(monkeypatch: pytest.MonkeyPatch, home: Path, *, template_of: Path | None = None,
                  keep: bool = False) -> None:
    """On PostgreSQL, give ``home`` a fresh database (a copy of ``template_of``'s when given) and
    point ``MLWB_DATABASE_URL`` at it; it is dropped after the test unless ``keep``."""
    if not ON_POSTGRESQL:
        monkeypatch.delenv("MLWB_DATABASE_URL", raising=False)
        return
    template = _database_name(_HOME_URLS[template_of.resolve()]) if template_of is not None else None
    url = _new_database(f"mlwbt_{uuid.uuid4().hex[:20]}", template=template)
    _HOME_URLS[home.resolve()] = url
    if not keep:
        _TO_DROP.append(url)
    monkeypatch.setenv("MLWB_DATABASE_URL", url)


def registry_env(home: Path, *, keep: bool = False) -> dict[str, str]:
    """The environment entry for an ``mlwb`` subprocess whose new workspace is ``home``: on
    PostgreSQL a fresh database made for it (dropped after the test unless ``keep``, for a
    module-scoped workspace), on SQLite none (the workspace's own file; the caller drops any
    inherited ``MLWB_DATABASE_URL``)."""
    if not ON_POSTGRESQL:
        return {}
    url = _new_database(f"mlwbt_{uuid.uuid4().hex[:20]}")
    _HOME_URLS[home.resolve()] = url
    if not keep:
        _TO_DROP.append(url)
    return {"MLWB_DATABASE_URL": url}


def registry_url(home: Path) -> str:
    """The registry URL of the workspace at ``home`` in this test (for a subprocess's environment)."""
    return _HOME_URLS.get(home.resolve(), "") or f"sqlite:///{home / 'registry.sqlite3'}"


class RawRegistry:
    """A plain DB-API connection to a workspace's registry, past the workbench: what someone with
    database access could do. SQL is written with ``?`` placeholders (SQLite's); on PostgreSQL
    they become ``%s``."""

    def __init__(self, where: Path) -> None:
        home = where.parent if where.name == "registry.sqlite3" else where
        self.url = _HOME_URLS.get(home.resolve())
        if self.url is None:
            self.connection: Any = sqlite3.connect(home / "registry.sqlite3")
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            self.connection = psycopg.connect(
                make_url(self.url).set(drivername="postgresql").render_as_string(hide_password=False))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.url is not None:
            sql = sql.replace("%", "%%").replace("?", "%s")
        return self.connection.execute(sql, tuple(params))

    def commit(self) -> None:
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> RawRegistry:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            self.commit()
        self.close()


def raw_registry(where: Path) -> RawRegistry:
    """The registry of the workspace at ``where`` (its home, or its ``registry.sqlite3`` path)."""
    return RawRegistry(where)


def snapshot_registry(home: Path, to: Path) -> str:
    """A copy of the registry of ``home`` as it is now, kept aside (an attacker's backup): the
    SQLite file copied to ``to`` with the backup API, or on PostgreSQL a database made with
    ``CREATE DATABASE … TEMPLATE`` (no workbench may hold it open). For ``restore_registry``."""
    url = url_of(home)
    if not url:
        with sqlite3.connect(home / "registry.sqlite3") as live, sqlite3.connect(to) as copy:
            live.backup(copy)
        return str(to)
    copy_url = _new_database(f"mlwbt_{uuid.uuid4().hex[:20]}", template=_database_name(url))
    _TO_DROP.append(copy_url)
    return copy_url


def restore_registry(home: Path, snapshot: str) -> None:
    """Roll the registry of ``home`` back to ``snapshot`` (rows and events alike): the file
    overwritten through the backup API, or the database dropped and made again from the copy."""
    url = url_of(home)
    if not url:
        with sqlite3.connect(snapshot) as copy, sqlite3.connect(home / "registry.sqlite3") as live:
            copy.backup(live)
        return
    name = _database_name(url)
    _drop(name)
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{_database_name(snapshot)}"')


def drop_made() -> None:
    """Drop the PostgreSQL databases made since the last call (``WITH (FORCE)``: a workbench the
    test left open still holds connections)."""
    while _TO_DROP:
        url = _TO_DROP.pop()
        for home in [h for h, u in _HOME_URLS.items() if u == url]:
            del _HOME_URLS[home]
        _drop(_database_name(url))


def _drop(name: str) -> None:
    """DROP DATABASE … WITH (FORCE). FORCE terminates the connections still open, which needs
    membership of ``pg_signal_backend`` for a backend another role owns (an autovacuum worker
    caught at work on the test's tables); without it, a few tries while that worker finishes."""
    import time

    import psycopg

    for attempt in range(20):
        try:
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.errors.InsufficientPrivilege:
            if attempt == 19:
                raise
            time.sleep(0.25)


def remember(home: Path, url: str) -> None:
    """``home``'s registry is ``url`` (a database another xdist worker made: the demo's)."""
    _HOME_URLS[home.resolve()] = url


def url_of(home: Path) -> str:
    """The PostgreSQL URL this process made for ``home``, or "" (a SQLite workspace)."""
    return _HOME_URLS.get(home.resolve(), "")
