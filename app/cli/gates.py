"""Stage gate verbs of ``mlwb``: a stage's checklist, and moving a project on when it passes.
Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from app.cli.arguments import add_project_verb
from app.cli.workspace import open_workspace


def add_parsers(sub: Any) -> None:
    gate = add_project_verb(sub, "gate", help="show a stage gate's checklist (default: the current stage)")
    gate.add_argument("--stage", type=int)

    add_project_verb(sub, "advance", help="move a project to its next stage if the gate passes")


def _cmd_gate(args: argparse.Namespace) -> int:
    from app.services import gates

    g = gates.gate(open_workspace(), args.project, args.stage)
    print(f"stage {g.stage} {g.title}: {'PASSED' if g.passed else 'OPEN'}")
    for c in g.checks:
        mark = "ok  " if c.passed else ("MISS" if c.required else "warn")
        print(f"  [{mark}] {c.label} — {c.detail}")
    return 0


def _cmd_advance(args: argparse.Namespace) -> int:
    from app.services import gates

    print(f"{args.project} is now at stage {gates.advance_stage(open_workspace(), args.project)}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"gate": _cmd_gate, "advance": _cmd_advance}
