"""The audit trail as a report prints it: every governance event in full, the rest counted.

A reviewer reads the appendix for the decisions and controls: who approved, waived, promoted,
rolled back, advanced a gate, opened the sealed test, wrote or confirmed the card, raised or
settled a finding, imported a review, registered a person's key. Those events are printed
whole, payload and all, however many there are; every other event (jobs, serving, data and
monitoring bookkeeping) is summarised by kind and count, since the chain head and the evidence
digest printed beside them already pin their content.

``GOVERNANCE`` is the one definition of a governance event; the change log, the cover and the
tests read it from here.
"""

from __future__ import annotations

from typing import Any

from reports.data import Block, ProjectRecords, Prose, TableData
from reports.evidence import when

#: Action prefixes (or whole actions) of governance events: decisions, the controls they rest
#: on, and the keys that sign them.
GOVERNANCE: tuple[str, ...] = (
    "project.",  # created, maturity and problem type: they decide which checks apply
    "stage.",  # a stage gate passed and the project advanced
    "model.",  # registered, review asked, approved or rejected, waived, transitions, aliases, rollbacks
    "model_card.",  # written, or the registry's draft confirmed with a signature
    "run.test_scored",  # the one look at the sealed test set
    "release.",  # shadow, canary and A/B analyses a promotion rests on
    "finding.",  # findings raised and their status changes
    "review.",  # validators' signed reviews imported
    "person.",  # a person's key registered, with their role
    "people.",
    "monitoring.sla_rule_", "monitoring.threshold_set", "monitoring.schedule_set",  # the monitoring controls
    "monitoring.retraining_triggered", "monitoring.alert_resolved",
)
#: Events under a governance prefix that are bookkeeping, not decisions.
NOT_GOVERNANCE: tuple[str, ...] = ("model.batch_scored",)
#: Routine events the change log does not list one by one (the appendix counts them).
ROUTINE: tuple[str, ...] = ("job.", "serving.")


def is_governance(action: str) -> bool:
    return action.startswith(GOVERNANCE) and not action.startswith(NOT_GOVERNANCE)


def governance_events(records: ProjectRecords) -> list[Any]:
    """The governance events gathered for the document (the project's, and the registrations of
    the people whose keys sign its decisions), oldest first."""
    return [e for e in reversed(records.events) if is_governance(e.action)]


def _event_cell(e: Any) -> str:
    return f"#{e.seq}\n{when(e.ts)}\n{e.actor}\n{e.action}\n{e.entity}\nhash {e.hash[:16]}…"


def _payload_cell(e: Any) -> str:
    pairs = e.payload or (("summary", e.summary),)
    return "\n".join(f"{key}: {value}" for key, value in pairs) or "—"


def appendix_blocks(records: ProjectRecords) -> list[Block]:
    events = governance_events(records)
    others = [e for e in reversed(records.project_events) if not is_governance(e.action)]
    by_kind: dict[str, list[Any]] = {}
    for e in others:
        by_kind.setdefault(e.action, []).append(e)
    kinds = tuple((action, str(len(items)), f"#{items[0].seq} {when(items[0].ts)}",
                   f"#{items[-1].seq} {when(items[-1].ts)}", ", ".join(sorted({e.actor for e in items})))
                  for action, items in sorted(by_kind.items()))
    counted = TableData("Every other event of the project, by kind", ("Kind", "Events", "First", "Last", "By"), kinds,
                        note=f"{len(others)} event(s) of data, training, analysis, monitoring, jobs and serving, "
                             "counted; their content is pinned by the chain head and the evidence digest above.")
    return [
        counted,
        Prose(f"{len(events)} governance event(s) follow in full, oldest first: approvals and rejections, waivers, "
              "promotions, rollbacks and other transitions, stage gates, the sealed test opened, model-card "
              "writes and signed confirmations, release analyses, findings, reviews, monitoring controls and the "
              "registration of every person whose key signs here. A signed event carries the signer's key "
              "fingerprint and the signature."),
        TableData("Governance events in full", ("Event", "Payload"),
                  tuple((_event_cell(e), _payload_cell(e)) for e in events),
                  note="Every governance event of the project, whatever its age; no event is left out."),
    ]
