"""The signed review file (``review.json``): a validator's findings and conclusion on a bundle.

A validator reads an evidence bundle on a machine that never sees the ML team's workspace
(`mlwb review open`), writes findings and a conclusion, and signs them with their own key. The
file goes back to the team, whose workspace checks it and records it (`mlwb review import`,
``app.services.review_import``). This module writes and reads the file; it needs no database
and no workspace (the validator's key is found as the workbench finds it, ``reviewer_key``).

The document::

    {
      "format": "mlwb-review/1",
      "review": {                       <- a signed statement (app.signing, "mlwb-statement/1")
        "format": "mlwb-statement/1", "kind": "review",
        "project", "version", "model_sha256",   what the bundle states it is about
        "evidence_digest", "evidence_seq",      the bundle's evidence digest and audit head seq
        "decision": "approve" | "approve_with_conditions" | "reject",   the conclusion
        "comment": "...",                       the summary
        "signer": "<fingerprint>", "signed_at": "<UTC ISO time>",   when it was reviewed
        "manifest": "<SHA-256 of the bundle's manifest.json>",
        "bundle": {"file", "created_at", "created_by", "audit_head": {"seq", "hash"},
                   "verification": "<verify-bundle's summary>",
                   "tables": [{"file", "chapter", "title", "digest"}, …]},   every evidence table
        "reviewer": {"name", "fingerprint", "public_key"},
        "findings": [{"title", "severity", "concerns", "remediation", "due_date"}, …],
        "approval": {"statement": "<canonical JSON text>", "signature": "<hex>"}
      },
      "signature": "<Ed25519 signature (hex) over the canonical JSON of 'review'>"
    }

``review`` is bound to the bundle by the manifest's digest (which pins every file of it) and
carries each table's content digest (``app.bundle_reader.table_digest``), so the workspace can
say which evidence changed since the bundle was exported. ``approval`` is a second statement,
signed with the same key in exactly the shape of the workbench's own signed approvals
(``signatures.sign_decision`` with ``registry.approval_statement``): kind "approval", decision
"approved" (approve, approve with conditions — the conditions written into its comment) or
"rejected", on the bundle's evidence digest. Imported, it is an ordinary signed ``Approval``
that the four-eyes check verifies like any other. It sits inside ``review``, so the review's
signature covers it too.

Canonical JSON (``app.canonical``) is deterministic for the plain strings, integers, lists
and objects used here, so the statement is verified by re-serialising ``review`` as read: any
change to its content, keys or values breaks the signature, while the file's indentation is
free.
"""

from __future__ import annotations

import getpass
import json
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.canonical import canonical_json
from app.errors import WorkbenchError
from app.lifecycle import FINDING_SEVERITIES, check_title
from app.signing import (
    PUBLIC_PREFIX,
    STATEMENT_FORMAT,
    SigningKey,
    fingerprint,
    load_signing_key,
    short_fingerprint,
    verify_statement,
)

if TYPE_CHECKING:
    from app.bundle_reader import OpenedBundle

REVIEW_FORMAT = "mlwb-review/1"
REVIEW_FILE = "review.json"
CONCLUSIONS: dict[str, str] = {
    "approve": "Approve",
    "approve_with_conditions": "Approve with conditions",
    "reject": "Reject",
}
SEVERITIES = FINDING_SEVERITIES
#: The approval decision each conclusion records.
DECISIONS = {"approve": "approved", "approve_with_conditions": "approved", "reject": "rejected"}
_FINDING_FIELDS = ("title", "severity", "concerns", "remediation", "due_date")


@dataclass(frozen=True)
class ReviewFinding:
    """What the validator asks to be fixed: the team records it as an open finding."""

    title: str
    severity: str
    concerns: str = ""  # the section, table, figure or event it is about
    remediation: str = ""
    due_date: str = ""  # YYYY-MM-DD, or empty

    def problem(self) -> str:
        """What is wrong with this finding as written, or ""."""
        if not self.title.strip():
            return "a finding needs a title that says what is wrong"
        try:
            check_title("a finding's title", self.title)
        except ValueError as exc:
            return str(exc)
        if self.severity not in SEVERITIES:
            return f"severity must be one of {', '.join(SEVERITIES)}, not '{self.severity}'"
        if self.due_date:
            try:
                date.fromisoformat(self.due_date)
            except ValueError:
                return f"due date '{self.due_date}' is not a date: write it as YYYY-MM-DD"
        return ""

    @classmethod
    def of(cls, raw: Mapping[str, Any], where: str = "a finding") -> ReviewFinding:
        if not isinstance(raw, Mapping):
            raise WorkbenchError(f"{where} is not a table of title, severity, concerns, remediation, due_date")
        unknown = sorted(set(raw) - set(_FINDING_FIELDS))
        if unknown:
            raise WorkbenchError(f"{where} has unknown field(s) {', '.join(unknown)}: use "
                                 f"{', '.join(_FINDING_FIELDS)}")
        due = raw.get("due_date") or ""
        finding = cls(str(raw.get("title") or "").strip(), str(raw.get("severity") or "").strip().lower(),
                      str(raw.get("concerns") or "").strip(), str(raw.get("remediation") or "").strip(),
                      due.isoformat() if isinstance(due, date) else str(due).strip())
        problem = finding.problem()
        if problem:
            raise WorkbenchError(f"{where}: {problem}")
        return finding

    def line(self) -> str:
        due = f" (due {self.due_date})" if self.due_date else ""
        remedy = f" — {self.remediation}" if self.remediation else ""
        return f"[{self.severity}] {self.title}{remedy}{due}"


def approval_comment(conclusion: str, summary: str, findings: Sequence[ReviewFinding]) -> str:
    """The comment of the approval statement: the summary and, with conditions, the conditions."""
    lines = [summary.strip()]
    if findings:
        heading = "Conditions" if conclusion == "approve_with_conditions" else "Findings"
        lines.append(f"{heading}:")
        lines.extend(f"{i}. {f.line()}" for i, f in enumerate(findings, start=1))
    if conclusion == "approve_with_conditions":
        lines[0] = f"Approved with conditions. {lines[0]}"
    return "\n".join(lines)


def check_conclusion(conclusion: str, summary: str, findings: Sequence[ReviewFinding]) -> str:
    """What stops this conclusion from being signed, or ""."""
    if conclusion not in CONCLUSIONS:
        return f"conclusion must be one of {', '.join(CONCLUSIONS)}, not '{conclusion}'"
    if not summary.strip():
        return "write a summary: what you checked and why you conclude so"
    if conclusion == "approve_with_conditions" and not findings:
        return "approve with conditions needs at least one finding: the conditions are the findings to remediate"
    for i, finding in enumerate(findings, start=1):
        problem = finding.problem()
        if problem:
            return f"finding {i}: {problem}"
    return ""


# --- signing --------------------------------------------------------------------------------


def reviewer_key(key_file: Path | None = None) -> SigningKey:
    """The validator's private key, found as the workbench finds mine, without a workspace:
    ``key_file`` (``--key``); else ``MLWB_SIGNING_KEY``; else the OS keyring; else
    ``$MLWB_HOME/signing.key`` (``Workspace.signing_key_file``). Nothing is created."""
    from storage.workspace import Workspace

    if key_file is not None:
        key = load_signing_key(Path(key_file).expanduser(), getpass.getuser(), file_only=True)
        where = str(key_file)
    else:
        ws = Workspace.locate()
        key = load_signing_key(ws.signing_key_file, getpass.getuser(), file_only=ws.signing_key_named)
        where = str(ws.signing_key_file)
    if key is None:
        raise WorkbenchError(
            f"no signing key found (looked for {where}"
            + ("" if key_file is not None else " and in the OS keyring")
            + "): create yours with `mlwb people init` and send the public key line it prints to the ML team's "
              "admin, who registers it with `mlwb people add NAME --public-key FILE --role validator`")
    return key


def sign_review(bundle: OpenedBundle, key: SigningKey, *, reviewer: str, conclusion: str, summary: str,
                findings: Sequence[ReviewFinding], reviewed_at: datetime | None = None) -> dict[str, Any]:
    """The signed review document of ``bundle``; refused when the bundle failed verification."""
    if not bundle.verified:
        failed = [c.line() for c in bundle.verdict.checks if not c.ok] + list(bundle.problems)
        raise WorkbenchError("the bundle failed verification, so a review of it would vouch for evidence that "
                             f"cannot be trusted: {'; '.join(failed)}. Ask the ML team for a new export")
    if bundle.version is None or not bundle.model_sha256:
        raise WorkbenchError("the bundle names no model version with its model file's SHA-256: a review approves a "
                             "model version, so ask for an export of a project that has one")
    problem = check_conclusion(conclusion, summary, findings)
    if problem:
        raise WorkbenchError(problem)
    try:
        check_title("the reviewer's name", reviewer, limit=100)
    except ValueError as exc:
        raise WorkbenchError(str(exc)) from None
    signed_at = (reviewed_at or datetime.now(UTC)).isoformat(timespec="seconds")
    about = {"project": bundle.project, "version": bundle.version, "model_sha256": bundle.model_sha256,
             "evidence_digest": bundle.evidence_digest, "evidence_seq": bundle.head_seq}
    approval = key.sign({"kind": "approval", **about, "decision": DECISIONS[conclusion],
                         "comment": approval_comment(conclusion, summary, findings), "signed_at": signed_at})
    statement = key.sign({
        "kind": "review", **about, "decision": conclusion, "comment": summary.strip(), "signed_at": signed_at,
        "manifest": bundle.manifest_digest,
        "bundle": {
            "file": bundle.path.name, "created_at": bundle.created_at, "created_by": bundle.created_by,
            "audit_head": {"seq": bundle.head_seq, "hash": bundle.head_hash},
            "verification": bundle.verdict.summary(),
            "tables": [{"file": t.file, "chapter": t.chapter, "title": t.title, "digest": t.digest}
                       for t in bundle.tables],
        },
        "reviewer": {"name": reviewer.strip(), "fingerprint": key.fingerprint, "public_key": key.public_line},
        "findings": [asdict(f) for f in findings],
        "approval": {"statement": approval.text, "signature": approval.signature},
    })
    return {"format": REVIEW_FORMAT, "review": json.loads(statement.text), "signature": statement.signature}


def default_review_path(bundle_path: Path) -> Path:
    """``review.json`` in the folder that holds the bundle (beside the .zip or the bundle folder)."""
    return Path(bundle_path).expanduser().absolute().parent / REVIEW_FILE


def write_review(document: Mapping[str, Any], out: str | os.PathLike[str]) -> Path:
    """Write the signed document to a new file ``out`` (never over an existing one)."""
    target = Path(out).expanduser().absolute()
    if target.is_dir():
        target = target / REVIEW_FILE
    if not target.parent.is_dir():
        raise WorkbenchError(f"folder {target.parent} does not exist: create it or choose another path")
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    try:
        with open(target, "x", encoding="utf-8") as fh:  # "x": an existing review is never overwritten
            fh.write(text)
    except FileExistsError:
        raise WorkbenchError(f"{target} exists: choose another path (a signed review is never overwritten)") from None
    except OSError as exc:
        raise WorkbenchError(f"could not write {target}: {exc.strerror or exc}") from None
    return target


def load_findings(path: str | os.PathLike[str]) -> list[ReviewFinding]:
    """Findings from a JSON file (a list, or {"findings": [...]}) or a TOML file ([[findings]])."""
    where = Path(path).expanduser()
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkbenchError(f"cannot read {where}: {exc.strerror or exc}") from None
    try:
        raw: Any = tomllib.loads(text) if where.suffix.lower() == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise WorkbenchError(f"{where} is not valid {'TOML' if where.suffix.lower() == '.toml' else 'JSON'}: {exc}") \
            from None
    items = raw.get("findings", raw.get("finding")) if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise WorkbenchError(f"{where} holds no list of findings: write a JSON list, {{\"findings\": [...]}}, "
                             "or TOML [[findings]] tables")
    return [ReviewFinding.of(item, f"finding {i} in {where.name}") for i, item in enumerate(items, start=1)]


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewDocument:
    """A review file as read: the statement, its signature, and the file's text."""

    path: Path
    text: str
    review: dict[str, Any]
    signature: str
    findings: tuple[ReviewFinding, ...] = field(default=())

    @property
    def statement_text(self) -> str:
        """The canonical text that was signed."""
        return canonical_json(self.review)

    def signed_by(self, public_hex: str) -> bool:
        return verify_statement(public_hex, self.statement_text, self.signature)

    @property
    def signer(self) -> str:
        return str(self.review.get("signer") or "")

    @property
    def project(self) -> str:
        return str(self.review["project"])

    @property
    def version(self) -> int:
        return int(self.review["version"])

    @property
    def conclusion(self) -> str:
        return str(self.review["decision"])

    @property
    def summary(self) -> str:
        return str(self.review["comment"])

    @property
    def reviewer(self) -> dict[str, str]:
        return self.review["reviewer"]

    @property
    def bundle(self) -> dict[str, Any]:
        return self.review["bundle"]

    @property
    def approval(self) -> dict[str, str]:
        return self.review["approval"]

    @property
    def approval_fields(self) -> dict[str, Any]:
        return json.loads(self.approval["statement"])

    @property
    def reviewed_at(self) -> datetime:
        return datetime.fromisoformat(str(self.review["signed_at"]))

    def consistency_problems(self) -> list[str]:
        """What contradicts itself inside the document (checked before any key is looked up)."""
        r, problems = self.review, []
        who = self.reviewer
        claimed = str(who.get("fingerprint") or "")
        if claimed != self.signer:
            problems.append(f"reviewer.fingerprint {short_fingerprint(claimed)} is not the signer "
                            f"{short_fingerprint(self.signer)} the statement names")
        try:
            public_hex = str(who.get("public_key") or "").removeprefix(PUBLIC_PREFIX)
            if fingerprint(public_hex) != claimed:
                problems.append(f"reviewer.public_key does not have the fingerprint {short_fingerprint(claimed)} "
                                "the review claims (a forged fingerprint)")
        except ValueError:
            problems.append("reviewer.public_key is not a public key")
        try:
            approval = self.approval_fields
        except (ValueError, TypeError):
            return [*problems, "approval.statement is not a signed statement (JSON)"]
        expected = {"format": STATEMENT_FORMAT, "kind": "approval", "signer": self.signer,
                    "decision": DECISIONS.get(self.conclusion)}
        expected.update({k: r.get(k) for k in ("project", "version", "model_sha256", "evidence_digest",
                                               "evidence_seq", "signed_at")})
        wrong = sorted(k for k, v in expected.items() if approval.get(k) != v)
        if wrong:
            problems.append(f"the embedded approval differs from the review in {', '.join(wrong)}")
        return problems


_REQUIRED = {"format": str, "kind": str, "project": str, "version": int, "model_sha256": str, "evidence_digest": str,
             "evidence_seq": int, "decision": str, "comment": str, "signer": str, "signed_at": str, "manifest": str,
             "bundle": dict, "reviewer": dict, "findings": list, "approval": dict}


def read_review(path: str | os.PathLike[str]) -> ReviewDocument:
    """Read ``review.json``; a ``WorkbenchError`` that says what is wrong when it is not one."""
    where = Path(path).expanduser()
    try:
        text = where.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorkbenchError(f"cannot read {where}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise WorkbenchError(f"{where} is not a review file (not UTF-8 text)") from None
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise WorkbenchError(f"{where} is not a review file: it is not JSON ({exc})") from None
    if not isinstance(raw, dict) or raw.get("format") != REVIEW_FORMAT:
        raise WorkbenchError(f"{where} is not a '{REVIEW_FORMAT}' review file: write one with `mlwb review open` "
                             "or `mlwb review sign`")
    review, signature = raw.get("review"), raw.get("signature")
    if not isinstance(review, dict) or not isinstance(signature, str):
        raise WorkbenchError(f"{where} has no signed review (its 'review' and 'signature' are missing)")
    wrong = [k for k, kind in _REQUIRED.items()
             if not isinstance(review.get(k), kind) or isinstance(review.get(k), bool)]
    approval = review.get("approval")
    if isinstance(approval, dict) and not all(isinstance(approval.get(k), str) for k in ("statement", "signature")):
        wrong.append("approval")
    reviewer = review.get("reviewer")
    if isinstance(reviewer, dict) and not all(isinstance(reviewer.get(k), str) for k in ("name", "fingerprint",
                                                                                       "public_key")):
        wrong.append("reviewer")
    if wrong or review.get("kind") != "review" or review.get("decision") not in CONCLUSIONS:
        shown = ", ".join(wrong) or "kind or decision"
        raise WorkbenchError(f"{where} is not a complete review: {shown} missing or malformed (was it edited?)")
    try:
        findings = tuple(ReviewFinding.of(f, f"finding {i} of {where.name}")
                         for i, f in enumerate(review["findings"], start=1))
        datetime.fromisoformat(review["signed_at"])
    except (WorkbenchError, ValueError) as exc:
        raise WorkbenchError(f"{where} is not a complete review: {exc}") from None
    return ReviewDocument(where, text, review, signature, findings)


def table_digests(document: ReviewDocument) -> Iterable[tuple[str, str, str]]:
    """(chapter, title, digest) of every table the review covers, in the bundle's order."""
    for t in document.bundle.get("tables") or ():
        if isinstance(t, dict):
            yield str(t.get("chapter") or ""), str(t.get("title") or ""), str(t.get("digest") or "")
