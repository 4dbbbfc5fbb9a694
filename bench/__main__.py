"""`make bench`: every benchmark, each printing its figures against a baseline from the same run."""

from __future__ import annotations

from bench import (
    bootstrap_speed,
    demo_speed,
    drift_evidently,
    drift_speed,
    first_frame,
    job_overhead,
    pdf_long_text,
    report_speed,
    runs_table,
    serving_latency,
    tui_responsiveness,
    tuning_latency,
)


def main() -> None:
    demo_speed.main()
    first_frame.main()
    tui_responsiveness.main()
    runs_table.main()
    job_overhead.main()
    bootstrap_speed.main()
    tuning_latency.main()
    drift_speed.main()
    drift_evidently.main()
    serving_latency.main([])
    report_speed.main([])
    pdf_long_text.main([])


if __name__ == "__main__":
    main()
