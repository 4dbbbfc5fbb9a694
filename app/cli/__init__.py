"""``mlwb``: headless verbs for every lifecycle step; with no verb it opens the TUI.

User errors (``WorkbenchError``) print one line on stderr and exit 2 with nothing
half-written; anything else is a bug and keeps its traceback.

This module assembles the parser from the verb modules, one per part of the lifecycle, and
runs the verb; what the verbs share is in modules of its own (``app.cli.workspace``: the
workspace, the job runner, the progress line; ``app.cli.arguments``: the project argument), so no
verb module imports this one.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from app.cli.terminal import protect_terminal
from app.errors import WorkbenchError
from app.startup import import_frozen
from storage.artifacts import ArtifactCorrupted

if TYPE_CHECKING:
    from types import ModuleType

# Each verb module of ``app.cli`` with the verbs it adds, in the order `mlwb --help` lists them.
# A verb imports only its own module (``mlwb projects`` never loads the release or review verbs
# and what they import: every verb's module took a tenth of the start-up); `mlwb --help`, an
# unknown verb and ``_parser()`` load them all. ``tests/test_startup_imports.py`` checks this
# table against each module's ``COMMANDS``.
VERBS: dict[str, tuple[str, ...]] = {
    "projects": ("demo", "projects"),
    "framing": ("statement", "checklist", "frame", "project"),
    "data": ("data",),
    "development": ("train", "models-available", "runs", "compare", "analyse", "evaluate", "card"),
    "imports": ("import",),
    "release": ("models", "request-review", "approve", "release-gate", "promote", "waive", "alias", "rollback",
                "history", "release", "serve", "score"),
    "findings": ("findings", "inventory"),
    "monitoring": ("monitor", "retrain", "metrics", "drift"),
    "evidence_bundle": ("export", "verify-bundle"),
    "review": ("review",),
    "gates": ("gate", "advance"),
    "reports": ("report", "reports"),
    "audit": ("audit", "jobs"),
    "people": ("people",),
}
MODULE_OF_VERB = {verb: module for module, verbs in VERBS.items() for verb in verbs}


def _verb_modules(verb: str | None = None) -> list[ModuleType]:
    """The module of ``verb``, or every verb module (in ``VERBS`` order) when ``verb`` is None."""
    names = VERBS if verb is None else (MODULE_OF_VERB[verb],)
    return [importlib.import_module(f"app.cli.{name}") for name in names]


def _parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser of every verb, or (``verb``) of that verb's module only: enough to parse a
    command line that names it, since argparse reads only the chosen subcommand's arguments."""
    p = argparse.ArgumentParser(prog="mlwb", description="ML Lifecycle Workbench. With no command, opens the TUI.")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")
    for verbs in _verb_modules(verb):
        verbs.add_parsers(sub)
    return p


def _named_verb(argv: Sequence[str]) -> str | None:
    """The verb a command line starts with, when it is one (``mlwb`` takes no option before it
    but -h); None for no verb, help or anything unknown, which then gets the whole parser."""
    return argv[0] if argv and argv[0] in MODULE_OF_VERB else None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    verb = _named_verb(words)
    args = _parser(verb).parse_args(words)
    try:
        if args.verb is None:
            return import_frozen("app.tui").run_tui()
        protect_terminal()
        # SQLAlchemy, the models and the workbench: what every verb needs, imported frozen
        # (app.startup). The jobs list names this process as the owner of what it runs.
        import_frozen("app.services.jobs").declare_face("cli")
        return _verb_modules(args.verb)[0].COMMANDS[args.verb](args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ArtifactCorrupted as exc:
        print(f"error: {exc}: the workspace's artifact store was changed outside the workbench; "
              "restore it from a backup", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`mlwb audit log | head -1`): stop quietly, and point stdout at
        # /dev/null so the interpreter's final flush does not complain either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141

