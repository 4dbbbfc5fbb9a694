"""The tamper-evident audit trail: a keyed hash chain over every change in the registry.

Each event's ``hash`` is HMAC-SHA256(key, prev_hash ‖ canonical JSON of the event, its ``seq``
included), so editing, deleting or reordering any event breaks the chain at that event, and
nobody without the key can rebuild it. Deleting the newest events and then appending is caught
by the *head anchor*: a small file beside the key that remembers the highest ``seq`` written,
so new events continue after it and the gap shows. (Someone who can delete both the rows and
the anchor file can hide a truncation; the key and anchor live outside the database for that
reason.)

The key can be rotated on purpose (``mlwb audit rotate-key``): the rotation is itself an event,
MAC'd with the old key, naming the new key by its id; later events are MAC'd with the new key,
and the retired keys are kept where the current one is, so every event is verified with the key
that was current at its ``seq`` (``verify_chain``).

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
from app.keystore import replace_private_file, usable_keyring, write_private_file

KEYRING_SERVICE = "mlwb-audit-key"

#: One event as a plain row: its values in ``EVENT_FIELDS`` order (seq … payload, prev_hash, hash).
EventRow = Sequence[Any]


# --- the key -------------------------------------------------------------------------------

#: The action of the event that rotates the audit key (``mlwb audit rotate-key``). It is MAC'd
#: with the old key and its payload names the new key by id (``key_id``), never the key itself;
#: every later event is MAC'd with the new key, so the chain itself says which key wrote what.
ROTATION_ACTION = "audit.key_rotated"
RETIRED_FORMAT = "mlwb-retired-audit-keys/1"


def key_id(secret: bytes) -> str:
    """A key's public name: HMAC(key, "mlwb-audit-key-id") in hex. It identifies the key without
    revealing it, so a rotation event can commit to the new key in the open."""
    return hmac.new(secret, b"mlwb-audit-key-id", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class RetiredKey:
    """A key the chain rotated away from: it wrote the events up to ``through_seq`` (its
    rotation event, the last event it MAC'd) and was succeeded by the key ``successor_id``."""

    key_id: str
    secret: bytes = field(repr=False)
    through_seq: int
    successor_id: str


@dataclass(frozen=True)
class AuditKey:
    """The current audit key (what new events are MAC'd with) and the retired keys that wrote
    the events before the last rotation, oldest first (what verifying them needs)."""

    secret: bytes = field(repr=False)
    store: str  # "keyring" or the path of the fallback file
    notice: str | None = None  # set once, when a fallback key file was just created
    retired: tuple[RetiredKey, ...] = ()
    retired_store: str = ""  # where the retired keys are kept, for messages

    @property
    def key_id(self) -> str:
        return key_id(self.secret)

    def secret_for(self, wanted: str) -> bytes | None:
        """The key whose id is ``wanted``, current or retired; None when this workspace lacks it."""
        if wanted == self.key_id:
            return self.secret
        return next((k.secret for k in self.retired if k.key_id == wanted), None)

    def secret_at(self, seq: int) -> bytes:
        """The key that MAC'd event ``seq``, as the retired keys record their ranges: for checking
        one event without walking the chain (a whole-chain walk follows the rotation events)."""
        return next((k.secret for k in self.retired if seq <= k.through_seq), self.secret)

    @property
    def first(self) -> bytes:
        """The key the chain starts with: the oldest retired one, else the current one."""
        return self.retired[0].secret if self.retired else self.secret

    def writes_after(self, event: Mapping[str, Any]) -> bool:
        """Is the current key the one that MACs the event after ``event`` (the chain's newest)?
        After a rotation event, the key it names; after any other event, the key that wrote it."""
        if event["action"] == ROTATION_ACTION:
            return rotation_ids(event)[1] == self.key_id
        return hmac.compare_digest(event["hash"], event_hash(self.secret, event))


def rotation_ids(event: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(old key id, new key id) that a rotation event's payload records; None where it does not."""
    try:
        payload = json.loads(event["payload"])
    except (TypeError, ValueError):
        return None, None
    if not isinstance(payload, dict):
        return None, None
    old, new = payload.get("old_key_id"), payload.get("new_key_id")
    return (old if isinstance(old, str) else None), (new if isinstance(new, str) else None)


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


class KeyStore:
    """The places one workspace's audit keys live, all in the store of its current key.

    With the 0600 file ``audit.key``: ``audit.key.retired`` beside it (the retired keys, JSON)
    and, only while a rotation is under way, ``audit.key.next`` (the new key, not yet current).
    With the OS keyring: the entries ``ACCOUNT``, ``ACCOUNT/retired`` and ``ACCOUNT/next`` of the
    service ``mlwb-audit-key``. Every write replaces the whole value atomically and durably.
    """

    def __init__(self, key_file: Path, account: str, backend: Any | None) -> None:
        self.key_file, self.account, self.backend = key_file, account, backend

    @classmethod
    def locate(cls, key_file: Path, account: str) -> KeyStore | None:
        """The store holding the current key (the file first, as ``load_key`` reads it), or None."""
        if key_file.is_file():
            return cls(key_file, account, None)
        backend = usable_keyring()
        if backend is not None:
            try:
                if backend.get_password(KEYRING_SERVICE, account) is not None:
                    return cls(key_file, account, backend)
            except Exception:
                return None
        return None

    def _path(self, part: str) -> Path:
        return self.key_file if not part else self.key_file.with_name(f"{self.key_file.name}.{part}")

    def _entry(self, part: str) -> str:
        return self.account if not part else f"{self.account}/{part}"

    @property
    def kind(self) -> str:
        return "file" if self.backend is None else "keyring"

    def where(self, part: str = "") -> str:
        if self.backend is None:
            return str(self._path(part))
        return f"the keyring entry {KEYRING_SERVICE}/{self._entry(part)}"

    def read(self, part: str = "") -> str | None:
        if self.backend is None:
            path = self._path(part)
            try:
                return path.read_text()
            except FileNotFoundError:
                return None
            except (OSError, UnicodeDecodeError) as exc:
                raise WorkbenchError(f"cannot read {path}: {exc}") from None
        try:
            return self.backend.get_password(KEYRING_SERVICE, self._entry(part))
        except Exception as exc:
            raise WorkbenchError(f"cannot read {self.where(part)}: {exc}") from None

    def write(self, part: str, text: str) -> None:
        if self.backend is None:
            replace_private_file(self._path(part), text)
        else:
            self.backend.set_password(KEYRING_SERVICE, self._entry(part), text)

    def delete(self, part: str) -> None:
        if self.backend is None:
            self._path(part).unlink(missing_ok=True)
            return
        try:
            self.backend.delete_password(KEYRING_SERVICE, self._entry(part))
        except Exception:  # keyring.errors.PasswordDeleteError: already gone
            pass

    def retired(self) -> list[RetiredKey]:
        """The retired keys, oldest first; a clear error when the record is not what we wrote."""
        text = self.read("retired")
        if text is None:
            return []
        where = self.where("retired")
        try:
            data = json.loads(text)
            entries = data["keys"] if isinstance(data, dict) and data.get("format") == RETIRED_FORMAT else None
            keys = [RetiredKey(str(e["key_id"]), bytes.fromhex(e["key"]), int(e["through_seq"]),
                               str(e["successor_id"])) for e in entries]  # type: ignore[union-attr]
        except (ValueError, TypeError, KeyError):
            keys = None
        if keys is None or any(k.key_id != key_id(k.secret) for k in keys):
            raise WorkbenchError(f"the retired audit keys in {where} are not in the form the workbench writes: "
                                 "restore them from your backup (they verify the events written before a rotation)")
        return sorted(keys, key=lambda k: k.through_seq)

    def write_retired(self, keys: Sequence[RetiredKey]) -> None:
        self.write("retired", json.dumps({"format": RETIRED_FORMAT, "keys": [
            {"key_id": k.key_id, "key": k.secret.hex(), "through_seq": k.through_seq, "successor_id": k.successor_id}
            for k in keys]}, indent=1) + "\n")


def load_key(key_file: Path, account: str, *, chain_has_events: bool) -> AuditKey:
    """Read the audit key (the 0600 file, else the OS keyring) and the retired keys kept beside
    it. A key is created only for an empty chain: once events exist, a missing key is an error
    that says where it was kept, because a new key would leave every earlier event unverifiable
    for good."""
    if key_file.exists() and not key_file.is_file():
        raise WorkbenchError(f"the audit key path {key_file} is not a file: move it aside and restore the key "
                             "file from your backup")
    if key_file.exists():
        try:
            text = key_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise WorkbenchError(f"cannot read the audit key {key_file}: {exc}") from None
        store = KeyStore(key_file, account, None)
        return AuditKey(_parse_key(text, str(key_file)), str(key_file), retired=tuple(store.retired()),
                        retired_store=store.where("retired"))
    backend = usable_keyring()
    stored: str | None = None
    if backend is not None:
        try:
            stored = backend.get_password(KEYRING_SERVICE, account)
        except Exception:  # a locked or broken keyring: treated as absent, never as a new key
            backend = None
    if stored is not None:
        store = KeyStore(key_file, account, backend)
        return AuditKey(_parse_key(stored, f"the keyring entry {KEYRING_SERVICE}/{account}"), "keyring",
                        retired=tuple(store.retired()), retired_store=store.where("retired"))
    if chain_has_events:
        raise WorkbenchError(
            f"the audit key is missing: it is neither in {key_file} nor in the OS keyring entry "
            f"{KEYRING_SERVICE}/{account}, but this workspace already has audit events. Restore the key file "
            "from your backup (a new key would make every earlier event unverifiable)")
    secret = secrets.token_hex(32)
    if backend is not None:
        try:
            backend.set_password(KEYRING_SERVICE, account, secret)
            return AuditKey(bytes.fromhex(secret), "keyring",
                            retired_store=KeyStore(key_file, account, backend).where("retired"))
        except Exception:
            pass
    write_private_file(key_file, secret + "\n")
    notice = (
        f"No usable OS keyring was found, so the audit key was stored in {key_file} "
        "(readable only by you). Back it up: without it the audit trail cannot be verified."
    )
    return AuditKey(bytes.fromhex(secret), str(key_file), notice,
                    retired_store=KeyStore(key_file, account, None).where("retired"))


# --- rotating the key ----------------------------------------------------------------------
#
# A rotation is crash-safe by its order. Inside the transaction that holds the registry's
# write lock: (1) the new key is stored as *pending* (``audit.key.next`` / ``ACCOUNT/next``),
# (2) the rotation event is appended, MAC'd with the old key, naming both keys' ids, and
# committed. Then (``settle_rotation``): (3) the old key is added to the retired keys, (4) the
# new key replaces the current one, (5) the pending entry is removed. Until the commit the old
# key is current and a pending key is ignored; the next open (under the write lock, so never
# while a rotation is committing) deletes a pending key whose rotation event is absent, and
# finishes (3)-(5) when the event is there. No key is ever removed before it is stored where
# it is kept next.


def has_pending_key(key_file: Path, account: str) -> bool:
    """Is a rotation unfinished (a pending new key stored)? Cheap: one file or keyring look-up."""
    if key_file.is_file():
        return KeyStore(key_file, account, None).read("next") is not None
    backend = usable_keyring()
    try:  # one look-up: every open asks this
        return backend is not None and backend.get_password(KEYRING_SERVICE, f"{account}/next") is not None
    except Exception:
        return False


def store_pending_key(key_file: Path, account: str, secret: bytes) -> KeyStore:
    """Step (1): keep ``secret`` as the pending key, where the current key is kept."""
    store = KeyStore.locate(key_file, account)
    if store is None:
        raise WorkbenchError(f"the audit key is neither in {key_file} nor in the OS keyring: nothing to rotate")
    store.write("next", secret.hex() + "\n")
    return store


def settle_rotation(key_file: Path, account: str,
                    rotation_to: Callable[[str], tuple[int, str | None] | None]) -> None:
    """Finish or discard an unfinished rotation (steps 3-5), idempotently.

    ``rotation_to(key id)`` gives the (seq, old key id) of the committed rotation event that
    moved to that key, or None when there is none; the caller must hold the registry's write
    lock, so no rotation commits while this decides that a pending key is stale.
    """
    store = KeyStore.locate(key_file, account)
    text = store.read("next") if store is not None else None
    if store is None or text is None:
        return
    pending = _parse_key(text, store.where("next"))
    pending_id = key_id(pending)
    event = rotation_to(pending_id)
    current_text = store.read("")
    current = _parse_key(current_text, store.where()) if current_text is not None else None
    if event is None:  # the rotation never committed: the old key is still current
        if current is not None and key_id(current) == pending_id:
            return  # (a chain rolled back behind its rotation: keep every key for `audit verify` to explain)
        store.delete("next")
        return
    seq, old_id = event
    if current is not None and key_id(current) == old_id:
        retired = store.retired()
        if old_id not in {k.key_id for k in retired}:
            store.write_retired([*retired, RetiredKey(old_id, current, seq, pending_id)])  # (3)
        store.write("", pending.hex() + "\n")  # (4)
        current = pending
    if current is not None and key_id(current) == pending_id:
        store.delete("next")  # (5)


def check_key_against(key: AuditKey, samples: Sequence[Mapping[str, Any]], account: str) -> None:
    """Refuse a key that wrote none of ``samples`` (the newest and the oldest event): a different
    or replaced key, named with where it is kept. One edited event does not trip this (the other
    sample still verifies), so `mlwb audit verify` can still name it. After a rotation the
    current key must be the one the last rotation moved to, as the retired keys record it; the
    newest event may be that rotation (written with the old key), the oldest one is checked
    with the first key."""
    where = key.store if key.store != "keyring" else f"the keyring entry {KEYRING_SERVICE}/{account}"
    if key.retired and key.retired[-1].successor_id != key.key_id:
        last = key.retired[-1]
        raise WorkbenchError(f"the audit key in {where} (id {key.key_id[:16]}…) is not the key this workspace "
                             f"rotated to at event {last.through_seq} (id {last.successor_id[:16]}…): restore the "
                             "key that did from your backup")
    if not samples:
        return
    for e in samples:
        if hmac.compare_digest(e["hash"], event_hash(key.secret, e)):
            return
        if e["action"] == ROTATION_ACTION and rotation_ids(e)[1] == key.key_id:
            return
        if key.retired and hmac.compare_digest(e["hash"], event_hash(key.secret_at(e["seq"]), e)):
            return
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


def _as_keys(key: bytes | AuditKey) -> AuditKey:
    return key if isinstance(key, AuditKey) else AuditKey(key, "")


def _missing_key(rows: Iterator[EventRow], event: Mapping[str, Any], keys: AuditKey) -> str | None:
    """Why ``event`` (whose MAC failed) cannot be verified when the key that wrote it is absent:
    the next rotation event says which key wrote the events before it; if that key is not here,
    the retired keys were lost (not the event edited). None when no lost key explains it."""
    for row in rows:
        later = dict(zip(EVENT_FIELDS, row, strict=True))
        if later["action"] != ROTATION_ACTION:
            continue
        old_id = rotation_ids(later)[0]
        if old_id is None or keys.secret_for(old_id) is not None:
            return None
        return (f"it was written with a retired audit key (id {old_id[:16]}…, used until the key rotation at event "
                f"{later['seq']}) that is not in {keys.retired_store or 'the retired keys'}: restore it from your "
                "backup (the retired keys verify the events written before each rotation)")
    return None


def verify_chain(rows: Iterable[EventRow], key: bytes | AuditKey, *, known: ChainHead | None,
                 through: ChainHead | None = None,
                 visit: Callable[[dict[str, Any]], None] | None = None) -> ChainVerdict:
    """Walk the chain from the first event (``rows`` in ``seq`` order); report the first broken link.

    ``key`` is the workspace's ``AuditKey`` (a bare key for a chain never rotated): each event
    is checked with the key current at its ``seq``, the first key up to the first rotation
    event and then the key that event names (``ROTATION_ACTION``). A key the chain needs but
    the workspace lacks is reported as such, naming where it should be kept.

    ``known`` is the head anchor's entry (the highest event this workspace wrote). ``visit``
    sees every event that verified, in order, as the exported event (``EVENT_FIELDS``), so a
    caller that needs something from every event (the evidence digest) gets it in the same
    single pass. ``through`` stops at that head (a document's), which must be there with that
    hash; the rows should end there (later ones are not judged).
    """
    keys = _as_keys(key)
    secret: bytes | None = keys.first
    lost = ""  # why ``secret`` is None: the key the last rotation named is not here
    rotated = False
    prev_hash, expected, count, head = GENESIS, 1, 0, None
    rows = iter(rows)
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
        if secret is None:
            return ChainVerdict(False, count, head, seq, lost)
        if not hmac.compare_digest(event["hash"], event_hash(secret, event)):
            # before the first rotation the key is the first one this workspace has: if the
            # retired keys were lost, the chain's own rotation events say so
            why = _missing_key(rows, event, keys) if not rotated else None
            return ChainVerdict(False, count, head, seq, why or "its content does not match its hash (edited)")
        if event["action"] == ROTATION_ACTION:  # later events are MAC'd with the key it names
            rotated = True
            new_id = rotation_ids(event)[1]
            secret = keys.secret_for(new_id) if new_id else None
            lost = (f"the key rotation at event {seq} moved to audit key id {(new_id or '?')[:16]}…, which is "
                    f"neither the current key ({keys.store or 'given'}) nor among the retired keys in "
                    f"{keys.retired_store or 'this workspace'}: restore it from your backup")
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


def verify_with_digest(rows: Iterable[EventRow], key: bytes | AuditKey, *, known: ChainHead | None,
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

    It carries the audit key (the current and the retired ones), which verification needs: it
    must only ever travel to a child process of the workbench (never to disk, a log or another
    machine); ``repr`` leaves the keys and the rows out.
    """

    parts: tuple[bytes, ...] = field(repr=False)
    key: bytes | AuditKey = field(repr=False)  # the current and retired keys (``verify_chain``)
    known: ChainHead | None
    through: ChainHead | None

    @classmethod
    def of(cls, parts: Iterable[Iterable[EventRow]], key: bytes | AuditKey, *, known: ChainHead | None,
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
