"""The tamper-evident audit trail: a keyed hash chain over every change in the registry.

Each event's ``hash`` is HMAC-SHA256(key, prev_hash ‖ canonical JSON of the event, its ``seq``
included), so editing, deleting or reordering any event breaks the chain at that event, and
nobody without the key can rebuild it. Deleting the newest events and then appending is caught
by the *head anchor*: a small file beside the key that remembers the highest ``seq`` written,
so new events continue after it and the gap shows. (Someone who can delete both the rows and
the anchor file can hide a truncation; the key and anchor live outside the database for that
reason.)

This module is the part that needs no database: the key, the anchor, an event's MAC, and the
verification of the chain (with its evidence digest) over plain event rows, so it runs as well
in a worker process that never opens the registry. Reading events and appending one happen
where the session is (``app.services.audit_trail``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.canonical import EVENT_FIELDS, GENESIS, event_body, next_digest
from app.errors import WorkbenchError
from app.keystore import usable_keyring, write_private_file

KEYRING_SERVICE = "mlwb-audit-key"

#: One event as a plain row: its values in ``EVENT_FIELDS`` order (seq … payload, prev_hash, hash).
EventRow = Sequence[Any]


# --- the key -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditKey:
    secret: bytes
    store: str  # "keyring" or the path of the fallback file
    notice: str | None = None  # set once, when a fallback key file was just created


def _parse_key(text: str, where: str) -> bytes:
    """The key as bytes, or a clear error: an empty, non-hex or short key never signs anything."""
    raw = text.strip()
    try:
        secret = bytes.fromhex(raw)
    except ValueError:
        secret = b""
    if len(secret) < 16:
        problem = "is empty" if not raw else "is not a hex key of at least 32 digits"
        raise WorkbenchError(f"the audit key in {where} {problem}: restore it from your backup "
                             "(the key that wrote this chain is the only one that verifies it)")
    return secret


def load_key(key_file: Path, account: str, *, chain_has_events: bool) -> AuditKey:
    """Read the audit key (the 0600 file, else the OS keyring). A key is created only for an
    empty chain: once events exist, a missing key is an error that says where it was kept,
    because a new key would leave every earlier event unverifiable for good."""
    if key_file.exists() and not key_file.is_file():
        raise WorkbenchError(f"the audit key path {key_file} is not a file: move it aside and restore the key "
                             "file from your backup")
    if key_file.exists():
        try:
            text = key_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkbenchError(f"cannot read the audit key {key_file}: {exc}") from None
        return AuditKey(_parse_key(text, str(key_file)), str(key_file))
    backend = usable_keyring()
    stored: str | None = None
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, account)
        except Exception:  # a locked or broken keyring: treated as absent, never as a new key
            backend = None
    if stored is not None:
        return AuditKey(_parse_key(stored, f"the keyring entry {KEYRING_SERVICE}/{account}"), "keyring")
    if chain_has_events:
        raise WorkbenchError(
            f"the audit key is missing: it is neither in {key_file} nor in the OS keyring entry "
            f"{KEYRING_SERVICE}/{account}, but this workspace already has audit events. Restore the key file "
            "from your backup (a new key would make every earlier event unverifiable)")
    secret = secrets.token_hex(32)
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, account, secret)
            return AuditKey(bytes.fromhex(secret), "keyring")
        except Exception:
            pass
    write_private_file(key_file, secret + "\n")
    notice = (
        f"No usable OS keyring was found, so the audit key was stored in {key_file} "
        "(readable only by you). Back it up: without it the audit trail cannot be verified."
    )
    return AuditKey(bytes.fromhex(secret), str(key_file), notice)


def check_key_against(key: AuditKey, samples: Sequence[Mapping[str, Any]], account: str) -> None:
    """Refuse a key that wrote none of ``samples`` (the newest and the oldest event): a different
    or replaced key, named with where it is kept. One edited event does not trip this (the other
    sample still verifies), so `mlwb audit verify` can still name it."""
    if not samples or any(hmac.compare_digest(e["hash"], event_hash(key.secret, e)) for e in samples):
        return
    where = key.store if key.store != "keyring" else f"the keyring entry {KEYRING_SERVICE}/{account}"
    seqs = " and ".join(str(e["seq"]) for e in samples)
    which = f"events {seqs} do not" if len(samples) > 1 else f"event {seqs} does not"
    raise WorkbenchError(f"the audit key in {where} did not write this chain ({which} verify with it): "
                         "restore the key that did from your backup")


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
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise WorkbenchError(f"the audit head anchor {self.path} is unreadable ({exc}): restore it from your "
                                 "backup, or move it aside if you accept losing truncation detection") from None
        entry = data.get(self.database) if isinstance(data, dict) else None
        if not isinstance(data, dict) or (entry is not None and not (
                isinstance(entry, dict) and isinstance(entry.get("seq"), int) and isinstance(entry.get("hash"), str))):
            raise WorkbenchError(f"the audit head anchor {self.path} is not in the form the workbench writes "
                                 '({"<database>": {"seq": N, "hash": "…"}}): restore it from your backup')
        return ChainHead(entry["seq"], entry["hash"]) if entry else None

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


# --- an event's hash -------------------------------------------------------------------------


def event_hash(key: bytes, event: Mapping[str, Any]) -> str:
    """HMAC-SHA256(key, prev_hash ‖ event body): the ``hash`` the event must carry. The body
    (``app.canonical.event_body``) is also what an exported placeholder's ``content`` hashes."""
    return hmac.new(key, (event["prev_hash"] + event_body(event)).encode("utf-8"), hashlib.sha256).hexdigest()


# --- verifying -----------------------------------------------------------------------------


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


def verify_chain(rows: Iterable[EventRow], key: bytes, *, known: ChainHead | None,
                 through: ChainHead | None = None,
                 visit: Callable[[dict[str, Any]], None] | None = None) -> ChainVerdict:
    """Walk the chain from the first event (``rows`` in ``seq`` order); report the first broken link.

    ``known`` is the head anchor's entry (the highest event this workspace wrote). ``visit``
    sees every event that verified, in order, as the exported event (``EVENT_FIELDS``), so a
    caller that needs something from every event (the evidence digest) gets it in the same
    single pass. ``through`` stops at that head (a document's), which must be there with that
    hash; the rows should end there (later ones are not judged).
    """
    prev_hash, expected, count, head = GENESIS, 1, 0, None
    for row in rows:
        event = dict(zip(EVENT_FIELDS, row, strict=True))
        seq = event["seq"]
        if through is not None and seq > through.seq:
            break
        if seq != expected:
            missing = (
                f"event {expected} is missing"
                if seq == expected + 1
                else f"events {expected}–{seq - 1} are missing"
            )
            return ChainVerdict(False, count, head, expected, f"{missing} (deleted or renumbered)")
        if event["prev_hash"] != prev_hash:
            return ChainVerdict(False, count, head, seq, "it does not link to the event before it (reordered or replaced)")
        if not hmac.compare_digest(event["hash"], event_hash(key, event)):
            return ChainVerdict(False, count, head, seq, "its content does not match its hash (edited)")
        if known is not None and seq == known.seq and event["hash"] != known.hash:
            return ChainVerdict(False, count, head, seq, "it differs from the event this workspace wrote (chain rebuilt)")
        if through is not None and seq == through.seq and event["hash"] != through.hash:
            return ChainVerdict(False, count, head, seq, "it differs from the head the document was built at")
        if visit is not None:
            visit(event)
        prev_hash, expected, count = event["hash"], expected + 1, count + 1
        head = ChainHead(seq, event["hash"])
    top = head.seq if head else 0
    end = through.seq if through is not None else (known.seq if known is not None else 0)
    if end > top:
        return ChainVerdict(False, count, head, top + 1, f"the chain ends at {top} but event {end} was written (truncated)")
    return ChainVerdict(True, count, head)


def verify_with_digest(rows: Iterable[EventRow], key: bytes, *, known: ChainHead | None,
                       through: ChainHead | None = None) -> tuple[ChainVerdict, str]:
    """Verify the chain and compute the evidence digest through its head in the same pass.

    A report prints the digest so that an exported bundle's events are pinned by the PDF the
    way the head is (``app.bundle_verify``). The digest is empty when the chain is broken: a
    digest up to the break would vouch for nothing.
    """
    digest = GENESIS

    def fold(event: dict[str, Any]) -> None:
        nonlocal digest
        digest = next_digest(digest, event)

    verdict = verify_chain(rows, key, known=known, through=through, visit=fold)
    return verdict, digest if verdict.ok else ""


@dataclass(frozen=True)
class ChainCheck:
    """Verifying the chain through a document's head, in another process, from plain rows.

    Walking the whole chain (every HMAC, every event's JSON) is pure Python: in the TUI's
    process it would hold the GIL for seconds on a long trail. So the parent, which owns the
    database, reads the events up to the head as plain rows (a quick select of tuples) and a
    report build hands this to the worker that renders the document
    (``reports.tasks.render_task``), which verifies them without opening the registry.

    The rows travel as pickled parts (``of`` makes them): pickling 100,000 rows in one call is
    one C call that holds the parent's GIL for a quarter of a second or more, a frozen screen;
    a part of a few thousand rows takes milliseconds, and the parts together pickle as a copy.

    It carries the audit key, which verification needs: it must only ever travel to a child
    process of the workbench (never to disk, a log or another machine); ``repr`` leaves the
    key and the rows out.
    """

    parts: tuple[bytes, ...] = field(repr=False)
    key: bytes = field(repr=False)
    known: ChainHead | None
    through: ChainHead | None

    @classmethod
    def of(cls, parts: Iterable[Iterable[EventRow]], key: bytes, *, known: ChainHead | None,
           through: ChainHead | None) -> ChainCheck:
        """The check of ``parts`` (the rows up to ``through`` in ``seq`` order, in batches)."""
        return cls(tuple(pickle.dumps([tuple(row) for row in part], protocol=pickle.HIGHEST_PROTOCOL)
                         for part in parts), key, known, through)

    def rows(self) -> Iterator[EventRow]:
        for part in self.parts:  # made by ``of`` in the parent process: trusted
            yield from pickle.loads(part)

    def run(self) -> tuple[ChainVerdict, str]:
        """The verdict through ``through`` and the evidence digest (empty when broken)."""
        return verify_with_digest(self.rows(), self.key, known=self.known, through=self.through)
