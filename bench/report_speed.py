"""How long does building a report take, and does the TUI keep answering keys meanwhile?

On the demo project (40,000 interactions, three monitoring batches; `--quick`: 6,000):

1. The demo's full compliance report (target ≤ 5 s on 2 cores): collecting its data in the
   parent; rendering it alone in this process (the floor: no process start-up); and the whole
   ``build_report`` — collect, render in a worker process, record the ``report.built`` event —
   which is what `mlwb report` and the TUI's `b` do.
2. A 100-page report (target ≤ 15 s). What is synthetic, said plainly: the demo's *collected*
   data with every table's rows (runs, batches, drift per feature, findings…) repeated k times
   and its charts repeated k times, k chosen so the PDF reaches 100 pages. Long reports are long
   because of exactly those tables and per-batch charts, so the renderer does the work a project
   with ~k× the batches and runs would ask of it; collecting such a project's data is not
   measured (building one would take an hour of training and drift jobs). Timed in this process
   and as a job in a worker process (spawn, imports, pickled data, the PDF check).
3. Key latency on the project screen (Pilot ``press`` of a stage-tab switch, animations off)
   while reports build through the app's ``build_report`` worker, against idle; and the
   rejected design, the same render in a thread of the TUI process (it holds the GIL).

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import open_demo_project, press_idle, press_while, print_key_latency, scratch_home

SLUG = "ctr-demo"
REPEATS = 3
TARGET_PAGES = 100
BUILDS_WHILE_PRESSING = 4
CHARTS = ("ChartSeries", "LineChart")
THREAD_RENDERS = 12


def inflate(obj: Any, k: int) -> Any:
    """``obj`` with every table's rows and every chart repeated ``k`` times (see the docstring)."""
    from app.services.report_data import TableData

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


def measure_builds(folder: Path) -> None:
    from app.jobs import JobRunner
    from app.services import jobs as job_records
    from app.services.report_builder import COLLECTORS, RENDER_TASK, build_report
    from app.services.workbench import Workbench
    from reports.render import build_document, render_document

    wb = Workbench.open()
    runner = JobRunner(wb)
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


async def measure_keys(folder: Path) -> dict[str, list[float]]:
    from app.services.reporting import collect_report_data
    from app.tui import WorkbenchApp
    from reports.render import render_document

    app = WorkbenchApp(offer_demo=False)
    results: dict[str, list[float]] = {}
    async with app.run_test(size=(120, 40)) as pilot:
        tabs = await open_demo_project(app, pilot)
        results["idle"] = await press_idle(pilot, tabs)

        samples: list[float] = []
        for _ in range(BUILDS_WHILE_PRESSING):
            worker = app.build_report(SLUG, "compliance")
            while not app.report_build_running(SLUG):
                if worker.is_finished:
                    raise RuntimeError(f"the build did not start: {worker.error!r}")
                await asyncio.sleep(0.01)
            samples += await press_while(pilot, lambda: app.report_build_running(SLUG), tabs)
            await app.workers.wait_for_complete()
        results["build_report (worker)"] = samples

        data = collect_report_data(app.wb, SLUG)

        def render_in_thread() -> None:
            for _ in range(THREAD_RENDERS):
                render_document("compliance", data, folder / "thread.pdf")

        thread = threading.Thread(target=render_in_thread, daemon=True)
        thread.start()
        results["render in a thread"] = await press_while(pilot, thread.is_alive, tabs)
        thread.join()
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
        measure_builds(folder)
        results = asyncio.run(measure_keys(folder))
    print("== key latency on the project screen while reports build ==")
    print_key_latency(results)


if __name__ == "__main__":
    main()
