"""Background jobs in real worker processes: cancel, failure and crash recovery.

Training really runs in a ``spawn`` worker; the job row, the registry and the audit chain are
checked afterwards in the real SQLite file.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.errors import JobCancelled, WorkbenchError
from app.jobs import JobRunner
from app.ml.demo_data import generate_interactions
from app.services import audit_trail, datasets, deliverables, projects, registry, training
from app.services import jobs as job_records
from app.services.demo import FEATURES, FRAMING, STATEMENT
from app.services.workbench import Workbench
from storage.models import Job
from tests.conftest import ON_POSTGRESQL


def _prepare(wb: Workbench, slug: str, frame: pd.DataFrame, tmp_path: Path, *, target: str,
             features: list[dict], framing: dict) -> None:
    projects.create_project(wb, slug, problem_type="binary_classification")
    deliverables.save_problem_statement(wb, slug, STATEMENT)
    deliverables.save_framing(wb, slug, framing, features)
    path = tmp_path / f"{slug}.csv"
    frame.to_csv(path, index=False)
    datasets.import_dataset(wb, slug, path, target=target)
    datasets.create_split(wb, slug, seed=1)


def _actions(wb: Workbench) -> list[str]:
    return [e.action for e in sorted(audit_trail.recent_events(wb, limit=10_000), key=lambda e: e.seq)]


def test_cancelled_training_leaves_no_run_and_is_audited(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    _prepare(wb, "big", generate_interactions(60_000, seed=3), tmp_path, target="clicked",
             features=list(FEATURES), framing=FRAMING)

    queued: list[int] = []
    progress: list[tuple[int, float, str]] = []
    outcome: dict[str, BaseException | object] = {}
    cancelled: list[bool] = []

    def on_queued(job_id: int) -> None:
        queued.append(job_id)

    def on_progress(job_id: int, fraction: float, message: str) -> None:
        progress.append((job_id, fraction, message))
        # Cancel mid-fit: once the forest has grown its first chunk of trees.
        if message.startswith("fitting random_forest:") and not cancelled:
            cancelled.append(runner.cancel(job_id))

    def work() -> None:
        try:
            outcome["value"] = training.train(wb, runner, "big", "random_forest", seed=0,
                                              on_progress=on_progress, on_queued=on_queued)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    thread = threading.Thread(target=work, name="train-worker")
    thread.start()
    thread.join(timeout=180)
    assert not thread.is_alive(), "the cancelled job never returned"

    assert "value" not in outcome, "training finished although it was cancelled"
    assert isinstance(outcome.get("error"), JobCancelled), outcome
    (job_id,) = queued
    assert progress and {p[0] for p in progress} == {job_id}
    assert cancelled == [True], [m for _, _, m in progress]
    assert runner.running_ids() == []
    assert runner.cancel(job_id) is False  # nothing left to cancel

    (job,) = job_records.list_jobs(wb, project_slug="big")
    assert (job.id, job.kind, job.state) == (job_id, "train", "cancelled")
    assert job.finished_at is not None
    assert training.list_runs(wb, "big") == []
    assert registry.list_models(wb, "big") == []

    verdict = audit_trail.verify(wb)
    assert verdict.ok, verdict.describe()
    actions = _actions(wb)
    assert actions[-3:] == ["job.queued", "job.started", "job.cancelled"]
    assert "run.logged" not in actions and "experiment.created" not in actions


def test_failing_task_marks_the_job_failed_with_its_error(wb: Workbench, runner: JobRunner, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "g": rng.choice(["a", "b", "c"], size=n),
        "label": rng.choice(["low", "mid", "high"], size=n),  # three classes: not a binary target
    })
    features = [
        {"name": "x", "type": "numeric", "source": "s", "available_at_serving": True, "pii": False},
        {"name": "g", "type": "categorical", "source": "s", "available_at_serving": True, "pii": False},
    ]
    _prepare(wb, "multi", frame, tmp_path, target="label", features=features,
             framing={"target": "label", "label_strategy": "given"})

    queued: list[int] = []
    with pytest.raises(WorkbenchError, match="failed: the target 'label' has 3 distinct values") as info:
        training.train(wb, runner, "multi", "logistic_regression", on_queued=queued.append)
    assert not isinstance(info.value, JobCancelled)

    (job,) = job_records.list_jobs(wb, project_slug="multi")
    assert job.id == queued[0]
    assert job.state == "failed"
    assert "the target 'label' has 3 distinct values" in job.error
    assert training.list_runs(wb, "multi") == []
    assert audit_trail.verify(wb).ok
    assert _actions(wb)[-3:] == ["job.queued", "job.started", "job.failed"]
    assert runner.running_ids() == []


def test_a_worker_that_cannot_start_fails_its_job_instead_of_leaving_it_queued(
        wb: Workbench, runner: JobRunner) -> None:
    """A payload the spawn start method cannot send to the child (here a lock) fails in the
    parent before any process runs: the job row ends "failed", audited, and nothing is running."""
    projects.create_project(wb, "nostart", problem_type="binary_classification")
    job_id = job_records.create_job(wb, "train", "nostart", {})
    with pytest.raises(WorkbenchError, match=f"job {job_id} failed: its worker process could not start"):
        runner.execute(job_id, "app.ml.tasks:train_task", {"unsendable": threading.Lock()})
    (job,) = job_records.list_jobs(wb, project_slug="nostart")
    assert job.state == "failed" and "could not start" in job.error and job.finished_at is not None
    assert _actions(wb)[-2:] == ["job.queued", "job.failed"]
    assert audit_trail.verify(wb).ok and runner.running_ids() == []


def _set_owner(wb: Workbench, job_id: int, *, state: str, owner: str) -> None:
    with wb.db.write() as session:
        job = session.get(Job, job_id)
        job.state, job.owner = state, owner


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_recover_interrupted_marks_only_orphaned_jobs(wb: Workbench) -> None:
    projects.create_project(wb, "jobs", problem_type="binary_classification")
    other_host = job_records.create_job(wb, "train", "jobs", {"n": 1})
    dead_here = job_records.create_job(wb, "drift", "jobs", {"n": 2})
    mine = job_records.create_job(wb, "train", "jobs", {"n": 3})
    finished = job_records.create_job(wb, "train", "jobs", {"n": 4})
    _set_owner(wb, other_host, state="running", owner="otherhost:1")
    _set_owner(wb, dead_here, state="queued", owner=f"{socket.gethostname()}:{_dead_pid()}")
    job_records.mark_running(wb, mine)  # owned by this (live) process
    job_records.mark_failed(wb, finished, "boom")
    _set_owner(wb, finished, state="failed", owner="otherhost:2")

    recovered = job_records.recover_interrupted(wb)

    # Another machine's job: on a SQLite file it was moved here, so its owner is gone; on a
    # shared PostgreSQL registry that machine's workbench may be running it, so it is left alone.
    orphaned = [dead_here] if ON_POSTGRESQL else [other_host, dead_here]
    assert sorted(recovered) == sorted(orphaned)
    states = {j.id: j for j in job_records.list_jobs(wb, project_slug="jobs")}
    assert states[other_host].state == ("running" if ON_POSTGRESQL else "interrupted")
    assert states[dead_here].state == "interrupted"
    assert "stopped while this job was running" in states[dead_here].error
    assert states[dead_here].finished_at is not None
    assert states[mine].state == "running"
    assert states[finished].state == "failed"

    events = [e for e in audit_trail.recent_events(wb) if e.action == "job.interrupted"]
    assert sorted(int(e.entity.split()[-1]) for e in events) == sorted(orphaned)
    assert audit_trail.verify(wb).ok

    # Running recovery again finds nothing more to do.
    head = audit_trail.head(wb)
    assert job_records.recover_interrupted(wb) == []
    assert audit_trail.head(wb) == head


def test_a_job_is_claimed_once(wb: Workbench) -> None:
    """Claiming (queued → running) happens once: a second claim, by this process or another
    workbench on the same registry, is refused and changes nothing."""
    projects.create_project(wb, "claims", problem_type="binary_classification")
    job_id = job_records.create_job(wb, "train", "claims", {})
    job_records.mark_running(wb, job_id)
    head = audit_trail.head(wb)
    with pytest.raises(WorkbenchError, match=f"job {job_id} is already running .*not started again"):
        job_records.mark_running(wb, job_id)
    assert audit_trail.head(wb) == head
    assert [j.state for j in job_records.list_jobs(wb, project_slug="claims")] == ["running"]


PARENT = """
import sys
from app.jobs import JobRunner

class Ledger:
    def mark_running(self, job_id): pass
    def record_progress(self, job_id, fraction, message): pass
    def mark_failed(self, job_id, error): pass
    def mark_cancelled(self, job_id, reason): pass

JobRunner(Ledger()).run_unrecorded("worker_tasks:wait_task", {"pid_file": sys.argv[1]}, "a long task")
"""


def _alive(pid: int) -> bool:
    """Running or sleeping; a zombie nobody has reaped yet counts as gone."""
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                     if line.startswith("State:"))
    except (FileNotFoundError, StopIteration):
        return False
    return "Z" not in state.split()[1]


def test_a_worker_stops_soon_after_its_parents_kill_9(tmp_path: Path) -> None:
    import os
    import signal
    import time

    pid_file = tmp_path / "worker.pid"
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(Path(__file__).parents[1])])}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(pid_file)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        worker = int(pid_file.read_text())
        assert _alive(worker)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        killed = time.monotonic()
        while _alive(worker) and time.monotonic() - killed < 5:
            time.sleep(0.05)
        # it waits on its parent's sentinel; 5 s leaves room for a busy machine, while the
        # task itself would have waited a minute
        assert not _alive(worker), "the worker outlived its parent"
    finally:
        parent.kill()
