"""What start-up imports: `mlwb projects` and the TUI's first screen load no numeric library (and
the plain CLI no Textual), and `mlwb report`'s forkserver preloads the renderer, not the ML stack.

Each check runs in a fresh interpreter (a subprocess), since this test process has long imported
everything. These are behaviour assertions on ``sys.modules``, not timings: the times are in
``bench/first_frame.py`` and ``bench/report_speed.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import MODULE_OF_VERB, VERBS, _parser

REPO = Path(__file__).resolve().parent.parent
SLUG = "ctr-demo"
#: Each of them costs a tenth of a second to seconds to import, and none is needed to list projects.
NUMERIC = ("numpy", "pandas", "sklearn", "scipy", "matplotlib", "reportlab", "skops", "pyarrow")
LOADED = f"sorted({{m.partition('.')[0] for m in sys.modules}} & set({NUMERIC!r}) | set())"


def run_python(code: str) -> dict:
    """Run ``code`` in a fresh interpreter (this test's MLWB_HOME); return the JSON of its last line."""
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=os.environ.copy(), capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_mlwb_projects_imports_no_numeric_library_and_no_textual(demo_home: Path) -> None:
    out = run_python(f"""
import contextlib, io, json, sys
from app.cli import main
with contextlib.redirect_stdout(io.StringIO()) as listed:
    rc = main(["projects"])
loaded = {LOADED}
print(json.dumps({{"rc": rc, "listed": listed.getvalue(), "numeric": loaded,
                  "textual": "textual" in sys.modules, "alembic": "alembic" in sys.modules,
                  "verbs": sorted(m for m in sys.modules if m.startswith("app.cli."))}}))
""")
    assert out["rc"] == 0 and out["listed"].startswith(SLUG)  # the command really listed the demo
    assert out["numeric"] == []
    assert out["textual"] is False
    assert out["alembic"] is False  # a current schema costs one version read (storage.database.schema_head)
    # Only the `projects` verb's module (and what every verb shares) was imported, not the other twelve.
    assert {"app.cli.release", "app.cli.review", "app.cli.monitoring"}.isdisjoint(out["verbs"])
    assert "app.cli.projects" in out["verbs"]


def test_the_tui_shows_the_project_list_without_a_numeric_library(demo_home: Path) -> None:
    out = run_python(f"""
import asyncio, json, sys
from app.tui import WorkbenchApp

async def main():
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        for _ in range(600):
            if getattr(app.screen, "snapshot", None) is not None:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        snapshot = app.screen.snapshot
        return {{"projects": [p.slug for p in snapshot.projects] if snapshot else None,
                 "inventory": len(snapshot.inventory) if snapshot else None, "numeric": {LOADED}}}

print(json.dumps(asyncio.run(main())))
""")
    assert out["projects"] == [SLUG]  # the dashboard's project list is on screen
    assert out["inventory"] == 1
    assert out["numeric"] == []


def test_the_report_forkserver_preloads_the_renderer_and_no_ml_library(demo_home: Path, tmp_path: Path) -> None:
    """`mlwb report` starts its job forkserver with ``app.services.report_preload``: NumPy comes
    with matplotlib, but pandas, SciPy, scikit-learn and skops (seconds of imports) must not; and
    a render worker forked from it unpickles the collected records without importing anything."""
    payload = tmp_path / "records.pickle"
    run_python(f"""
import json, pickle
from app.services.reporting import COLLECTORS
from app.services.workbench import Workbench
records = COLLECTORS["compliance"](Workbench.open(), "{SLUG}", verify_chain=False)
open({str(payload)!r}, "wb").write(pickle.dumps(records))
print("{{}}")
""")
    out = run_python(f"""
import json, pickle, sys
import app.services.report_preload
before = set(sys.modules)
pickle.loads(open({str(payload)!r}, "rb").read())
print(json.dumps({{"loaded": {LOADED}, "by_payload": sorted(set(sys.modules) - before)}}), flush=True)
""")  # flush: the preload's guard leaves through os._exit
    assert {"reportlab", "matplotlib"} <= set(out["loaded"])
    assert {"pandas", "scipy", "sklearn", "skops"}.isdisjoint(out["loaded"])
    assert out["by_payload"] == []


def test_the_verb_table_names_every_verb_of_every_module() -> None:
    """``app.cli.VERBS`` decides which module a verb imports: it must match the modules' own verbs."""
    import importlib

    for module, verbs in VERBS.items():
        assert tuple(importlib.import_module(f"app.cli.{module}").COMMANDS) == verbs, module
    choices = next(a for a in _parser()._actions if a.dest == "verb").choices
    assert set(choices) == set(MODULE_OF_VERB)


@pytest.mark.parametrize("argv", [["projects"], ["report", SLUG, "--kind", "compliance"], ["audit", "verify"]])
def test_a_verb_parses_the_same_with_its_module_alone(argv: list[str]) -> None:
    assert vars(_parser(argv[0]).parse_args(argv)) == vars(_parser().parse_args(argv))
