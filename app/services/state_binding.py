"""Governed rows bound to the audit chain: a row edited outside the workbench is caught.

The chain proves its events were not changed, but the state tables (an approval's approver, a
version's stage or model file hash) live beside it: an ``UPDATE`` in SQLite would leave the
chain intact and the edited value would flow into reports and bundles. So every unit of work
that changes a governed row records, in its last audit event, the SHA-256 of each such row as
the transaction leaves it (``payload["row_hashes"]``, keyed ``"<table>/<id>"``; ``null`` for a row
deleted). The newest event naming a row is what the row must still hash to: ``problems`` checks
every governed row (``mlwb audit verify``, a report build), ``check_rows`` a few (the model row
when serving starts).

A row hashes as the canonical JSON of its columns read back from the database, leaving out
those that are NULL, so a nullable column added by a later migration does not change the hash
of the rows that were there before it.

High-volume data that is not a decision (the prediction log, per-feature drift results, job
bookkeeping) is not bound; each batch and analysis that produced it is.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, event, select
from sqlalchemy.orm import Session

from app.audit import ChainHead, event_hash
from app.canonical import EVENT_FIELDS, canonical_json
from app.errors import WorkbenchError
from app.services.audit_trail import EVENT_COLUMNS, ROW_HASHES
from storage import models
from storage.models import AuditEvent, Base, WorkspaceSetting

if TYPE_CHECKING:  # the workbench binds through this module, so it is only named here
    from app.services.workbench import Workbench

#: The tables whose rows are decisions or evidence a report prints: each row is bound.
GOVERNED: tuple[type[Base], ...] = (
    models.Project, models.StageDeliverable, models.DatasetVersion, models.Split, models.Experiment,
    models.Run, models.Comparison, models.ModelVersion, models.ModelCard, models.ReviewRequest,
    models.Approval, models.Transition, models.Waiver, models.ReleaseAnalysis, models.MonitoringBatch,
    models.Alert, models.RetrainingTrigger, models.SlaRule, models.MonitoringPolicy, models.Person,
    models.Review, models.Finding, models.FindingEvent,
)
_TABLES: dict[str, Table] = {model.__table__.name: model.__table__ for model in GOVERNED}  # type: ignore[misc]
#: The setting migration 0006 leaves when it found governed rows written before binding existed.
BASELINE_SETTING = "state_baseline"
#: The setting migration 0007 leaves when it numbered rows that events had already bound.
NUMBERS_SETTING = "numbers_pending"
#: The columns migration 0007 filled in on rows written before it (``rebind_numbered_rows``).
NUMBERED_COLUMNS: dict[str, tuple[str, ...]] = {"dataset_version": ("number",), "run": ("project_id", "number")}
_TOUCHED = "mlwb_state_touched"


def row_key(table: str, row_id: object) -> str:
    return f"{table}/{row_id}"


def row_hash(values: Mapping[str, Any]) -> str:
    """SHA-256 of a row's non-NULL columns (as read back from the database), canonical JSON."""
    return hashlib.sha256(canonical_json({k: v for k, v in values.items() if v is not None})
                          .encode("utf-8")).hexdigest()


def _read_hash(session: Session, table: Table, row_id: object) -> str | None:
    row = session.execute(select(table).where(table.c.id == row_id)).mappings().first()
    return row_hash(row) if row is not None else None


# --- binding (inside a unit of work) ------------------------------------------------------------


def track(session: Session) -> None:
    """Remember every governed row this write session inserts, updates or deletes."""
    session.info[_TOUCHED] = set()

    def touched(session: Session, _context: object) -> None:
        keys: set[tuple[str, object]] = session.info.setdefault(_TOUCHED, set())
        for obj in (*session.new, *session.dirty, *session.deleted):
            table = getattr(obj, "__table__", None)
            if table is not None and table.name in _TABLES and (obj not in session.dirty or session.is_modified(obj)):
                keys.add((table.name, obj.id))

    event.listen(session, "after_flush", touched)


def bind(session: Session, key_at: Callable[[int], bytes]) -> ChainHead | None:
    """Record the hash of every governed row this transaction changed in its last event.

    Called once, just before the commit. The last event is rewritten in place (its payload
    gains ``row_hashes`` and its HMAC is recomputed): nothing links to it yet, because it is the
    newest event and the transaction still holds the write lock. A governed change with no
    audit event is a bug in the workbench, refused so the transaction rolls back.
    """
    session.flush()
    keys: set[tuple[str, object]] = session.info.pop(_TOUCHED, set())
    session.info[_TOUCHED] = set()
    if not keys:
        return None
    last: AuditEvent | None = session.info.get("audit_event")
    if last is None:
        names = ", ".join(sorted(row_key(t, i) for t, i in keys))
        raise WorkbenchError(f"internal error: {names} changed without an audit event; nothing was saved")
    state = {row_key(t, i): _read_hash(session, _TABLES[t], i) for t, i in sorted(keys, key=str)}
    return _seal(session, key_at(last.seq), last, state)


def _seal(session: Session, key: bytes, last: AuditEvent, state: dict[str, str | None]) -> ChainHead:
    payload = json.loads(last.payload)
    payload[ROW_HASHES] = {**payload.get(ROW_HASHES, {}), **state}
    last.payload = canonical_json(payload)
    fields = dict(zip(EVENT_FIELDS, (getattr(last, c.key) for c in EVENT_COLUMNS), strict=True))
    last.hash = event_hash(key, fields)
    session.flush()
    head = ChainHead(last.seq, last.hash)
    session.info["audit_head"] = head
    return head


def every_row(session: Session) -> Iterable[tuple[str, str]]:
    """(key, hash) of every governed row now in the registry."""
    for name, table in _TABLES.items():
        for row in session.execute(select(table)).mappings():
            yield row_key(name, row["id"]), row_hash(row)


def baseline_pending(session: Session) -> bool:
    """Does this workspace hold rows written before they were bound (migration 0006 said so),
    and has no event bound any row yet? An inserted setting alone cannot re-bless edited rows:
    once any event carries state, the baseline is never taken again."""
    if session.get(WorkspaceSetting, BASELINE_SETTING) is None:
        return False
    return session.scalar(select(AuditEvent.seq).where(
        AuditEvent.payload.contains(f'"{ROW_HASHES}":{{')).limit(1)) is None


def take_baseline(session: Session) -> int:
    """Mark every governed row as changed by this unit of work, so its event binds them all as
    they are; the number of rows. (The caller appends that event.)"""
    for name in (BASELINE_SETTING, NUMBERS_SETTING):  # the baseline binds the numbers as well
        setting = session.get(WorkspaceSetting, name)
        if setting is not None:
            session.delete(setting)
    keys: set[tuple[str, object]] = session.info[_TOUCHED]
    for name, table in _TABLES.items():
        keys.update((name, row_id) for row_id in session.scalars(select(table.c.id)))
    return len(keys)


def numbers_pending(session: Session) -> bool:
    """Did migration 0007 number rows that audit events had bound without their numbers?"""
    return session.get(WorkspaceSetting, NUMBERS_SETTING) is not None


@dataclass(frozen=True)
class Renumbering:
    """What ``rebind_numbered_rows`` did: the rows bound again with their numbers, and those left
    as they were because they no longer match what the chain recorded."""

    rebound: int
    left: tuple[str, ...]


def rebind_numbered_rows(session: Session) -> Renumbering:
    """Bind again, in this unit of work's event, the rows migration 0007 numbered.

    Filling ``number`` (and a run's ``project_id``) changed what those rows hash to, so each would
    now contradict the event that last wrote it. Leaving the columns out of the hash would leave
    an edited number unguarded, and re-binding every row as found would bless a row someone
    edited before the upgrade. So a row is bound again only when both hold:

    - its other columns still hash to exactly what its newest event recorded (the hash is the
      same function of the same columns as before the migration: NULL columns were left out);
    - its new columns hold what the migration derives from the rows themselves: a dataset
      version's number is its place in id order among its project's versions, a run's project is
      its experiment's and its number its place among the project's top-level runs (a tuning
      trial has none).

    Any other row is left as it is, so ``mlwb audit verify`` keeps naming it (and it is listed in
    the event). A row already matching its binding (written after the migration) needs nothing.
    Runs inside the opening unit of work; a second process that finds the setting gone does
    nothing. Returns what it did; the caller appends the event.
    """
    setting = session.get(WorkspaceSetting, NUMBERS_SETTING)
    if setting is None:
        return Renumbering(0, ())
    session.delete(setting)
    bound = bindings(session)
    expected = _derived_numbers(session)
    keys: set[tuple[str, object]] = session.info[_TOUCHED]
    left: list[str] = []
    for name, new_columns in NUMBERED_COLUMNS.items():
        for row in session.execute(select(_TABLES[name]).order_by(_TABLES[name].c.id)).mappings():
            key = row_key(name, row["id"])
            recorded = bound.get(key)
            if recorded is None or recorded[1] is None or recorded[1] == row_hash(row):
                continue  # never bound (verify names it), or already bound with its number
            before = row_hash({k: v for k, v in row.items() if k not in new_columns})
            derived = expected.get(key)
            if before == recorded[1] and derived == tuple(row[c] for c in new_columns):
                keys.add((name, row["id"]))
            else:
                left.append(key)
    return Renumbering(len(keys), tuple(left))


def _derived_numbers(session: Session) -> dict[str, tuple[object, ...]]:
    """What migration 0007 gives each row: key -> the new columns' values, in their order."""
    out: dict[str, tuple[object, ...]] = {}
    dv = models.DatasetVersion.__table__
    count: dict[object, int] = {}
    for row_id, project_id in session.execute(select(dv.c.id, dv.c.project_id).order_by(dv.c.id)):
        count[project_id] = count.get(project_id, 0) + 1
        out[row_key("dataset_version", row_id)] = (count[project_id],)
    run, exp = models.Run.__table__, models.Experiment.__table__
    count = {}
    query = (select(run.c.id, exp.c.project_id, run.c.parent_run_id)
             .join(exp, run.c.experiment_id == exp.c.id).order_by(run.c.id))
    for row_id, project_id, parent in session.execute(query):
        if parent is None:
            count[project_id] = count.get(project_id, 0) + 1
        out[row_key("run", row_id)] = (project_id, None if parent is not None else count[project_id])
    return out


# --- checking -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateProblem:
    key: str
    seq: int | None
    what: str

    def describe(self) -> str:
        table, _, row_id = self.key.partition("/")
        row = f"{table.replace('_', ' ')} {row_id}"
        if self.seq is None:
            return f"{row} is not recorded by any audit event ({self.what})"
        return f"{row} {self.what} audit event {self.seq} recorded"


def _payload_state(payload: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    state = data.get(ROW_HASHES) if isinstance(data, dict) else None
    return state if isinstance(state, dict) else {}


def bindings(session: Session, through_seq: int | None = None) -> dict[str, tuple[int, str | None]]:
    """The newest recorded hash of every bound row: key -> (seq, hash or None when deleted).

    Only the events that carry state are read (a substring filter SQLite runs in C). Their
    content is trusted as far as the chain verifies: callers check the chain as well.
    """
    query = select(AuditEvent.seq, AuditEvent.payload).where(
        AuditEvent.payload.contains(f'"{ROW_HASHES}":{{')).order_by(AuditEvent.seq)
    if through_seq is not None:
        query = query.where(AuditEvent.seq <= through_seq)
    found: dict[str, tuple[int, str | None]] = {}
    for seq, payload in session.execute(query.execution_options(yield_per=2000)):
        for key, value in _payload_state(payload).items():
            found[key] = (seq, value if isinstance(value, str) else None)
    return found


@dataclass(frozen=True)
class RowsVerdict:
    """Governed rows against the chain: how many were checked, and each that disagrees."""

    checked: int
    problems: tuple[StateProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self, limit: int = 20) -> list[str]:
        if self.ok:
            return [f"governed rows OK: {self.checked} rows match the audit events that recorded them"]
        shown = [f"governed rows CHANGED outside the workbench: {len(self.problems)} of {self.checked}"]
        shown += [f"  {p.describe()}" for p in self.problems[:limit]]
        if len(self.problems) > limit:
            shown.append(f"  … and {len(self.problems) - limit} more")
        return shown


def verify_workspace_rows(wb: Workbench) -> RowsVerdict:
    """`mlwb audit verify`, the audit screen and a report build: every governed row."""
    with wb.read() as session:
        return verify_rows(session)


def require_intact_rows(wb: Workbench, doing: str) -> None:
    """Refuse ``doing`` (building a document from the registry) while any governed row disagrees
    with the chain: the document would print the edited value as evidence."""
    raise_on(verify_workspace_rows(wb).problems, doing)


def verify_rows(session: Session) -> RowsVerdict:
    """Every governed row that disagrees with the newest event that recorded it, every row no
    event recorded, and every recorded row that is gone."""
    bound = bindings(session)
    found: list[StateProblem] = []
    present: set[str] = set()
    for key, digest in every_row(session):
        present.add(key)
        recorded = bound.get(key)
        if recorded is None:
            found.append(StateProblem(key, None, "inserted outside the workbench"))
        elif recorded[1] != digest:
            found.append(StateProblem(key, recorded[0], "differs from what"))
    for key, (seq, digest) in bound.items():
        if digest is not None and key not in present and key.partition("/")[0] in _TABLES:
            found.append(StateProblem(key, seq, "is missing (deleted outside the workbench); it exists in what"))
    return RowsVerdict(len(present), tuple(sorted(found, key=lambda p: (p.seq or 0, p.key))))


def check_rows(session: Session, key_at: Callable[[int], bytes],
               rows: Iterable[tuple[type[Base], int]]) -> list[StateProblem]:
    """Check a few rows against the newest event that names each, that event's HMAC included
    (so it needs no walk of the whole chain): what serving checks of its model row at start-up."""
    found: list[StateProblem] = []
    for model, row_id in rows:
        table = model.__table__
        name = row_key(table.name, row_id)
        row = session.execute(select(*EVENT_COLUMNS).where(AuditEvent.payload.contains(f'"{name}":'))
                              .order_by(AuditEvent.seq.desc()).limit(1)).first()
        fields = dict(zip(EVENT_FIELDS, row, strict=True)) if row is not None else None
        recorded = _payload_state(fields["payload"]).get(name) if fields else None
        if fields is None or recorded is None:
            found.append(StateProblem(name, None, "inserted outside the workbench"))
        elif event_hash(key_at(fields["seq"]), fields) != fields["hash"]:
            found.append(StateProblem(name, fields["seq"], "cannot be checked: the chain is edited at what"))
        elif _read_hash(session, table, row_id) != recorded:  # type: ignore[arg-type]
            found.append(StateProblem(name, fields["seq"], "differs from what"))
    return found


def raise_on(found: Sequence[StateProblem], doing: str) -> None:
    """Refuse ``doing`` (a report build, serving) while governed rows disagree with the chain."""
    if found:
        more = f" (and {len(found) - 3} more)" if len(found) > 3 else ""
        listed = "; ".join(p.describe() for p in found[:3])
        raise WorkbenchError(f"cannot {doing}: the registry was changed outside the workbench: {listed}{more}. "
                             "Run `mlwb audit verify` for the full list and restore the database from a backup")
