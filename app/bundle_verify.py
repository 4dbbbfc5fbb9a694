"""The evidence bundle's format and its offline verifier (`mlwb verify-bundle`).

An evidence bundle (written by ``app.services.evidence_bundle``) is a folder or a .zip::

    manifest.json                SHA-256 and size of every other file; project; the audit head the
                                 report was built from; creation time; tool version; evidence digest
    manifest.signature.json      the exporter's Ed25519 statement over manifest.json's SHA-256, project,
                                 head and digest (not listed in the manifest it signs)
    checkpoint.json              the head and evidence digest signed by the exporter as a checkpoint
                                 (``mlwb audit anchor``'s form; the PDF prints its signature and key)
    README.txt                   what is in the bundle and how to verify it
    compliance-report.pdf        the compliance report, which prints the audit head it was built from
    evidence/report-data.json    everything the report shows, as laid out: what it was built from (project,
                                 audit head, evidence digest), then its chapters (``dataclasses.asdict``)
    evidence/tables/NN-*.csv     one CSV per table of the report
    audit/events.jsonl           the audit chain from event 1 to the printed head, one event a line: the
                                 project's events (and its signers' person events) in full, every other
                                 event as a placeholder (seq, prev_hash, hash, content: ``app.canonical``)
    signatures/public-keys.json  name, role, fingerprint and public key of each person who signed a record
    signatures/signed-records.json  the project's decisions (approvals, waivers, signed transitions,
                                 finding status changes and model card confirmations): what the record
                                 says, the statement signed,
                                 the Ed25519 signature and the signer's fingerprint

An export holds its project and nothing else: another project's events travel as placeholders,
which carry the links and the SHA-256 of the event's body but no actor, action, payload or
project, so the chain and the evidence digest check through them. (The content hash is unkeyed:
someone who already knows an event's every field, to the microsecond, could confirm it; nobody
can read anything from it.)

This module is the verifier. It needs only the bundle (and pypdf, and ``cryptography`` for the
signatures): it opens no workspace and no database and reads no ``MLWB_HOME``, so a reviewer can
run it on any machine. It checks:

0. **manifest signature** — ``manifest.signature.json`` verifies with a key of the bundle's list
   that a person event of the chain registered (check 5's rule), and names manifest.json's
   SHA-256, project, head and digest. Everything below rests on the manifest, so this is what
   stops a file changed together with its hash in the manifest, a manifest field changed, or a
   manifest re-signed by an unregistered key. A manifest of the unsigned format
   (``UNSIGNED_FORMATS``) is INCONCLUSIVE: never verified.
1. **files** — every file in the manifest is present with the recorded SHA-256 and size, and no
   file is missing or unlisted (``.DS_Store`` and ``__MACOSX/``, which desktops add, are ignored).
2. **audit chain** — events are numbered without a gap from event 1, each ``prev_hash`` is the
   previous event's ``hash`` (event 1 links to 64 zeros), placeholders included, and the last
   event is the head the manifest records.
3. **evidence digest** — a plain SHA-256 chain over the events' placeholders
   (``app.canonical.DIGEST_ALGORITHM``): ``d_0`` = 64 zeros, ``d_i`` = SHA-256(``d_{i-1}`` ‖
   canonical JSON of {seq, prev_hash, hash, content}), where a full event's ``content`` is the
   SHA-256 of its canonical body. Each line stores its own ``d_i`` (so an edited event is named by
   its seq) and the manifest stores the last one.
4. **report head** — the head printed *in the PDF* (its text, read with pypdf: sequence number
   and full 64-hex hash) is the chain's head, and the PDF names the manifest's project; the
   ``Evidence digest: <64 hex>`` it prints must match the manifest's (a PDF from before the
   report printed it passes on checks 1–3, and the result says so).
5. **signatures** — each public key is what its fingerprint says and is registered by a person
   event of the chain with the same name, role and key; each signed record's signature verifies
   (``app.signing.verify_statement``) with the key it names, which must be in the bundle's list;
   its statement says what the record says (project, version, model SHA-256, decision, comment,
   who); the evidence digest it was signed on is the chain's digest at the event it names; and
   the project's audit event for it carries the same signature and signer (so the records are
   pinned by the digest the PDF prints). Every signature the project's events carry has its
   record. The verdict lists each signer with the full fingerprint, for the reviewer to compare
   with the key its owner gave out of band: a bundle only proves which *key* signed.
6. **checkpoint** — ``checkpoint.json`` is signed by a registered key of the bundle, over the
   manifest's head and evidence digest, and is the checkpoint whose signature the PDF prints.
   In the workspace, ``mlwb audit verify --checkpoint checkpoint.json`` proves the chain still
   holds that head (what no offline check can).

What this can and cannot prove without the audit key
----------------------------------------------------
Each event's ``hash`` is an HMAC whose key stays in the workspace, so this verifier cannot
recompute it: it cannot tell a genuine event from a forged one on its own. What it proves is
that the bundle is *internally consistent* and *unchanged since export* (check 0 makes the
manifest the exporter's: the points below are what holds even for someone who holds a
registered key, or for an unsigned bundle):

- Accidental damage and careless edits are caught: a changed byte in any file (check 1); an
  event edited with the manifest's file hash fixed up (check 3 names the event's seq); an
  event deleted, reordered or re-linked (check 2).
- Someone who rewrites events **and** recomputes the links, the per-event digests, the
  manifest digest and the file hashes consistently is caught only where the rewrite reaches
  something they did not rewrite: the head printed in the PDF (check 4) — which changes whenever
  an event's ``hash`` changes — the evidence digests that signed statements carry (check 5, for
  a rewrite before a signature) and, decisively, ``mlwb audit verify`` in the workspace the
  bundle came from, which recomputes every HMAC and must report the same head.
- An edit that keeps every ``hash`` field and recomputes the digests and manifest passes
  checks 1–3, but the compliance report prints the evidence digest of the events it was built
  from (cover and audit appendix), so check 4 catches it the way it catches a changed head.
  (Rewriting the PDF as well is always possible for someone with the files alone; the PDF is
  only as trustworthy as the copy the reviewer received through another channel, and the
  workspace's ``mlwb audit verify`` remains the final word.)
- A signature cannot be forged without its private key, so a decision re-signed by anyone else
  names a key outside the bundle's list, or a key that did not make the signature, or one that
  no person event registered (check 5).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.canonical import (
    DIGEST_FIELD, EVENT_FIELDS, GENESIS, PLACEHOLDER_FIELDS, canonical_json, is_placeholder, next_digest,
)
from app.errors import WorkbenchError
from app.signing import CHECKPOINT_FIELDS, CHECKPOINT_FORMAT, fingerprint, short_fingerprint, verify_statement

FORMAT = "mlwb-evidence-bundle/3"
#: Bundles from before the manifest was signed: still read (a review shows what is wrong), never
#: verified (their manifest signature check is inconclusive).
UNSIGNED_FORMATS = ("mlwb-evidence-bundle/2",)
MANIFEST = "manifest.json"
#: The exporter's signature over manifest.json's SHA-256: beside it, not listed in it.
MANIFEST_SIGNATURE = "manifest.signature.json"
MANIFEST_SIGNATURE_FORMAT = "mlwb-manifest-signature/1"
#: What the manifest's signed statement states (``app.signing.SigningKey.sign`` adds format and signer).
MANIFEST_STATEMENT_FIELDS = ("kind", "project", "manifest_sha256", "evidence_seq", "evidence_digest", "signed_at")
CHECKPOINT = "checkpoint.json"
README = "README.txt"
REPORT_PDF = "compliance-report.pdf"
EVIDENCE_JSON = "evidence/report-data.json"
TABLES_DIR = "evidence/tables"
EVENTS = "audit/events.jsonl"
PUBLIC_KEYS = "signatures/public-keys.json"
SIGNED_RECORDS = "signatures/signed-records.json"

# Files that desktops drop into folders and archives; they are not evidence and not checked.
_DESKTOP_CLUTTER = (".DS_Store", "Thumbs.db")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class BundleUnusable(WorkbenchError):
    """The path is not an evidence bundle at all (exit 2), as opposed to a bundle that fails."""


# --- reading a bundle ----------------------------------------------------------------------


class _BundleFiles:
    """The files of a bundle, by POSIX path relative to its root, from a folder or a zip."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self.duplicates: list[str] = []
        if path.is_dir():
            self.names = self._folder_names(path)
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise BundleUnusable(
                    f"{path} is not an evidence bundle: it is neither a folder nor a readable .zip "
                    f"archive ({exc}); pass the folder or .zip that `mlwb export` wrote") from None
            names = [i.filename for i in self._zip.infolist() if not i.is_dir()]
            self.duplicates = sorted({n for n in names if names.count(n) > 1})
            self.names = {n for n in names if not _is_clutter(n)}
        elif path.exists():
            raise BundleUnusable(f"{path} is neither a folder nor a file: pass the bundle folder or .zip")
        else:
            raise BundleUnusable(f"{path} does not exist: pass the folder or .zip that `mlwb export` wrote")

    @staticmethod
    def _folder_names(root: Path) -> set[str]:
        names = set()
        for folder, _dirs, files in os.walk(root):
            for name in files:
                rel = PurePosixPath(Path(folder, name).relative_to(root).as_posix())
                if not _is_clutter(str(rel)):
                    names.add(str(rel))
        return names

    def read(self, name: str) -> bytes:
        """The file's bytes; OSError / ValueError when it cannot be read (corrupt zip entry)."""
        if self._zip is not None:
            try:
                return self._zip.read(name)
            except (zipfile.BadZipFile, zlib.error, KeyError) as exc:
                raise ValueError(f"cannot be read from the archive ({exc})") from None
        return (self.path / name).read_bytes()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def _is_clutter(name: str) -> bool:
    return name.startswith("__MACOSX/") or PurePosixPath(name).name in _DESKTOP_CLUTTER


def _safe_member(name: object) -> bool:
    """A manifest entry must name a file inside the bundle (never ``..``, absolute or ``\\``)."""
    if not isinstance(name, str) or not name or "\\" in name or name.startswith("/"):
        return False
    parts = PurePosixPath(name).parts
    return all(p not in ("", ".", "..") for p in parts) and name not in (MANIFEST, MANIFEST_SIGNATURE)


def _load_manifest(files: _BundleFiles) -> dict[str, Any]:
    where = files.path
    if MANIFEST not in files.names:
        raise BundleUnusable(f"{where} is not an evidence bundle: it has no {MANIFEST} "
                             "(pass the folder or .zip that `mlwb export` wrote)")
    try:
        manifest = json.loads(files.read(MANIFEST).decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleUnusable(f"{MANIFEST} in {where} cannot be read as JSON ({exc}): "
                             "the bundle is damaged; ask for a new export") from None
    if not isinstance(manifest, dict) or manifest.get("format") not in (FORMAT, *UNSIGNED_FORMATS):
        raise BundleUnusable(f"{MANIFEST} in {where} is not a '{FORMAT}' manifest: this is not an "
                             "evidence bundle this version of mlwb can verify")
    problems = []
    if not isinstance(manifest.get("files"), dict):
        problems.append("'files'")
    head = manifest.get("audit_head")
    if not (isinstance(head, dict) and _is_seq(head.get("seq")) and _is_hex64(head.get("hash"))):
        problems.append("'audit_head' (seq and 64-hex hash)")
    digest = manifest.get("evidence_digest")
    if not (isinstance(digest, dict) and _is_hex64(digest.get("value"))):
        problems.append("'evidence_digest'")
    if not isinstance(manifest.get("project"), str):
        problems.append("'project'")
    if problems:
        raise BundleUnusable(f"{MANIFEST} in {where} lacks {', '.join(problems)}: the bundle is "
                             "damaged or not from `mlwb export`; ask for a new export")
    return manifest


def _is_seq(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hex64(value: object) -> bool:
    return isinstance(value, str) and bool(_HEX64.match(value))


def _short(value: str) -> str:
    return value if len(value) <= 16 else f"{value[:12]}…"


# --- the checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class BundleCheck:
    """One check of an exported bundle's own files (hashes, chain links, digest, printed head).

    Not a gate's check (``app.services.gates.CheckResult``): nothing here is required or waived
    by a maturity profile, it holds or it does not, so it keeps its own name and shape.
    """

    name: str
    ok: bool
    detail: str
    inconclusive: bool = False  # not ok: too little evidence to say either way (never passed)

    @property
    def outcome(self) -> str:
        return "ok" if self.ok else ("INCONCLUSIVE" if self.inconclusive else "FAILED")

    def line(self) -> str:
        return f"{self.outcome:<6}  {self.name}: {self.detail}"


@dataclass(frozen=True)
class BundleVerdict:
    path: Path
    checks: tuple[BundleCheck, ...]
    signers: tuple[Signer, ...] = ()  # the bundle's keys, each with what it was found to sign

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def summary(self) -> str:
        failed = sum(not c.ok and not c.inconclusive for c in self.checks)
        unsure = sum(c.inconclusive for c in self.checks)
        if not failed and not unsure:
            return (f"bundle verified: all {len(self.checks)} checks passed (without the audit key; "
                    "`mlwb audit verify` in the source workspace must report the same head)")
        said = [f"{failed} of {len(self.checks)} checks failed"] if failed else []
        said += [f"{unsure} inconclusive"] if unsure else []
        return f"bundle NOT verified: {', '.join(said)}"


def _joined(problems: Sequence[str], limit: int = 4) -> str:
    shown = "; ".join(problems[:limit])
    return shown if len(problems) <= limit else f"{shown}; and {len(problems) - limit} more"


def _check_files(files: _BundleFiles, manifest: dict[str, Any]) -> BundleCheck:
    listed: dict[str, Any] = manifest["files"]
    problems: list[str] = []
    for name in sorted(listed):
        entry = listed[name]
        if not _safe_member(name):
            problems.append(f"manifest entry {name!r} does not name a file inside the bundle")
            continue
        if name not in files.names:
            problems.append(f"{name} is missing")
            continue
        if not (isinstance(entry, dict) and _is_hex64(entry.get("sha256")) and _is_seq(entry.get("size"))):
            problems.append(f"{name}: its manifest entry has no valid sha256 and size")
            continue
        try:
            data = files.read(name)
        except (OSError, ValueError) as exc:
            problems.append(f"{name} {exc}")
            continue
        actual = hashlib.sha256(data).hexdigest()
        if (actual, len(data)) != (entry["sha256"], entry["size"]):
            problems.append(f"{name} changed after export: SHA-256 {_short(actual)}, {len(data)} bytes; "
                            f"the manifest says {_short(entry['sha256'])}, {entry['size']} bytes")
    for name in sorted(files.names - set(listed) - {MANIFEST, MANIFEST_SIGNATURE}):
        problems.append(f"{name} is not listed in the manifest (added after export)")
    for name in files.duplicates:
        problems.append(f"{name} appears more than once in the archive")
    signed = manifest.get("format") == FORMAT
    for required in (REPORT_PDF, EVENTS, PUBLIC_KEYS, SIGNED_RECORDS, *((CHECKPOINT,) if signed else ())):
        if required not in listed:
            problems.append(f"the manifest does not list {required}")
    if problems:
        return BundleCheck("files", False, _joined(problems))
    return BundleCheck("files", True, f"{len(listed)} files match {MANIFEST} (SHA-256 and size); "
                                      "none missing, none unlisted")


def _read_events(files: _BundleFiles) -> tuple[list[dict[str, Any]], list[str]]:
    """The events file's lines as dicts, and what is wrong with its shape."""
    if EVENTS not in files.names:
        return [], [f"{EVENTS} is missing"]
    try:
        text = files.read(EVENTS).decode("utf-8")
    except (OSError, ValueError) as exc:
        return [], [f"{EVENTS} cannot be read ({exc})"]
    events, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except ValueError:
            problems.append(f"{EVENTS} line {number} is not JSON")
            continue
        label = f"event {event.get('seq')}" if isinstance(event, dict) else f"{EVENTS} line {number}"
        if not isinstance(event, dict) or set(event) - {DIGEST_FIELD} not in (set(EVENT_FIELDS),
                                                                              set(PLACEHOLDER_FIELDS)):
            problems.append(f"{label} ({EVENTS} line {number}) has neither the fields of an event "
                            f"({', '.join(EVENT_FIELDS)}) nor those of a placeholder "
                            f"({', '.join(PLACEHOLDER_FIELDS)}), each with {DIGEST_FIELD}")
            continue
        if not _is_seq(event["seq"]) or not _is_hex64(event["hash"]) or not _is_hex64(event["prev_hash"]):
            problems.append(f"{label} ({EVENTS} line {number}) has a malformed seq, hash or prev_hash")
            continue
        if is_placeholder(event) and not _is_hex64(event["content"]):
            problems.append(f"{label} ({EVENTS} line {number}) is a placeholder without a 64-hex content hash")
            continue
        if not is_placeholder(event) and not isinstance(event["payload"], str):
            problems.append(f"{label} ({EVENTS} line {number}) has a payload that is not JSON text")
            continue
        events.append(event)
    return events, problems


def _check_chain(events: list[dict[str, Any]], shape: list[str], manifest: dict[str, Any]) -> BundleCheck:
    head = manifest["audit_head"]
    problems = list(shape)
    if not events and not shape and head["seq"] != 0:
        problems.append(f"{EVENTS} holds no events but the manifest's head is {head['seq']}")
    previous: dict[str, Any] | None = None
    for event in events:
        seq = event["seq"]
        if previous is None:
            if seq != 1:
                problems.append(f"the first event is {seq}, not 1: events 1–{seq - 1} are missing")
            elif event["prev_hash"] != GENESIS:
                problems.append("event 1 does not link to the start of the chain (64 zeros)")
        elif seq != previous["seq"] + 1:
            gap = (f"event {previous['seq'] + 1} is missing" if seq == previous["seq"] + 2 else
                   f"event {seq} follows event {previous['seq']} (deleted, reordered or renumbered)")
            problems.append(gap)
        elif event["prev_hash"] != previous["hash"]:
            problems.append(f"event {seq}'s prev_hash {_short(event['prev_hash'])} is not event "
                            f"{previous['seq']}'s hash {_short(previous['hash'])} (one of them was changed)")
        previous = event
    if previous is not None and (previous["seq"], previous["hash"]) != (head["seq"], head["hash"]):
        problems.append(f"the last event is {previous['seq']} {previous['hash']}, but the manifest's "
                        f"printed head is {head['seq']} {head['hash']}")
    if problems:
        return BundleCheck("audit chain", False, _joined(problems))
    if not events:
        return BundleCheck("audit chain", True, "empty chain, as the manifest says")
    hidden = sum(1 for e in events if is_placeholder(e))
    return BundleCheck("audit chain", True, f"events 1–{previous['seq']} link without a gap "  # type: ignore[index]
                                            f"({len(events) - hidden} in full, {hidden} placeholders of other "
                                            f"projects' or unrelated workspace events); "
                                            f"head {head['seq']} {head['hash']} is the manifest's")


def _check_digest(events: list[dict[str, Any]], shape: list[str], manifest: dict[str, Any]) -> BundleCheck:
    recorded = manifest["evidence_digest"]["value"]
    problems: list[str] = []
    if shape:
        problems.append(f"{EVENTS} is malformed (see the audit chain check)")
    stored_previous, running = GENESIS, GENESIS
    for event in events:
        stored = event.get(DIGEST_FIELD)
        # Local check against the previous line's stored digest: names exactly the edited events.
        if not _is_hex64(stored):
            problems.append(f"event {event['seq']} has no valid '{DIGEST_FIELD}'")
        elif next_digest(stored_previous, event) != stored:
            problems.append(f"event {event['seq']}'s content does not match its recorded digest "
                            "(the event was edited after export)")
        stored_previous = stored if _is_hex64(stored) else stored_previous
        running = next_digest(running, event)
    if running != recorded:
        problems.append(f"the digest recomputed from {len(events)} events is {running}, "
                        f"the manifest records {recorded}")
    if problems:
        return BundleCheck("evidence digest", False, _joined(problems))
    return BundleCheck("evidence digest", True,
                       f"{recorded} recomputed from {len(events)} events matches the manifest")


_HEAD_LINE = re.compile(r"audit\s+(?:chain\s+)?head\b\W{0,3}#?\s*(\d+)\s+([0-9a-f]{64})(?![0-9a-f])", re.I)
_HEAD_SEQ = re.compile(r"audit\s+(?:chain\s+)?head\s*#\s*(\d+)", re.I)
_DIGEST_LINE = re.compile(r"evidence\s+digest\b\W{0,3}([0-9a-f]{64})(?![0-9a-f])", re.I)


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    # A damaged PDF makes pypdf log repairs; the verdict below says what matters.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        reader = PdfReader(io.BytesIO(data))
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    finally:
        logger.setLevel(level)


def _report_text(files: _BundleFiles) -> tuple[str | None, str]:
    """The PDF's text with runs of whitespace made one space, or None and why it cannot be read."""
    if REPORT_PDF not in files.names:
        return None, f"{REPORT_PDF} is missing"
    try:
        return " ".join(_pdf_text(files.read(REPORT_PDF)).split()), ""
    except Exception as exc:  # noqa: BLE001 — pypdf raises many types on a damaged file
        return None, f"{REPORT_PDF} cannot be read as a PDF ({type(exc).__name__}: {exc})"


def _check_report(flat: str | None, unreadable: str, events: list[dict[str, Any]],
                  manifest: dict[str, Any]) -> BundleCheck:
    name = "report head"
    if flat is None:
        return BundleCheck(name, False, unreadable)
    printed = {(int(s), h) for s, h in _HEAD_LINE.findall(flat)}
    footer_seqs = {int(s) for s in _HEAD_SEQ.findall(flat)}
    if events:
        chain_head, source = (events[-1]["seq"], events[-1]["hash"]), "the bundle's chain ends at"
    else:
        chain_head, source = (manifest["audit_head"]["seq"], manifest["audit_head"]["hash"]), "the manifest's head is"
    problems = []
    if not printed:
        problems.append(f"{REPORT_PDF} prints no audit chain head (sequence number and 64-hex hash)")
    elif len(printed) > 1:
        shown = ", ".join(f"{s} {_short(h)}" for s, h in sorted(printed))
        problems.append(f"{REPORT_PDF} prints different audit heads: {shown}")
    else:
        (seq, head_hash), = printed
        if (seq, head_hash) != chain_head:
            problems.append(f"{REPORT_PDF} prints audit head {seq} {head_hash}, but {source} "
                            f"{chain_head[0]} {chain_head[1]} (events rewritten after the report was built)")
        stray = sorted(footer_seqs - {seq})
        if stray:
            problems.append(f"{REPORT_PDF} also prints audit head #{', #'.join(map(str, stray))}")
    if manifest["project"] not in flat:
        problems.append(f"{REPORT_PDF} does not name project {manifest['project']} (a different project's report?)")
    digests = set(_DIGEST_LINE.findall(flat))
    recorded = manifest["evidence_digest"]["value"]
    if digests and digests != {recorded}:
        problems.append(f"{REPORT_PDF} prints evidence digest {', '.join(sorted(digests))}, "
                        f"the manifest records {recorded}")
    if problems:
        return BundleCheck(name, False, _joined(problems))
    digest_note = ("and the evidence digest" if digests else
                   "(it does not print the evidence digest, so event content rests on checks 1–3)")
    return BundleCheck(name, True, f"{REPORT_PDF} prints head {chain_head[0]} {chain_head[1]}, the chain's "
                                   f"head, for project {manifest['project']} {digest_note}")


# --- signatures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signer:
    """One key of the bundle's list and the records whose signature verified with it. The full
    fingerprint is printed, for comparison with the one its owner gave out of band."""

    name: str
    role: str
    fingerprint: str
    signed: tuple[str, ...]

    def line(self) -> str:
        return (f"signer  {self.name} ({self.role}) key {self.fingerprint}: "
                f"{', '.join(self.signed) or 'no record that verified'}")


def _read_json(files: _BundleFiles, name: str) -> tuple[Any, str | None]:
    if name not in files.names:
        return None, f"{name} is missing"
    try:
        return json.loads(files.read(name).decode("utf-8")), None
    except (OSError, ValueError) as exc:
        return None, f"{name} cannot be read as JSON ({exc})"


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    try:
        payload = json.loads(event["payload"])
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _bundle_keys(data: Any, events: list[dict[str, Any]], problems: list[str]) -> dict[str, dict[str, str]]:
    """The bundle's public keys by fingerprint. Each must be what its fingerprint says, and be
    registered by a person event of the chain (name, role and key as that event recorded them):
    a key added to the list by hand is registered nowhere the printed digest pins."""
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        problems.append(f"{PUBLIC_KEYS} has no 'keys' list")
        return {}
    registered: dict[str, tuple[int, dict[str, Any]]] = {}
    for event in events:
        if not is_placeholder(event) and event["entity_type"] == "person":
            payload = _payload(event)
            if isinstance(payload.get("fingerprint"), str):
                seq, known = registered.get(payload["fingerprint"], (0, {}))
                registered[payload["fingerprint"]] = (event["seq"], {**known, **payload})
    keys: dict[str, dict[str, str]] = {}
    for number, entry in enumerate(entries, start=1):
        fields = ("name", "role", "fingerprint", "public_key")
        if not (isinstance(entry, dict) and all(isinstance(entry.get(f), str) for f in fields)
                and _is_hex64(entry["public_key"])):
            problems.append(f"key {number} of {PUBLIC_KEYS} lacks a name, role, fingerprint or 64-hex public key")
            continue
        fp, who = fingerprint(entry["public_key"]), f"{entry['name']}'s key"
        if fp != entry["fingerprint"]:
            problems.append(f"{who} lists fingerprint {short_fingerprint(entry['fingerprint'])}, but its public key's "
                            f"is {short_fingerprint(fp)}")
            continue
        seq, recorded = registered.get(fp, (0, {}))
        if not seq:
            problems.append(f"{who} {short_fingerprint(fp)} is registered by no person event in {EVENTS}")
            continue
        differs = [f for f in ("name", "role", "public_key") if f in recorded and recorded[f] != entry[f]]
        if differs:
            problems.append(f"{who} {short_fingerprint(fp)} differs in {', '.join(differs)} from its registration "
                            f"(event {seq})")
            continue
        keys[fp] = entry
    return keys


def _expected(record: dict[str, Any], stated: dict[str, Any]) -> dict[str, Any] | None:
    """What the statement of ``record`` must say, in the statement's own fields (``app.signing``);
    None for a kind of record this verifier does not know."""
    kind = record.get("record")
    said = {"project": record.get("project"), "version": record.get("version"),
            "model_sha256": record.get("model_sha256")}
    if kind == "approval":
        return {**said, "kind": "approval", "decision": record.get("decision"), "comment": record.get("comment")}
    if kind == "waiver":
        return {**said, "kind": "waiver", "decision": f"waive {record.get('check')}", "check": record.get("check"),
                "comment": record.get("reason")}
    if kind == "transition":  # a promotion, or a rollback, whose transition's reason says so
        reason = str(record.get("reason"))
        if stated.get("kind") == "rollback":
            return {**said, "kind": "rollback", "decision": record.get("to_stage"),
                    "comment": reason.removeprefix("rollback: ") if reason.startswith("rollback: ") else None}
        return {**said, "kind": "promotion", "decision": record.get("to_stage"), "comment": reason}
    if kind == "finding_event":
        return {**said, "kind": "finding", "decision": record.get("to_status"), "comment": record.get("reason"),
                "finding": record.get("finding"), "title": record.get("title")}
    if kind == "card_confirmation":  # the registry's draft of card sections, signed (SHA-256 per section)
        return {**said, "kind": "model_card", "decision": "confirm", "sections": record.get("sections")}
    return None


def _record_problem(record: dict[str, Any], label: str, project: str, keys: dict[str, dict[str, str]],
                    digests: dict[int, str] | None, by_signature: dict[str, dict[str, Any]]) -> str | None:
    """The first reason ``record``'s signature does not hold, or None."""
    fp, statement, signature = record["signer_fingerprint"], record["statement"], record["signature"]
    if record.get("project") != project:
        return f"{label} belongs to project {record.get('project')}, not to the bundle's {project}"
    key = keys.get(fp)
    if key is None:
        return f"{label} is signed by key {short_fingerprint(fp)}, which is not among the bundle's public keys"
    if not verify_statement(key["public_key"], statement, signature):
        actual = next((k for k in keys.values() if verify_statement(k["public_key"], statement, signature)), None)
        if actual is not None:
            return (f"{label} names key {short_fingerprint(fp)} ({key['name']}) but was signed with "
                    f"{short_fingerprint(actual['fingerprint'])} ({actual['name']}): a forged fingerprint")
        return f"{label}'s signature does not verify with the key it names, {short_fingerprint(fp)} ({key['name']})"
    stated = json.loads(statement)
    expected = _expected(record, stated)
    if expected is None:
        return f"{label} is a kind of record this verifier does not know"
    wrong = [name for name, value in expected.items() if stated.get(name) != value]
    if record.get("by") != key["name"]:
        wrong.append(f"who decided ({record.get('by')} recorded, {key['name']} signed)")
    if wrong:
        return f"{label}'s signed statement disagrees with the record on {', '.join(wrong)}"
    if digests is not None:
        seq, digest = stated.get("evidence_seq"), stated.get("evidence_digest")
        if not _is_seq(seq) or seq not in digests:
            return f"{label} was signed at event {seq}, which is not in the bundle's chain"
        if digests[seq] != digest:
            return (f"{label} was signed on evidence digest {_short(str(digest))} at event {seq}, but the bundle's "
                    f"chain gives {_short(digests[seq])} there")
    event = by_signature.get(signature)
    if event is None:
        return f"{label}'s signature is in no audit event of {EVENTS} (its event records another)"
    if _payload(event).get("signer") != fp or event["project"] != project:
        return f"{label}'s audit event {event['seq']} records another signer or project"
    return None


def _describe(record: dict[str, Any]) -> str:
    """What a verified record decided, for the signer's line."""
    what = {"approval": lambda r: r.get("decision"), "waiver": lambda r: f"waived {r.get('check')}",
            "transition": lambda r: f"{r.get('from_stage')} → {r.get('to_stage')}",
            "finding_event": lambda r: f"finding {r.get('finding')} {r.get('from_status')} → {r.get('to_status')}",
            "card_confirmation": lambda r: "card sections confirmed: " + ", ".join(sorted(r.get("sections") or ()))}
    return f"v{record.get('version')} {what.get(record['record'], lambda r: '')(record)}".strip()


#: The entity of each kind of record's audit event (a transition's event is about its version).
_RECORD_ENTITY = {"approval": "approval", "waiver": "waiver", "transition": "model_version",
                  "finding_event": "finding", "card_confirmation": "model_card"}
_RECORD_KEYS = ("record", "id", "project", "version", "model_sha256", "by", "signer_fingerprint", "statement",
                "signature")


def _check_signatures(files: _BundleFiles, events: list[dict[str, Any]], events_hold: bool,
                      manifest: dict[str, Any], keys: dict[str, dict[str, str]],
                      key_problems: Sequence[str]) -> tuple[BundleCheck, dict[str, list[str]]]:
    """Every signed record verifies with a key of the bundle's list, says in its statement what
    the record says, was signed on the evidence of this chain, and is the signature its audit
    event recorded; every signature the project's events carry has its record."""
    name, project = "signatures", manifest["project"]
    problems: list[str] = list(key_problems)
    record_data, missing_records = _read_json(files, SIGNED_RECORDS)
    problems += [missing_records] if missing_records else []
    records = record_data.get("records") if isinstance(record_data, dict) else None
    if not missing_records and not isinstance(records, list):
        problems.append(f"{SIGNED_RECORDS} has no 'records' list")
    digests: dict[int, str] | None = None
    if events_hold:
        digests, running = {0: GENESIS}, GENESIS
        for event in events:
            running = digests[event["seq"]] = next_digest(running, event)
    by_signature = {}
    for event in events:
        if not is_placeholder(event) and event["project"] == project:
            signature = _payload(event).get("signature")
            if isinstance(signature, str):
                by_signature[signature] = event
    signed: dict[str, list[str]] = {}
    unsigned: list[str] = []
    seen: set[str] = set()
    failing: list[dict[str, Any]] = []
    for number, record in enumerate(records or [], start=1):
        if not (isinstance(record, dict) and set(_RECORD_KEYS) <= set(record)):
            problems.append(f"record {number} of {SIGNED_RECORDS} lacks {', '.join(_RECORD_KEYS)}")
            continue
        label = f"{record['record']} {record['id']}"
        if record["signature"] is None and record["statement"] is None and record["signer_fingerprint"] is None:
            unsigned.append(f"{label} by {record['by']}")
            continue
        if not all(isinstance(record[f], str) for f in ("signature", "statement", "signer_fingerprint")):
            problems.append(f"{label} has an incomplete signature (statement, signature and signer_fingerprint)")
            continue
        problem = _record_problem(record, label, project, keys, digests, by_signature)
        if problem:
            problems.append(problem)
            failing.append(record)
            continue
        seen.add(record["signature"])
        signed.setdefault(record["signer_fingerprint"], []).append(f"{label} ({_describe(record)})")
    if records is not None:
        # An event whose record was re-signed or damaged is already explained by that record's
        # problem: only the events beyond those are named as having no record at all.
        explained = Counter(_RECORD_ENTITY.get(r["record"]) for r in failing)
        for signature, event in by_signature.items():
            if signature in seen or any(isinstance(r, dict) and r.get("signature") == signature for r in records):
                continue
            if explained[event["entity_type"]]:
                explained[event["entity_type"]] -= 1
                continue
            problems.append(f"event {event['seq']} ({event['action']}) carries a signature that no record of "
                            f"{SIGNED_RECORDS} has")
    if problems:
        return BundleCheck(name, False, _joined(problems)), signed
    count = sum(len(v) for v in signed.values())
    detail = (f"{count} signed record{'s' if count != 1 else ''} verify with the bundle's {len(keys)} public "
              f"key{'s' if len(keys) != 1 else ''}; each says what its record says, on this chain's evidence, "
              "as its audit event recorded")
    if unsigned:
        detail += f"; {len(unsigned)} decided without a signature: {', '.join(unsigned)}"
    return BundleCheck(name, True, detail), signed


def _keys(files: _BundleFiles, events: list[dict[str, Any]]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The bundle's registered public keys (``_bundle_keys``) and what is wrong with its list."""
    data, missing = _read_json(files, PUBLIC_KEYS)
    if missing:
        return {}, [missing]
    problems: list[str] = []
    return _bundle_keys(data, events, problems), problems


# --- the exporter's signatures: the manifest and the checkpoint --------------------------------


def _check_manifest_signature(files: _BundleFiles, manifest: dict[str, Any],
                              keys: dict[str, dict[str, str]]) -> tuple[BundleCheck, str | None]:
    """The manifest is what its exporter signed: the statement in ``manifest.signature.json``
    names manifest.json's SHA-256, the project, head and digest, and verifies with a key of the
    bundle's list that a person event of the chain registered. Every other check rests on the
    manifest, so a file changed together with its hash in the manifest, or a manifest field
    changed, fails here; an unsigned manifest (an older bundle) is inconclusive, never passed."""
    name = "manifest signature"
    if manifest["format"] != FORMAT:
        return BundleCheck(name, False, (
            f"{MANIFEST} is unsigned (format {manifest['format']}, written before bundles were signed): a file "
            "changed together with its hash in the manifest cannot be told from the original, so nothing in "
            "this bundle is vouched for by its exporter; ask for a new export"), inconclusive=True), None
    if MANIFEST_SIGNATURE not in files.names:
        return BundleCheck(name, False, f"{MANIFEST_SIGNATURE} is missing: {MANIFEST} is not signed (the signature "
                                        "was removed, or the bundle was not written by `mlwb export`)"), None
    data, unreadable = _read_json(files, MANIFEST_SIGNATURE)
    if unreadable:
        return BundleCheck(name, False, unreadable), None
    if not (isinstance(data, dict) and data.get("format") == MANIFEST_SIGNATURE_FORMAT
            and all(isinstance(data.get(f), str) for f in ("statement", "signature", "signer_fingerprint"))):
        return BundleCheck(name, False, f"{MANIFEST_SIGNATURE} is not a '{MANIFEST_SIGNATURE_FORMAT}' signature "
                                        "(statement, signature and signer_fingerprint)"), None
    fp, statement = data["signer_fingerprint"], data["statement"]
    key = keys.get(fp)
    if key is None:
        return BundleCheck(name, False, (
            f"{MANIFEST} is signed by key {short_fingerprint(fp)}, which is not among the bundle's registered public "
            f"keys ({PUBLIC_KEYS}, each registered by a person event of the chain): the manifest was re-signed by "
            "someone else")), None
    if not verify_statement(key["public_key"], statement, data["signature"]):
        return BundleCheck(name, False, f"the manifest signature does not verify with the key it names, "
                                        f"{short_fingerprint(fp)} ({key['name']}): it was edited or forged"), None
    stated = json.loads(statement)
    actual = hashlib.sha256(files.read(MANIFEST)).hexdigest()
    if stated.get("manifest_sha256") != actual:
        return BundleCheck(name, False, (
            f"{MANIFEST} changed after {key['name']} signed it: its SHA-256 is {actual}, the signature covers "
            f"{stated.get('manifest_sha256')} (a file hash, the project, the head or another field was rewritten)")), None
    expected = {"kind": "bundle_manifest", "project": manifest["project"], "evidence_seq": manifest["audit_head"]["seq"],
                "evidence_digest": manifest["evidence_digest"]["value"]}
    wrong = [field for field, value in expected.items() if stated.get(field) != value]
    if wrong:
        return BundleCheck(name, False, f"the manifest's signed statement disagrees with {MANIFEST} on "
                                        f"{', '.join(wrong)}"), None
    return BundleCheck(name, True, (
        f"{MANIFEST} (SHA-256 {_short(actual)}) is as {key['name']} ({key['role']}) signed it at "
        f"{stated.get('signed_at')} with key {short_fingerprint(fp)}, registered by a person event of the chain: "
        "its file hashes, project, head and evidence digest are the exporter's")), fp


_CHECKPOINT_SIGNATURE = re.compile(r"checkpoint\s+signature:\s*((?:[0-9a-f]\s?){128})(?![0-9a-f])", re.I)


def _check_checkpoint(files: _BundleFiles, manifest: dict[str, Any], keys: dict[str, dict[str, str]],
                      pdf: str | None) -> tuple[BundleCheck, str | None]:
    """``checkpoint.json`` is a checkpoint (as `mlwb audit anchor` writes) of the bundle's head
    and evidence digest, signed by a registered key of the bundle; where the PDF prints a
    checkpoint signature, it is this one. The reviewer keeps the file: in the workspace,
    ``mlwb audit verify --checkpoint`` then proves the chain still holds that head."""
    name = "checkpoint"
    if manifest["format"] != FORMAT:
        return BundleCheck(name, False, f"no {CHECKPOINT} (format {manifest['format']}, written before bundles "
                                        "carried a signed checkpoint)", inconclusive=True), None
    data, unreadable = _read_json(files, CHECKPOINT)
    if unreadable:
        return BundleCheck(name, False, unreadable), None
    statement = data.get("statement") if isinstance(data, dict) else None
    if not (isinstance(data, dict) and data.get("format") == CHECKPOINT_FORMAT and isinstance(statement, dict)
            and all(f in statement for f in CHECKPOINT_FIELDS) and isinstance(data.get("signature"), str)
            and _is_hex64(data.get("public_key"))):
        return BundleCheck(name, False, f"{CHECKPOINT} is not a '{CHECKPOINT_FORMAT}' checkpoint (statement, "
                                        "signature and public key)"), None
    fp = fingerprint(data["public_key"])
    key = keys.get(fp)
    if key is None:
        return BundleCheck(name, False, f"{CHECKPOINT} is signed by key {short_fingerprint(fp)}, which is not among "
                                        "the bundle's registered public keys"), None
    if not verify_statement(key["public_key"], canonical_json(statement), data["signature"]):
        return BundleCheck(name, False, f"{CHECKPOINT}'s signature does not verify with {key['name']}'s key "
                                        f"{short_fingerprint(fp)}: it was edited or forged"), None
    head, digest = manifest["audit_head"], manifest["evidence_digest"]["value"]
    if (statement["seq"], statement["head"], statement["evidence_digest"]) != (head["seq"], head["hash"], digest):
        return BundleCheck(name, False, f"{CHECKPOINT} is of event {statement['seq']} {_short(str(statement['head']))}"
                                        f", not of the bundle's head {head['seq']} {_short(head['hash'])} and its "
                                        "evidence digest"), None
    printed = {re.sub(r"\s", "", m).lower() for m in _CHECKPOINT_SIGNATURE.findall(pdf or "")}
    if printed and printed != {data["signature"]}:
        return BundleCheck(name, False, f"{REPORT_PDF} prints a checkpoint signature other than {CHECKPOINT}'s"), None
    in_pdf = f"; {REPORT_PDF} prints the same signature" if printed else f"; {REPORT_PDF} prints no checkpoint"
    return BundleCheck(name, True, (
        f"{CHECKPOINT} signs event {head['seq']}, its hash and the evidence digest, by {key['name']} "
        f"({key['role']}) at {statement['made_at']}{in_pdf}; keep it: `mlwb audit verify --checkpoint "
        f"{CHECKPOINT}` in the workspace proves the chain still holds that head")), fp


def verify_bundle(path: str | os.PathLike[str]) -> BundleVerdict:
    """Run the seven checks on a bundle folder or .zip; ``BundleUnusable`` if it is not a bundle."""
    where = Path(path).expanduser()
    files = _BundleFiles(where)
    try:
        manifest = _load_manifest(files)
        events, shape = _read_events(files)
        chain, digest = _check_chain(events, shape, manifest), _check_digest(events, shape, manifest)
        # A statement's evidence digest is compared with the chain's only when both hold: otherwise
        # the check that failed has said what is wrong with the events.
        keys, key_problems = _keys(files, events)
        signatures, signed = _check_signatures(files, events, chain.ok and digest.ok, manifest, keys, key_problems)
        pdf, unreadable = _report_text(files)
        manifest_signature, exporter = _check_manifest_signature(files, manifest, keys)
        checkpoint, checkpointer = _check_checkpoint(files, manifest, keys, pdf)
        checks = (
            manifest_signature,
            _check_files(files, manifest),
            chain,
            digest,
            _check_report(pdf, unreadable, events, manifest),
            signatures,
            checkpoint,
        )
    finally:
        files.close()
    if exporter:
        signed.setdefault(exporter, []).append(f"{MANIFEST} (the exporter)")
    if checkpointer:
        signed.setdefault(checkpointer, []).append(f"{CHECKPOINT} (event {manifest['audit_head']['seq']})")
    signers = tuple(Signer(k["name"], k["role"], fp, tuple(signed.get(fp, ()))) for fp, k in keys.items())
    return BundleVerdict(where, checks, signers)
