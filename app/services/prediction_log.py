"""The prediction log's writer: every scored request becomes a ``PredictionLog`` row, inserted
in batches on a thread of its own so that no response waits for the database.

What a row holds is described in ``app.services.serving`` (it builds them); ``release_analysis``
and ``monitoring_batches`` (with ``monitoring_analysis``) read them.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
import uuid
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from app.errors import WorkbenchError
from app.services.workbench import Workbench
from storage.models import PredictionLog

log = logging.getLogger(__name__)

MAX_REQUEST_ID = 64  # PredictionLog.request_id is String(64)


def logged_request_ids(wb: Workbench, prefix: str) -> set[str]:
    """The request ids already in the log that start with ``prefix``: what a rerun must not send
    again (the demo resumed after a crash), so the log never holds a request twice."""
    with wb.read() as session:
        return set(session.scalars(select(PredictionLog.request_id).where(
            PredictionLog.request_id.startswith(prefix, autoescape=True))))


class PredictionLogWriter:
    """Batches ``PredictionLog`` rows on a thread and inserts them every ``interval`` seconds or
    ``max_rows`` rows, whichever comes first. ``close()`` returns only when every row given to
    ``add`` is in the database (or raises, saying how many are not).

    Log rows are data, not governance changes: they are inserted with a plain write session,
    not audited one by one (starting and stopping the service is audited).
    """

    def __init__(self, wb: Workbench, *, interval: float = 0.05, max_rows: int = 200) -> None:
        self.wb = wb
        self.interval = interval
        self.max_rows = max_rows
        self.written = 0
        self.renamed = 0
        self.last_error = ""
        self._queue: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._unwritten: list[dict[str, Any]] = []
        self._thread = threading.Thread(target=self._run, name="mlwb-prediction-log", daemon=True)
        self._thread.start()

    def add(self, row: dict[str, Any]) -> None:
        self._queue.put(row)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self._unwritten)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._unwritten:
            raise WorkbenchError(
                f"{len(self._unwritten)} scored request(s) could not be written to the prediction log "
                f"({self.last_error}): check that the workspace's disk is writable and not full")

    def _run(self) -> None:
        rows: list[dict[str, Any]] = []
        deadline = math.inf
        while True:
            timeout = None if not rows else max(0.0, deadline - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = ...
            if item is None:  # close(): drain everything, trying hard before giving up
                while True:
                    try:
                        rest = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if rest is not None:
                        rows.append(rest)
                self._flush(rows, attempts=5)
                return
            if item is not ...:
                if not rows:
                    deadline = time.monotonic() + self.interval
                rows.append(item)
            if rows and (len(rows) >= self.max_rows or time.monotonic() >= deadline):
                self._flush(rows, attempts=1)
                rows = []

    def _flush(self, rows: list[dict[str, Any]], *, attempts: int) -> None:
        rows = self._unwritten + rows
        self._unwritten = []
        for start in range(0, len(rows), self.max_rows):
            chunk = rows[start:start + self.max_rows]
            for attempt in range(attempts):
                try:
                    self._insert(chunk)
                    break
                except Exception as exc:  # the database is locked or unwritable: keep the rows, retry
                    self.last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                    log.warning("prediction log insert failed (%s); will retry", self.last_error)
                    if attempt + 1 < attempts:
                        time.sleep(0.2 * (attempt + 1))
            else:
                self._unwritten.extend(chunk)

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        try:
            with self.wb.db.write() as session:
                session.execute(insert(PredictionLog), rows)
        except IntegrityError:
            # A client reused a request id that an earlier run of the service already logged
            # (a run refuses reuse only among its own last RECENT_IDS requests, see
            # app.services.serving). The first row keeps the id, so labels joined to it stay
            # where they were; this row is kept under a derived id instead of being lost.
            with self.wb.db.write() as session:
                ids = [r["request_id"] for r in rows]
                taken = set(session.scalars(select(PredictionLog.request_id).where(
                    PredictionLog.request_id.in_(ids))))
                renamed = []
                for row in rows:
                    original = row["request_id"]
                    if original in taken:
                        row["request_id"] = f"{original[:MAX_REQUEST_ID - 17]}#dup-{uuid.uuid4().hex[:12]}"
                        renamed.append(f"{original} -> {row['request_id']}")
                    taken.add(original)  # also a second use within this batch
                session.execute(insert(PredictionLog), rows)
            self.renamed += len(renamed)
            log.warning("%d request id(s) were already in the prediction log from an earlier run and were "
                        "logged under derived ids: %s", len(renamed), "; ".join(renamed[:3]) + (
                            "; ..." if len(renamed) > 3 else ""))
        self.written += len(rows)
