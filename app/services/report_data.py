"""The frozen data a compliance report is rendered from.

Collect first, render second: services fill these objects from the registry, and the
renderers in ``reports/`` only read them, so a report never queries the database and the
same data always gives the same document.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TableData:
    """A titled table of plain strings; ``highlight`` marks rows a reviewer must not miss."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    highlight: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class GateCheckRow:
    label: str
    passed: bool
    required: bool
    detail: str = ""


@dataclass(frozen=True)
class StageChapter:
    number: int
    title: str
    risk: str
    gate_passed: bool
    deliverables: tuple[tuple[str, str], ...]
    checks: tuple[GateCheckRow, ...]
    tables: tuple[TableData, ...] = ()


@dataclass(frozen=True)
class ChartSeries:
    """Numbers for one bar chart (e.g. PSI per feature), drawn by the renderer."""

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    threshold: float | None = None


@dataclass(frozen=True)
class ReportData:
    project_slug: str
    project_name: str
    problem_type: str
    maturity: str
    current_stage: int
    generated_at: str
    generated_by: str
    chapters: tuple[StageChapter, ...]
    model_card: tuple[tuple[str, str], ...]
    drift_table: TableData
    approvals: TableData
    audit_head_seq: int
    audit_head_hash: str
    audit_event_count: int
    charts: tuple[ChartSeries, ...] = field(default=())
