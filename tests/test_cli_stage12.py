"""Stages 1 and 2 from the command line (issue 13, points 2, 6 and 9), run as real `mlwb`
subprocesses on real files in a per-test workspace (the ``wb`` fixture: ana.engineer, admin).

- a new project goes through stage 1 and 2 with only `statement`, `checklist` and `frame` until
  `mlwb advance` reaches stage 3 and `mlwb train` no longer lacks a feature spec;
- feature guesses from a dataset are proposals until a person confirms them;
- the project file: export → edit → apply shows and audits the diff, a second apply records
  nothing, unknown fields are refused by name and line, and strings survive the round trip;
- data imported before the statement is approved carries a warning; enterprise refuses it;
- `mlwb jobs` says when a job started, how long it ran, who queued it and which process ran it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.services import audit_trail, datasets, deliverables, project_file, projects
from app.services.workbench import Workbench
from tests.conftest import ME

REPO = Path(__file__).resolve().parents[1]

STATEMENT_SETS = (
    "objective=Find malignant tumours before the second visit",
    "stakeholders_gain=patients; oncologists",
    "stakeholders_lose=radiologists' time on false alarms",
    "feasibility_data=biopsies with their outcome, 2019-2025",
    "business_metric=missed cancers per 1000 screenings",
    "ml_metric=roc_auc",
    "ml_metric_threshold=0.8",
    "baseline_heuristic=flag when radius > 15",
)
CHECKLIST_ANSWERS = ("pattern_exists=yes", "data_available=yes", "errors_tolerable=yes", "rules_insufficient=yes",
                     "feedback_available=yes")


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def ok(*args: str) -> str:
    result = mlwb(*args)
    assert result.returncode == 0, f"mlwb {' '.join(args)} failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(*args: str) -> str:
    result = mlwb(*args)
    assert result.returncode == 2, f"mlwb {' '.join(args)} should have been refused:\n{result.stdout}"
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    return result.stderr


def _sets(option: str, pairs: tuple[str, ...]) -> list[str]:
    return [arg for pair in pairs for arg in (option, pair)]


def _tumours(path: Path, n: int = 300, seed: int = 3) -> Path:
    """A breast-cancer-like table: measurements, a contact column (personal data) and the label."""
    rng = np.random.default_rng(seed)
    radius = rng.normal(14, 3, n)
    texture = rng.normal(19, 4, n)
    malignant = (radius + rng.normal(0, 2, n) > 15).astype(int)
    pd.DataFrame({
        "radius": radius.round(2), "texture": texture.round(2),
        "clinic": rng.choice(["north", "south", "east"], n),
        "patient_email": [f"p{i}@example.org" for i in range(n)],
        "malignant": malignant,
    }).to_csv(path, index=False)
    return path


def _actions(wb: Workbench, project: str) -> list[str]:
    return [e.action for e in audit_trail.recent_events(wb, project=project, limit=500)]


@pytest.mark.long
def test_a_new_project_reaches_stage_3_and_trains_with_only_the_stage_1_2_verbs(wb: Workbench, tmp_path: Path) -> None:
    csv = _tumours(tmp_path / "tumours.csv")
    ok("projects", "new", "cancer", "--problem-type", "binary_classification")

    # Stage 1: unknown keys and bad values are refused by name, as the service checks them.
    assert "unknown field(s) colour: allowed are baseline_heuristic" in refused("statement", "cancer", "--set", "colour=red")
    assert "ML metric 'happiness' names no metric" in refused("statement", "cancer", "--set", "ml_metric=happiness")
    assert "write KEY=VALUE" in refused("statement", "cancer", "--set", "objective")
    shown = json.loads(ok("statement", "cancer", *_sets("--set", STATEMENT_SETS), "--json"))
    assert shown["revision"] == 1 and shown["statement"]["ml_metric"] == "roc_auc"
    assert not shown["gate"]["passed"]  # the checklist is still unanswered
    text = ok("statement", "cancer")  # no --set: shows it, changes nothing
    assert "objective               Find malignant tumours before the second visit" in text
    assert "'Is ML appropriate?' checklist answered in favour of ML — not answered" in text
    assert "write yes, no or ?" in refused("checklist", "cancer", "--answer", "pattern_exists=maybe")
    assert "unknown checklist item(s) vibes" in refused("checklist", "cancer", "--answer", "vibes=yes")
    partly = ok("checklist", "cancer", *_sets("--answer", CHECKLIST_ANSWERS[:4]))
    assert "unanswered: feedback_available" in partly
    checklist = json.loads(ok("checklist", "cancer", "--answer", "feedback_available=yes", "--notes", "biopsies "
                              "confirm every outcome", "--json"))
    assert checklist["gate"]["passed"] and checklist["checklist"]["pattern_exists"] is True
    assert "is now at stage 2" in ok("advance", "cancer")

    # Stage 2: the data arrive after the statement was approved, so no stage-order warning.
    imported = json.loads(ok("data", "import", "cancer", str(csv), "--target", "malignant", "--json"))
    assert not [f for f in imported["findings"] if f["check"] == "stage_order"]
    ok("data", "split", "cancer")
    assert "no feature spec" in refused("train", "cancer", str(imported["number"]), "--model", "majority_baseline")

    proposed = json.loads(ok("frame", "cancer", "--target", "malignant", "--infer-from", str(imported["number"]),
                             "--set", "label_strategy=biopsy result within 30 days", "--json"))
    guesses = {f["name"]: f for f in proposed["proposed"]}
    assert set(guesses) == {"radius", "texture", "clinic", "patient_email"}  # the target is not a feature
    assert guesses["patient_email"]["pii"] is True and "email" in guesses["patient_email"]["basis"]["pii"]
    assert (guesses["radius"]["type"], guesses["clinic"]["type"]) == ("numeric", "categorical")
    # Guesses are nobody's decision: the framing holds no feature and the stage 2 gate stays shut.
    assert proposed["framing"]["features"] == [] and not proposed["gate"]["passed"]
    assert "is not passed" in refused("advance", "cancer")
    assert "read the proposals before confirming" in refused("frame", "cancer", "--infer-from", "1", "--confirm")

    confirmed = json.loads(ok("frame", "cancer", "--confirm", "radius,texture,clinic", "--json"))
    assert confirmed["confirmed"] == ["radius", "texture", "clinic"]
    assert [f["name"] for f in confirmed["proposed"]] == ["patient_email"]  # still only a guess
    assert confirmed["gate"]["passed"]
    # The person writes their own entry for the contact column: not known at serving, personal data.
    mine = json.loads(ok("frame", "cancer", "--feature", "patient_email|text|crm|no|yes", "--json"))
    assert mine["framing"]["features"][-1] == {"name": "patient_email", "type": "text", "source": "crm",
                                                "available_at_serving": False, "pii": True}
    ok("frame", "cancer", "--drop", "patient_email")  # …and decides to leave it out
    actions = _actions(wb, "cancer")
    assert "framing_proposal.saved" in actions and "framing.proposals_confirmed" in actions
    assert "is now at stage 3" in ok("advance", "cancer")

    ok("data", "split", "cancer", "--seed", "1")  # the leakage checks now read the framing's features
    assert "is now at stage 4" in ok("advance", "cancer")
    run = json.loads(ok("train", "cancer", str(imported["number"]), "--model", "majority_baseline", "--json"))
    assert run["model"] == "majority_baseline"

    # Point 9: the job says when it ran, for how long, who queued it and which process owned it.
    (job,) = json.loads(ok("jobs", "--project", "cancer", "--json"))
    assert job["kind"] == "train" and job["state"] == "succeeded" and job["queued_by"] == ME
    assert job["owner"].startswith("cli pid ") and job["started_at"] and job["duration_s"] >= 0
    listing = ok("jobs", "--project", "cancer").splitlines()
    assert listing[0].split("\t")[5:9] == ["started (local)", "duration", "queued by", "owner"]
    row = listing[1].split("\t")
    assert row[2] == "succeeded" and row[7] == ME and row[8] == job["owner"] and row[6].endswith("s")


def test_data_imported_before_the_statement_is_approved_carries_a_warning(wb: Workbench, tmp_path: Path) -> None:
    csv = _tumours(tmp_path / "early.csv")
    ok("projects", "new", "early", "--problem-type", "binary_classification")
    result = mlwb("data", "import", "early", str(csv), "--target", "malignant")
    assert result.returncode == 0, result.stderr
    assert "warning: early: dataset 1 imported before the problem statement was approved" in result.stderr
    assert "finding [warning] stage_order" in result.stdout
    listed = ok("data", "list", "early")
    assert "  warning: imported before the problem statement was approved" in listed
    (version,) = json.loads(ok("data", "list", "early", "--json"))
    (warning,) = [f for f in version["findings"] if f["check"] == "stage_order"]
    assert warning["severity"] == "warning" and "Baseline heuristic named" in warning["detail"]
    # It stays with the version: kept in the registry, shown by the data screen's import findings.
    (view,) = datasets.list_datasets(wb, "early")
    assert view.findings[0]["check"] == datasets.STAGE_ORDER_CHECK


def test_an_enterprise_project_refuses_data_before_the_statement_is_approved(wb: Workbench, tmp_path: Path) -> None:
    csv = _tumours(tmp_path / "bank.csv")
    ok("projects", "new", "bank", "--problem-type", "binary_classification", "--maturity", "enterprise")
    error = refused("data", "import", "bank", str(csv), "--target", "malignant")
    assert "enterprise project" in error and "mlwb statement bank --set" in error and "mlwb checklist bank" in error
    assert datasets.list_datasets(wb, "bank") == [] and "dataset.imported" not in _actions(wb, "bank")
    ok("statement", "bank", *_sets("--set", STATEMENT_SETS))
    ok("checklist", "bank", *_sets("--answer", CHECKLIST_ANSWERS))
    # The gate passes (the project need not have advanced): the import goes through, with no warning.
    (version,) = [json.loads(ok("data", "import", "bank", str(csv), "--target", "malignant", "--json"))]
    assert version["findings"] == [] or all(f["check"] != "stage_order" for f in version["findings"])


def _filled(wb: Workbench, slug: str) -> None:
    projects.create_project(wb, slug, problem_type="binary_classification")
    deliverables.save_problem_statement(wb, slug, dict(pair.split("=", 1) for pair in STATEMENT_SETS))
    deliverables.save_ml_checklist(wb, slug, {"pattern_exists": True, "data_available": False})
    deliverables.save_framing(wb, slug, {"target": "malignant", "label_strategy": "biopsy"},
                              [{"name": "radius", "type": "numeric", "source": "scan", "available_at_serving": True,
                                "pii": None}])


def test_the_project_file_round_trip_apply_and_audit(wb: Workbench, tmp_path: Path) -> None:
    _filled(wb, "onco")
    path = tmp_path / "onco.toml"
    ok("project", "export", "onco", "--out", str(path))
    assert "nothing to change" in ok("project", "apply", str(path))  # a fresh export changes nothing
    events = len(_actions(wb, "onco"))

    text = path.read_text(encoding="utf-8")
    text = text.replace('objective = "Find malignant tumours before the second visit"',
                        'objective = "Find malignant tumours at the first visit"')
    text = text.replace("data_available = false", "data_available = true")
    text = text.replace('proxy_metrics = ""', 'proxy_metrics = "recall at 5% referral rate"')
    path.write_text(text, encoding="utf-8")

    dry = ok("project", "apply", str(path), "--dry-run")
    assert 'statement.objective: "Find malignant tumours before the second visit" → ' \
           '"Find malignant tumours at the first visit"' in dry
    assert "checklist.data_available: false → true" in dry
    assert 'framing.proxy_metrics: (unset) → "recall at 5% referral rate"' in dry
    assert "dry run: 3 field(s) would change; nothing recorded" in dry
    assert len(_actions(wb, "onco")) == events

    applied = json.loads(ok("project", "apply", str(path), "--json"))
    assert sorted(f"{c['table']}.{c['field']}" for c in applied["changed"]) == [
        "checklist.data_available", "framing.proxy_metrics", "statement.objective"]
    after = _actions(wb, "onco")
    assert after[:4] == ["project_file.applied", "framing.saved", "ml_checklist.saved", "problem_statement.saved"]
    (event,) = [e for e in audit_trail.recent_events(wb, project="onco", limit=5) if e.action == "project_file.applied"]
    assert "statement.objective" in event.summary and "onco.toml" in event.summary
    assert deliverables.deliverables(wb, "onco")["framing"]["proxy_metrics"] == "recall at 5% referral rate"

    assert "nothing to change" in ok("project", "apply", str(path))  # twice: nothing recorded
    assert len(_actions(wb, "onco")) == len(after)

    bad = text.replace("[checklist]", "[checklist]\nvibes = true")
    path.write_text(bad, encoding="utf-8")
    line = bad.splitlines().index("vibes = true") + 1
    assert f"{path}:{line}: unknown field 'vibes' in [checklist]" in refused("project", "apply", str(path))
    path.write_text(text + "\n[deployment]\nregion = \"eu\"\n", encoding="utf-8")
    assert "unknown table [deployment]" in refused("project", "apply", str(path))
    path.write_text(text.replace('type = "numeric"', 'type = "numeric"\ncolour = "red"'), encoding="utf-8")
    assert "unknown field 'colour' in feature radius" in refused("project", "apply", str(path))
    assert len(_actions(wb, "onco")) == len(after)


@pytest.mark.parametrize("value", [
    'say "no" to \\ backslashes',
    "two\nlines with a \"\"\" triple quote\nand a tab\there",
    "naïve café — 東京 ✓ \u00e9",
    "control \x01 \x7f and a trailing newline\n",
    "'single' and ''' triple single",
])
def test_project_file_strings_survive_the_round_trip(wb: Workbench, tmp_path: Path, value: str) -> None:
    _filled(wb, "strings")
    deliverables.save_problem_statement(wb, "strings", {
        **deliverables.deliverables(wb, "strings")["problem_statement"], "feasibility_budget": f"x {value} x"})
    path = project_file.export_project_file(wb, "strings", tmp_path / "strings.toml")
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["statement"]["feasibility_budget"] == f"x {value} x"
    assert project_file.apply_project_file(wb, path).changes == ()


def test_a_guess_never_reaches_the_framing_without_confirmation(wb: Workbench, tmp_path: Path) -> None:
    projects.create_project(wb, "guess", problem_type="binary_classification")
    frame = pd.DataFrame({"customerEmail": ["a@b"] * 4, "refund_amount": [1.0, 2.0, 3.0, 4.0], "y": [0, 1, 0, 1]})
    frame.to_csv(tmp_path / "g.csv", index=False)
    version = datasets.import_dataset(wb, "guess", tmp_path / "g.csv", target="y")
    proposal = deliverables.propose_features(wb, "guess", version.id)
    by_name = {f["name"]: f for f in proposal["features"]}
    assert by_name["customerEmail"]["pii"] is True  # camelCase names are split into words
    assert by_name["refund_amount"]["available_at_serving"] is False  # known only after the outcome
    assert deliverables.deliverables(wb, "guess")["framing"] == {}
    with pytest.raises(Exception, match="no proposed feature named nope"):
        deliverables.confirm_proposals(wb, "guess", ["nope"])


async def test_the_jobs_screen_says_when_and_whose(wb: Workbench) -> None:
    """A job this TUI session queued is owned by "tui pid N"; one a CLI verb ran by "cli pid M"."""
    from textual.widgets import DataTable

    from app.services import jobs as job_records
    from app.tui import WorkbenchApp
    from screens.jobs import JobsScreen
    from tests.tui.test_tui_workbench import settle

    projects.create_project(wb, "timed", problem_type="binary_classification")
    # A job an earlier `mlwb` verb ran: its owner tag as a CLI process writes it.
    earlier = job_records.create_job(wb, "train", "timed", {})
    with wb.db.write() as session:
        from storage.models import Job
        session.get(Job, earlier).owner = f"cli@{socket.gethostname()}:4242"
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(app, pilot)
        mine = job_records.create_job(app.wb, "compare", "timed", {})  # queued and run by this session
        job_records.mark_running(app.wb, mine)
        job_records.mark_failed(app.wb, mine, "stopped by the test")
        await pilot.press("j")
        await pilot.pause()
        assert isinstance(app.screen, JobsScreen)
        table = app.screen.query_one("#job-table", DataTable)
        for _ in range(100):
            if table.row_count == 2:
                break
            await pilot.pause(0.05)
        rows = {str(table.get_row_at(i)[0]): [str(c) for c in table.get_row_at(i)] for i in range(table.row_count)}
        header = [str(c.label) for c in table.columns.values()]
        assert header[5:9] == ["Started", "Duration", "Queued by", "Owner"]
        assert rows[str(mine)][8] == f"tui pid {os.getpid()}" and rows[str(mine)][7] == ME
        assert rows[str(mine)][6].endswith("s") and rows[str(mine)][5] != "—"
        assert rows[str(earlier)][8] == "cli pid 4242" and rows[str(earlier)][5:7] == ["—", "-"]  # never started
