"""Report verbs of ``mlwb``: build a document as a PDF, and list the reports built.

Errors surface through ``app.cli.main`` (one ``error:`` line, exit 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_project_verb, print_json
from app.cli.workspace import job_runner, open_workspace


#: What the job forkserver of `mlwb report` imports once (``app.jobs.JobRunner``'s ``preload``):
#: the renderer and the services' views, not the ML libraries. A name, never imported here.
RENDER_PRELOAD = "app.services.report_preload"


def pages(n: int) -> str:
    return f"{n} page" if n == 1 else f"{n} pages"


def add_parsers(sub: Any) -> None:
    from reports.render import DOCUMENTS  # a light module: the renderers load when a PDF is laid out

    report = add_project_verb(
        sub, "report", help="build a PDF report of a project in a worker process (recorded as one audit event)",
        description="Build a document of PROJECT as a PDF. The PDF prints the audit-chain head it was built "
                    "from; the build adds one 'report.built' audit event (and its job's events) and changes "
                    "nothing else. With --deterministic it records nothing at all, so two such builds from "
                    "the same records are byte-identical.")
    report.add_argument("--kind", default="compliance", metavar="KIND",
                        help=f"the document: {', '.join(DOCUMENTS)} (default compliance)")
    report.add_argument("--version", type=int, metavar="N",
                        help="the model version a compliance report, model card or validation report is about "
                             "(default: the production version, else the latest)")
    report.add_argument("--batches", metavar="LABEL[:LABEL]",
                        help="the monitoring batch, or first:last range, a drift report covers (default: all)")
    report.add_argument("--deterministic", action="store_true",
                        help="a reproduction for comparison: prints 'deterministic build' instead of the time "
                             "and records nothing, so the same records give the same bytes")
    report.add_argument("--out", type=Path, metavar="FILE",
                        help="a .pdf path in an existing folder, or a folder (default: the workspace's exports "
                             "folder, named PROJECT-KIND-TIMESTAMP.pdf)")
    add_json_option(report, "the report built (path, chain head, pages, SHA-256)")

    reports = sub.add_parser("reports", help="list the reports built (newest first) and check their files")
    reports.add_argument("project", nargs="?")
    reports.add_argument("--limit", type=int, default=20)
    add_json_option(reports, "the reports built (a list, newest first, with each file's state)")


def _show_progress(_key: int, fraction: float, message: str) -> None:
    who = "render"  # a report build runs in a worker process but has no job row
    print(f"  {who} {fraction:4.0%} {message}", file=sys.stderr)


def _cmd_report(args: argparse.Namespace) -> int:
    from app.jobs import start_forkserver
    from reports.render import DOCUMENTS

    # This command's one job is the render: its forkserver preloads the renderer, not the ML
    # libraries, and starts now, so that preload overlaps this process's imports and collecting
    # (unless the document asked for does not exist: that is refused below, with nothing started).
    if args.kind in DOCUMENTS:
        start_forkserver(RENDER_PRELOAD)
    from app.services.report_builder import build_report

    wb = open_workspace()
    built = build_report(wb, job_runner(wb, RENDER_PRELOAD), args.project, args.kind, args.out, version=args.version,
                         batches=args.batches, deterministic=args.deterministic, on_progress=_show_progress)
    if args.json:
        print_json(built)
        return 0
    # The first line keeps the shape scripts already read: the path, then the head printed in the PDF.
    print(f"wrote {built.path} (audit chain head {built.head_seq} {built.head_hash})")
    print(f"  {built.title}, {built.scope_text}: {pages(built.pages)}, sha256 {built.sha256}")
    if built.deterministic:
        print("  deterministic build: nothing was recorded", file=sys.stderr)
    return 0


def _cmd_reports(args: argparse.Namespace) -> int:
    from app.services.report_builder import recent_reports

    rows = recent_reports(open_workspace(), args.project, limit=args.limit)
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no reports built yet: build one with `mlwb report PROJECT`", file=sys.stderr)
    for r in rows:
        print(f"{r.built_at:%Y-%m-%d %H:%M}\t{r.project}\t{r.kind}\t{r.scope_text}\t{pages(r.pages)}\t"
              f"head {r.head_seq}\t{r.file_state}\t{r.path}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"report": _cmd_report, "reports": _cmd_reports}
