"""Registering a model version builds its drift reference profile in a worker job, streams it
into the artifact store, and records its SHA-256 and size on the version and in the audit event
(real fit from the demo, real SQLite, a real worker process)."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select

from app.jobs import JobRunner
from app.ml.drift_reference import ReferenceProfile
from app.ml.model_reference import PREDICTION, build_model_reference
from app.ml.tabular import read_table
from app.services import registry, training
from app.services.datasets import dataset_path, split_assignments
from app.services.demo import SLUG
from app.services.jobs import WorkbenchLedger, list_jobs
from app.services.workbench import Workbench
from storage.models import AuditEvent, DatasetVersion, ModelVersion, Split


def test_registration_profiles_the_training_data_in_a_worker_and_stores_it(demo_wb: Workbench) -> None:
    registered = {v.run_id for v in registry.list_models(demo_wb, SLUG)}
    run = next(r for r in training.list_runs(demo_wb, SLUG)
               if r.artifact_sha256 and r.parent_run_id is None and r.id not in registered)
    seen: list[tuple[int, float, str]] = []
    view = registry.register_model(demo_wb, SLUG, run.id, runner=JobRunner(WorkbenchLedger(demo_wb)),
                                   on_progress=lambda job, fraction, text: seen.append((job, fraction, text)))

    job = next(j for j in list_jobs(demo_wb, project_slug=SLUG) if j.kind == "profile")  # the newest
    assert job.state == "succeeded" and {j for j, _, _ in seen} == {job.id}
    assert "writing the reference profile" in [text for _, _, text in seen]
    with demo_wb.read() as session:
        mv = session.scalars(select(ModelVersion).where(ModelVersion.run_id == run.id)).one()
        event = session.scalars(select(AuditEvent).where(
            AuditEvent.action == "model.registered", AuditEvent.entity_id == str(mv.id))).one()
        dataset = session.get(DatasetVersion, mv.reference_profile["dataset_version_id"])
        rows = split_assignments(demo_wb, session.get(Split, mv.reference_profile["split_id"]))["train"]
        frame = read_table(dataset_path(demo_wb, dataset))
        sha, recorded, payload = mv.reference_sha256, dict(mv.reference_profile), json.loads(event.payload)
    assert mv.version == view.version
    path = demo_wb.artifacts.path_for(sha, ".profile")
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == sha and recorded["bytes"] == len(data)
    assert payload["reference_profile"] == sha and payload["reference_profile_bytes"] == len(data)
    assert recorded["rows"] == payload["reference_rows"] == len(rows)
    assert recorded["sample_rows"] is None  # the demo's training rows are fewer than the sample size

    profile = ReferenceProfile.from_bytes(data)
    assert set(run.params["features"]) | {PREDICTION} <= set(profile.features) and not profile.sampled
    # The worker's profile is the one the same inputs give in this process, byte for byte.
    here = build_model_reference(
        frame, rows, dict(run.params["features"]),
        model_bytes=demo_wb.artifacts.get_bytes(run.artifact_sha256, ".skops"), problem_type=run.problem_type,
        target=run.params.get("target") or dataset.target, n_classes=len(run.params.get("classes") or []))
    assert here.to_bytes() == data
    assert not list(demo_wb.artifacts.root.glob(".incoming-*"))  # adopted, not copied and left behind

    # Registered once: asking again runs no second job.
    jobs_before = len(list_jobs(demo_wb, project_slug=SLUG))
    again = registry.register_model(demo_wb, SLUG, run.id)
    assert again.version == view.version and len(list_jobs(demo_wb, project_slug=SLUG)) == jobs_before
