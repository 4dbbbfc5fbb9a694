"""The tamper-evident audit trail: a keyed hash chain over every change in the registry.

Each event's ``hash`` is HMAC-SHA256(key, prev_hash ‖ canonical JSON of the event, its ``seq``
included), so editing, deleting or reordering any event breaks the chain at that event, and
nobody without the key can rebuild it. Deleting the newest events and then appending is caught
by the *head anchor*: a small file beside the key that remembers the highest ``seq`` written,
so new events continue after it and the gap shows. (Someone who can delete both the rows and
the anchor file can hide a truncation; the key and anchor live outside the database for that
reason.)
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent

GENESIS = "0" * 64
KEYRING_SERVICE = "mlwb-audit-key"


def current_actor() -> str:
    """The person acting: ``MLWB_USER`` when set (shared service accounts), else the OS user."""
    return os.environ.get("MLWB_USER") or getpass.getuser()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


# --- the key -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    store: str  # "keyring" or the path of the fallback file
    notice: str | None = None  # set once, when a fallback key file was just created


def _usable_keyring():  # type: ignore[no-untyped-def]
    """The OS keyring backend, or None where it would fail, lose the key, or prompt.

    ``fail`` has no backend at all; ``null`` silently drops secrets; the keyrings.alt file
    backends prompt with getpass, which would take over the Textual screen.
    """
    if os.environ.get("MLWB_AUDIT_KEY_STORE") == "file":
        return None
    try:
        import keyring
        from keyring.backends import chainer, fail, null

        backend = keyring.get_keyring()
    except Exception:
        return None
    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    if type(backend).__module__.startswith("keyrings.alt"):
        return None
    return backend


def load_key(key_file: Path, account: str) -> AuditKey:
    """Read the audit key, creating it on first use (keyring first, then a 0600 file)."""
    if key_file.exists():
        return AuditKey(bytes.fromhex(key_file.read_text().strip()), str(key_file))
    backend = _usable_keyring()
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, account)
            if stored is None:
                stored = secrets.token_hex(32)
                backend.set_password(KEYRING_SERVICE, account, stored)
            return AuditKey(bytes.fromhex(stored), "keyring")
        except Exception:  # a locked or broken keyring: fall back rather than lose work
            pass
    secret = secrets.token_hex(32)
    key_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret + "\n")
    notice = (
        f"No usable OS keyring was found, so the audit key was stored in {key_file} "
        "(readable only by you). Back it up: without it the audit trail cannot be verified."
    )
    return AuditKey(bytes.fromhex(secret), str(key_file), notice)


# --- the head anchor -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    seq: int
    hash: str


class HeadAnchor:
    """The highest (seq, hash) this workspace has written, per database."""

    def __init__(self, path: Path, database: str) -> None:
        self.path = path
        self.database = database

    def read(self) -> ChainHead | None:
        try:
            entry = json.loads(self.path.read_text()).get(self.database)
        except (FileNotFoundError, ValueError):
            return None
        return ChainHead(int(entry["seq"]), str(entry["hash"])) if entry else None

    def advance(self, head: ChainHead) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            data = {}
        current = data.get(self.database)
        if current and int(current["seq"]) >= head.seq:
            return
        data[self.database] = {"seq": head.seq, "hash": head.hash}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.path)


# --- writing and verifying -----------------------------------------------------------------


def _event_body(event: AuditEvent) -> str:
    return canonical_json(
        {
            "seq": event.seq,
            "ts": event.ts,
            "actor": event.actor,
            "action": event.action,
            "entity_type": event.entity_type,
            "entity_id": event.entity_id,
            "project": event.project_slug,
            "payload": event.payload,
        }
    )


def _mac(key: bytes, prev_hash: str, body: str) -> str:
    return hmac.new(key, (prev_hash + body).encode("utf-8"), hashlib.sha256).hexdigest()


def chain_head(session: Session) -> ChainHead | None:
    last = session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()
    return ChainHead(last.seq, last.hash) if last else None


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
    """Add one event to the chain inside the caller's transaction (which holds the write lock)."""
    head = chain_head(session)
    known = anchor.read()
    seq = max(head.seq if head else 0, known.seq if known else 0) + 1
    event = AuditEvent(
        seq=seq,
        ts=datetime.now(UTC).isoformat(timespec="microseconds"),
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        project_slug=project_slug,
        payload=canonical_json(payload),
        prev_hash=head.hash if head else GENESIS,
        hash="",
    )
    event.hash = _mac(key, event.prev_hash, _event_body(event))
    session.add(event)
    session.flush()
    session.info["audit_head"] = ChainHead(event.seq, event.hash)
    return event


@dataclass(frozen=True)
class ChainVerdict:
    ok: bool
    count: int
    head: ChainHead | None
    first_bad_seq: int | None = None
    reason: str = ""

    def describe(self) -> str:
        if self.ok:
            head = f"head {self.head.seq} {self.head.hash}" if self.head else "empty chain"
            return f"audit chain OK: {self.count} events, {head}"
        return f"audit chain BROKEN at event {self.first_bad_seq}: {self.reason}"


def verify_chain(session: Session, key: bytes, anchor: HeadAnchor, *,
                 visit: Callable[[AuditEvent], None] | None = None,
                 through: ChainHead | None = None) -> ChainVerdict:
    """Walk the chain from the first event; report the first broken link.

    ``visit`` sees every event that verified, in order, so a caller that needs something from
    every event (the evidence digest) gets it in the same single pass over the table.
    ``through`` stops at that head (a document's), which must be there with that hash; events
    written after it are not read.
    """
    known = anchor.read()
    prev_hash, expected, count, head = GENESIS, 1, 0, None
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if through is not None:
        query = query.where(AuditEvent.seq <= through.seq)
    for event in session.scalars(query).yield_per(2000):
        if event.seq != expected:
            missing = (
                f"event {expected} is missing"
                if event.seq == expected + 1
                else f"events {expected}–{event.seq - 1} are missing"
            )
            return ChainVerdict(False, count, head, expected, f"{missing} (deleted or renumbered)")
        if event.prev_hash != prev_hash:
            return ChainVerdict(False, count, head, event.seq, "it does not link to the event before it (reordered or replaced)")
        if not hmac.compare_digest(event.hash, _mac(key, event.prev_hash, _event_body(event))):
            return ChainVerdict(False, count, head, event.seq, "its content does not match its hash (edited)")
        if known is not None and event.seq == known.seq and event.hash != known.hash:
            return ChainVerdict(False, count, head, event.seq, "it differs from the event this workspace wrote (chain rebuilt)")
        if through is not None and event.seq == through.seq and event.hash != through.hash:
            return ChainVerdict(False, count, head, event.seq, "it differs from the head the document was built at")
        if visit is not None:
            visit(event)
        prev_hash, expected, count = event.hash, expected + 1, count + 1
        head = ChainHead(event.seq, event.hash)
    top = head.seq if head else 0
    end = through.seq if through is not None else (known.seq if known is not None else 0)
    if end > top:
        return ChainVerdict(False, count, head, top + 1, f"the chain ends at {top} but event {end} was written (truncated)")
    return ChainVerdict(True, count, head)
