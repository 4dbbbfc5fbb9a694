"""``--json`` on the verbs that record a person's action or list things (issue 13, points 1 and 8),
run as real ``mlwb`` subprocesses on a private copy of the demo workspace.

A script reads a verb's stdout with one ``json.loads``: nothing else is printed there (progress
and notices go to stderr), and the document is the record the service wrote, so its values are
checked here against the registry read back through the services. An error stays an
``error: …`` line on stderr with a non-zero exit and nothing on stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from app.services import audit_trail, datasets, jobs, monitoring_alerts, monitoring_policy, projects
from app.services.workbench import Workbench

REPO = Path(__file__).resolve().parents[1]


def mlwb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "app.cli", *args], cwd=REPO, env=os.environ.copy(),
                          capture_output=True, text=True, timeout=300)


def json_of(*args: str) -> Any:
    """The one JSON document ``mlwb ARGS… --json`` prints: the whole of stdout parses as one
    document (on one line, or indented as the older listings print it), so nothing else is there."""
    result = mlwb(*args, "--json")
    assert result.returncode == 0, f"mlwb {' '.join(args)} --json failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


def test_projects_new_and_list(demo_wb: Workbench) -> None:
    created = json_of("projects", "new", "cancer", "--problem-type", "binary_classification", "--maturity", "growth",
                      "--name", "Breast cancer screening")
    stored = {p.slug: p for p in projects.list_projects(demo_wb)}
    assert created["slug"] == "cancer" and "cancer" in stored
    assert (created["current_stage"], created["maturity"], created["name"]) == (
        stored["cancer"].current_stage, "growth", "Breast cancer screening")

    changed = json_of("projects", "set", "cancer", "--risk-tier", "high", "--owner", "ana.engineer",
                      "--reason", "screening decisions")
    assert (changed["risk_tier"], changed["owner"]) == ("high", "ana.engineer")

    listed = json_of("projects")
    assert [p["slug"] for p in listed] == [p.slug for p in projects.list_projects(demo_wb)]
    cancer = next(p for p in listed if p["slug"] == "cancer")
    assert (cancer["risk_tier"], cancer["owner"], cancer["current_stage"]) == ("high", "ana.engineer", 1)

    # An error is unchanged: one line on stderr, a non-zero exit, nothing on stdout.
    again = mlwb("projects", "new", "cancer", "--problem-type", "binary_classification", "--json")
    assert again.returncode != 0 and again.stdout == "" and again.stderr.startswith("error: ")


def test_data_split(demo_wb: Workbench) -> None:
    before = {s.id for s in datasets.list_splits(demo_wb, "ctr-demo")}
    split = json_of("data", "split", "ctr-demo", "--strategy", "random", "--seed", "11")
    after = {s.id: s for s in datasets.list_splits(demo_wb, "ctr-demo")}
    assert split["id"] not in before and split["id"] in after
    stored = after[split["id"]]
    assert (split["strategy"], split["seed"], split["fingerprint"]) == ("random", 11, stored.fingerprint)
    assert split["counts"] == stored.counts and sum(split["counts"].values()) > 0
    assert isinstance(split["leakage"], list)


def test_monitor_sla_add_and_remove(demo_wb: Workbench) -> None:
    added = json_of("monitor", "sla", "ctr-demo", "--add", "accuracy>=0.7", "--severity", "critical")
    rule = added["added"]
    assert (rule["metric"], rule["comparator"], rule["threshold"], rule["severity"]) == (
        "accuracy", ">=", 0.7, "critical")
    stored = monitoring_policy.sla_rules(demo_wb, "ctr-demo")
    assert [r["id"] for r in added["rules"]] == [r.id for r in stored]
    assert rule["id"] in {r.id for r in stored}

    removed = json_of("monitor", "sla", "ctr-demo", "--remove", str(rule["id"]))
    assert removed["removed"] == rule["id"] and removed["added"] is None
    assert rule["id"] not in {r.id for r in monitoring_policy.sla_rules(demo_wb, "ctr-demo")}
    assert [r["id"] for r in removed["rules"]] == [r.id for r in monitoring_policy.sla_rules(demo_wb, "ctr-demo")]


def test_monitor_list_and_resolve(demo_wb: Workbench) -> None:
    listing = json_of("monitor", "list", "ctr-demo")
    alerts = monitoring_alerts.list_alerts(demo_wb, "ctr-demo")
    assert [a["id"] for a in listing["alerts"]] == [a.id for a in alerts]
    assert listing["batches"] and all("drift" in b and "label" in b for b in listing["batches"])
    open_alert = next(a for a in alerts if a.status == "open")
    resolved = json_of("monitor", "resolve", "ctr-demo", str(open_alert.id), "--note", "seasonal; watched")
    assert resolved["id"] == open_alert.id
    assert resolved["status"] == next(a.status for a in monitoring_alerts.list_alerts(demo_wb, "ctr-demo")
                                      if a.id == open_alert.id) != "open"


def test_audit_log(demo_wb: Workbench) -> None:
    json_of("monitor", "threshold", "ctr-demo", "*", "psi", "0.25")
    events = json_of("audit", "log", "--project", "ctr-demo", "--limit", "3")
    stored = audit_trail.recent_events(demo_wb, project="ctr-demo", limit=3)
    assert [e["seq"] for e in events] == [e.seq for e in stored]
    assert [e["hash"] for e in events] == [e.hash for e in stored]
    assert events[0]["action"] == "monitoring.threshold_set"


def test_jobs(demo_wb: Workbench) -> None:
    listed = json_of("jobs", "--project", "ctr-demo", "--limit", "5")
    stored = jobs.list_jobs(demo_wb, project_slug="ctr-demo", limit=5)
    assert [j["id"] for j in listed] == [j.id for j in stored]
    assert [j["state"] for j in listed] == [j.state for j in stored]


@pytest.mark.parametrize("verb", [("reports",), ("models-available",), ("inventory",), ("people", "list"),
                                  ("history", "ctr-demo"), ("runs", "ctr-demo"), ("data", "list", "ctr-demo"),
                                  ("findings", "ctr-demo"), ("release", "list", "ctr-demo")])
def test_listing_verbs_print_one_json_list(demo_home: Path, verb: tuple[str, ...]) -> None:
    assert isinstance(json_of(*verb), list)


def test_audit_verify(demo_wb: Workbench) -> None:
    verdict = json_of("audit", "verify")
    stored = audit_trail.verify(demo_wb)
    assert verdict["ok"] is True and verdict["chain"]["ok"] is True
    assert (verdict["chain"]["count"], verdict["chain"]["head"]["seq"]) == (stored.count, stored.head.seq)
    assert verdict["rows"]["ok"] is True and verdict["rows"]["checked"] > 0
    assert len(verdict["evidence_digest"]) == 64 and verdict["checkpoint"] is None


def test_people_init_and_whoami(mlwb_home: Path) -> None:
    """`people init --json` printed its key lines before the document; now stdout is the document."""
    from app.services import people
    from storage.workspace import Workspace

    created = json_of("people", "init", "--name", "bo.reviewer")
    assert created["created"] is True and created["person"]["name"] == "bo.reviewer"
    assert created["registered_now"] is True and created["person"]["role"] == "admin"
    me = json_of("people", "whoami")
    assert me["key"]["fingerprint"] == created["fingerprint"] and me["person"]["name"] == "bo.reviewer"
    assert "private" not in json.dumps(me).lower()
    bench = Workbench.open(Workspace(mlwb_home))
    try:
        assert [(p.name, p.fingerprint) for p in people.list_people(bench)] == [("bo.reviewer", created["fingerprint"])]
    finally:
        bench.close()
