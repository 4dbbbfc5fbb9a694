"""Background jobs: each task runs in its own worker process.

Why a process per job rather than a shared pool: cancelling must stop a fit that is deep
inside scikit-learn, and a process can be terminated safely because it owns nothing — the
parent alone writes the registry, and only after the task succeeded — so a cancelled job can
never leave a partial run behind.

Where the platform has it, workers are forked from a *forkserver* that imported NumPy, pandas
and scikit-learn once (``app.ml.worker_preload``; a process that only renders reports preloads
reportlab and matplotlib instead, ``app.services.report_preload``): a fresh interpreter per job would import them
again, about 1.5 s before any work, which dominated short jobs. The forkserver is a process of
its own, started on the first job, so nothing is forked from the workbench's (threaded, Textual)
process; elsewhere workers are ``spawn``ed.

``JobRunner.execute`` blocks until the task ends; the TUI calls it from a thread worker (the
thread sleeps on a queue and so never holds the GIL for long), the CLI calls it directly.

The runner records a job's states through the ``JobLedger`` it is given (the job records of
``app.services.jobs``, which whoever builds the runner passes in), so it never calls up into
the services that call it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_module
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from app.errors import JobCancelled, WorkbenchError

ProgressCallback = Callable[[int, float, str], None]
CANCEL_GRACE_S = 3.0
PROGRESS_WRITE_INTERVAL_S = 0.5


class JobLedger(Protocol):
    """Where a runner records the states of the jobs it runs (each change of state audited).

    The job row is created (queued) by the service that asks for the work; the runner moves it
    to running, writes throttled progress, and records failure or cancellation. Success is the
    caller's to record, in one transaction with the results it keeps.
    """

    def mark_running(self, job_id: int) -> None: ...

    def record_progress(self, job_id: int, fraction: float, message: str) -> None: ...

    def mark_failed(self, job_id: int, error: str) -> None: ...

    def mark_cancelled(self, job_id: int, reason: str) -> None: ...


@dataclass
class _Worker:
    """One worker process, the queue it reports on, and the two cancel flags: ``cancel`` asks the
    task to stop (it checks it between steps); ``cancel_requested`` is what the parent's threads set."""

    process: Any
    results: Any
    cancel: Any
    cancel_requested: threading.Event = field(default_factory=threading.Event)

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(timeout=5)
        self.results.close()


#: What the forkserver imports before it forks workers: the ML libraries every training and
#: analysis job needs. A process that only renders PDFs passes ``app.services.report_preload``.
ML_PRELOAD = "app.ml.worker_preload"


def _worker_context(preload: str) -> Any:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from app.ml.worker import FORKSERVER_PARENT

    os.environ[FORKSERVER_PARENT] = str(os.getpid())  # the server is spawned from this process
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([preload])
    return ctx


def start_forkserver(preload: str = ML_PRELOAD) -> None:
    """Start the job forkserver now rather than at the first job, for a command that will run
    a job after work of its own: the server's preload (a second or more of imports) then runs on
    the other core while this process imports its services, opens the workspace and collects
    (`mlwb report`). Returns at once; a no-op where workers are ``spawn``ed or the server runs."""
    ctx = _worker_context(preload)
    if ctx.get_start_method() != "forkserver":
        return
    from multiprocessing import forkserver

    with contextlib.redirect_stderr(sys.__stderr__), contextlib.redirect_stdout(sys.__stdout__):
        forkserver.ensure_running()


class JobRunner:
    def __init__(self, ledger: JobLedger, *, quiet_workers: bool = True, preload: str = ML_PRELOAD) -> None:
        """``preload``: the module the job forkserver imports once (``ML_PRELOAD``, or
        ``app.services.report_preload`` where the process only builds reports). There is one
        forkserver per process, started by the first job: the preload set last before then applies."""
        self.ledger = ledger
        self.quiet_workers = quiet_workers
        self._ctx = _worker_context(preload)
        self._running: dict[int, _Worker] = {}
        self._lock = threading.Lock()

    def running_ids(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def cancel(self, job_id: int) -> bool:
        """Ask a running job to stop; it is terminated if it does not within a few seconds."""
        with self._lock:
            running = self._running.get(job_id)
        if running is None:
            return False
        running.cancel_requested.set()
        running.cancel.set()
        return True

    def execute(
        self, job_id: int, task: str, payload: dict[str, Any], on_progress: ProgressCallback | None = None
    ) -> Any:
        """Run ``task`` for the queued job ``job_id``; return its result or raise.

        Raises ``JobCancelled`` after a cancel and ``WorkbenchError`` when the task failed or its
        worker could not start; the job row is already in its final state either way (except
        success, which the caller records together with the task's results in one transaction).
        """
        try:
            worker = self._start(task, payload, f"mlwb-job-{job_id}")
        except WorkbenchError as exc:  # the row must not stay "queued" with nothing running it
            self.ledger.mark_failed(job_id, str(exc))
            raise WorkbenchError(f"job {job_id} failed: {exc}") from None
        with self._lock:
            self._running[job_id] = worker
        last_write = 0.0

        def relay(fraction: float, text: str) -> None:
            nonlocal last_write
            if on_progress is not None:
                on_progress(job_id, fraction, text)
            now = time.monotonic()
            if now - last_write >= PROGRESS_WRITE_INTERVAL_S:
                self.ledger.record_progress(job_id, fraction, text)
                last_write = now

        try:
            self.ledger.mark_running(job_id)
            return self._final(job_id, worker, self._wait(worker, relay, CANCEL_GRACE_S))
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            worker.stop()

    def run_unrecorded(self, task: str, payload: dict[str, Any], what: str, *,
                       on_progress: Callable[[float, str], None] | None = None,
                       cancel: threading.Event | None = None) -> Any:
        """Run ``task`` in a worker process with no job row, for work whose only record must be
        its own (a report build writes one ``report.built`` event, a deterministic one none).

        ``what`` names the work in errors ("the report build"). Setting ``cancel`` terminates the
        worker at once: unrecorded work owns nothing the caller does not clean up.
        """
        try:
            worker = self._start(task, payload, f"mlwb: {what}")
        except WorkbenchError as exc:
            raise WorkbenchError(f"{what} failed: {exc}") from None
        if cancel is not None:
            worker.cancel_requested = cancel
        try:
            message = self._wait(worker, on_progress, 0.0)
        finally:
            worker.stop()
        kind = message[0]
        if kind == "result":
            return message[1]
        if kind in ("cancelled", "terminated"):
            raise JobCancelled(f"{what} was cancelled; nothing was kept")
        if kind == "died":
            raise WorkbenchError(f"{what} stopped unexpectedly (worker exit code {message[1]}); run it again")
        raise WorkbenchError(f"{what} failed: {message[1]}")

    def _start(self, task: str, payload: dict[str, Any], name: str) -> _Worker:
        from app.ml.worker import child_main

        # Textual swaps sys.stdout/stderr for objects whose fileno() is -1, which makes spawn
        # fail with "bad value(s) in fds_to_keep". The first Queue or Event may start
        # multiprocessing's resource tracker (which passes on stderr's fd), so everything is
        # created against the real streams.
        with contextlib.redirect_stderr(sys.__stderr__), contextlib.redirect_stdout(sys.__stdout__):
            results = self._ctx.Queue()
            try:
                cancel = self._ctx.Event()
                process = self._ctx.Process(target=child_main, args=(task, payload, results, cancel,
                                                                     self.quiet_workers), name=name, daemon=True)
                process.start()
            except OSError as exc:
                results.close()
                raise WorkbenchError(f"its worker process could not start ({exc.strerror or exc}): the machine may "
                                     "be out of memory or processes; close other programs and try again") from None
            except Exception as exc:  # the payload could not be sent to the child (pickling)
                results.close()
                raise WorkbenchError(f"its worker process could not start ({exc!r})") from exc
        return _Worker(process, results, cancel)

    @staticmethod
    def _wait(worker: _Worker, relay: Callable[[float, str], None] | None, grace_s: float) -> tuple[Any, ...]:
        """Relay progress until the worker's last message, and return that message; or
        ``("terminated",)`` when a cancel was not honoured within ``grace_s``, or
        ``("died", exit_code)`` when the process ended without a last message."""
        deadline: float | None = None
        while True:
            if worker.cancel_requested.is_set():
                if deadline is None:
                    worker.cancel.set()
                    deadline = time.monotonic() + grace_s
                if time.monotonic() >= deadline:
                    worker.process.terminate()
                    return ("terminated",)
            try:
                message = worker.results.get(timeout=0.1)
            except queue_module.Empty:
                if worker.process.is_alive():
                    continue
                try:  # the worker may have posted its last message just before it exited
                    message = worker.results.get(timeout=1.0)
                except queue_module.Empty:
                    return ("died", worker.process.exitcode)
            if message[0] != "progress":
                return message
            if relay is not None:
                relay(message[1], message[2])

    def _final(self, job_id: int, worker: _Worker, message: tuple[Any, ...]) -> Any:
        """Turn the worker's last message into the task's result, or the job's final state."""
        kind = message[0]
        if kind == "result":
            if worker.cancel_requested.is_set():
                self.ledger.mark_cancelled(job_id, "cancelled as it finished; result discarded")
                raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
            return message[1]
        if kind == "terminated":
            self.ledger.mark_cancelled(job_id, "terminated after the cancel grace period")
            raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
        if kind == "cancelled":
            self.ledger.mark_cancelled(job_id, "stopped by the user")
            raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
        if kind == "died":
            self.ledger.mark_failed(job_id, f"worker process exited with code {message[1]}")
            raise WorkbenchError(f"job {job_id} stopped unexpectedly (worker exit code {message[1]}); run it again")
        _, text, detail = message
        self.ledger.mark_failed(job_id, text + (f"\n{detail}" if detail else ""))
        raise WorkbenchError(f"job {job_id} failed: {text}")
