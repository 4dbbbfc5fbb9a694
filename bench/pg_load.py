"""Load on one shared PostgreSQL registry: N writer processes for a while, then the verdict.

Each process is a team member's workbench (its own workspace folder, its own registered
signing key; the team's audit key and shared artifacts folder; the one registry URL) that keeps writing audited changes
through the services, in turn:

* a problem statement revision of its own project;
* a job lifecycle (queued → running → failed, three events);
* a training run logged from outside (``app.services.external_runs``: plan, then record) on the
  shared demo project;
* a signed approval or rejection of one of the demo's model versions (the four-eyes checks run:
  each writer is a registered person who is not the versions' author);
* every ``--batch-every``-th step, a monitoring batch of the demo imported and analysed in a worker
  process (drift, SLA, alerts: the monitoring results).

The demo project (``ctr-demo``, small data) is built first by the main process. At the end it
prints the throughput, the slowest write, how many errors reached a writer (must be 0), whether
every write each process counted is in the registry (no lost writes: statement events, job rows,
runs, approvals and analysed batches, per writer) and whether the audit chain verifies.

    python -m bench pg_load --url postgresql+psycopg://USER@HOST:PORT/DB [--processes 8] [--seconds 120]

The database must exist and be empty.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

SLUG = "ctr-demo"
KINDS = ("statements", "jobs", "runs", "approvals")


def _writer(index: int, home: str, url: str, seconds: float, batch_file: str, batch_every: int,
            results: multiprocessing.Queue) -> None:
    os.environ.update({"MLWB_HOME": home, "MLWB_DATABASE_URL": url, "MLWB_SIGNING_KEY": str(Path(home) / "writer.key"),
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    from app.jobs import JobRunner
    from app.services import deliverables, external_runs, monitoring_analysis, monitoring_batches, projects, registry
    from app.services import jobs as job_records
    from app.services.jobs import WorkbenchLedger
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    counts = {kind: 0 for kind in KINDS} | {"batches": 0, "errors": 0, "slowest_s": 0.0, "slowest_batch_s": 0.0}
    errors: list[str] = []
    wb = Workbench.open(Workspace(Path(home)))
    runner = JobRunner(WorkbenchLedger(wb))
    slug = f"load-{index}"
    projects.create_project(wb, slug, problem_type="binary_classification")
    versions = [m.version for m in registry.list_models(wb, SLUG)]
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        kind = "batches" if batch_every and step % batch_every == 0 else KINDS[step % len(KINDS)]
        started = time.perf_counter()
        try:
            if kind == "statements":
                deliverables.save_problem_statement(wb, slug, {"objective": f"revision {step} by writer {index}"})
            elif kind == "jobs":
                job_id = job_records.create_job(wb, "train", slug, {"step": step})
                job_records.mark_running(wb, job_id)
                job_records.mark_failed(wb, job_id, "load test")
            elif kind == "runs":
                plan = external_runs.plan_run(wb, SLUG, experiment=f"load-{index}")
                external_runs.record_run(wb, plan, external_runs.LoggedRun(
                    params={"step": step, "writer": index}, metrics={"loss": 1.0 / step}, duration_s=0.01))
            elif kind == "approvals":
                version = versions[step % len(versions)]
                decision = "approved" if step % 3 else "rejected"
                registry.record_approval(wb, SLUG, version, decision=decision,
                                         comment=f"load step {step}: writer {index} checked the numbers")
            else:
                label = f"load-{index}-{step}"
                monitoring_batches.import_batch(wb, SLUG, batch_file, label=label)
                monitoring_analysis.analyse_batch(wb, runner, SLUG, label)
            counts[kind] += 1
        except Exception as exc:  # the figure that must stay 0: an error a person would have seen
            counts["errors"] += 1
            errors.append(f"{kind}: {exc!r}"[:240])
        took = time.perf_counter() - started
        slowest = "slowest_batch_s" if kind == "batches" else "slowest_s"
        counts[slowest] = max(counts[slowest], took)
    wb.close()
    results.put((index, counts, errors[:3]))


def _build_demo(root: Path, url: str, processes: int) -> tuple[int, Path]:
    """The demo project in the registry, each writer's home with its registered key (an admin
    who is not the author of the demo's versions), and a production batch file; the number of
    audit events before the load."""
    from sqlalchemy import func, select

    from app.jobs import JobRunner
    from app.ml.demo_data import generate_interactions
    from app.services import people
    from app.services.demo import run_demo
    from app.services.jobs import WorkbenchLedger
    from app.services.workbench import Workbench
    from app.signing import new_signing_key, write_private_key
    from storage.models import AuditEvent
    from storage.workspace import Workspace

    first = Workbench.open(Workspace(root / "first"))  # makes the schema and the team's audit key
    people.init_me(first, name="load.admin")
    run_demo(first, JobRunner(WorkbenchLedger(first)), rows=4_000, batch_rows=1_000, shadow_requests=40,
             canary_requests=40)
    for i in range(processes):
        home = root / f"writer-{i}"
        home.mkdir()
        shutil.copy2(root / "first" / "audit.key", home / "audit.key")
        (home / "artifacts").symlink_to(root / "first" / "artifacts")  # the team's shared artifacts
        key = new_signing_key()
        write_private_key(home / "writer.key", key)
        people.add_person(first, f"writer.{i}", key.public_line, "admin")
    batch = root / "batch.csv"
    generate_interactions(300, seed=11, drift=0.3).to_csv(batch, index=False)
    with first.read() as session:
        events_before = session.scalar(select(func.count(AuditEvent.seq))) or 0
    first.close()
    return events_before, batch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql+psycopg://… of an empty database")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--batch-every", type=int, default=25,
                        help="every N-th step of a writer imports and analyses a monitoring batch (0: never)")
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from app.services import audit_trail
    from app.services.external_runs import ORIGIN
    from app.services.workbench import Workbench
    from storage.models import Approval, AuditEvent, Job, MonitoringBatch, Run
    from storage.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="mlwb-pg-load-"))
    os.environ.update({"MLWB_HOME": str(root / "first"), "MLWB_DATABASE_URL": args.url,
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    os.environ.pop("MLWB_SIGNING_KEY", None)
    set_up = time.perf_counter()
    events_before, batch_file = _build_demo(root, args.url, args.processes)
    set_up = time.perf_counter() - set_up

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    started = time.perf_counter()
    procs = [ctx.Process(target=_writer, args=(i, str(root / f"writer-{i}"), args.url, args.seconds, str(batch_file),
                                               args.batch_every, results))
             for i in range(args.processes)]
    for p in procs:
        p.start()
    reports = sorted(results.get(timeout=args.seconds + 600) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    wall = time.perf_counter() - started

    total = {kind: sum(r[1][kind] for r in reports) for kind in (*KINDS, "batches")}
    errors = sum(r[1]["errors"] for r in reports) + sum(1 for p in procs if p.exitcode != 0)
    lost: list[str] = []
    bench = Workbench.open(Workspace(root / "first"))
    with bench.read() as session:
        events = (session.scalar(select(func.count(AuditEvent.seq))) or 0) - events_before
        for index, counts, _ in reports:
            writer, project = f"writer.{index}", f"load-{index}"
            found = {
                "statements": session.scalar(select(func.count(AuditEvent.seq)).where(
                    AuditEvent.action == "problem_statement.saved", AuditEvent.project_slug == project)),
                "jobs": session.scalar(select(func.count(Job.id)).where(Job.error == "load test",
                                                                        Job.created_by == writer)),
                "runs": session.scalar(select(func.count(Run.id)).where(Run.created_by == writer, Run.origin == ORIGIN)),
                "approvals": session.scalar(select(func.count(Approval.id)).where(Approval.approver == writer)),
                "batches": session.scalar(select(func.count(MonitoringBatch.id)).where(
                    MonitoringBatch.label.like(f"load-{index}-%"), MonitoringBatch.analysed.is_(True))),
            }
            for kind, rows in found.items():
                if rows != counts[kind]:
                    lost.append(f"writer {index} {kind}: counted {counts[kind]}, registry has {rows}")
        job_rows = session.scalar(select(func.count(Job.id)).where(Job.error == "load test")) or 0
    if job_rows != total["jobs"]:
        lost.append(f"job rows: counted {total['jobs']}, registry has {job_rows}")
    verdict = audit_trail.verify(bench)
    bench.close()
    shutil.rmtree(root, ignore_errors=True)

    writes = sum(total.values())
    print(f"pg_load: {args.processes} writer processes for {args.seconds:.0f} s on one PostgreSQL registry "
          f"(demo set-up {set_up:.0f} s)")
    print(f"  writes: {total['statements']} statement revisions, {total['jobs']} job lifecycles, {total['runs']} runs, "
          f"{total['approvals']} approvals, {total['batches']} monitoring batches analysed = {writes} services calls, "
          f"{events} audit events in {wall:.1f} s ({events / wall:.1f} events/s)")
    print(f"  slowest call {max(r[1]['slowest_s'] for r in reports) * 1000:.0f} ms; slowest batch import + analysis "
          f"{max(r[1]['slowest_batch_s'] for r in reports):.1f} s")
    print(f"  errors that reached a writer: {errors}")
    for index, _, sample in reports:
        for line in sample:
            print(f"    writer {index}: {line}")
    print(f"  lost writes: {len(lost)}")
    for line in lost:
        print(f"    {line}")
    print(f"  {verdict.describe()}")
    ok = errors == 0 and not lost and verdict.ok
    print(f"  verdict: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
