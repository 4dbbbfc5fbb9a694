"""A project's stage 1–2 documents as a TOML file that lives in the team's repository.

``export_project_file`` writes the problem statement, the ML checklist and the framing as TOML;
``apply_project_file`` reads such a file, says which fields it would change and, unless asked
for a dry run, saves the changed documents and one ``project_file.applied`` event in a single
unit of work (each document's own ``*.saved`` event records its changed fields, as a form's
save does). A file that changes nothing records nothing.

What a table means: a table present in the file is the whole document (a field left out or
written as "" is cleared; an unanswered checklist item or an unknown yes/no of a feature is a
key left out, since TOML has no null); a table left out leaves that document as it is.

The writer is ours (the standard library reads TOML but does not write it, and no TOML writer is
a dependency): only strings, booleans and arrays of tables appear, and strings are escaped per
TOML 1.0, so the round trip is exact (``tests/test_cli_stage12.py`` checks quotes, backslashes,
newlines, control characters and non-Latin text).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.errors import WorkbenchError
from app.lifecycle import FRAMING_FIELDS, ML_CHECKLIST, STATEMENT_FIELDS
from app.services import deliverables as docs
from app.services.workbench import Workbench, find_project

FEATURE_KEYS = ("name", "type", "source", "available_at_serving", "pii")
#: The tables a project file may hold, and the keys each may hold.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "project": ("slug", "problem_type"),
    "statement": tuple(k for k, _ in STATEMENT_FIELDS),
    "checklist": (*(k for k, _ in ML_CHECKLIST), "notes"),
    "framing": (*(k for k, _ in FRAMING_FIELDS), "features"),
}
#: The document each table is, by its kind in ``app.services.deliverables``.
TABLE_KIND = {"statement": docs.STATEMENT, "checklist": docs.CHECKLIST, "framing": docs.FRAMING}


# --- writing -----------------------------------------------------------------------------------

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _escape_char(ch: str, *, keep_newline: bool) -> str:
    if ch == "\n" and keep_newline:
        return ch
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    code = ord(ch)
    if code < 0x20 or code == 0x7F:
        return f"\\u{code:04X}"
    return ch


def toml_string(text: str) -> str:
    """``text`` as a TOML basic string; one with line breaks as a multi-line basic string so a
    paragraph stays readable in a diff. Every quote is escaped, so no ``\"\"\"`` can close it early."""
    if "\n" in text:
        body = "".join(_escape_char(ch, keep_newline=True) for ch in text)
        # A newline right after the opening quotes is trimmed by TOML: start with one on purpose.
        return f'"""\n{body}"""'
    return '"' + "".join(_escape_char(ch, keep_newline=False) for ch in text) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return toml_string(str(value))


def project_file_text(slug: str, problem_type: str, documents: dict[str, dict[str, Any]]) -> str:
    """The TOML text of one project's stage 1–2 documents (``documents`` by deliverable kind)."""
    statement = documents.get(docs.STATEMENT, {})
    checklist = documents.get(docs.CHECKLIST, {})
    framing = documents.get(docs.FRAMING, {})
    out = [
        f"# Stage 1-2 documents of the mlwb project '{slug}'.",
        "# Apply with `mlwb project apply FILE` (`--dry-run` shows the diff first). A table here is the",
        "# whole document: a field left out or \"\" is cleared. A checklist item or a feature's",
        "# available_at_serving / pii left out is unanswered (TOML has no null).",
        "",
        "[project]",
        f"slug = {toml_string(slug)}",
        f"problem_type = {toml_string(problem_type)}",
        "",
        "[statement]",
    ]
    out += [f"{key} = {_value(statement.get(key, ''))}" for key, _ in STATEMENT_FIELDS]
    out += ["", "[checklist]"]
    out += [f"{key} = {_value(checklist[key])}" for key, _ in ML_CHECKLIST if key in checklist]
    out += [f"# {key} = true    # unanswered: {label}" for key, label in ML_CHECKLIST if key not in checklist]
    out.append(f"notes = {_value(checklist.get('notes', ''))}")
    out += ["", "[framing]"]
    out += [f"{key} = {_value(framing.get(key, ''))}" for key, _ in FRAMING_FIELDS]
    for feature in framing.get("features", []):
        out += ["", "[[framing.features]]"]
        out += [f"{key} = {_value(feature[key])}" for key in FEATURE_KEYS if feature.get(key) is not None]
    return "\n".join(out) + "\n"


def export_project_file(wb: Workbench, slug: str, out: Path) -> Path:
    """Write the project's stage 1–2 documents to ``out`` (replacing it: the file is a copy of
    the registry, and the repository's history keeps the earlier one)."""
    with wb.read() as session:
        project = find_project(session, slug)
        problem_type = project.problem_type
        documents = {kind: docs.deliverable(session, project, kind) for kind in docs.KIND_STAGE}
    text = project_file_text(slug, problem_type, documents)
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise WorkbenchError(f"cannot write {out}: {exc.strerror or exc}") from None
    return Path(out)


# --- reading and applying ----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldChange:
    table: str
    field: str
    before: Any
    after: Any

    def as_json(self) -> dict[str, Any]:
        return {"table": self.table, "field": self.field, "before": self.before, "after": self.after}


@dataclass(frozen=True)
class ApplyOutcome:
    """What applying a project file changed (or, on a dry run, would change)."""

    slug: str
    path: str
    sha256: str
    changes: tuple[FieldChange, ...]
    dry_run: bool
    revisions: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"project": self.slug, "file": self.path, "sha256": self.sha256, "dry_run": self.dry_run,
                "changed": [c.as_json() for c in self.changes], "revisions": self.revisions}


def _line_of(text: str, table: str, key: str | None = None) -> int | None:
    """The line (1-based) where ``[table]`` (or ``key`` within it) is written, if it can be found."""
    lines = text.splitlines()
    header = re.compile(r"^\s*\[\[?\s*" + re.escape(table) + r"\s*[\].]")
    start = next((i for i, line in enumerate(lines) if header.match(line)), None)
    if start is None or key is None:
        return None if start is None else start + 1
    assignment = re.compile(r"^\s*" + re.escape(key) + r"\s*=")
    for i in range(start + 1, len(lines)):
        if re.match(r"^\s*\[", lines[i]) and not header.match(lines[i]):
            break  # another table begins (a repeated [[table]] does not end the search)
        if assignment.match(lines[i]):
            return i + 1
    return start + 1


def _where(path: Path, text: str, table: str, key: str | None = None) -> str:
    line = _line_of(text, table, key)
    return f"{path}:{line}" if line else str(path)


def _refuse_unknown(path: Path, text: str, data: dict[str, Any]) -> None:
    for table, value in data.items():
        if table not in TABLE_KEYS:
            raise WorkbenchError(f"{_where(path, text, table)}: unknown table [{table}]: a project file holds "
                                 f"{', '.join(f'[{t}]' for t in TABLE_KEYS)}")
        if not isinstance(value, dict):
            raise WorkbenchError(f"{_where(path, text, table)}: '{table}' must be a table ([{table}])")
        for key in value:
            if key not in TABLE_KEYS[table]:
                raise WorkbenchError(f"{_where(path, text, table, key)}: unknown field '{key}' in [{table}]: "
                                     f"allowed are {', '.join(TABLE_KEYS[table])}")
    for i, feature in enumerate(data.get("framing", {}).get("features", []), start=1):
        if not isinstance(feature, dict):
            raise WorkbenchError(f"{path}: framing.features must be [[framing.features]] tables")
        for key in feature:
            if key not in FEATURE_KEYS:
                name = feature.get("name", f"number {i}")
                raise WorkbenchError(f"{_where(path, text, 'framing.features', key)}: unknown field '{key}' in "
                                     f"feature {name}: allowed are {', '.join(FEATURE_KEYS)}")


def _text_fields(path: Path, text: str, table: str, values: dict[str, Any]) -> dict[str, str]:
    for key, value in values.items():
        if not isinstance(value, str):
            raise WorkbenchError(f"{_where(path, text, table, key)}: [{table}] {key} must be a string "
                                 f"(in quotes), not {type(value).__name__}")
    return values


def _read(path: Path) -> tuple[str, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise WorkbenchError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
        return text, tomllib.loads(text)
    except UnicodeDecodeError:
        raise WorkbenchError(f"{path} is not UTF-8 text: save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise WorkbenchError(f"{path}: not valid TOML: {exc}") from None


def _desired(path: Path, text: str, data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The documents the file asks for, by kind, each checked the way its service checks it."""
    wanted: dict[str, dict[str, Any]] = {}
    problem_type = data["project"].get("problem_type")
    if "statement" in data:
        wanted[docs.STATEMENT] = docs.statement_content(_text_fields(path, text, "statement", data["statement"]),
                                                        problem_type)
    elif problem_type is not None:
        docs.statement_content({}, problem_type)  # the problem type alone is still checked
    if "checklist" in data:
        checklist = dict(data["checklist"])
        notes = checklist.pop("notes", "")
        for key, value in checklist.items():
            if not isinstance(value, bool):
                raise WorkbenchError(f"{_where(path, text, 'checklist', key)}: [checklist] {key} must be true or "
                                     f"false (no quotes), or left out while unanswered")
        _text_fields(path, text, "checklist", {"notes": notes})
        wanted[docs.CHECKLIST] = docs.checklist_content(checklist, notes)
    if "framing" in data:
        framing = dict(data["framing"])
        features = framing.pop("features", [])
        wanted[docs.FRAMING] = docs.framing_content(_text_fields(path, text, "framing", framing), features)
    return wanted


def _changes(table: str, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    keys = sorted(set(before) | set(after))
    return [FieldChange(table, k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


def apply_project_file(wb: Workbench, path: Path, *, dry_run: bool = False, project: str | None = None,
                       expect_sha256: str | None = None) -> ApplyOutcome:
    """Apply a project file: the changed fields, saved with their audit events in one unit of work
    (or only listed, on a dry run). Unknown tables and fields are refused by name and line.

    A caller that showed a dry run first (the TUI's preview) passes what it showed: ``project``
    refuses a file written for another project than the one the person is looking at, and
    ``expect_sha256`` refuses a file edited since the preview, so what is applied is exactly the
    diff the person confirmed."""
    path = Path(path)
    text, data = _read(path)
    _refuse_unknown(path, text, data)
    slug = data.get("project", {}).get("slug")
    if not isinstance(slug, str) or not slug:
        raise WorkbenchError(f"{path}: [project] slug is missing: the file must say which project it is for "
                             f"(`mlwb project export SLUG --out FILE` writes one)")
    if project is not None and slug != project:
        raise WorkbenchError(f"{_where(path, text, 'project', 'slug')}: this file is for project '{slug}', not "
                             f"'{project}': open {slug} to apply it, or choose {project}'s file")
    problem_type = data["project"].get("problem_type")
    if problem_type is not None and not isinstance(problem_type, str):
        raise WorkbenchError(f"{_where(path, text, 'project', 'problem_type')}: problem_type must be a string")
    wanted = _desired(path, text, data)
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if expect_sha256 is not None and sha != expect_sha256:
        raise WorkbenchError(f"{path} changed since its preview (sha256 {expect_sha256[:12]}… is now {sha[:12]}…): "
                             "nothing applied; choose the file again to see what it would change now")
    if dry_run:
        with wb.read() as session:
            changes = _plan(find_project(session, slug), session, problem_type, wanted)
        return ApplyOutcome(slug, str(path), sha, tuple(changes), True)
    with wb.unit_of_work() as uow:
        project = uow.project(slug)
        changes = _plan(project, uow.session, problem_type, wanted)
        if not changes:
            return ApplyOutcome(slug, str(path), sha, (), False)
        revisions: dict[str, int] = {}
        changed_tables = {c.table for c in changes}
        if "statement" in changed_tables or "project" in changed_tables:
            statement = wanted.get(docs.STATEMENT, docs.deliverable(uow.session, project, docs.STATEMENT))
            revisions["statement"] = docs.save_statement_in(uow, project, statement, problem_type)
        if "checklist" in changed_tables:
            revisions["checklist"] = docs.save_checklist_in(uow, project, wanted[docs.CHECKLIST])
        if "framing" in changed_tables:
            revisions["framing"] = docs.save_framing_in(uow, project, wanted[docs.FRAMING])
        uow.audit("project_file.applied", "project", project.id, project=slug, file=path.name, sha256=sha,
                  changed=[f"{c.table}.{c.field}" for c in changes])
        return ApplyOutcome(slug, str(path), sha, tuple(changes), False, revisions)


def _plan(project: Any, session: Any, problem_type: str | None, wanted: dict[str, dict[str, Any]]) -> list[FieldChange]:
    """The fields the file would change, table by table."""
    tables = {kind: table for table, kind in TABLE_KIND.items()}
    changes: list[FieldChange] = []
    if problem_type is not None and problem_type != project.problem_type:
        changes.append(FieldChange("project", "problem_type", project.problem_type, problem_type))
    for kind, content in wanted.items():
        before = docs.deliverable(session, project, kind)
        if kind == docs.FRAMING:
            # A framing never saved has no feature list; the file of such a project says
            # ``features = []`` (none), which is the same thing, not a change to apply.
            before = {"features": [], **before}
        changes += _changes(tables[kind], before, content)
    return changes
