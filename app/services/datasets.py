"""Stage 3: importing immutable dataset versions and splitting them reproducibly."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.errors import NotFound, WorkbenchError
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
    is_new: bool = True


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


def _view(row: DatasetVersion, *, is_new: bool = True) -> DatasetVersionView:
    return DatasetVersionView(
        row.id, row.role, row.source_name, row.file_format, row.sha256, row.n_rows, row.n_columns,
        row.target, dict(row.schema), dict(row.profile), row.created_at, row.created_by, is_new,
    )


def _split_view(row: Split) -> SplitView:
    return SplitView(row.id, row.dataset_version_id, row.strategy, row.seed, dict(row.fractions),
                     dict(row.counts), row.fingerprint, row.created_at)


def import_dataset(
    wb: Workbench, slug: str, path: str | Path, *, target: str | None = None, role: str = "training"
) -> DatasetVersionView:
    """Check, fingerprint and store a CSV/Parquet file as an immutable dataset version.

    The same bytes imported twice give the same version (content addressing), so repeating
    an import is safe and audited once.
    """
    from app.ml.errors import DataFileError
    from app.ml.tabular import profile_of, read_table, schema_of, sha256_file

    source = Path(path)
    with wb.read() as session:
        find_project(session, slug)  # fail fast on an unknown project, before reading data
    try:
        frame = read_table(source)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    if target is not None and target not in frame.columns:
        raise WorkbenchError(
            f"target column '{target}' is not in {source.name} (columns: {', '.join(map(str, frame.columns))})"
        )
    file_format = "parquet" if source.suffix.lower() in (".parquet", ".pq") else "csv"
    sha = sha256_file(source)
    wb.artifacts.put_file(source, sha, FORMAT_SUFFIX[file_format])
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
        row = DatasetVersion(
            project_id=project.id, role=role, source_name=source.name, file_format=file_format, sha256=sha,
            n_rows=len(frame), n_columns=frame.shape[1], target=target, schema=schema, profile=profile,
            created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("dataset.imported", "dataset_version", row.id, project=slug, sha256=sha, role=role,
                  source=source.name, rows=row.n_rows, columns=row.n_columns, target=target)
        return _view(row)


def dataset_path(wb: Workbench, row: DatasetVersion) -> Path:
    """The verified artifact file of a dataset version (its hash is checked on every load)."""
    return wb.artifacts.verified_path(row.sha256, FORMAT_SUFFIX[row.file_format])


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


def create_split(
    wb: Workbench,
    slug: str,
    *,
    dataset_id: int | None = None,
    seed: int = 42,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> SplitView:
    """A stratified train/validation/test split, with its train–test row overlap counted."""
    from app.ml.errors import DataFileError
    from app.ml.leakage import shared_rows
    from app.ml.split import split_fingerprint, stratified_split
    from app.ml.tabular import read_table

    with wb.read() as session:
        project = find_project(session, slug)
        if dataset_id is None:
            dataset = latest_training_dataset(session, project)
        else:
            dataset = session.get(DatasetVersion, dataset_id)
            if dataset is None or dataset.project_id != project.id:
                raise NotFound(f"project '{slug}' has no dataset version {dataset_id}")
        target = dataset.target
        if not target:
            raise WorkbenchError(
                f"dataset version {dataset.id} has no target column: re-import it with --target COLUMN"
            )
        path = dataset_path(wb, dataset)
        dataset_id = dataset.id
    frame = read_table(path)
    try:
        assignments = stratified_split(frame[target].tolist(), fractions=fractions, seed=seed)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    fingerprint = split_fingerprint(assignments)
    overlap = shared_rows(frame, assignments["train"], assignments["test"], list(frame.columns))
    counts = {part: len(rows) for part, rows in assignments.items()} | {"train_test_overlap": overlap}
    blob = json.dumps(assignments, separators=(",", ":")).encode()
    assignments_sha = wb.artifacts.put_bytes(blob, ".json")
    with wb.unit_of_work() as uow:
        existing = uow.session.scalars(
            select(Split).where(Split.dataset_version_id == dataset_id, Split.fingerprint == fingerprint)
        ).first()
        if existing is not None:
            return _split_view(existing)
        names = ("train", "validation", "test")
        row = Split(
            dataset_version_id=dataset_id, strategy="stratified", seed=seed,
            fractions=dict(zip(names, fractions, strict=True)), counts=counts, fingerprint=fingerprint,
            assignments_sha256=assignments_sha, created_by=uow.actor,
        )
        uow.session.add(row)
        uow.session.flush()
        uow.audit("split.created", "split", row.id, project=slug, dataset_version=dataset_id,
                  strategy="stratified", seed=seed, fingerprint=fingerprint, counts=counts)
        return _split_view(row)


def split_assignments(wb: Workbench, split: Split) -> dict[str, list[int]]:
    return json.loads(wb.artifacts.get_bytes(split.assignments_sha256, ".json"))


def list_splits(wb: Workbench, slug: str) -> list[SplitView]:
    with wb.read() as session:
        project = find_project(session, slug)
        rows = session.scalars(
            select(Split).join(DatasetVersion, Split.dataset_version_id == DatasetVersion.id)
            .where(DatasetVersion.project_id == project.id).order_by(Split.id)
        )
        return [_split_view(r) for r in rows]
