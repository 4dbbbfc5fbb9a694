"""Stage gate verbs of ``mlwb``: a stage's checklist, and moving a project on when it passes.
Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.cli.arguments import add_json_option, add_project_verb, print_json
from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    gate = add_project_verb(sub, "gate", help="show a stage gate's checklist (default: the current stage)")
    gate.add_argument("--stage", type=int)
    add_json_option(gate, "the checklist")

    advance = add_project_verb(sub, "advance", help="move a project to its next stage if the gate passes")
    add_json_option(advance, "the stage the project is now at")


def _cmd_gate(args: argparse.Namespace) -> int:
    from app.services import gates

    g = gates.gate(open_workspace(), args.project, args.stage)
    if args.json:
        print_json(g)
        return 0
    print(f"stage {g.stage} {g.title}: {'PASSED' if g.passed else 'OPEN'}")
    for c in g.checks:
        mark = "ok  " if c.passed else ("MISS" if c.required else "warn")
        print(f"  [{mark}] {c.label} — {c.detail}")
    return 0


def _cmd_advance(args: argparse.Namespace) -> int:
    from app.services import gates

    stage = gates.advance_stage(open_workspace(), args.project)
    if args.json:
        print_json({"project": args.project, "stage": stage})
        return 0
    print(f"{args.project} is now at stage {stage}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"gate": _cmd_gate, "advance": _cmd_advance}
