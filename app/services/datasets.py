"""Stage 3: importing immutable dataset versions and splitting them reproducibly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
from app.services.numbering import next_number
from app.services.workbench import Workbench, find_project
from storage.models import DatasetVersion, Project, Split

FORMAT_SUFFIX = {"csv": ".csv", "parquet": ".parquet"}


@dataclass(frozen=True)
class DatasetVersionView:
    id: int
    role: str
    source_name: str
    file_format: str
    sha256: str
    n_rows: int
    n_columns: int
    target: str | None
    schema: dict[str, str]
    profile: dict[str, Any]
    created_at: datetime
    created_by: str
    time_column: str | None = None
    findings: tuple[dict[str, Any], ...] = ()
    quality: tuple[dict[str, Any], ...] = ()
    is_new: bool = True
    number: int | None = None  # "dataset 2" of the project (``app.services.numbering``)


@dataclass(frozen=True)
class SplitView:
    id: int
    dataset_version_id: int
    strategy: str
    seed: int
    fractions: dict[str, float]
    counts: dict[str, int]
    fingerprint: str
    created_at: datetime
    time_column: str | None = None
    group_column: str | None = None
    gap: int = 0
    leakage: tuple[dict[str, Any], ...] = ()
    dataset_number: int | None = None  # the dataset version's number in its project


def _view(row: DatasetVersion, *, is_new: bool = True) -> DatasetVersionView:
    return DatasetVersionView(
        row.id, row.role, row.source_name, row.file_format, row.sha256, row.n_rows, row.n_columns,
        row.target, dict(row.schema), dict(row.profile), row.created_at, row.created_by, row.time_column,
        tuple(row.findings), tuple(row.quality.get("findings", [])), is_new, row.number,
    )


def _split_view(row: Split, dataset_number: int | None = None) -> SplitView:
    return SplitView(row.id, row.dataset_version_id, row.strategy, row.seed, dict(row.fractions),
                     dict(row.counts), row.fingerprint, row.created_at, row.time_column, row.group_column,
                     row.gap, tuple(row.leakage), dataset_number)


def import_dataset(
    wb: Workbench,
    slug: str,
    path: str | Path,
    *,
    target: str | None = None,
    time_column: str | None = None,
    role: str = "training",
) -> DatasetVersionView:
    """Check, fingerprint and store a CSV/Parquet file as an immutable dataset version.

    A file that is not a clean table is refused; one that loads with something worth knowing
    (mixed types, leading-zero identifiers, formula-like text, …) is stored with those findings
    and its quality report. The same bytes imported twice give the same version (content
    addressing), so repeating an import is safe and audited once.
    """
    from app.ml.errors import DataFileError
    from app.ml.quality import column_distributions, quality_report
    from app.ml.tabular import load_table, profile_of, schema_of

    source = Path(path)
    with wb.read() as session:
        project = find_project(session, slug)  # fail fast on an unknown project
        problem_type = project.problem_type
        if role == "training":
            stage_order_finding(session, project)  # an enterprise project refuses before any work
    try:
        loaded = load_table(source)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    frame = loaded.frame
    for role_name, column in (("target", target), ("time", time_column)):
        if column is not None and column not in frame.columns:
            raise WorkbenchError(
                f"{role_name} column '{column}' is not in {source.name} "
                f"(columns: {', '.join(map(str, frame.columns))})"
            )
    findings = [f.as_dict() for f in loaded.findings]
    quality = {
        "findings": [f.as_dict() for f in quality_report(frame, target=target, problem_type=problem_type)],
        "distributions": column_distributions(frame),
    }
    file_format = "parquet" if source.suffix.lower() in (".parquet", ".pq") else "csv"
    sha = wb.artifacts.put_file(source, FORMAT_SUFFIX[file_format])
    schema, profile = schema_of(frame), profile_of(frame)
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        existing = uow.session.scalars(
            select(DatasetVersion).where(
                DatasetVersion.project_id == project.id, DatasetVersion.sha256 == sha, DatasetVersion.role == role
            )
        ).first()
        if existing is not None:
            return _view(existing, is_new=False)
        early = stage_order_finding(uow.session, project) if role == "training" else None
        if early is not None:
            findings = [early, *findings]
        row = DatasetVersion(
            project_id=project.id, number=next_number(uow.session, DatasetVersion, project.id), role=role, source_name=source.name, file_format=file_format, sha256=sha,
            n_rows=len(frame), n_columns=frame.shape[1], target=target, time_column=time_column, schema=schema,
            profile=profile, findings=findings, quality=quality, created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("dataset.imported", "dataset_version", row.id, project=slug, sha256=sha, role=role,
                  source=source.name, rows=row.n_rows, columns=row.n_columns, target=target,
                  time_column=time_column, findings=[f"{f['check']}:{f['column']}" for f in findings])
        return _view(row)


#: The check name of the import finding a dataset imported ahead of its problem statement carries.
STAGE_ORDER_CHECK = "stage_order"


def stage_order_finding(session, project: Project) -> dict[str, Any] | None:  # type: ignore[no-untyped-def]
    """Problem before data: what importing training data now means for ``project``.

    The statement counts as approved once the stage 1 gate passes (statement complete, metrics
    linked, baseline named, checklist in favour of ML; ``app.services.gates``) or the project
    has moved past stage 1. Before that an enterprise project refuses the import (naming the
    verbs to run first); any other profile takes it with a warning finding stored with the
    dataset version, so the data screen, `mlwb data list` and the report show it for good.
    Returns that finding, or None when the order was kept.
    """
    from app.lifecycle import checks_for
    from app.services.deliverables import CHECKLIST, STATEMENT, deliverable, stage1_outcomes

    if project.current_stage > 1:
        return None
    outcomes = stage1_outcomes(deliverable(session, project, STATEMENT), deliverable(session, project, CHECKLIST))
    missing = "; ".join(c.label for c in checks_for(1) if c.required(project.maturity) and not outcomes[c.id][0])
    if not missing:
        return None
    if project.maturity == "enterprise":
        raise WorkbenchError(
            f"'{project.slug}' is an enterprise project: data is imported only after the problem statement "
            f"is approved (the stage 1 gate passes); missing: {missing}. Run `mlwb statement {project.slug} "
            f"--set KEY=VALUE …` and `mlwb checklist {project.slug} --answer KEY=yes …`, check with "
            f"`mlwb gate {project.slug}`, then import")
    return {"check": STAGE_ORDER_CHECK, "column": None, "severity": "warning",
            "detail": f"imported before the problem statement was approved (stage 1 gate open; missing: {missing})"}


def dataset_path(wb: Workbench, row: DatasetVersion) -> Path:
    """The verified artifact file of a dataset version (its hash is checked on every load)."""
    return wb.artifacts.verified_path(row.sha256, FORMAT_SUFFIX[row.file_format])


def dataset_columns(wb: Workbench, slug: str, dataset_id: int) -> set[str]:
    with wb.read() as session:
        return set(find_dataset(session, find_project(session, slug), dataset_id).schema)


def list_datasets(wb: Workbench, slug: str, *, role: str | None = None) -> list[DatasetVersionView]:
    with wb.read() as session:
        project = find_project(session, slug)
        query = select(DatasetVersion).where(DatasetVersion.project_id == project.id)
        if role:
            query = query.where(DatasetVersion.role == role)
        return [_view(r) for r in session.scalars(query.order_by(DatasetVersion.id))]


def latest_training_dataset(session, project: Project) -> DatasetVersion:  # type: ignore[no-untyped-def]
    row = session.scalars(
        select(DatasetVersion)
        .where(DatasetVersion.project_id == project.id, DatasetVersion.role == "training")
        .order_by(DatasetVersion.id.desc())
    ).first()
    if row is None:
        raise WorkbenchError(
            f"project '{project.slug}' has no training dataset yet: import one with `mlwb data import {project.slug} FILE`"
        )
    return row


SPLIT_STRATEGIES = ("random", "stratified", "temporal", "group")
CLASSIFICATION = ("binary_classification", "multiclass_classification", "ranking", "anomaly_detection")
UNSUPERVISED = ("clustering", "anomaly_detection")


def find_dataset(session, project: Project, dataset_id: int | None) -> DatasetVersion:  # type: ignore[no-untyped-def]
    if dataset_id is None:
        return latest_training_dataset(session, project)
    dataset = session.get(DatasetVersion, dataset_id)
    if dataset is None or dataset.project_id != project.id:
        raise NotFound(f"project '{project.slug}' has no dataset version {dataset_id}: list them with "
                       f"`mlwb data list {project.slug}`")
    return dataset


@dataclass(frozen=True)
class _LeakageInputs:
    target: str
    features: list[str]
    unavailable: list[str]
    problem_type: str
    time_column: str | None


def _leakage_inputs(session, project: Project, dataset: DatasetVersion, time_column: str | None) -> _LeakageInputs:  # type: ignore[no-untyped-def]
    """What the leakage checks look at: the framing's features (all of them, so a feature that is
    unavailable at serving time is caught), else every column but the target."""
    from app.services.deliverables import FRAMING, deliverable

    if not dataset.target and project.problem_type not in UNSUPERVISED:
        raise WorkbenchError(
            f"dataset {dataset.number} has no target column: re-import it with --target COLUMN"
        )
    spec = deliverable(session, project, FRAMING).get("features") or []
    columns = [c for c in dataset.schema if c != dataset.target]
    features = [f["name"] for f in spec if f["name"] in dataset.schema] or columns
    unavailable = [f["name"] for f in spec if f.get("available_at_serving") is False]
    return _LeakageInputs(dataset.target or "", features, unavailable, project.problem_type,
                          time_column or dataset.time_column)


def _leakage(frame, assignments: dict[str, list[int]], inputs: _LeakageInputs, seed: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    from app.ml.leakage import leakage_findings

    if not inputs.target:  # clustering, or anomaly detection without labels: nothing can leak a target
        return []
    return [f.as_dict() for f in leakage_findings(
        frame, assignments, target=inputs.target, features=inputs.features, problem_type=inputs.problem_type,
        time_column=inputs.time_column, unavailable_at_serving=inputs.unavailable, seed=seed)]


def create_split(
    wb: Workbench,
    slug: str,
    *,
    dataset_id: int | None = None,
    strategy: str | None = None,
    seed: int = 42,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    time_column: str | None = None,
    group_column: str | None = None,
    gap: int = 0,
) -> SplitView:
    """A reproducible train/validation/test split, stored with its leakage findings.

    The leakage checks run here, before any model sees the data, so a leaked feature stops
    training instead of inflating its metrics.
    """
    from app.ml.errors import DataFileError
    from app.ml.leakage import shared_rows
    from app.ml.split import make_split, split_fingerprint
    from app.ml.tabular import read_table

    with wb.read() as session:
        project = find_project(session, slug)
        dataset = find_dataset(session, project, dataset_id)
        inputs = _leakage_inputs(session, project, dataset, time_column)
    if strategy is None:  # stratify when there are classes to keep in proportion
        strategy = "stratified" if inputs.target and inputs.problem_type in CLASSIFICATION else "random"
    if strategy not in SPLIT_STRATEGIES:
        raise WorkbenchError(f"unknown split strategy '{strategy}': choose one of {', '.join(SPLIT_STRATEGIES)}")
    if strategy == "stratified" and not inputs.target:
        raise WorkbenchError("a stratified split needs a target column: use --strategy random for this dataset")
    with wb.read() as session:
        dataset = find_dataset(session, find_project(session, slug), dataset_id)
        path = dataset_path(wb, dataset)
        dataset_id, dataset_number = dataset.id, dataset.number
    time_column = time_column or inputs.time_column
    frame = read_table(path)
    try:
        assignments = make_split(frame, strategy, target=inputs.target or None, time_column=time_column,
                                 group_column=group_column, fractions=fractions, seed=seed, gap=gap)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    fingerprint = split_fingerprint(assignments)
    overlap = shared_rows(frame, assignments["train"], assignments["test"], list(frame.columns))
    counts = {part: len(rows) for part, rows in assignments.items()} | {"train_test_overlap": overlap}
    leakage = _leakage(frame, assignments, inputs, seed)
    blob = json.dumps(assignments, separators=(",", ":")).encode()
    assignments_sha = wb.artifacts.put_bytes(blob, ".json")
    with wb.unit_of_work() as uow:
        existing = uow.session.scalars(
            select(Split).where(Split.dataset_version_id == dataset_id, Split.fingerprint == fingerprint,
                                Split.strategy == strategy)
        ).first()
        if existing is not None:
            return _split_view(existing, dataset_number)
        names = ("train", "validation", "test")
        row = Split(
            dataset_version_id=dataset_id, strategy=strategy, seed=seed,
            fractions=dict(zip(names, fractions, strict=True)), counts=counts, fingerprint=fingerprint,
            assignments_sha256=assignments_sha, time_column=time_column, group_column=group_column, gap=gap,
            leakage=leakage, created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("split.created", "split", row.id, project=slug, dataset_version=dataset_id,
                  strategy=strategy, seed=seed, fingerprint=fingerprint, counts=counts,
                  leakage=[f"{f['check']}:{f['feature']}" for f in leakage])
        return _split_view(row, dataset_number)


@dataclass(frozen=True)
class DataCheck:
    """The `mlwb data check` answer: quality findings and leakage findings with their evidence."""

    dataset_version_id: int
    split_id: int | None
    quality: list[dict[str, Any]]
    leakage: list[dict[str, Any]]
    dataset_number: int | None = None  # "dataset 2" of the project

    def as_json(self) -> dict[str, Any]:
        return {"dataset_version": self.dataset_version_id, "dataset": self.dataset_number, "split": self.split_id,
                "quality": self.quality, "leakage": self.leakage}


def _unique_findings(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Import and the quality report both notice constant or mixed-type columns: keep each once."""
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for f in findings:
        key = (f["check"], f.get("column"))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def check_dataset(wb: Workbench, slug: str, dataset_id: int | None = None) -> DataCheck:
    """Quality and leakage of a dataset version, against its latest split.

    Without a split yet, leakage is checked on a provisional stratified split (seed 0) that is
    not stored, so the answer is available before anything is committed to.
    """
    from app.ml.errors import DataFileError
    from app.ml.split import make_split
    from app.ml.tabular import read_table

    with wb.read() as session:
        project = find_project(session, slug)
        dataset = find_dataset(session, project, dataset_id)
        quality = _unique_findings([*dataset.findings, *dataset.quality.get("findings", [])])
        split = session.scalars(select(Split).where(Split.dataset_version_id == dataset.id)
                                .order_by(Split.id.desc())).first()
        if split is not None:
            return DataCheck(dataset.id, split.id, quality, list(split.leakage), dataset.number)
        inputs = _leakage_inputs(session, project, dataset, None)
        path = dataset_path(wb, dataset)
        dataset_id, dataset_number = dataset.id, dataset.number
    frame = read_table(path)
    strategy = "stratified" if inputs.target and inputs.problem_type in CLASSIFICATION else "random"
    try:
        assignments = make_split(frame, strategy, target=inputs.target or None, seed=0)
    except DataFileError as exc:  # too few rows to split at all: the quality findings still stand
        return DataCheck(dataset_id, None, quality, dataset_number=dataset_number, leakage=[{
            "check": "not_checked", "feature": None, "severity": "warning",
            "evidence": f"leakage was not checked: no {strategy} split of these {len(frame)} rows is possible ({exc})"}])
    return DataCheck(dataset_id, None, quality, _leakage(frame, assignments, inputs, 0), dataset_number)


def split_assignments(wb: Workbench, split: Split) -> dict[str, list[int]]:
    return json.loads(wb.artifacts.get_bytes(split.assignments_sha256, ".json"))


def list_splits(wb: Workbench, slug: str) -> list[SplitView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.execute(
            select(Split, DatasetVersion.number).join(DatasetVersion, Split.dataset_version_id == DatasetVersion.id)
            .where(DatasetVersion.project_id == project.id).order_by(Split.id)
        )
        return [_split_view(r, number) for r, number in rows]
