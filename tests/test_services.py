"""Every service against a real SQLite registry: what it writes, what it audits, what it refuses.

A refusal must leave nothing behind, so each one is checked against the audit chain head
before and after (every change writes an event in the same transaction, so an unchanged head
means an unchanged registry).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from app.errors import GateFailed, NotFound, WorkbenchError
from app.lifecycle import checks_for
from app.ml.demo_data import generate_interactions
from app.ml.drift_bands import PSI_ALERT_THRESHOLD
from app.services import (
    audit_trail,
    datasets,
    deliverables,
    gates,
    monitoring_alerts,
    monitoring_analysis,
    monitoring_batches,
    people,
    projects,
    promotion,
    registry,
)
from app.services.demo import FEATURES, FRAMING, SLUG, STATEMENT
from app.services.identity import login_name
from app.services.workbench import Workbench
from app.signing import new_signing_key
from tests.conftest import ME, register_person

CHECKLIST_YES = {"pattern_exists": True, "data_available": True, "errors_tolerable": True,
                 "rules_insufficient": True, "feedback_available": True}


def _head(wb: Workbench) -> tuple[object, int]:
    return audit_trail.head(wb)


def refused(wb: Workbench, call: Callable[[], object], error: type[Exception], match: str) -> Exception:
    """Assert ``call`` raises ``error`` matching ``match`` and changes nothing in the registry."""
    before = _head(wb)
    with pytest.raises(error, match=match) as info:
        call()
    assert _head(wb) == before, "a refused call wrote to the audit trail"
    assert audit_trail.verify(wb).ok
    return info.value


def _events(wb: Workbench, action: str) -> list[audit_trail.EventView]:
    return [e for e in audit_trail.recent_events(wb, limit=10_000) if e.action == action]


def _payload(wb: Workbench, seq: int) -> dict:
    """What the service recorded, without the row hashes every governed change adds
    (tests/test_state_binding.py checks those)."""
    from tests.conftest import raw_registry

    con = raw_registry(wb.workspace.database_path)
    try:
        (payload,) = con.execute("SELECT payload FROM audit_event WHERE seq = ?", (seq,)).fetchone()
    finally:
        con.close()
    recorded = json.loads(payload)
    recorded.pop("row_hashes", None)
    return recorded


@pytest.fixture
def interactions_csv(tmp_path: Path) -> Path:
    path = tmp_path / "interactions.csv"
    generate_interactions(2_000, seed=11).to_csv(path, index=False)
    return path


# --- projects --------------------------------------------------------------------------------


def test_create_project_is_listed_at_stage_one_and_audited(wb: Workbench) -> None:
    s = projects.create_project(wb, "churn-2026", problem_type="binary_classification", maturity="growth",
                                name="Churn")
    assert (s.slug, s.name, s.current_stage, s.stage_title, s.maturity) == (
        "churn-2026", "Churn", 1, "Business goal", "growth")
    assert not s.gate_passed and s.checks_total == len(checks_for(1))
    assert [p.slug for p in projects.list_projects(wb)] == ["churn-2026"]
    (event,) = _events(wb, "project.created")
    assert event.project == "churn-2026" and event.actor == "ana.engineer"
    assert _payload(wb, event.seq) == {"name": "Churn", "problem_type": "binary_classification",
                                       "maturity": "growth"}


def test_duplicate_slug_is_refused_without_writing(wb: Workbench) -> None:
    projects.create_project(wb, "churn", problem_type="binary_classification")
    refused(wb, lambda: projects.create_project(wb, "churn", problem_type="regression"),
            WorkbenchError, "project 'churn' already exists")
    assert [p.problem_type for p in projects.list_projects(wb)] == ["binary_classification"]


@pytest.mark.parametrize(
    ("slug", "problem_type", "maturity", "match"),
    [
        ("Churn Model", "binary_classification", "startup", "not a valid project slug"),
        ("x", "binary_classification", "startup", "not a valid project slug"),
        ("-churn", "binary_classification", "startup", "not a valid project slug"),
        ("churn", "telepathy", "startup", "unknown problem type 'telepathy': choose one of"),
        ("churn", "binary_classification", "huge", "unknown maturity 'huge': choose one of startup"),
    ],
)
def test_bad_project_fields_are_refused_with_a_clear_message(
    wb: Workbench, slug: str, problem_type: str, maturity: str, match: str
) -> None:
    projects.create_project(wb, "existing", problem_type="regression")
    refused(wb, lambda: projects.create_project(wb, slug, problem_type=problem_type, maturity=maturity),
            WorkbenchError, match)
    assert [p.slug for p in projects.list_projects(wb)] == ["existing"]


def test_unknown_project_is_not_found_everywhere(wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(wb, "known", problem_type="regression")
    for call in (
        lambda: deliverables.save_problem_statement(wb, "nope", {"objective": "x"}),
        lambda: gates.advance_stage(wb, "nope"),
        lambda: datasets.import_dataset(wb, "nope", interactions_csv, target="clicked"),
        lambda: registry.record_approval(wb, "nope", 1),
    ):
        err = refused(wb, call, NotFound, "no project 'nope'")
        assert "known" in str(err)


# --- deliverables ----------------------------------------------------------------------------


def test_statement_revisions_and_unchanged_saves(wb: Workbench) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    assert deliverables.save_problem_statement(wb, "ctr", STATEMENT) == 1
    before = _head(wb)
    # Saving the same content again is not a new revision and writes no event.
    assert deliverables.save_problem_statement(wb, "ctr", dict(STATEMENT)) == 1
    assert _head(wb) == before

    assert deliverables.save_problem_statement(wb, "ctr", STATEMENT | {"ml_metric_threshold": " 0.70 "}) == 2
    saved = _events(wb, "problem_statement.saved")
    assert len(saved) == 2
    latest = max(saved, key=lambda e: e.seq)
    assert _payload(wb, latest.seq) == {"revision": 2, "changed": {"ml_metric_threshold": "0.70"}}
    assert deliverables.deliverables(wb, "ctr")["problem_statement"]["ml_metric_threshold"] == "0.70"


def test_checklist_and_framing_are_saved_and_revised(wb: Workbench) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    assert deliverables.save_ml_checklist(wb, "ctr", CHECKLIST_YES, notes="  clicks are observed  ") == 1
    assert deliverables.save_ml_checklist(wb, "ctr", CHECKLIST_YES, notes="clicks are observed") == 1
    assert deliverables.save_framing(wb, "ctr", FRAMING, list(FEATURES)) == 1
    assert deliverables.save_framing(wb, "ctr", FRAMING | {"cold_start": "popularity"}, list(FEATURES)) == 2
    docs = deliverables.deliverables(wb, "ctr")
    assert docs["ml_checklist"] == CHECKLIST_YES | {"notes": "clicks are observed"}
    assert [f["name"] for f in docs["framing"]["features"]] == [f["name"] for f in FEATURES]
    assert docs["framing"]["cold_start"] == "popularity"
    assert len(_events(wb, "ml_checklist.saved")) == 1
    assert len(_events(wb, "framing.saved")) == 2


def test_bad_deliverable_input_is_refused_without_writing(wb: Workbench) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    deliverables.save_problem_statement(wb, "ctr", STATEMENT)
    refused(wb, lambda: deliverables.save_problem_statement(wb, "ctr", {"ml_metric_threshold": "high"}),
            WorkbenchError, "ML metric threshold 'high' is not a number")
    refused(wb, lambda: deliverables.save_problem_statement(wb, "ctr", {"budget": "1"}),
            WorkbenchError, "unknown field")
    refused(wb, lambda: deliverables.save_ml_checklist(wb, "ctr", {"vibes": True}),
            WorkbenchError, "unknown checklist item")
    refused(wb, lambda: deliverables.save_framing(wb, "ctr", FRAMING, [FEATURES[0], FEATURES[0]]),
            WorkbenchError, "listed twice")
    refused(wb, lambda: deliverables.save_framing(wb, "ctr", FRAMING, [{"name": "age", "type": "float"}]),
            WorkbenchError, "has type 'float'")
    assert deliverables.deliverables(wb, "ctr")["problem_statement"]["ml_metric_threshold"] == "0.65"


# --- gates -----------------------------------------------------------------------------------


def test_stage_one_gate_refuses_then_passes_and_the_advance_is_audited(wb: Workbench) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    status = gates.gate(wb, "ctr")
    assert status.stage == 1 and not status.passed
    assert {c.id for c in status.missing} == {c.id for c in checks_for(1)}

    err = refused(wb, lambda: gates.advance_stage(wb, "ctr"), GateFailed, "stage 1 gate of 'ctr' is not passed")
    for check in checks_for(1):
        assert check.label in str(err)
    assert gates.project_stage(wb, "ctr") == 1

    deliverables.save_problem_statement(wb, "ctr", STATEMENT)
    partial = gates.gate(wb, "ctr")
    assert not partial.passed and [c.id for c in partial.missing] == ["ml_appropriate"]
    err = refused(wb, lambda: gates.advance_stage(wb, "ctr"), GateFailed, "missing")
    assert "'Is ML appropriate?'" in str(err) and "Baseline heuristic named" not in str(err)

    deliverables.save_ml_checklist(wb, "ctr", CHECKLIST_YES)
    assert gates.gate(wb, "ctr").passed
    assert gates.advance_stage(wb, "ctr") == 2
    assert gates.project_stage(wb, "ctr") == 2
    (event,) = _events(wb, "stage.advanced")
    payload = _payload(wb, event.seq)
    assert (payload["from_stage"], payload["to_stage"]) == (1, 2)
    assert all(payload["checks"].values())
    # The next gate is the framing one, and it is not passed yet.
    refused(wb, lambda: gates.advance_stage(wb, "ctr"), GateFailed, "stage 2 gate")


def test_a_checklist_answered_no_keeps_the_gate_closed(wb: Workbench) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    deliverables.save_problem_statement(wb, "ctr", STATEMENT)
    deliverables.save_ml_checklist(wb, "ctr", CHECKLIST_YES | {"rules_insufficient": False})
    check = {c.id: c for c in gates.gate(wb, "ctr").checks}["ml_appropriate"]
    assert not check.passed and "rules_insufficient" in check.detail
    refused(wb, lambda: gates.advance_stage(wb, "ctr"), GateFailed, "answered no: rules_insufficient")


# --- datasets and splits ---------------------------------------------------------------------


def test_csv_import_is_content_addressed_profiled_and_audited_once(wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    v = datasets.import_dataset(wb, "ctr", interactions_csv, target="clicked")
    expected_sha = hashlib.sha256(interactions_csv.read_bytes()).hexdigest()
    frame = pd.read_csv(interactions_csv)
    assert v.is_new and v.sha256 == expected_sha
    assert (v.n_rows, v.n_columns, v.target, v.file_format, v.role) == (
        len(frame), frame.shape[1], "clicked", "csv", "training")
    assert set(v.schema) == set(frame.columns)
    assert v.schema["user_age"] == "numeric" and v.schema["item_genre"] == "categorical"
    assert v.profile["n_rows"] == len(frame)
    assert set(v.profile["columns"]) == set(frame.columns)
    assert v.profile["columns"]["user_age"]["min"] == frame["user_age"].min()
    # The stored artifact holds the same bytes.
    stored = wb.artifacts.path_for(expected_sha, ".csv")
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == expected_sha

    before = _head(wb)
    again = datasets.import_dataset(wb, "ctr", interactions_csv, target="clicked")
    assert (again.id, again.sha256, again.is_new) == (v.id, v.sha256, False)
    assert _head(wb) == before
    assert len(datasets.list_datasets(wb, "ctr")) == 1
    (event,) = _events(wb, "dataset.imported")
    assert _payload(wb, event.seq)["sha256"] == expected_sha


def test_parquet_import_works(wb: Workbench, tmp_path: Path) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    path = tmp_path / "interactions.parquet"
    frame = generate_interactions(500, seed=5)
    frame.to_parquet(path, index=False)
    v = datasets.import_dataset(wb, "ctr", path, target="clicked")
    assert v.file_format == "parquet"
    assert v.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert (v.n_rows, v.n_columns) == frame.shape
    assert set(v.schema) == set(frame.columns)
    assert wb.artifacts.path_for(v.sha256, ".parquet").is_file()


def test_unknown_target_is_refused_without_writing(wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    refused(wb, lambda: datasets.import_dataset(wb, "ctr", interactions_csv, target="purchased"),
            WorkbenchError, "target column 'purchased' is not in interactions.csv")
    assert datasets.list_datasets(wb, "ctr") == []


def test_split_counts_add_up_and_it_is_reproducible(wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    refused(wb, lambda: datasets.create_split(wb, "ctr"), WorkbenchError, "has no training dataset yet")
    v = datasets.import_dataset(wb, "ctr", interactions_csv, target="clicked")

    first = datasets.create_split(wb, "ctr", seed=3)
    assert first.dataset_version_id == v.id
    assert first.counts["train"] + first.counts["validation"] + first.counts["test"] == v.n_rows
    assert first.counts["train_test_overlap"] == 0
    assert first.counts["test"] == pytest.approx(0.15 * v.n_rows, abs=2)

    before = _head(wb)
    second = datasets.create_split(wb, "ctr", seed=3)
    assert (second.id, second.fingerprint, second.counts) == (first.id, first.fingerprint, first.counts)
    assert _head(wb) == before
    assert len(datasets.list_splits(wb, "ctr")) == 1
    assert len(_events(wb, "split.created")) == 1

    other = datasets.create_split(wb, "ctr", seed=4)
    assert other.id != first.id and other.fingerprint != first.fingerprint


def test_split_of_a_dataset_without_target_is_refused(wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(wb, "ctr", problem_type="binary_classification")
    v = datasets.import_dataset(wb, "ctr", interactions_csv)
    refused(wb, lambda: datasets.create_split(wb, "ctr"), WorkbenchError, f"dataset {v.number} has no target")
    refused(wb, lambda: datasets.create_split(wb, "ctr", dataset_id=v.id + 100), NotFound, "no dataset version")


# --- registry (on the demo) ------------------------------------------------------------------


def test_author_cannot_approve_their_own_model(demo_wb: Workbench) -> None:
    v1 = registry.list_models(demo_wb, SLUG)[0]
    assert v1.created_by == demo_wb.actor == ME
    refused(demo_wb, lambda: registry.record_approval(demo_wb, SLUG, v1.version),
            WorkbenchError, f"{ME} registered model version 1 with this same key and cannot approve or reject it")
    # The author's own key cannot come back under another name...
    mine = demo_wb.signing_key()
    assert mine is not None
    refused(demo_wb, lambda: people.add_person(demo_wb, "ana.alias", mine.public_line, "validator"),
            WorkbenchError, f"already registered to '{ME}'")
    # ...a key registered as an author cannot decide, and a key nobody registered cannot sign.
    bob = register_person(demo_wb, "bob.author", "author")
    refused(demo_wb, lambda: registry.record_approval(demo_wb, SLUG, v1.version, signer=bob),
            WorkbenchError, "bob.author is registered as author")
    refused(demo_wb, lambda: registry.record_approval(demo_wb, SLUG, v1.version, signer=new_signing_key()),
            WorkbenchError, "is not registered in this workspace")
    refused(demo_wb, lambda: registry.record_approval(demo_wb, SLUG, v1.version, decision="maybe"),
            WorkbenchError, "decision must be 'approved' or 'rejected'")
    refused(demo_wb, lambda: registry.record_approval(demo_wb, SLUG, 99), NotFound, "no model version 99")


def test_an_unsigned_approval_is_recorded_as_such_and_does_not_count_on_growth(demo_wb: Workbench) -> None:
    demo_wb.workspace.signing_key_file.unlink()  # this person has no key: nothing they decide is signed
    demo_wb.forget_signing_key()
    approval = registry.record_approval(demo_wb, SLUG, 2, comment="looked fine")
    assert approval.signer_fingerprint is None and approval.approver == login_name() != ME
    check = next(c for c in promotion.promotion_gate(demo_wb, SLUG, 2).checks if c.id == "independent_approval")
    assert not check.passed and check.required
    assert f"{login_name()}'s decision is unsigned; the growth profile needs a signature" in check.detail


def _ready_v2(wb: Workbench) -> None:
    """Version 2 (the demo's linear challenger) with a card and the significance check waived."""
    registry.write_model_card(wb, SLUG, 2, registry.draft_model_card(wb, SLUG, 2)
                              | {k: "written for the test" for k in registry.PERSON_WRITTEN})
    registry.confirm_model_card(wb, SLUG, 2)  # the registry's drafted sections count once a person signs them
    promotion.waive(wb, SLUG, 2, "significant_over_baseline", "compared with v1 in the canary instead")


def test_promoting_a_second_version_archives_the_first(demo_wb: Workbench) -> None:
    versions = {m.version: m for m in registry.list_models(demo_wb, SLUG)}
    assert versions[1].stage == "production" and versions[2].stage == "none"
    # Registering the same run again returns the same version and writes nothing.
    head = _head(demo_wb)
    assert registry.register_model(demo_wb, SLUG, versions[2].run_id).id == versions[2].id
    assert _head(demo_wb) == head

    refused(demo_wb, lambda: promotion.promote(demo_wb, SLUG, 2), GateFailed,
            "no standing approval by someone other than the author")
    reviewer = register_person(demo_wb, "second-reviewer")
    before = _head(demo_wb)[0].seq
    registry.record_approval(demo_wb, SLUG, 2, signer=reviewer, comment="ok")
    refused(demo_wb, lambda: promotion.promote(demo_wb, SLUG, 2), GateFailed, "Every model card section is written")
    _ready_v2(demo_wb)
    refused(demo_wb, lambda: promotion.promote(demo_wb, SLUG, 2, stage="retired"), WorkbenchError,
            "stage must be one of")

    promotion.promote(demo_wb, SLUG, 2, reason="second candidate")
    stages = {m.version: m.stage for m in registry.list_models(demo_wb, SLUG)}
    assert stages == {1: "archived", 2: "production", 3: "none"}
    assert gates.gate(demo_wb, SLUG, 5).passed

    new_events = [e for e in sorted(audit_trail.recent_events(demo_wb, project=SLUG), key=lambda e: e.seq)
                  if e.seq > before]
    assert [e.action for e in new_events] == [
        # v2 passed its shadow and canary in the demo, so only the waiver _ready_v2 recorded
        "model.approved", "model_card.saved", "model_card.confirmed", "model.check_waived",
        "model.transitioned", "model.alias_removed", "model.alias_set", "model.transitioned",
    ]
    moves = [_payload(demo_wb, e.seq) for e in new_events if e.action == "model.transitioned"]
    assert [(m["version"], m["from_stage"], m["to_stage"]) for m in moves] == [
        (1, "production", "archived"), (2, "none", "production")]
    approved = _payload(demo_wb, new_events[0].seq)
    assert approved["approver"] == "second-reviewer" and approved["signer"] == reviewer.fingerprint
    assert new_events[0].actor == ME  # who ran the command; the signature says who decided
    assert audit_trail.verify(demo_wb).ok

    # Promoting to the stage it is already in changes nothing.
    head = _head(demo_wb)
    promotion.promote(demo_wb, SLUG, 2)
    assert _head(demo_wb) == head


# --- monitoring ------------------------------------------------------------------------------


def test_demo_third_batch_raised_a_critical_alert_and_a_retraining_trigger(demo_wb: Workbench) -> None:
    batches = {b.label: b for b in monitoring_batches.list_batches(demo_wb, SLUG)}
    third = batches["2026-03"]
    assert third.analysed and third.max_psi > PSI_ALERT_THRESHOLD
    (alert,) = [a for a in monitoring_alerts.list_alerts(demo_wb, SLUG) if a.batch == "2026-03"]
    assert alert.trigger_id is not None and alert.severity == "critical" and alert.rule == "drift"
    assert alert.feature in {f["name"] for f in FEATURES}

    # Analysing or importing an existing batch again writes nothing.
    head = _head(demo_wb)
    assert monitoring_analysis.analyse_batch(demo_wb, None, SLUG, "2026-03").id == third.id  # type: ignore[arg-type]
    assert _head(demo_wb) == head
    refused(demo_wb, lambda: monitoring_analysis.analyse_batch(demo_wb, None, SLUG, "2027-01"),  # type: ignore[arg-type]
            NotFound, "no monitoring batch '2027-01'")


def test_batch_without_a_production_model_is_refused(demo_wb: Workbench, interactions_csv: Path) -> None:
    projects.create_project(demo_wb, "fresh", problem_type="binary_classification")
    refused(demo_wb, lambda: monitoring_batches.import_batch(demo_wb, "fresh", interactions_csv, label="2026-04"),
            WorkbenchError, "project 'fresh' has no model in production")
    refused(demo_wb, lambda: monitoring_batches.import_batch(demo_wb, SLUG, interactions_csv, label="   "),
            WorkbenchError, "needs a label")
    assert monitoring_batches.list_batches(demo_wb, "fresh") == []
    assert datasets.list_datasets(demo_wb, "fresh") == []


def test_a_later_rejection_withdraws_an_approval(demo_wb: Workbench) -> None:
    _ready_v2(demo_wb)
    first, second = register_person(demo_wb, "first-reviewer"), register_person(demo_wb, "second-reviewer")
    registry.record_approval(demo_wb, SLUG, 2, signer=first)
    registry.record_approval(demo_wb, SLUG, 2, decision="rejected", signer=second, comment="segment metrics missing")
    refused(demo_wb, lambda: promotion.promote(demo_wb, SLUG, 2), GateFailed,
            "rejected by second-reviewer")
    registry.record_approval(demo_wb, SLUG, 2, signer=second, comment="now added")
    promotion.promote(demo_wb, SLUG, 2)
    assert {m.version: m.stage for m in registry.list_models(demo_wb, SLUG)} == {
        1: "archived", 2: "production", 3: "none"}
