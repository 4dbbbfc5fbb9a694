"""A look at a file before it is imported: its columns, first rows and the findings the import
would record, computed by the same ``app.ml`` functions the import uses and written nowhere.

Why a separate read: the TUI's import dialog lets a person choose the target and time columns
from the file's header and see what the importer will say about the data *before* a dataset
version (immutable, audited) exists. Every refusal the import would make (not a table, not
UTF-8, a target that is not a column) is raised here as the same ``WorkbenchError``, so the
dialog shows it while the person can still pick another file or column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import WorkbenchError
from app.services.workbench import Workbench, find_project

PREVIEW_ROWS = 8
CELL_CHARS = 32  # a preview cell longer than this is cut with "…"; the file itself is untouched
TIME_HINTS = ("time", "date", "timestamp", "ts", "day", "month")
ID_HINTS = ("id", "request_id", "row_id", "uuid", "key")


@dataclass(frozen=True)
class TablePreview:
    """What the import dialog shows: the file's header, first rows and the findings."""

    path: str
    name: str
    n_rows: int
    columns: tuple[str, ...]
    kinds: dict[str, str]
    head: tuple[tuple[str, ...], ...]
    findings: tuple[dict[str, Any], ...]  # import findings, then quality findings; each (check, column) once
    problem_type: str
    target: str | None = None
    suggested_target: str | None = None  # the framing's target, when it is a column of this file
    suggested_time: str | None = None
    suggested_id: str | None = None
    notes: tuple[str, ...] = field(default=())


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    text = str(value)
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def _unique(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The import and the quality report both notice constant or mixed-type columns: keep each once."""
    seen: set[tuple[Any, Any]] = set()
    unique = []
    for f in findings:
        key = (f.get("check"), f.get("column"))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _suggest(columns: tuple[str, ...], hints: tuple[str, ...], known: str | None) -> str | None:
    if known and known in columns:
        return known
    lowered = {c.lower(): c for c in columns}
    for hint in hints:
        if hint in lowered:
            return lowered[hint]
    for column in columns:
        parts = column.lower().replace("-", "_").split("_")
        if any(hint in parts for hint in hints):
            return column
    return None


def preview_table(wb: Workbench, slug: str, path: str | Path, *, target: str | None = None,
                  monitoring: bool = False, rows: int = PREVIEW_ROWS) -> TablePreview:
    """Read ``path`` as the import would and say what it would find, without storing anything.

    ``monitoring`` previews a batch of production inputs: the import stores those without a
    target, so the quality report runs without one too.
    """
    from sqlalchemy import select

    from app.ml.errors import DataFileError
    from app.ml.quality import quality_report
    from app.ml.tabular import load_table, schema_of
    from app.services.datasets import stage_order_finding
    from app.services.deliverables import FRAMING, deliverable
    from storage.models import DatasetVersion

    source = Path(path).expanduser()
    with wb.read() as session:
        project = find_project(session, slug)
        problem_type = project.problem_type
        early = None if monitoring else stage_order_finding(session, project)  # an enterprise project refuses here
        framed_target = str(deliverable(session, project, FRAMING).get("target") or "").strip() or None
        previous_time = session.scalars(
            select(DatasetVersion.time_column).where(DatasetVersion.project_id == project.id,
                                                     DatasetVersion.time_column.is_not(None))
            .order_by(DatasetVersion.id.desc())).first()
    try:
        loaded = load_table(source)
    except DataFileError as exc:
        raise WorkbenchError(str(exc)) from None
    frame = loaded.frame
    columns = tuple(str(c) for c in frame.columns)
    if target is not None and target not in columns:
        raise WorkbenchError(f"target column '{target}' is not in {source.name} (columns: {', '.join(columns)})")
    findings = [early] if early is not None else []
    findings += [f.as_dict() for f in loaded.findings]
    findings += [f.as_dict() for f in quality_report(frame, target=None if monitoring else target,
                                                      problem_type=problem_type)]
    head = tuple(tuple(_cell(v) for v in row) for row in frame.head(rows).itertuples(index=False, name=None))
    kinds = schema_of(frame)
    suggested_time = _suggest(columns, TIME_HINTS, previous_time)
    if suggested_time is None:
        suggested_time = next((c for c in columns if kinds.get(c) == "datetime"), None)
    notes = []
    if framed_target and framed_target not in columns:
        notes.append(f"the framing names the target '{framed_target}', which is not a column of {source.name}")
    return TablePreview(
        path=str(source), name=source.name, n_rows=len(frame), columns=columns, kinds=kinds, head=head,
        findings=tuple(_unique(findings)), problem_type=problem_type, target=target,
        suggested_target=framed_target if framed_target in columns else None,
        suggested_time=suggested_time, suggested_id=_suggest(columns, ID_HINTS, None), notes=tuple(notes),
    )
