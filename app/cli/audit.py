"""Workspace record verbs of ``mlwb``: verify and list the audit trail, and list the background
jobs (what ran, and how it ended). Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    audit = sub.add_parser("audit", help="verify or list the audit trail")
    asub = audit.add_subparsers(dest="audit_verb", metavar="verify|log", required=True)
    asub.add_parser("verify", help="check every link of the hash chain")
    alog = asub.add_parser("log", help="list recent events")
    alog.add_argument("--project")
    alog.add_argument("--limit", type=int, default=30)

    jobs = sub.add_parser("jobs", help="list recent background jobs")
    jobs.add_argument("--project")


def _cmd_audit(args: argparse.Namespace) -> int:
    from app.services import audit_trail

    wb = open_workspace()
    if args.audit_verb == "verify":
        verdict, digest = audit_trail.verify_with_digest(wb)
        print(verdict.describe(), file=sys.stdout if verdict.ok else sys.stderr)
        if verdict.ok:  # what a report built now prints, and an exported bundle's manifest records
            print(f"evidence digest {digest}")
        return 0 if verdict.ok else 1
    for e in audit_trail.recent_events(wb, project=args.project, limit=args.limit):
        print(f"{e.seq}\t{e.ts}\t{e.actor}\t{e.action}\t{e.project or '-'}\t{e.summary}")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from app.services import jobs

    for j in jobs.list_jobs(open_workspace(), project_slug=args.project):
        print(f"{j.id}\t{j.kind}\t{j.state}\t{j.progress:.0%}\t{j.project or '-'}\t{j.error.splitlines()[0] if j.error else ''}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"audit": _cmd_audit, "jobs": _cmd_jobs}
