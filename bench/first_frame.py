"""How quickly the workbench starts: the TUI to its project list, and `mlwb projects` as a whole
process, each against a baseline started the same way in the same run.

1. **TUI**: from a fresh interpreter's first line to the dashboard's project list on screen (the
   workspace opened in its thread worker, the projects, inventory and alerts read and laid
   out), and to the first frame before that; against a bare Textual app (header, a table,
   footer) to its first frame. Target: project list ≤ 0.6 s (a bare app: ≈ 0.35 s quiet).
   Also counted: runs in which a numeric library (NumPy, pandas, scikit-learn, SciPy,
   matplotlib, reportlab) had been imported by the time the list showed (must be 0).
2. **CLI**: `python -m app.cli projects` from process start to exit (the console script does the
   same), against `python -c 'import textual'` and `python -c pass`. Target: ≤ 0.5 s.

The workspace holds ``PROJECTS`` small projects. Runs are interleaved (one of each in turn), so
a change of load hits every row alike; the ratios are what to compare across machines. The
project's modules are byte-compiled first: with ``PYTHONDONTWRITEBYTECODE`` set and no
``__pycache__`` yet, every run would compile them from source, which an installed workbench
never does.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import scratch_home, summary

REPO = Path(__file__).resolve().parent.parent
PROJECTS = 3
RUNS = 7
NUMERIC = ("numpy", "pandas", "sklearn", "scipy", "matplotlib", "reportlab")

PROJECT_LIST = f"""
import asyncio, sys, time
t0 = time.perf_counter()
from app.tui import WorkbenchApp
async def main():
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        frame = time.perf_counter() - t0
        while getattr(app.screen, "snapshot", None) is None:
            await asyncio.sleep(0.002)
        await pilot.pause()  # the rows laid out and drawn
        shown = time.perf_counter() - t0
        heavy = int(any(m in sys.modules for m in {NUMERIC!r}))
        print(frame, shown, len(app.screen.snapshot.projects), heavy)
asyncio.run(main())
"""
BARE_APP = """
import asyncio, time
t0 = time.perf_counter()
from textual.app import App
from textual.widgets import DataTable, Footer, Header
class Bare(App):
    def compose(self):
        table = DataTable()
        table.add_columns("Project", "Stage")
        table.add_rows([("p1", "1"), ("p2", "2"), ("p3", "3")])
        yield Header()
        yield table
        yield Footer()
async def main():
    async with Bare().run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - t0)
asyncio.run(main())
"""


def _python(*args: str) -> str:
    out = subprocess.run([sys.executable, *args], check=True, capture_output=True, text=True, cwd=REPO,
                         env=os.environ.copy())
    return out.stdout


def _wall(*args: str) -> float:
    """Seconds from starting ``python ARGS`` to its exit: what a person waits for."""
    start = time.perf_counter()
    _python(*args)
    return time.perf_counter() - start


def _ratio(a: list[float], b: list[float]) -> float:
    return statistics.median(a) / statistics.median(b)


def prepare() -> None:
    scratch_home("first-frame")
    for folder in ("app", "screens", "storage", "reports"):
        compileall.compile_dir(REPO / folder, quiet=1)
    for n in range(1, PROJECTS + 1):
        _python("-m", "app.cli", "projects", "new", f"bench-{n}", "--problem-type", "binary_classification")


def main() -> None:
    prepare()
    frames, lists, bare, leaked = [], [], [], 0
    cli, textual, bare_python = [], [], []
    for _ in range(RUNS):
        frame, shown, listed, heavy = _python("-c", PROJECT_LIST).split()
        assert int(listed) == PROJECTS, f"the project list showed {listed} projects, not {PROJECTS}"
        frames.append(float(frame))
        lists.append(float(shown))
        leaked += int(heavy)
        bare.append(float(_python("-c", BARE_APP)))
        cli.append(_wall("-m", "app.cli", "projects"))
        textual.append(_wall("-c", "import textual"))
        bare_python.append(_wall("-c", "pass"))
    load = os.getloadavg()[0]
    print(f"== start-up (load {load:.1f}; {PROJECTS} projects; runs interleaved) ==")
    print(f"baseline: bare Textual app, first frame:   {summary(bare)}")
    print(f"TUI first frame:                           {summary(frames)}")
    print(f"TUI project list on screen:                {summary(lists)}  (target ≤ 600 ms)")
    print(f"project list / bare app: {_ratio(lists, bare):.2f}x; first frame / bare app: {_ratio(frames, bare):.2f}x; "
          f"numeric libraries loaded by the project list in {leaked} of {RUNS} runs")
    print(f"baseline: python -c pass:                  {summary(bare_python)}")
    print(f"baseline: python -c 'import textual':      {summary(textual)}")
    print(f"mlwb projects (whole process):             {summary(cli)}  (target ≤ 500 ms)")
    print(f"mlwb projects / import textual: {_ratio(cli, textual):.2f}x; / python -c pass: "
          f"{_ratio(cli, bare_python):.2f}x")


if __name__ == "__main__":
    main()
