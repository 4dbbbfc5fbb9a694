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


#: How a verb's help names a run or a dataset argument: what a person types is the number within the
#: project (``app.services.numbering`` reads it, ``cancer/run 3`` included).
RUN_HELP = "the run's number in the project, as `mlwb runs PROJECT` lists it (or PROJECT/run N)"
DATASET_HELP = "the dataset's number in the project, as `mlwb data list PROJECT` lists it (or PROJECT/dataset N)"


def add_key_option(verb: argparse.ArgumentParser) -> None:
    """``--key FILE``: sign with this private key file instead of mine (keyring or signing.key)."""
    verb.add_argument("--key", type=Path, metavar="FILE",
                      help="sign with this private key file (default: your key, from `mlwb people init`)")


def add_json_option(verb: argparse.ArgumentParser, what: str = "the result record") -> None:
    """``--json``: print one JSON document (``what``) on stdout instead of the sentence."""
    verb.add_argument("--json", action="store_true", help=f"print {what} as one JSON document")


def _plain(record: Any) -> Any:
    """``record`` with every view dataclass in it (at the top, or in a list, tuple or dict a
    listing verb returns) turned into its fields."""
    import dataclasses

    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    if isinstance(record, (list, tuple)):
        return [_plain(item) for item in record]
    if isinstance(record, dict):
        return {key: _plain(value) for key, value in record.items()}
    return record


def print_json(record: Any) -> None:
    """Print a verb's result as one JSON document on one line: a service's view dataclass (nested
    ones too, and lists of them, as a listing verb returns) as its fields, datetimes and paths as
    text. With ``--json`` this is the only thing a verb prints on stdout, so a script can
    ``json.loads`` it."""
    import json

    print(json.dumps(_plain(record), default=str, sort_keys=True))
