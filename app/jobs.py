"""Background jobs: each task runs in its own ``spawn`` worker process.

Why a process per job rather than a shared pool: cancelling must stop a fit that is deep
inside scikit-learn, and a process can be terminated safely because it owns nothing — the
parent alone writes the registry, and only after the task succeeded — so a cancelled job can
never leave a partial run behind. The start-up cost (about a second to import scikit-learn)
is small next to a training job.

``JobRunner.execute`` blocks until the task ends; the TUI calls it from a thread worker (the
thread sleeps on a queue and so never holds the GIL for long), the CLI calls it directly.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue as queue_module
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.errors import JobCancelled, WorkbenchError
from app.services import jobs as job_records
from app.services.workbench import Workbench

ProgressCallback = Callable[[int, float, str], None]
CANCEL_GRACE_S = 3.0
PROGRESS_WRITE_INTERVAL_S = 0.5


@dataclass
class _Running:
    process: Any
    cancel: Any
    cancel_requested: threading.Event = field(default_factory=threading.Event)


class JobRunner:
    def __init__(self, wb: Workbench, *, quiet_workers: bool = True) -> None:
        self.wb = wb
        self.quiet_workers = quiet_workers
        self._ctx = multiprocessing.get_context("spawn")
        self._running: dict[int, _Running] = {}
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

        Raises ``JobCancelled`` after a cancel and ``WorkbenchError`` when the task failed;
        the job row is already in its final state either way (except success, which the
        caller records together with the task's results in one transaction).
        """
        from app.ml.worker import child_main

        # Textual swaps sys.stdout/stderr for objects whose fileno() is -1, which makes spawn
        # fail with "bad value(s) in fds_to_keep". The first Queue or Event may start
        # multiprocessing's resource tracker (which passes on stderr's fd), so everything is
        # created against the real streams.
        with contextlib.redirect_stderr(sys.__stderr__), contextlib.redirect_stdout(sys.__stdout__):
            results = self._ctx.Queue()
            cancel = self._ctx.Event()
            process = self._ctx.Process(
                target=child_main,
                args=(task, payload, results, cancel, self.quiet_workers),
                name=f"mlwb-job-{job_id}",
                daemon=True,
            )
            process.start()
        running = _Running(process, cancel)
        with self._lock:
            self._running[job_id] = running
        try:
            job_records.mark_running(self.wb, job_id)
            return self._drain(job_id, running, results, on_progress)
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            if process.is_alive():
                process.terminate()
            process.join(timeout=5)
            results.close()

    def _drain(self, job_id: int, running: _Running, results: Any, on_progress: ProgressCallback | None) -> Any:
        last_write = 0.0
        cancel_deadline: float | None = None
        while True:
            if running.cancel_requested.is_set() and cancel_deadline is None:
                cancel_deadline = time.monotonic() + CANCEL_GRACE_S
            if cancel_deadline is not None and time.monotonic() > cancel_deadline:
                running.process.terminate()
                job_records.mark_cancelled(self.wb, job_id, "terminated after the cancel grace period")
                raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
            try:
                message = results.get(timeout=0.2)
            except queue_module.Empty:
                if running.process.is_alive():
                    continue
                try:  # the worker may have posted its last message just before it exited
                    message = results.get(timeout=1.0)
                except queue_module.Empty:
                    code = running.process.exitcode
                    job_records.mark_failed(self.wb, job_id, f"worker process exited with code {code}")
                    raise WorkbenchError(
                        f"job {job_id} stopped unexpectedly (worker exit code {code}); run it again"
                    ) from None
            if message[0] != "progress":
                return self._final(job_id, running, message)
            _, fraction, text = message
            if on_progress is not None:
                on_progress(job_id, fraction, text)
            now = time.monotonic()
            if now - last_write >= PROGRESS_WRITE_INTERVAL_S:
                job_records.record_progress(self.wb, job_id, fraction, text)
                last_write = now

    def _final(self, job_id: int, running: _Running, message: tuple[Any, ...]) -> Any:
        """Turn the worker's last message into the task's result, or the job's final state."""
        kind = message[0]
        if kind == "result":
            if running.cancel_requested.is_set():
                job_records.mark_cancelled(self.wb, job_id, "cancelled as it finished; result discarded")
                raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
            return message[1]
        if kind == "cancelled":
            job_records.mark_cancelled(self.wb, job_id, "stopped by the user")
            raise JobCancelled(f"job {job_id} was cancelled; nothing it computed was kept")
        _, text, detail = message
        job_records.mark_failed(self.wb, job_id, text + (f"\n{detail}" if detail else ""))
        raise WorkbenchError(f"job {job_id} failed: {text}")
