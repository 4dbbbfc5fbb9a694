"""Project verbs of ``mlwb``: the demo project carried through all six stages, and creating,
listing and re-profiling projects. Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from app.cli.arguments import add_json_option, print_json
from app.cli.workspace import job_runner, open_workspace
from app.lifecycle import MATURITIES
from app.ml.catalogue import PROBLEM_TYPES


def add_parsers(sub: Any) -> None:
    demo = sub.add_parser("demo", help="create the ctr-demo project, carried through all six stages")
    demo.add_argument("--rows", type=int, default=40_000, help="interactions to generate (default 40000)")
    demo.add_argument("--batch-rows", type=int, default=5_000, help="rows per monitoring batch (default 5000)")
    demo.add_argument("--seed", type=int, default=7)

    projects = sub.add_parser("projects", help="list projects, or create one with 'projects new'")
    # Its own dest: a sub-verb's parser would overwrite a shared ``json`` with its default.
    projects.add_argument("--json", dest="list_json", action="store_true",
                          help="print the projects as one JSON document (a list)")
    psub = projects.add_subparsers(dest="projects_verb", metavar="new|maturity|set")
    new = psub.add_parser("new", help="create an empty project at stage 1")
    new.add_argument("slug")
    new.add_argument("--problem-type", required=True, choices=PROBLEM_TYPES)
    new.add_argument("--maturity", default="startup", choices=MATURITIES)
    new.add_argument("--name")
    add_json_option(new, "the project created")
    maturity = psub.add_parser("maturity", help="change a project's maturity profile (gates follow it)")
    maturity.add_argument("slug")
    maturity.add_argument("maturity", choices=MATURITIES)
    maturity.add_argument("--reason", required=True)
    add_json_option(maturity, "the project with its new profile")
    inventory = psub.add_parser("set", help="set a project's risk tier and owner (the model inventory's)")
    inventory.add_argument("slug")
    inventory.add_argument("--risk-tier", metavar="low|medium|high",
                           help="how material the model is; sets how often it is revalidated")
    inventory.add_argument("--owner", help="the person who answers for the model")
    inventory.add_argument("--reason", default="", help="why (kept in the audit trail)")
    add_json_option(inventory, "the project with its risk tier and owner")


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.services.demo import run_demo

    wb = open_workspace()
    outcome = run_demo(wb, job_runner(wb), rows=args.rows, seed=args.seed, batch_rows=args.batch_rows,
                       step=lambda m: print(f"- {m}", file=sys.stderr))
    verb = "created" if outcome.created else "already present, brought up to date"
    print(f"{outcome.slug}: {verb}; stage {outcome.stage} of 6; {outcome.alerts} monitoring alert(s)")
    if outcome.new_key:
        print(f"your signing key was created ({outcome.new_key}): back it up; `mlwb people whoami` shows it")
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    from app.services import projects

    wb = open_workspace()
    if args.projects_verb == "new":
        s = projects.create_project(wb, args.slug, problem_type=args.problem_type, maturity=args.maturity, name=args.name)
        if args.json:
            print_json(s)
            return 0
        print(f"{s.slug}: created at stage {s.current_stage} ({s.stage_title})")
        return 0
    if args.projects_verb == "maturity":
        s = projects.set_maturity(wb, args.slug, args.maturity, reason=args.reason)
        if args.json:
            print_json(s)
            return 0
        print(f"{s.slug}: maturity profile is now {s.maturity}")
        return 0
    if args.projects_verb == "set":
        s = projects.set_inventory(wb, args.slug, risk_tier=args.risk_tier, owner=args.owner, reason=args.reason)
        if args.json:
            print_json(s)
            return 0
        print(f"{s.slug}: {s.risk_tier} risk tier, owner {s.owner or '(none)'}")
        return 0
    rows = projects.list_projects(wb)
    if args.list_json:
        print_json(rows)
        return 0
    if not rows:
        print("no projects yet: run `mlwb demo` or `mlwb projects new SLUG --problem-type TYPE`", file=sys.stderr)
    for s in rows:
        gate = "gate passed" if s.gate_passed else f"gate {s.checks_passed}/{s.checks_total}"
        print(f"{s.slug}\tstage {s.current_stage} {s.stage_title}\t{gate}\t{s.maturity}\t{s.name}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"demo": _cmd_demo, "projects": _cmd_projects}
