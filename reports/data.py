"""The frozen data every document is rendered from.

Collect first, render second: services fill these objects from the registry, and the
renderers in ``reports/`` only read them, so a document never queries the database and the
same data always gives the same bytes. Everything here is plain text and numbers in tuples, so
it pickles into the worker process that renders it.

Two shapes live here:

* :class:`ProjectRecords` — what a document (and the project screen) reads about one
  project, exactly as the services return it (the collectors in ``app.services.reporting``
  fill it);
* :class:`DocumentData` — one laid-out document (compliance report, problem statement, model
  card, drift report, validation report): a stamp saying what it was built from, then
  sections of prose, facts, tables and charts. ``reports/`` turns records into a document
  (what it says) and renders it (how it looks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

if TYPE_CHECKING:  # pragma: no cover - the views are only named here, never built
    from app.audit import ChainVerdict
    from app.services.audit_trail import EventView
    from app.services.comparison import ComparisonView
    from app.services.datasets import DatasetVersionView, SplitView
    from app.services.findings import FindingView
    from app.services.gates import StageGate
    from app.services.identity import PersonView
    from app.services.monitoring_alerts import AlertView
    from app.services.monitoring_batches import BatchView
    from app.services.monitoring_policy import SlaRuleView
    from app.services.projects import ProjectSummary
    from app.services.promotion import PromotionGate, TransitionView, WaiverView
    from app.services.registry import CardSection, ModelVersionView, ReviewRequestView
    from app.services.release_analysis import ReleaseAnalysisView
    from app.services.retraining import TriggerView
    from app.services.training import RunView

# Printed instead of the wall-clock time when a document is built deterministically, so two
# builds from the same records give the same bytes.
DETERMINISTIC_BUILD = "deterministic build"


@dataclass(frozen=True)
class TableData:
    """A titled table of plain strings; ``highlight`` marks rows a reviewer must not miss."""

    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    highlight: tuple[int, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ChartSeries:
    """Numbers for one bar chart (e.g. PSI per feature), drawn by the renderer.

    ``alarm_above``: bars above the threshold are drawn in red (drift); ``False``: bars below
    it (a metric that must reach a target); ``None``: no bar is coloured.
    """

    title: str
    labels: tuple[str, ...]
    values: tuple[float, ...]
    threshold: float | None = None
    y_label: str = ""
    note: str = ""
    alarm_above: bool | None = True


@dataclass(frozen=True)
class LineChart:
    """One or more lines over the same x labels (batches in arrival order, say).

    A ``None`` value is a gap: the batch had no labels, or the feature was not measured.
    """

    title: str
    x_labels: tuple[str, ...]
    lines: tuple[tuple[str, tuple[float | None, ...]], ...]
    y_label: str = ""
    threshold: float | None = None
    note: str = ""


# ---------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class Prose:
    """A paragraph of plain text; the renderer escapes it and keeps its line breaks.

    ``tone``: ``body`` (default), ``lead`` (a chapter's opening statement), ``note`` (small
    print under evidence), ``empty`` ("none recorded"), ``alert`` (a finding in red).
    """

    text: str
    tone: str = "body"


@dataclass(frozen=True)
class Facts:
    """Label → value pairs shown as a two-column list (statement fields, a version's lineage)."""

    rows: tuple[tuple[str, str], ...]
    title: str = ""


Block = Union[Prose, Facts, TableData, ChartSeries, LineChart]


@dataclass(frozen=True)
class Section:
    """A chapter (top level) or a sub-section; ``key`` names it for the requirements map."""

    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()
    key: str = ""


@dataclass(frozen=True)
class ReportStamp:
    """What a document was built from; printed on its cover and on every page."""

    project_slug: str
    project_name: str
    problem_type: str
    maturity: str
    model_version: str  # "v3", or "none" when the project has no registered version
    built_at: str  # UTC time, or DETERMINISTIC_BUILD
    built_by: str
    audit_head_seq: int
    audit_head_hash: str
    audit_event_count: int
    deterministic: bool = False
    evidence_digest: str = ""  # SHA-256 chain over every event to the head (``app.bundle_verify``)


@dataclass(frozen=True)
class PrintedCheckpoint:
    """A signed checkpoint of the head a document prints (``app.services.checkpoint``): the one
    an evidence bundle carries as checkpoint.json, printed from that same record in the bundle's
    PDF. Only set where someone's key signed it; a plain report build has none."""

    seq: int
    head: str
    evidence_digest: str
    made_at: str
    signer: str  # "name (role)" of the registered key
    fingerprint: str  # full SHA-256 fingerprint of the key
    signature: str  # Ed25519, hex, over the canonical JSON of the checkpoint's statement


@dataclass(frozen=True)
class DocumentData:
    """One document, ready to render.

    ``cover`` facts give the document a cover page (and ``contents`` a table of contents
    after it); ``chapter_breaks`` starts every top-level section on a new page; ``signatures``
    lists the roles that sign at the end ("Reviewer", "Approver").
    """

    kind: str
    title: str
    stamp: ReportStamp
    sections: tuple[Section, ...]
    cover: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    contents: bool = False
    chapter_breaks: bool = True
    signatures: tuple[str, ...] = ()

    @property
    def deterministic(self) -> bool:
        return self.stamp.deterministic


# ---------------------------------------------------------------------------- records


@dataclass(frozen=True)
class ProjectRecords:
    """What one document reads about a project, as the services return it.

    ``kind`` is the document's (``reports.render.DOCUMENTS``), or "project" for the project
    screen, which shows the same tables (``reports.stages``). Filled by a collector in one
    consistent read (the audit head did not move while it ran); ``version`` is the model
    version the document is about (``None``: none registered) and ``batch_labels`` the
    monitoring batches a drift report covers. ``card`` is the card's text as it reads now and
    ``card_sections`` says who stands behind each section (a person, a signed confirmation of
    the registry's draft, or the machine draft alone); ``people`` are the registered keys every
    signature is checked against. ``events`` (every event of the project, and the registrations of
    the keys its events name, newest first, with their payloads) and ``chain`` are only gathered for
    the documents that print the audit trail, with the ``evidence_digest`` of the verified chain
    (empty when it is broken or not gathered).
    """

    kind: str
    built_at: str
    built_by: str
    deterministic: bool
    summary: ProjectSummary
    statement: dict[str, Any]
    checklist: dict[str, Any]
    framing: dict[str, Any]
    gates: tuple[StageGate, ...]
    datasets: tuple[DatasetVersionView, ...]
    splits: tuple[SplitView, ...]
    runs: tuple[RunView, ...]
    comparisons: tuple[ComparisonView, ...]
    models: tuple[ModelVersionView, ...]
    version: int | None
    card: dict[str, str]
    promotion: PromotionGate | None
    review_requests: tuple[ReviewRequestView, ...]
    transitions: tuple[TransitionView, ...]
    waivers: tuple[WaiverView, ...]
    release_analyses: tuple[ReleaseAnalysisView, ...]
    batches: tuple[BatchView, ...]
    alerts: tuple[AlertView, ...]
    triggers: tuple[TriggerView, ...]
    sla_rules: tuple[SlaRuleView, ...]
    error_analysis: dict[str, Any] | None
    lineage: dict[str, Any] | None
    audit_head_seq: int
    audit_head_hash: str
    audit_event_count: int
    batch_labels: tuple[str, ...] = ()
    card_sections: tuple[CardSection, ...] = ()
    people: tuple[PersonView, ...] = ()
    events: tuple[EventView, ...] = ()
    chain: ChainVerdict | None = None
    evidence_digest: str = ""
    # every finding raised on the project with its history (``app.services.findings``), not the
    # issues ``reports.findings`` computes from the records
    tracked_findings: tuple[FindingView, ...] = ()
    # the signed checkpoint of this head, when the document goes into an evidence bundle
    checkpoint: PrintedCheckpoint | None = None

    @property
    def project_events(self) -> tuple[EventView, ...]:
        """The gathered events that belong to this project (newest first): not the registrations
        of its signers' keys, and never another project's (they are not read)."""
        return tuple(e for e in self.events if e.project == self.summary.slug)

    @property
    def stamp(self) -> ReportStamp:
        """What every page of the document built from these records says it was built from."""
        s = self.summary
        return ReportStamp(s.slug, s.name, s.problem_type, s.maturity,
                           f"v{self.version}" if self.version is not None else "none", self.built_at,
                           self.built_by, self.audit_head_seq, self.audit_head_hash, self.audit_event_count,
                           self.deterministic, self.evidence_digest)
