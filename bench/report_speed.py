"""How long does building a report take, and does the TUI keep answering keys meanwhile?

On the demo project (40,000 interactions, three monitoring batches; `--quick`: 6,000):

1. The demo's full compliance report (target ≤ 5 s on 2 cores): collecting its data in the
   parent; rendering it alone in this process (the floor: no process start-up); and the whole
   ``build_report`` — collect, render in a worker process, record the ``report.built`` event —
   which is what `mlwb report` and the TUI's `b` do.
2. A 100-page report (target ≤ 15 s), two ways:

   - **real records**: the demo project grown through the services until its compliance report
     passes 100 pages — more runs trained and more monthly batches imported and analysed, each
     a real worker job (`GROW_RUNS` runs, then batches of `GROW_BATCH_ROWS` rows with drift
     cycling from none to strong). Timed: collect, and the whole ``build_report``; and the
     drift report over every batch.
   - **inflated data**: the demo's collected data with every table's rows and every chart
     repeated k times until the PDF reaches 100 pages, rendered in this process and as a job
     in a worker process: the renderer alone, at the same size, with no registry behind it.
3. A long audit trail: `LONG_TRAIL` filler events appended to the grown workspace (a busy
   workspace after years of use). Collecting the compliance report's records with the chain
   verified in the parent, against leaving it to the rendering worker (what ``build_report``
   does); and the whole ``build_report``.
4. Key latency on the project screen (Pilot ``press`` of a stage-tab switch, animations off)
   while the grown project's 100-page report builds through the app's ``build_report``
   worker on that long trail, against idle; and two rejected designs in a thread of the TUI
   process (they hold the GIL): verifying the chain there, and rendering there.

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import (
    open_demo_project, press_during_thread, press_during_worker, press_idle, print_key_latency, scratch_home,
)

SLUG = "ctr-demo"
REPEATS = 3
TARGET_PAGES = 100
BUILDS_WHILE_PRESSING = 2
CHARTS = ("ChartSeries", "LineChart")
THREAD_RENDERS = 3
GROW_RUNS = 6
GROW_BATCH_ROWS = 1500
GROW_MAX_BATCHES = 120
GROW_DRIFTS = (0.0, 0.1, 0.3, 0.6, 1.0)
LONG_TRAIL = 100_000


def inflate(obj: Any, k: int) -> Any:
    """``obj`` with every table's rows and every chart repeated ``k`` times (see the docstring)."""
    from reports.data import TableData

    if isinstance(obj, TableData):
        n = len(obj.rows)
        return replace(obj, rows=obj.rows * k, highlight=tuple(i + c * n for c in range(k) for i in obj.highlight))
    if isinstance(obj, tuple):
        out: list[Any] = []
        for item in obj:
            if type(item).__name__ in CHARTS:  # k copies, told apart by their titles
                out += [item, *(replace(item, title=f"{item.title} [{copy + 1}]") for copy in range(1, k))]
            else:
                out.append(inflate(item, k))
        return tuple(out)
    if is_dataclass(obj) and not isinstance(obj, type):
        changes = {f.name: inflate(getattr(obj, f.name), k) for f in fields(obj) if f.init}
        return replace(obj, **changes)
    return obj


def _median(samples: list[float]) -> str:
    return f"{statistics.median(samples):6.2f} s (min {min(samples):.2f}, max {max(samples):.2f})"


def _timed(fn: Any, repeats: int = REPEATS) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


OLD_COMMAND = f"""
import sys
from app.cli.workspace import job_runner, open_workspace
from app.services.report_builder import build_report
if __name__ == "__main__":
    wb = open_workspace()
    build_report(wb, job_runner(wb), {SLUG!r}, "compliance", sys.argv[1])
"""


def measure_command(folder: Path) -> None:
    """`mlwb report` as a person runs it, process start to exit: its start-up, collecting in the
    parent, the job forkserver's start and preload, the render in a worker and the event. Against
    `mlwb projects` (the start-up every command pays) and the previous design in the same run:
    the forkserver preloading the ML libraries (NumPy, pandas, SciPy, scikit-learn, skops),
    started only when the render was asked for."""
    def command() -> None:
        subprocess.run([sys.executable, "-m", "app.cli", "report", SLUG, "--out", str(folder / "cmd.pdf")], check=True,
                       capture_output=True, env=os.environ.copy())

    def previous() -> None:
        script = folder / "previous_report_command.py"
        script.write_text(OLD_COMMAND)
        subprocess.run([sys.executable, str(script), str(folder / "old.pdf")], check=True, capture_output=True,
                       env=os.environ.copy(), cwd=Path(__file__).resolve().parent.parent)

    def projects() -> None:
        subprocess.run([sys.executable, "-m", "app.cli", "projects"], check=True, capture_output=True,
                       env=os.environ.copy())

    whole, old, start = [], [], []
    for _ in range(REPEATS):  # interleaved: a change of load hits each alike
        whole += _timed(command, 1)
        old += _timed(previous, 1)
        start += _timed(projects, 1)
    print(f"== `mlwb report {SLUG}`, the whole command (load {os.getloadavg()[0]:.1f}), median of {REPEATS} ==")
    print(f"mlwb projects (start-up alone)            {_median(start)}")
    print(f"previous: ML preload, server started late {_median(old)}")
    print(f"mlwb report (process start to exit)       {_median(whole)}   target <= 5 s")
    print(f"mlwb report / previous: {statistics.median(whole) / statistics.median(old):.2f}x")


def measure_builds(folder: Path) -> None:
    from app.jobs import JobRunner
    from app.services.jobs import WorkbenchLedger
    from app.services import jobs as job_records
    from app.services.report_builder import COLLECTORS, RENDER_TASK, build_report
    from app.services.workbench import Workbench
    from reports.render import build_document, render_document

    wb = Workbench.open()
    runner = JobRunner(WorkbenchLedger(wb))
    collect = COLLECTORS["compliance"]
    data = collect(wb, SLUG)
    render_document("compliance", data, folder / "warm.pdf")  # imports, fonts, file cache
    collected = _timed(lambda: collect(wb, SLUG))
    rendered = _timed(lambda: render_document("compliance", data, folder / "alone.pdf"))
    pages = render_document("compliance", data, folder / "alone.pdf").pages
    built = _timed(lambda: build_report(wb, runner, SLUG, "compliance", folder / "built.pdf"))
    print(f"== the demo's compliance report ({pages} pages), median of {REPEATS} ==")
    print(f"collect (parent, registry reads)          {_median(collected)}")
    print(f"render alone (this process)               {_median(rendered)}")
    print(f"build_report: collect + worker + record   {_median(built)}   target <= 5 s")

    # The collected records become the document's tables and charts in the renderer; inflate
    # the document built from them (what the worker would lay out).
    document = build_document("compliance", data)
    k, big_pages = 1, pages
    for _ in range(8):  # pages grow about linearly with k
        if big_pages >= TARGET_PAGES:
            break
        k = max(k + 1, round(k * TARGET_PAGES * 1.03 / big_pages))
        big_pages = render_document("compliance", inflate(document, k), folder / "big.pdf").pages
    if big_pages < TARGET_PAGES:
        raise RuntimeError(f"inflating the tables x{k} gave only {big_pages} pages")
    big = inflate(document, k)
    in_process = _timed(lambda: render_document("compliance", big, folder / "big.pdf"), 2)

    def as_job() -> None:
        job_id = job_records.create_job(wb, "bench", SLUG, {"pages": big_pages})
        runner.execute(job_id, RENDER_TASK, {"kind": "compliance", "data": big, "out": str(folder / "big-job.pdf")})
        job_records.mark_cancelled(wb, job_id, "benchmark: result not recorded")

    in_worker = _timed(as_job, 2)
    print(f"== a {big_pages}-page report (the demo's data, tables and charts x{k}; see the docstring) ==")
    print(f"render alone (this process)               {_median(in_process)}")
    print(f"render as a job (spawn worker)            {_median(in_worker)}   target <= 15 s")
    wb.close()


def grow_project(folder: Path) -> int:
    """Train ``GROW_RUNS`` more runs and add analysed batches until the compliance report has
    at least ``TARGET_PAGES`` pages; returns the page count."""
    from app.jobs import JobRunner
    from app.services.jobs import WorkbenchLedger
    from app.ml.demo_data import generate_interactions
    from app.services import monitoring_analysis, monitoring_batches, training
    from app.services.report_builder import COLLECTORS
    from app.services.workbench import Workbench
    from reports.render import render_document

    wb = Workbench.open()
    runner = JobRunner(WorkbenchLedger(wb))
    started = time.perf_counter()
    kinds = ("logistic_regression", "decision_tree")
    for i in range(GROW_RUNS):
        training.train(wb, runner, SLUG, kinds[i % 2], seed=100 + i)

    def pages() -> int:
        data = COLLECTORS["compliance"](wb, SLUG, deterministic=True)
        return render_document("compliance", data, folder / "grow.pdf").pages

    count, added = pages(), 0
    while count < TARGET_PAGES and added < GROW_MAX_BATCHES:
        for _ in range(10):  # ten batches between page counts
            added += 1
            label = f"2027-{added:03d}"
            frame = generate_interactions(GROW_BATCH_ROWS, seed=1000 + added,
                                          drift=GROW_DRIFTS[added % len(GROW_DRIFTS)])
            path = folder / f"{label}.csv"
            frame.drop(columns=["clicked"]).to_csv(path, index=False)
            monitoring_batches.import_batch(wb, SLUG, path, label=label)
            monitoring_analysis.analyse_batch(wb, runner, SLUG, label)
        count = pages()
        print(f"  grown: {GROW_RUNS} runs and {added} batches more, {count} pages "
              f"({time.perf_counter() - started:.0f} s)")
    wb.close()
    return count


def measure_grown(folder: Path) -> None:
    from app.jobs import JobRunner
    from app.services.jobs import WorkbenchLedger
    from app.services.report_builder import COLLECTORS, build_report
    from app.services.workbench import Workbench

    wb = Workbench.open()
    runner = JobRunner(WorkbenchLedger(wb))
    collect = COLLECTORS["compliance"]
    collected = _timed(lambda: collect(wb, SLUG))
    built_reports: list[Any] = []
    built = _timed(lambda: built_reports.append(build_report(wb, runner, SLUG, "compliance", folder / "grown.pdf")))
    drift_reports: list[Any] = []
    drift = _timed(lambda: drift_reports.append(build_report(wb, runner, SLUG, "drift", folder / "drift.pdf")))
    print(f"== the grown project's compliance report ({built_reports[-1].pages} pages, real records), "
          f"median of {REPEATS} ==")
    print(f"collect (parent, registry reads)          {_median(collected)}")
    print(f"build_report: collect + worker + record   {_median(built)}   target <= 15 s")
    print(f"drift report, every batch ({drift_reports[-1].pages} pages)   {_median(drift)}")
    wb.close()


def lengthen_trail() -> None:
    """Append ``LONG_TRAIL`` filler events (project "bench-filler") in one transaction, then time
    collecting the compliance report's records both ways, and the whole build."""
    from app.services.audit_trail import append_event
    from app.jobs import JobRunner
    from app.services.jobs import WorkbenchLedger
    from app.services.report_builder import COLLECTORS, build_report
    from app.services.workbench import Workbench

    wb = Workbench.open()
    started = time.perf_counter()
    with wb.unit_of_work() as uow:
        for i in range(LONG_TRAIL):
            append_event(uow.session, wb.key.secret, wb.anchor, actor="bench", action="bench.filler",
                         entity_type="filler", entity_id=i, project_slug="bench-filler",
                         payload={"i": i, "note": "a filler event of ordinary length for the benchmark"})
    print(f"== a long audit trail ({LONG_TRAIL:,} filler events more, written in "
          f"{time.perf_counter() - started:.0f} s), median of {REPEATS} ==")
    collect = COLLECTORS["compliance"]
    in_parent = _timed(lambda: collect(wb, SLUG))
    deferred = _timed(lambda: collect(wb, SLUG, verify_chain=False))
    built = _timed(lambda: build_report(wb, JobRunner(WorkbenchLedger(wb)), SLUG, "compliance", deterministic=True))
    print(f"collect, chain verified in the parent     {_median(in_parent)}")
    print(f"collect, chain left to the worker         {_median(deferred)}")
    print(f"build_report (worker verifies and renders) {_median(built)}")
    wb.close()


async def measure_keys(folder: Path) -> dict[str, list[float]]:
    from app.services.reporting import collect_compliance_report
    from app.tui import WorkbenchApp
    from reports.render import render_document

    app = WorkbenchApp(offer_demo=False)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = await open_demo_project(app, pilot)
        results["idle"] = await press_idle(pilot, tabs)

        results["build_report (worker)"] = await press_during_worker(
            app, pilot, tabs, lambda: app.build_report(SLUG, "compliance"),
            lambda: app.report_build_running(SLUG), BUILDS_WHILE_PRESSING)

        from app.services.audit_trail import verify_with_digest

        def verify_in_thread() -> None:
            for _ in range(BUILDS_WHILE_PRESSING):
                verify_with_digest(app.wb)

        results["verify in a thread"] = await press_during_thread(pilot, tabs, verify_in_thread)

        data = collect_compliance_report(app.wb, SLUG, verify_chain=False)  # what a build hands its worker

        def render_in_thread() -> None:
            for _ in range(THREAD_RENDERS):
                render_document("compliance", data, folder / "thread.pdf")

        results["render in a thread"] = await press_during_thread(pilot, tabs, render_in_thread)
    return results


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    quick = "--quick" in args
    scratch_home("reports")
    demo = ["demo", "--rows", "6000", "--batch-rows", "1500"] if quick else ["demo"]
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", *demo], check=True, capture_output=True, env=os.environ.copy())
    print(f"(demo built in {time.perf_counter() - started:.0f} s; {os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="mlwb-bench-reports-") as tmp:
        folder = Path(tmp)
        measure_command(folder)
        measure_builds(folder)
        grow_project(folder)
        measure_grown(folder)
        lengthen_trail()
        results = asyncio.run(measure_keys(folder))
    print(f"== key latency on the project screen while the grown project's report builds "
          f"(trail of {LONG_TRAIL:,}+ events) ==")
    print_key_latency(results)


if __name__ == "__main__":
    main()
