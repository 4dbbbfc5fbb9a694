"""Reading an evidence bundle for review, offline: what a validator sees in `mlwb review open`.

An evidence bundle (``app.bundle_verify`` describes its files) travels to a reviewer's machine
that has no workspace. This module turns it into plain data a screen can lay out and a review
can be bound to, and nothing more: it opens no database, reads no ``MLWB_HOME`` and writes no
file.

- ``open_bundle`` first runs the verifier (``verify_bundle``: files against the manifest, the
  chain's links, the evidence digest, the head printed in the PDF) and keeps its verdict, so
  the reviewer sees it at the top before any evidence; a bundle that fails is still shown (the
  reviewer must be able to see what is wrong) but cannot be signed (``app.review_file``).
- What the bundle *states* about the model under review is read from its own records: the
  project and the audit head from the manifest; the version from the report's stamp
  (``model_version`` in ``evidence/report-data.json``); the model file's SHA-256 from the
  audited ``model.registered`` event of that version in ``audit/events.jsonl`` (an event the
  chain and the evidence digest cover), else from the model card's "Artifact SHA-256" fact.
- The report's chapters come from ``evidence/report-data.json`` (prose, facts, tables and
  figures, as laid out); the evidence tables from the CSVs the manifest lists; the audit trail
  from ``audit/events.jsonl``.

``table_digest`` is the one definition of a table's content digest: the review file carries it
for every table it reviewed, and the workspace recomputes it from the evidence as it stands
when the review is imported (``app.services.review_import``), so a changed table is named.
Cells are compared as the text the CSV holds, so the digest does not depend on how a CSV was
written (BOM, line endings, quoting). The audit trail itself is not evidence that can age: it
grows with every recorded act (a report built, a review imported) while the model's evidence
stays the same. So the chapters that are the trail (``AUDIT_TRAIL_CHAPTERS``: the change log
and the audit appendix) have no digest, and a row of another table that names one of them
(the requirements map's "tamper-evident change history … 94 events") is left out of its
table's digest.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from app.bundle_verify import EVENTS, EVIDENCE_JSON, MANIFEST, BundleUnusable, BundleVerdict, verify_bundle
from app.canonical import canonical_json

TABLE_DIGEST = ("SHA-256 hex of the canonical JSON of {columns, rows}, every cell as the text its CSV holds, "
                "without the rows that name a chapter of the audit trail itself")
#: The report chapters (keys) that are the audit trail itself: see the module's docstring.
AUDIT_TRAIL_CHAPTERS = frozenset({"changelog", "appendix"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^v(\d+)\b")


def cell_text(value: object) -> str:
    """A cell as the CSV writer writes it: None is empty, anything else its ``str``."""
    return "" if value is None else str(value)


def table_digest(columns: Sequence[object], rows: Iterable[Sequence[object]], *,
                 trail_titles: Iterable[str] = ()) -> str:
    """The content digest of a table (``TABLE_DIGEST``); ``trail_titles`` are the titles of the
    report's audit-trail chapters, whose rows elsewhere are left out."""
    leave_out = frozenset(trail_titles)
    cells = ([cell_text(c) for c in row] for row in rows)
    body = {"columns": [cell_text(c) for c in columns],
            "rows": [row for row in cells if leave_out.isdisjoint(row)]}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


# --- the records of a bundle ---------------------------------------------------------------


@dataclass(frozen=True)
class BundleTable:
    """One evidence table: the CSV the manifest lists, with the chapter it is printed in."""

    file: str
    title: str
    chapter: str  # the report chapter's key ("validation", "monitoring", …)
    chapter_title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    digest: str  # ``table_digest``; "" for a table of the audit trail itself

    @property
    def label(self) -> str:
        return f"{self.title} ({self.chapter_title})" if self.chapter_title else self.title


@dataclass(frozen=True)
class BundleFigure:
    """A chart of the report: a bar chart (``labels``/``values``) or lines over ``labels``."""

    title: str
    chapter_title: str
    kind: str  # "bars" | "lines"
    labels: tuple[str, ...]
    values: tuple[float | None, ...] = ()
    lines: tuple[tuple[str, tuple[float | None, ...]], ...] = ()
    threshold: float | None = None
    y_label: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.title} ({self.chapter_title})" if self.chapter_title else self.title


@dataclass(frozen=True)
class BundleSection:
    """A chapter (depth 0) or one of its sub-sections, with its blocks as exported (plain dicts)."""

    key: str  # the chapter's key, also on its sub-sections
    title: str
    depth: int
    blocks: tuple[dict[str, Any], ...]
    number: str  # "3", "3.2": as the reviewer refers to it


@dataclass(frozen=True)
class BundleEvent:
    seq: int
    ts: str
    actor: str
    action: str
    entity: str
    project: str | None
    payload: str
    hash: str


@dataclass(frozen=True)
class OpenedBundle:
    """Everything `mlwb review open` shows, and what a review of it is bound to."""

    path: Path
    verdict: BundleVerdict
    manifest_digest: str  # SHA-256 of manifest.json as it is in the bundle
    project: str
    project_name: str
    version: int | None
    model_sha256: str | None
    evidence_digest: str
    head_seq: int
    head_hash: str
    created_at: str
    created_by: str
    sections: tuple[BundleSection, ...]
    tables: tuple[BundleTable, ...]
    figures: tuple[BundleFigure, ...]
    events: tuple[BundleEvent, ...]
    problems: tuple[str, ...]  # what could not be read (also shown, never hidden)

    @property
    def verified(self) -> bool:
        return self.verdict.ok and not self.problems

    @property
    def title(self) -> str:
        version = f"v{self.version}" if self.version is not None else "no model version"
        return f"{self.project} ({self.project_name}) · {version}"


# --- reading files from a folder or a zip ---------------------------------------------------


class _Files:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path) if path.is_file() else None

    def read(self, name: str) -> bytes | None:
        """The file's bytes, or None when it is absent or unreadable (the verdict says why)."""
        try:
            if self._zip is not None:
                return self._zip.read(name)
            member = PurePosixPath(name)
            if member.is_absolute() or ".." in member.parts:
                return None
            return (self.path / name).read_bytes()
        except (KeyError, OSError, zipfile.BadZipFile, zlib.error, ValueError):
            return None

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


def open_bundle(path: str | Path) -> OpenedBundle:
    """Verify and read the bundle at ``path`` (a folder or a .zip written by `mlwb export`).

    ``BundleUnusable`` (a ``WorkbenchError``) when it is not a bundle at all; a bundle that
    fails a check is returned with its verdict and whatever could be read.
    """
    where = Path(path).expanduser()
    verdict = verify_bundle(where)  # BundleUnusable when there is no readable manifest
    files = _Files(where)
    try:
        return _read(where, files, verdict)
    finally:
        files.close()


def _json(files: _Files, name: str, problems: list[str]) -> Any:
    data = files.read(name)
    if data is None:
        problems.append(f"{name} cannot be read")
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except ValueError as exc:
        problems.append(f"{name} is not JSON ({exc})")
        return None


def _read(where: Path, files: _Files, verdict: BundleVerdict) -> OpenedBundle:
    problems: list[str] = []
    raw_manifest = files.read(MANIFEST)
    if raw_manifest is None:  # the verifier read it a moment ago
        raise BundleUnusable(f"{MANIFEST} in {where} cannot be read")
    manifest = json.loads(raw_manifest.decode("utf-8"))
    report = _json(files, manifest.get("evidence") or EVIDENCE_JSON, problems)
    report = report if isinstance(report, dict) else {}
    sections = tuple(_sections(report.get("sections") or ()))
    chapters = _chapter_titles(report.get("sections") or ())
    events = tuple(_events(files, problems))
    project = str(manifest.get("project", ""))
    version = _version(manifest, report)
    head = manifest.get("audit_head") or {}
    return OpenedBundle(
        path=where, verdict=verdict, manifest_digest=hashlib.sha256(raw_manifest).hexdigest(),
        project=project, project_name=str(report.get("project_name") or project), version=version,
        model_sha256=_model_sha256(manifest, report, events, project, version),
        evidence_digest=str((manifest.get("evidence_digest") or {}).get("value", "")),
        head_seq=int(head.get("seq") or 0), head_hash=str(head.get("hash") or ""),
        created_at=str(manifest.get("created_at", "")), created_by=str(manifest.get("created_by", "")),
        sections=sections, tables=tuple(_tables(files, manifest, chapters, problems)),
        figures=tuple(_figures(report.get("sections") or ())), events=events, problems=tuple(problems))


def _version(manifest: dict[str, Any], report: dict[str, Any]) -> int | None:
    model = manifest.get("model")
    if isinstance(model, dict) and isinstance(model.get("version"), int):
        return model["version"]
    found = _VERSION.match(str(report.get("model_version", "")))
    return int(found.group(1)) if found else None


def _model_sha256(manifest: dict[str, Any], report: dict[str, Any], events: Sequence[BundleEvent], project: str,
                  version: int | None) -> str | None:
    """The SHA-256 of the model file the bundle is about (see the module's docstring)."""
    model = manifest.get("model")
    if isinstance(model, dict) and _SHA256.match(str(model.get("sha256", ""))):
        return str(model["sha256"])
    if version is None:
        return None
    for event in events:
        if event.action == "model.registered" and event.project == project:
            try:
                payload = json.loads(event.payload)
            except ValueError:
                continue
            if isinstance(payload, dict) and payload.get("version") == version \
                    and _SHA256.match(str(payload.get("artifact", ""))):
                return str(payload["artifact"])
    facts = (b for s in _sections(report.get("sections") or ()) for b in s.blocks if _kind(b) == "facts")
    for block in facts:
        for row in block.get("rows") or ():
            if len(row) == 2 and str(row[0]).lower() == "artifact sha-256" and _SHA256.match(str(row[1])):
                return str(row[1])
    return None


def _kind(block: object) -> str:
    """What an exported block is (``dataclasses.asdict`` drops the class): by its fields."""
    if not isinstance(block, dict):
        return "unknown"
    if "text" in block and "tone" in block:
        return "prose"
    if "columns" in block and "rows" in block:
        return "table"
    if "x_labels" in block and "lines" in block:
        return "lines"
    if "labels" in block and "values" in block:
        return "bars"
    if "rows" in block:
        return "facts"
    return "unknown"


def block_kind(block: dict[str, Any]) -> str:
    """``prose``, ``facts``, ``table``, ``bars``, ``lines`` or ``unknown``."""
    return _kind(block)


def _sections(raw: Iterable[Any], depth: int = 0, key: str = "", prefix: str = "") -> Iterator[BundleSection]:
    for i, section in enumerate(raw, start=1):
        if not isinstance(section, dict):
            continue
        number = f"{prefix}{i}"
        chapter = key or str(section.get("key") or "")
        blocks = tuple(b for b in section.get("blocks") or () if isinstance(b, dict))
        yield BundleSection(chapter, str(section.get("title", "")), depth, blocks, number)
        yield from _sections(section.get("subsections") or (), depth + 1, chapter, f"{number}.")


def _chapter_titles(raw: Sequence[Any]) -> list[tuple[str, str]]:
    return [(str(s.get("key") or ""), str(s.get("title") or "")) if isinstance(s, dict) else ("", "") for s in raw]


_FOUND_AT = re.compile(r"^sections\[(\d+)\]")


def _tables(files: _Files, manifest: dict[str, Any], chapters: list[tuple[str, str]],
            problems: list[str]) -> Iterator[BundleTable]:
    listed = manifest.get("tables")
    if not isinstance(listed, dict):
        return
    for name in sorted(listed):
        about = listed[name] if isinstance(listed[name], dict) else {}
        found = _FOUND_AT.match(str(about.get("found_at", "")))
        chapter, chapter_title = chapters[int(found.group(1))] if found and int(found.group(1)) < len(chapters) \
            else ("", "")
        data = files.read(name)
        if data is None:
            problems.append(f"{name} cannot be read")
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            problems.append(f"{name} is not UTF-8 text")
            continue
        rows = [tuple(r) for r in csv.reader(io.StringIO(text, newline=""))]
        columns, body = (rows[0], tuple(rows[1:])) if rows else ((), ())
        trail = [title for key, title in chapters if key in AUDIT_TRAIL_CHAPTERS]
        digest = "" if chapter in AUDIT_TRAIL_CHAPTERS else table_digest(columns, body, trail_titles=trail)
        yield BundleTable(name, str(about.get("title") or PurePosixPath(name).stem), chapter, chapter_title,
                          tuple(columns), body, digest)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _figures(raw: Sequence[Any]) -> Iterator[BundleFigure]:
    for section in _sections(raw):
        chapter_title = next((t for k, t in _chapter_titles(raw) if k == section.key), section.title)
        for block in section.blocks:
            kind = _kind(block)
            if kind == "bars":
                yield BundleFigure(str(block.get("title", "")), chapter_title, "bars",
                                   tuple(str(x) for x in block.get("labels") or ()),
                                   values=tuple(_number(v) for v in block.get("values") or ()),
                                   threshold=_number(block.get("threshold")), y_label=str(block.get("y_label") or ""),
                                   note=str(block.get("note") or ""))
            elif kind == "lines":
                lines = tuple((str(line[0]), tuple(_number(v) for v in line[1]))
                              for line in block.get("lines") or ()
                              if isinstance(line, (list, tuple)) and len(line) == 2)
                yield BundleFigure(str(block.get("title", "")), chapter_title, "lines",
                                   tuple(str(x) for x in block.get("x_labels") or ()), lines=lines,
                                   threshold=_number(block.get("threshold")), y_label=str(block.get("y_label") or ""),
                                   note=str(block.get("note") or ""))


def _events(files: _Files, problems: list[str]) -> Iterator[BundleEvent]:
    data = files.read(EVENTS)
    if data is None:
        problems.append(f"{EVENTS} cannot be read")
        return
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            e = json.loads(line)
        except ValueError:
            problems.append(f"{EVENTS} line {number} is not JSON")
            continue
        if not isinstance(e, dict):
            continue
        entity = " ".join(str(e[k]) for k in ("entity_type", "entity_id") if e.get(k) is not None)
        yield BundleEvent(int(e.get("seq") or 0), str(e.get("ts") or ""), str(e.get("actor") or ""),
                          str(e.get("action") or ""), entity, e.get("project"), str(e.get("payload") or ""),
                          str(e.get("hash") or ""))
