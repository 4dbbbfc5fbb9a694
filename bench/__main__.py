"""`make bench`: every benchmark, each printing its figures against a baseline from the same run.

`python -m bench NAME [ARGS]` runs one, exactly as `python -m bench.NAME ARGS` would (for example
`python -m bench crash_loop --kills 50`)."""

from __future__ import annotations

import importlib.util
import runpy
import sys


def run_all() -> None:
    # Imported here, not at the top: `python -m bench NAME` runs NAME as __main__, which must not
    # already be imported as bench.NAME.
    from bench import (
        bootstrap_speed,
        crash_loop,
        demo_speed,
        drift_evidently,
        drift_profile,
        drift_speed,
        first_frame,
        job_overhead,
        pdf_long_text,
        report_speed,
        runs_scale,
        runs_table,
        serving_latency,
        tui_responsiveness,
        tuning_latency,
    )

    demo_speed.main()
    first_frame.main()
    tui_responsiveness.main()
    runs_table.main()
    runs_scale.main([])
    job_overhead.main()
    bootstrap_speed.main()
    tuning_latency.main()
    drift_speed.main()
    drift_profile.main([])
    drift_evidently.main()
    serving_latency.main([])
    report_speed.main([])
    pdf_long_text.main([])
    if crash_loop.main([]):  # the one benchmark with a verdict: lost writes, orphans, integrity, chain
        raise SystemExit(1)


def main() -> None:
    if len(sys.argv) > 1:
        name = sys.argv[1].replace("-", "_")
        if name.startswith("_") or importlib.util.find_spec(f"bench.{name}") is None:
            raise SystemExit(f"no benchmark {sys.argv[1]!r}: see bench/README.md for their names")
        sys.argv = [f"bench.{name}", *sys.argv[2:]]
        runpy.run_module(f"bench.{name}", run_name="__main__", alter_sys=True)
        return
    run_all()


if __name__ == "__main__":
    main()
