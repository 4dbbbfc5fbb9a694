"""The prediction log's writer: every scored request becomes a ``PredictionLog`` row, and a
request is acknowledged only once its row is committed (group commit).

One thread owns the writes. It takes every row waiting at that moment (up to ``max_rows``),
inserts them in one transaction, commits, and only then resolves each row's future, which the
request thread is waiting on before it answers. Under load, rows arriving during a commit form
the next batch, so a busy service commits a few times per millisecond-scale round, never once
per request; an idle one commits each request alone (about 0.4 ms with ``synchronous=FULL`` on
the development machine). A committed row survives a ``kill -9`` of the server, and with
``synchronous=FULL`` (set on every connection, see ``storage.database``) a power loss too, as far
as the disk honours its flushes.

The other model's answer (shadow, or the canary's counterpart) arrives later, from its own
thread: it is written as an update of the committed row (``add_other``), so no response waits for
the other model. A crash before that update leaves the row without ``other_prediction``, which
readers already treat as a shadow that did not answer.

What a row holds is described in ``app.services.serving`` (it builds them); ``release_analysis``
and ``monitoring_batches`` (with ``monitoring_analysis``) read them.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from app.errors import WorkbenchError
from app.services.workbench import Workbench
from storage.models import PredictionLog

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 64  # PredictionLog.request_id is String(64)


class LogNotWritten(WorkbenchError):
    """A row could not be committed to the prediction log (the database is locked, full or unwritable)."""


def logged_request_ids(wb: Workbench, prefix: str) -> set[str]:
    """The request ids already in the log that start with ``prefix``: what a rerun must not send
    again (the demo resumed after a crash), so the log never holds a request twice."""
    with wb.read() as session:
        return set(session.scalars(select(PredictionLog.request_id).where(
            PredictionLog.request_id.startswith(prefix, autoescape=True))))


@dataclass(eq=False)
class LogEntry:
    """One row given to the writer: its column values (the writer may rename a reused
    ``request_id``, see ``_insert``) and ``committed``, resolved once the row is committed or
    set to ``LogNotWritten`` if it could not be."""

    values: dict[str, Any]
    committed: Future = field(default_factory=Future)
    state: str = "queued"  # queued -> written | failed; only the writer thread changes it

    def wait(self, timeout: float) -> None:
        """Block until the row is committed; raises ``LogNotWritten`` (also on timeout)."""
        try:
            self.committed.result(timeout=timeout)
        except TimeoutError:
            raise LogNotWritten(f"the prediction log did not commit the row within {timeout:.0f} s "
                                "(the database is locked by another process or the disk is very slow)") from None


@dataclass(eq=False)
class _OtherAnswer:
    entry: LogEntry
    values: dict[str, Any]  # other_prediction, other_latency_ms


class PredictionLogWriter:
    """Inserts ``PredictionLog`` rows in group commits on a thread of its own (see the module
    docstring). ``add`` returns the row's ``LogEntry``; wait on it before acknowledging the
    request. ``close()`` returns when every row given to ``add`` is committed or has been
    refused (raises, saying how many were refused).

    ``interval``: how long the writer lingers after the first waiting row for more to join its
    batch; 0 (the default) commits whatever is waiting at once, which already batches under load
    because rows keep arriving while a commit runs.

    Log rows are data, not governance changes: they are inserted with a plain write session,
    not audited one by one (starting and stopping the service is audited).
    """

    def __init__(self, wb: Workbench, *, interval: float = 0.0, max_rows: int = 200, attempts: int = 2) -> None:
        self.wb = wb
        self.interval = interval
        self.max_rows = max_rows
        self.attempts = attempts
        self.written = 0
        self.failed = 0  # rows refused: their requests were answered with an error, not acknowledged
        self.other_lost = 0  # other-model answers whose row was refused or whose update failed
        self.renamed = 0
        self.commits = 0
        self.last_error = ""
        # The writer thread's own connection, opened on its first commit and kept: checking one
        # out of the pool and back in for every commit cost more of the GIL (which the request
        # threads wait for) than the insert itself. Dropped after a failed commit, reopened on the next.
        self._connection: Connection | None = None
        self._queue: queue.SimpleQueue[LogEntry | _OtherAnswer | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="mlwb-prediction-log", daemon=True)
        self._thread.start()

    def add(self, values: dict[str, Any]) -> LogEntry:
        """Queue a row; its ``LogEntry`` resolves once the row is committed."""
        entry = LogEntry(values)
        self._queue.put(entry)
        return entry

    def add_other(self, entry: LogEntry, values: dict[str, Any]) -> None:
        """The other model's answer for a row already given to ``add`` (written as an update,
        or folded into the insert if the row is still waiting)."""
        self._queue.put(_OtherAnswer(entry, values))

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self.failed:
            raise WorkbenchError(
                f"{self.failed} scored request(s) could not be written to the prediction log ({self.last_error}); "
                "they were answered with an error, not acknowledged: check that the workspace's disk is writable "
                "and not full, and that no other process holds the database locked")

    def _run(self) -> None:
        try:
            self._serve_queue()
        finally:
            self._drop_connection()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # a broken connection: nothing left to release
                log.debug("closing the prediction log's connection failed", exc_info=True)
            self._connection = None

    def _serve_queue(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            deadline = time.monotonic() + self.interval
            while len(batch) < self.max_rows:
                try:
                    remaining = deadline - time.monotonic()
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True  # write what is here, then stop (close() put it last)
                    break
                batch.append(item)
            self._commit(batch)
            if stopping:
                return

    def _commit(self, batch: list[LogEntry | _OtherAnswer]) -> None:
        """Write one batch in one transaction, then resolve its rows' futures (never before)."""
        rows = [item for item in batch if isinstance(item, LogEntry)]
        updates: list[_OtherAnswer] = []
        for item in batch:
            if isinstance(item, _OtherAnswer):
                if item.entry.state == "written":
                    updates.append(item)
                elif item.entry.state == "failed":
                    self.other_lost += 1
                else:  # its row is in this very batch (queued before it): insert them together
                    item.entry.values.update(item.values)
        error = ""
        for attempt in range(self.attempts):
            try:
                self._write(rows, updates)
                break
            except Exception as exc:  # locked past the busy timeout, disk full, read-only
                self._drop_connection()  # the next attempt starts on a fresh connection
                error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                log.warning("prediction log commit failed (%s)%s", error,
                            "; retrying" if attempt + 1 < self.attempts else "")
                if attempt + 1 < self.attempts:
                    time.sleep(0.05)
        else:
            self.last_error = error
            self.failed += len(rows)
            self.other_lost += len(updates)
            failure = LogNotWritten(f"the prediction log could not be written ({error})")
            for entry in rows:
                entry.state = "failed"
                entry.committed.set_exception(failure)
            return
        self.commits += 1
        self.written += len(rows)
        for entry in rows:
            entry.state = "written"
            entry.committed.set_result(None)

    def _write(self, rows: list[LogEntry], updates: list[_OtherAnswer]) -> None:
        # SQLAlchemy Core on one connection rather than an ORM session: this runs once per commit
        # while request threads wait for the GIL, and the session's bookkeeping doubled its cost.
        # The engine's "begin" hook still emits BEGIN IMMEDIATE (storage.database).
        values = [entry.values for entry in rows]
        if self._connection is None:
            self._connection = self.wb.db.engine.connect()
        connection = self._connection
        try:
            with connection.begin():
                self._insert_and_update(connection, values, updates)
            return
        except IntegrityError:
            pass
        # A client reused a request id that an earlier run of the service already logged
        # (a run refuses reuse only among its own last RECENT_IDS requests, see
        # app.services.serving). The first row keeps the id, so labels joined to it stay where
        # they were; this row is kept under a derived id instead of being lost. The rename is
        # made in the row's own dict, so a later update (the other model's answer) finds it.
        with connection.begin():
            ids = [r["request_id"] for r in values]
            taken = set(connection.scalars(select(_TABLE.c.request_id).where(_TABLE.c.request_id.in_(ids))))
            renamed = []
            for row in values:
                original = row["request_id"]
                if original in taken:
                    row["request_id"] = f"{original[:MAX_REQUEST_ID - 17]}#dup-{uuid.uuid4().hex[:12]}"
                    renamed.append(f"{original} -> {row['request_id']}")
                taken.add(original)  # also a second use within this batch
            self._insert_and_update(connection, values, updates)
        self.renamed += len(renamed)
        log.warning("%d request id(s) were already in the prediction log from an earlier run and were "
                    "logged under derived ids: %s", len(renamed), "; ".join(renamed[:3]) + (
                        "; ..." if len(renamed) > 3 else ""))

    @staticmethod
    def _insert_and_update(connection: Connection, values: list[dict[str, Any]], updates: list[_OtherAnswer]) -> None:
        if values:
            connection.execute(_INSERT, values)
        if updates:
            connection.execute(_UPDATE_OTHER, [
                {"b_request_id": u.entry.values["request_id"], "b_other_prediction": u.values.get("other_prediction"),
                 "b_other_latency_ms": u.values.get("other_latency_ms")} for u in updates])


_TABLE = PredictionLog.__table__
_INSERT = insert(_TABLE)
_UPDATE_OTHER = update(_TABLE).where(_TABLE.c.request_id == bindparam("b_request_id")).values(
    other_prediction=bindparam("b_other_prediction"), other_latency_ms=bindparam("b_other_latency_ms"))
