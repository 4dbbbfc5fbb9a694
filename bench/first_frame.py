"""Time from starting the TUI to its first frame, against importing the heavy libraries.

Baseline: a fresh interpreter that only imports pandas, scikit-learn's ensembles and
matplotlib.pyplot — what the first frame would at least cost if the TUI imported them eagerly.
"""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import scratch_home, summary

FIRST_FRAME = """
import asyncio, sys, time
t0 = time.perf_counter()
from app.tui import WorkbenchApp
async def main():
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - t0)
        print(int(any(m in sys.modules for m in ("pandas", "sklearn", "matplotlib"))))
asyncio.run(main())
"""
HEAVY = """
import time
t0 = time.perf_counter()
import pandas, sklearn.ensemble, matplotlib.pyplot
print(time.perf_counter() - t0)
"""
RUNS = 5


def _run(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=os.environ.copy())
    return out.stdout.split()


def main() -> None:
    scratch_home("first-frame")
    _run(FIRST_FRAME)  # create the workspace once, so runs measure opening, not creating
    frames, heavy, leaked = [], [], 0
    for _ in range(RUNS):
        seconds, heavy_loaded = _run(FIRST_FRAME)
        frames.append(float(seconds))
        leaked += int(heavy_loaded)
        heavy.append(float(_run(HEAVY)[0]))
    print("== TUI first frame ==")
    print(f"baseline: import pandas + sklearn.ensemble + matplotlib.pyplot: {summary(heavy)}")
    print(f"TUI first frame (import + mount):                             {summary(frames)}")
    ratio = sorted(frames)[len(frames) // 2] / sorted(heavy)[len(heavy) // 2]
    print(f"first frame / heavy imports: {ratio:.2f}x; heavy libraries loaded at first frame in {leaked} of {RUNS} runs")


if __name__ == "__main__":
    main()
