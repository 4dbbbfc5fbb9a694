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
import os
import sys
from collections.abc import Callable, Sequence

from app.cli import (
    audit,
    data,
    development,
    evidence_bundle,
    findings,
    framing,
    gates,
    monitoring,
    people,
    projects,
    release,
    reports,
    review,
)
from app.cli.terminal import protect_terminal
from app.errors import WorkbenchError
from storage.artifacts import ArtifactCorrupted

# In the order `mlwb --help` lists their verbs.
VERB_MODULES = (projects, framing, data, development, release, findings, monitoring, evidence_bundle, review, gates, reports, audit,
                people)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlwb", description="ML Lifecycle Workbench. With no command, opens the TUI.")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")
    for verbs in VERB_MODULES:
        verbs.add_parsers(sub)
    return p


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    name: command for verbs in VERB_MODULES for name, command in verbs.COMMANDS.items()
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.verb is None:
            from app.tui import run_tui

            return run_tui()
        protect_terminal()
        from app.services.jobs import declare_face

        declare_face("cli")  # the jobs list names this process as the owner of what it runs
        return COMMANDS[args.verb](args)
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

