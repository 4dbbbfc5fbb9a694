"""The audit trail where the session is: appending an event, reading the head and the events.

Hashing and verifying live in ``app.audit`` and work on plain event rows, so the chain can be
verified in a worker process that never opens the registry; this module reads those rows
(a select of tuples, no ORM objects) and appends events inside the caller's transaction.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.audit import ChainCheck, ChainHead, ChainVerdict, EventRow, HeadAnchor, event_hash
from app.canonical import EVENT_FIELDS, GENESIS, canonical_json, placeholder
from storage.models import AuditEvent

if TYPE_CHECKING:  # the workbench appends through this module, so it is only named here
    from app.services.workbench import Workbench

#: The columns of one event row, in ``EVENT_FIELDS`` order (what ``app.audit`` verifies).
EVENT_COLUMNS = (AuditEvent.seq, AuditEvent.ts, AuditEvent.actor, AuditEvent.action, AuditEvent.entity_type,
                 AuditEvent.entity_id, AuditEvent.project_slug, AuditEvent.payload, AuditEvent.prev_hash,
                 AuditEvent.hash)
#: The payload field in which a unit of work records the hash of each governed row it changed
#: (``app.services.state_binding``); shown as the rows it names, the hashes stay in the chain.
ROW_HASHES = "row_hashes"
#: Rows per pickled part of a ``ChainCheck`` (a few milliseconds of the parent's GIL each).
ROWS_PER_PART = 2000


@dataclass(frozen=True)
class EventView:
    seq: int
    ts: str
    actor: str
    action: str
    entity: str
    project: str | None
    summary: str
    hash: str
    # the whole payload, key by key (values that are not text as canonical JSON); filled by
    # ``project_events``, for documents that print events in full
    payload: tuple[tuple[str, str], ...] = ()


def _payload_pairs(payload: str) -> tuple[tuple[str, str], ...]:
    try:
        data = json.loads(payload)
    except ValueError:
        return (("payload", payload),)
    if not isinstance(data, dict):
        return (("payload", payload),)
    return tuple((str(k), v if isinstance(v, str) else canonical_json(v)) for k, v in _shown(data).items())


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    """The payload as screens and documents print it: the bound rows by name, not by hash."""
    if isinstance(data.get(ROW_HASHES), dict):
        data = {k: v for k, v in data.items() if k != ROW_HASHES} | {"rows_bound": ", ".join(data[ROW_HASHES])}
    return data


def _summary(payload: str, limit: int = 120) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload[:limit]
    if not isinstance(data, dict):
        return payload[:limit]
    text = ", ".join(f"{k}={v}" for k, v in _shown(data).items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- writing (inside the caller's transaction) ------------------------------------------------


def chain_head(session: Session) -> ChainHead | None:
    last = session.execute(select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return ChainHead(last.seq, last.hash) if last else None


def key_samples(session: Session) -> list[dict[str, Any]]:
    """The newest and the oldest event as exported (``EVENT_FIELDS``): what the audit key is
    checked against on open. Empty for an empty chain."""
    rows = [session.execute(select(*EVENT_COLUMNS).order_by(order).limit(1)).first()
            for order in (AuditEvent.seq.desc(), AuditEvent.seq)]
    return [dict(zip(EVENT_FIELDS, row, strict=True)) for row in dict.fromkeys(r for r in rows if r)]


def newest_event(session: Session) -> dict[str, Any] | None:
    """The chain's newest event as exported (``EVENT_FIELDS``), or None for an empty chain."""
    row = session.execute(select(*EVENT_COLUMNS).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return dict(zip(EVENT_FIELDS, row, strict=True)) if row else None


def rotation_to(session: Session, new_key_id: str) -> tuple[int, str | None] | None:
    """The committed key rotation that moved to ``new_key_id``: its seq and the old key's id
    (``app.audit.settle_rotation`` asks this while it holds the write lock). Only read when a
    rotation is unfinished, so the scan of the rotation events costs nothing otherwise."""
    rows = session.execute(select(*EVENT_COLUMNS).where(AuditEvent.action == audit.ROTATION_ACTION)
                           .order_by(AuditEvent.seq.desc()))
    for row in rows:
        event = dict(zip(EVENT_FIELDS, row, strict=True))
        old_id, new_id = audit.rotation_ids(event)
        if new_id == new_key_id:
            return event["seq"], old_id
    return None


def append_event(
    session: Session,
    key: bytes,
    anchor: HeadAnchor,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: object,
    project_slug: str | None,
    payload: dict[str, Any],
) -> AuditEvent:
    """Add one event to the chain inside the caller's transaction (which holds the write lock).

    Reading the head and writing head+1 is safe only because no other writer can run between
    them: every write transaction takes the registry's writer lock before its first statement
    (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: ``pg_advisory_xact_lock``, ``storage.database``),
    so concurrent writers, in other processes or on other machines sharing one PostgreSQL
    registry, append one after another and never both link to the same predecessor."""
    head = chain_head(session)
    known = anchor.read()
    seq = max(head.seq if head else 0, known.seq if known else 0) + 1
    fields: dict[str, Any] = {
        "seq": seq, "ts": datetime.now(UTC).isoformat(timespec="microseconds"), "actor": actor, "action": action,
        "entity_type": entity_type, "entity_id": str(entity_id), "project": project_slug,
        "payload": canonical_json(payload), "prev_hash": head.hash if head else GENESIS,
    }
    fields["hash"] = event_hash(key, fields)
    event = AuditEvent(**{column.key: fields[name] for column, name in zip(EVENT_COLUMNS, EVENT_FIELDS, strict=True)})
    session.add(event)
    session.flush()
    session.info["audit_head"] = ChainHead(event.seq, event.hash)
    session.info["audit_event"] = event  # the newest: where ``state_binding.bind`` records rows
    return event


# --- reading and verifying ---------------------------------------------------------------------


def event_rows(session: Session, through_seq: int | None = None) -> Iterator[EventRow]:
    """Every event (up to ``through_seq``) as a plain row in ``EVENT_FIELDS`` order, oldest first."""
    query = select(*EVENT_COLUMNS).order_by(AuditEvent.seq)
    if through_seq is not None:
        query = query.where(AuditEvent.seq <= through_seq)
    return iter(session.execute(query.execution_options(yield_per=2000)))


def exported_events(wb: Workbench, through_seq: int, *, project: str,
                    people: Collection[str] = ()) -> list[dict[str, Any]]:
    """Events 1..``through_seq`` as the evidence bundle of ``project`` stores them.

    In full: the project's own events, and the workspace's person events (``entity_type``
    "person", no project) of the keys in ``people`` (fingerprints: the signers of the project's
    records), which tell a reviewer who registered each key, with which name and role. Every
    other event (another project's, another person's) is a placeholder (``app.canonical``):
    its links and the hash of its body, so the chain and the evidence digest check through it
    while nothing of its content leaves the workspace.
    """
    wanted = set(people)
    exported: list[dict[str, Any]] = []
    with wb.read() as session:
        for row in event_rows(session, through_seq):
            event = dict(zip(EVENT_FIELDS, row, strict=True))
            keep = event["project"] == project or (
                event["project"] is None and event["entity_type"] == "person" and _fingerprint(event) in wanted)
            exported.append(event if keep else placeholder(event))
    return exported


def _fingerprint(event: dict[str, Any]) -> str | None:
    try:
        payload = json.loads(event["payload"])
    except ValueError:
        return None
    return payload.get("fingerprint") if isinstance(payload, dict) else None


def verify(wb: Workbench) -> ChainVerdict:
    """Verify the whole chain here, streaming the rows (`mlwb audit verify`, the audit screen)."""
    with wb.read() as session:
        return audit.verify_chain(event_rows(session), wb.key, known=wb.anchor.read())


def verify_with_digest(wb: Workbench) -> tuple[ChainVerdict, str]:
    """Verify the chain and compute the evidence digest through its head in one pass, here
    (``app.audit.verify_with_digest``); a report build leaves this to its worker (`chain_check`)."""
    with wb.read() as session:
        return audit.verify_with_digest(event_rows(session), wb.key, known=wb.anchor.read())


def chain_check(wb: Workbench, head_seq: int, head_hash: str) -> ChainCheck:
    """The check of the chain through the head a document was collected at, for a worker.

    The events up to that head are read here as plain rows, a select of tuples in batches of
    ``ROWS_PER_PART``; walking their HMACs is left to the worker. The check carries the audit
    key (see ``ChainCheck``).
    """
    through = ChainHead(head_seq, head_hash) if head_seq else None
    with wb.read() as session:
        query = select(*EVENT_COLUMNS).where(AuditEvent.seq <= head_seq).order_by(AuditEvent.seq)
        parts = session.execute(query.execution_options(yield_per=ROWS_PER_PART)).partitions() if head_seq else ()
        return ChainCheck.of(parts, wb.key, known=wb.anchor.read(), through=through)


def head(wb: Workbench) -> tuple[ChainHead | None, int]:
    with wb.read() as session:
        return chain_head(session), session.scalar(select(func.count(AuditEvent.seq))) or 0


def recent_events(wb: Workbench, *, project: str | None = None, limit: int = 200) -> list[EventView]:
    with wb.read() as session:
        query = select(AuditEvent)
        if project:
            query = query.where(AuditEvent.project_slug == project)
        rows = session.scalars(query.order_by(AuditEvent.seq.desc()).limit(limit))
        return [
            EventView(e.seq, e.ts, e.actor, e.action, f"{e.entity_type} {e.entity_id}", e.project_slug,
                      _summary(e.payload), e.hash, _payload_pairs(e.payload))  # in full: the audit screen's pane
            for e in rows
        ]


#: The payload fields of a project's events that name a person's key: who signed, who authored.
KEY_FIELDS = ("signer", "author_key")


def project_events(wb: Workbench, slug: str) -> list[EventView]:
    """Every event of project ``slug``, oldest first, each with its full payload, and the
    workspace's person events that registered the keys those events name (``KEY_FIELDS``: the
    signers of its decisions, the authors of its versions), so a document shows who holds each
    key it prints. Other projects' events, and people who signed nothing here, are not read."""
    with wb.read() as session:
        own = list(session.scalars(select(AuditEvent).where(AuditEvent.project_slug == slug)
                                   .order_by(AuditEvent.seq)))
        named = {value for e in own for key, value in _payload_pairs(e.payload) if key in KEY_FIELDS}
        people = [e for e in session.scalars(select(AuditEvent).where(
            AuditEvent.project_slug.is_(None), AuditEvent.entity_type == "person").order_by(AuditEvent.seq))
            if dict(_payload_pairs(e.payload)).get("fingerprint") in named]
        return [EventView(e.seq, e.ts, e.actor, e.action, f"{e.entity_type} {e.entity_id}", e.project_slug,
                          _summary(e.payload), e.hash, _payload_pairs(e.payload))
                for e in sorted(own + people, key=lambda e: e.seq)]
