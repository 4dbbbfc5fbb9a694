"""Load on one shared PostgreSQL registry: N writer processes for a while, then the verdict.

Each process is a team member's workbench (its own workspace folder, the team's audit key,
the one registry URL) that keeps writing audited changes through the services: problem
statement revisions and job lifecycles (queued → running → failed, three events each). At the
end it prints the throughput, the slowest write, how many errors reached a writer (must be 0),
whether every write each process counted is in the registry (no lost writes) and whether the
audit chain verifies.

Not yet: training runs, approvals and monitoring results in the mix (issue 15 asks for them);
they need datasets and worker processes per writer and are left for a later session.

    python -m bench pg_load --url postgresql+psycopg://USER@HOST:PORT/DB [--processes 8] [--seconds 120]

The database must exist and be empty or hold an earlier load run's registry only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path


def _writer(index: int, home: str, url: str, seconds: float, results: multiprocessing.Queue) -> None:
    os.environ.update({"MLWB_HOME": home, "MLWB_DATABASE_URL": url,
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    from app.services import deliverables, projects
    from app.services import jobs as job_records
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    counts = {"statements": 0, "jobs": 0, "errors": 0, "slowest_s": 0.0}
    errors: list[str] = []
    wb = Workbench.open(Workspace(Path(home)))
    slug = f"load-{index}"
    projects.create_project(wb, slug, problem_type="binary_classification")
    deadline = time.monotonic() + seconds
    step = 0
    while time.monotonic() < deadline:
        step += 1
        started = time.perf_counter()
        try:
            if step % 2:
                deliverables.save_problem_statement(wb, slug, {"objective": f"revision {step} by writer {index}"})
                counts["statements"] += 1
            else:
                job_id = job_records.create_job(wb, "train", slug, {"step": step})
                job_records.mark_running(wb, job_id)
                job_records.mark_failed(wb, job_id, "load test")
                counts["jobs"] += 1
        except Exception as exc:  # the figure that must stay 0: an error a person would have seen
            counts["errors"] += 1
            errors.append(repr(exc)[:200])
        counts["slowest_s"] = max(counts["slowest_s"], time.perf_counter() - started)
    wb.close()
    results.put((index, counts, errors[:3]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="postgresql+psycopg://… of an empty database")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)

    from sqlalchemy import func, select

    from app.services import audit_trail
    from app.services.workbench import Workbench
    from storage.models import AuditEvent, Job
    from storage.workspace import Workspace

    root = Path(tempfile.mkdtemp(prefix="mlwb-pg-load-"))
    os.environ.update({"MLWB_HOME": str(root / "first"), "MLWB_DATABASE_URL": args.url,
                       "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"})
    first = Workbench.open(Workspace(root / "first"))  # makes the schema and the team's audit key
    with first.read() as session:
        events_before = session.scalar(select(func.count(AuditEvent.seq))) or 0
    first.close()
    homes = []
    for i in range(args.processes):
        home = root / f"writer-{i}"
        home.mkdir()
        shutil.copy2(root / "first" / "audit.key", home / "audit.key")
        homes.append(str(home))

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    started = time.perf_counter()
    procs = [ctx.Process(target=_writer, args=(i, homes[i], args.url, args.seconds, results))
             for i in range(args.processes)]
    for p in procs:
        p.start()
    reports = [results.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    wall = time.perf_counter() - started

    statements = sum(r[1]["statements"] for r in reports)
    jobs = sum(r[1]["jobs"] for r in reports)
    errors = sum(r[1]["errors"] for r in reports) + sum(1 for p in procs if p.exitcode != 0)
    expected_events = args.processes + statements + 3 * jobs  # a project.created each, then the writes
    bench = Workbench.open(Workspace(root / "first"))
    with bench.read() as session:
        events = (session.scalar(select(func.count(AuditEvent.seq))) or 0) - events_before
        job_rows = session.scalar(select(func.count(Job.id)).where(Job.error == "load test")) or 0
    verdict = audit_trail.verify(bench)
    bench.close()
    shutil.rmtree(root, ignore_errors=True)

    print(f"pg_load: {args.processes} writer processes for {args.seconds:.0f} s on one PostgreSQL registry")
    print(f"  writes: {statements} statement revisions + {jobs} job lifecycles = {statements + 3 * jobs} audited "
          f"changes in {wall:.1f} s ({(statements + 3 * jobs) / wall:.1f} events/s); slowest call "
          f"{max(r[1]['slowest_s'] for r in reports) * 1000:.0f} ms")
    print(f"  errors that reached a writer: {errors}")
    for index, _, sample in reports:
        for line in sample:
            print(f"    writer {index}: {line}")
    lost = expected_events - events
    print(f"  lost writes: {lost} (events: {events} in the registry, {expected_events} counted by the writers; "
          f"job rows {job_rows} of {jobs})")
    print(f"  {verdict.describe()}")
    ok = errors == 0 and lost == 0 and job_rows >= jobs and verdict.ok
    print(f"  verdict: {'OK' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
