"""How the verbs of ``mlwb`` take their arguments: most act on one project, named first.

Shared by the verb modules so that shape is written once, beside the other things they share
(``app.cli.workspace``), and not in the package that assembles them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_project_verb(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """Add verb NAME to ``sub`` (``help=``, ``description=`` as for ``add_parser``) with the
    project's slug as its first argument."""
    verb: argparse.ArgumentParser = sub.add_parser(name, **kwargs)
    verb.add_argument("project")
    return verb


def add_key_option(verb: argparse.ArgumentParser) -> None:
    """``--key FILE``: sign with this private key file instead of mine (keyring or signing.key)."""
    verb.add_argument("--key", type=Path, metavar="FILE",
                      help="sign with this private key file (default: your key, from `mlwb people init`)")


def add_json_option(verb: argparse.ArgumentParser, what: str = "the result record") -> None:
    """``--json``: print one JSON document (``what``) on stdout instead of the sentence."""
    verb.add_argument("--json", action="store_true", help=f"print {what} as one JSON document")


def print_json(record: Any) -> None:
    """Print a verb's result as one JSON document: a service's view dataclass (nested ones too)
    as its fields, datetimes and paths as text."""
    import dataclasses
    import json

    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        record = dataclasses.asdict(record)
    print(json.dumps(record, default=str, sort_keys=True))
