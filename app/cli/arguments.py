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
