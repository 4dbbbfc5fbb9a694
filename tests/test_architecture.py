"""The layers of DESIGN.md as import-linter contracts (``[tool.importlinter]`` in pyproject.toml).

A wrong-way import (a report importing a service, a worker task reaching storage, a screen
opening a session, a cycle between the modules of one package) fails here, not in review.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=REPO, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout
