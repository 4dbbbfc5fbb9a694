"""How long `mlwb demo` takes on an empty workspace (target: under 2 minutes on 2 cores).

Baseline: the same command's fixed cost — a CLI call that opens the workspace and lists
projects — so the ratio shows what the six stages themselves cost.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bench.common import scratch_home


def _timed(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "app.cli", *args], check=True, capture_output=True, env=os.environ.copy())
    return time.perf_counter() - started


def main() -> None:
    scratch_home("demo")
    baseline = _timed(["projects"])
    demo = _timed(["demo"])
    again = _timed(["demo"])
    print("== demo speed (40,000 interactions, 3 models, 3 monitoring batches) ==")
    print(f"baseline `mlwb projects` on a new workspace: {baseline:6.2f} s")
    print(f"`mlwb demo` on an empty workspace:           {demo:6.2f} s  ({demo / baseline:5.1f}x baseline; target < 120 s)")
    print(f"`mlwb demo` again (nothing to redo):         {again:6.2f} s  ({again / baseline:5.1f}x baseline)")


if __name__ == "__main__":
    main()
