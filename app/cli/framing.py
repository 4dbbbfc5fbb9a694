"""Stage 1 and 2 verbs of ``mlwb``: the problem statement, the "is ML appropriate?" checklist,
the framing (with feature guesses a person confirms), and the project file that keeps these
documents in the team's repository. Errors surface through ``app.cli.main``.

Each edit verb changes only what it is given: the current document is read, the ``--set`` /
``--answer`` / ``--feature`` values are laid over it, and the whole is saved through the same
service the TUI's forms use (one audited revision, the changed fields in its event). With
nothing to change the verb shows the document and its stage gate.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_project_verb
from app.cli.terminal import one_line
from app.cli.workspace import open_workspace
from app.errors import WorkbenchError

ANSWERS = {"yes": True, "y": True, "true": True, "no": False, "n": False, "false": False, "?": None, "": None}
WORD = {True: "yes", False: "no", None: "?"}


def add_parsers(sub: Any) -> None:
    statement = add_project_verb(sub, "statement", help="show or edit the stage 1 problem statement")
    statement.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                           help="set one field (repeat; KEY= clears it); keys: objective, stakeholders_gain, "
                                "stakeholders_lose, business_metric, ml_metric, ml_metric_threshold, "
                                "feasibility_data, feasibility_regulation, feasibility_timeline, "
                                "feasibility_budget, baseline_heuristic")
    statement.add_argument("--problem-type", help="change the project's problem type")
    statement.add_argument("--json", action="store_true", help="print the statement and its gate as JSON")

    checklist = add_project_verb(sub, "checklist", help="show or answer the 'is ML appropriate?' checklist")
    checklist.add_argument("--answer", action="append", default=[], metavar="KEY=yes|no|?", dest="answers",
                           help="answer one item (repeat; ? makes it unanswered); keys: pattern_exists, "
                                "data_available, errors_tolerable, rules_insufficient, feedback_available")
    checklist.add_argument("--notes", help="the checklist's notes")
    checklist.add_argument("--json", action="store_true", help="print the checklist and its gate as JSON")

    frame = add_project_verb(sub, "frame", help="show or edit the stage 2 framing and feature spec")
    frame.add_argument("--target", help="the target column")
    frame.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="sets",
                       help="set one field (repeat); keys: target, label_strategy, cold_start, temporal_aspects, "
                            "proxy_metrics")
    frame.add_argument("--feature", action="append", default=[], metavar="'NAME|TYPE|SOURCE|SERVING|PII'",
                       dest="features", help="add or replace one feature (repeat); TYPE is numeric, categorical, "
                       "boolean, datetime or text; SERVING and PII are yes, no or ? (later parts may be left out)")
    frame.add_argument("--drop", action="append", default=[], metavar="NAME", help="remove a feature (repeat)")
    frame.add_argument("--infer-from", metavar="DATASET",
                       help="propose features (type, serving-time availability, personal data) from a dataset "
                            "(its number in the project, as `mlwb data list` shows it); proposals count for nothing "
                            "until you --confirm them")
    frame.add_argument("--confirm", nargs="?", const="", metavar="NAME,…",
                       help="take the proposed features (all, or these) into the framing as your decision")
    frame.add_argument("--json", action="store_true", help="print the framing, proposals and gate as JSON")

    project = sub.add_parser("project", help="a project's stage 1-2 documents as a TOML file (export, apply)")
    psub = project.add_subparsers(dest="project_verb", metavar="export|apply", required=True)
    export = add_project_verb(psub, "export", help="write the statement, checklist and framing as TOML")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.toml")
    export.add_argument("--json", action="store_true")
    apply = psub.add_parser("apply", help="apply a project file: show the changed fields, save and audit them")
    apply.add_argument("file", type=Path, metavar="FILE.toml")
    apply.add_argument("--dry-run", action="store_true", help="show what would change; record nothing")
    apply.add_argument("--json", action="store_true")


# --- parsing what was typed ----------------------------------------------------------------------


def _pairs(items: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise WorkbenchError(f"{option} '{item}': write KEY=VALUE (e.g. {option} objective='Cut churn')")
        out[key.strip()] = value
    return out


def _answer(raw: str, what: str) -> bool | None:
    value = raw.strip().lower()
    if value not in ANSWERS:
        raise WorkbenchError(f"'{raw}' for {what}: write yes, no or ?")
    return ANSWERS[value]


def parse_feature(text: str) -> dict[str, Any]:
    """``NAME|TYPE|SOURCE|SERVING|PII`` (the TUI form's line format); trailing parts may be left out."""
    parts = [p.strip() for p in text.split("|")]
    if len(parts) < 2 or len(parts) > 5:
        raise WorkbenchError(f"--feature '{text}': write NAME|TYPE|SOURCE|SERVING|PII, e.g. "
                             "'age|numeric|crm|yes|yes' (at least NAME|TYPE)")
    parts += [""] * (5 - len(parts))
    name, ftype, source, serving, pii = parts
    return {"name": name, "type": ftype, "source": source,
            "available_at_serving": _answer(serving, f"feature {name}'s serving-time availability"),
            "pii": _answer(pii, f"feature {name}'s personal data")}


# --- printing --------------------------------------------------------------------------------------


def _gate_json(g: Any) -> dict[str, Any]:
    return {"stage": g.stage, "title": g.title, "passed": g.passed,
            "checks": [{"id": c.id, "label": c.label, "passed": c.passed, "required": c.required,
                        "detail": c.detail} for c in g.checks]}


def _print_gate(g: Any) -> None:
    print(f"stage {g.stage} gate ({g.title}): {'PASSED' if g.passed else 'OPEN'}")
    for c in g.checks:
        mark = "ok  " if c.passed else ("MISS" if c.required else "warn")
        print(f"  [{mark}] {c.label} — {one_line(c.detail)}")


def _saved_line(slug: str, what: str, before: dict[str, Any], after: dict[str, Any], revision: int | None) -> None:
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if revision is None:
        return
    if changed:
        print(f"{slug}: {what} saved as revision {revision}; changed {', '.join(changed)}")
    else:
        print(f"{slug}: {what} unchanged (revision {revision})")


def _cmd_statement(args: argparse.Namespace) -> int:
    from app.lifecycle import STATEMENT_FIELDS
    from app.services import deliverables, gates

    wb = open_workspace()
    before = deliverables.deliverables(wb, args.project)[deliverables.STATEMENT]
    revision = None
    if args.sets or args.problem_type:
        fields = {**before, **_pairs(args.sets, "--set")}
        revision = deliverables.save_problem_statement(wb, args.project, fields, problem_type=args.problem_type)
    after = deliverables.deliverables(wb, args.project)[deliverables.STATEMENT]
    g = gates.gate(wb, args.project, 1)
    if args.json:
        print(json.dumps({"project": args.project, "revision": revision, "statement": after, "gate": _gate_json(g)},
                         indent=2, ensure_ascii=False))
        return 0
    _saved_line(args.project, "problem statement", before, after, revision)
    width = max(len(k) for k, _ in STATEMENT_FIELDS)
    for key, _ in STATEMENT_FIELDS:
        print(f"  {key:<{width}}  {one_line(after.get(key, '—'))}")
    _print_gate(g)
    return 0


def _cmd_checklist(args: argparse.Namespace) -> int:
    from app.lifecycle import ML_CHECKLIST
    from app.services import deliverables, gates

    wb = open_workspace()
    before = deliverables.deliverables(wb, args.project)[deliverables.CHECKLIST]
    revision = None
    if args.answers or args.notes is not None:
        answers: dict[str, bool | None] = {k: v for k, v in before.items() if k != "notes"}
        answers.update({k: _answer(v, f"checklist item {k}") for k, v in _pairs(args.answers, "--answer").items()})
        notes = before.get("notes", "") if args.notes is None else args.notes
        revision = deliverables.save_ml_checklist(wb, args.project, answers, notes)  # type: ignore[arg-type]
    after = deliverables.deliverables(wb, args.project)[deliverables.CHECKLIST]
    g = gates.gate(wb, args.project, 1)
    if args.json:
        print(json.dumps({"project": args.project, "revision": revision, "checklist": after, "gate": _gate_json(g)},
                         indent=2, ensure_ascii=False))
        return 0
    _saved_line(args.project, "ML checklist", before, after, revision)
    for key, label in ML_CHECKLIST:
        print(f"  {WORD[after.get(key)]:<3}  {key:<19} {label}")
    if after.get("notes"):
        print(f"  notes: {one_line(after['notes'])}")
    _print_gate(g)
    return 0


def _cmd_frame(args: argparse.Namespace) -> int:
    from app.services import deliverables, gates

    if args.infer_from is not None and args.confirm is not None:
        raise WorkbenchError("read the proposals before confirming them: run --infer-from first, then --confirm")
    wb = open_workspace()
    before = deliverables.deliverables(wb, args.project)[deliverables.FRAMING]
    revision = None
    confirmation = None
    current = before
    if args.confirm is not None:  # first, so --drop and --feature in the same call act on what was confirmed
        names = [n.strip() for n in args.confirm.split(",") if n.strip()] or None
        confirmation = deliverables.confirm_proposals(wb, args.project, names)
        revision = confirmation.revision
        current = deliverables.deliverables(wb, args.project)[deliverables.FRAMING]
    edits = args.target is not None or args.sets or args.features or args.drop
    if edits:
        fields = {k: v for k, v in current.items() if k != "features"}
        fields.update(_pairs(args.sets, "--set"))
        if args.target is not None:
            fields["target"] = args.target
        spec = {f["name"]: f for f in current.get("features", [])}
        for name in args.drop:
            if name not in spec:
                raise WorkbenchError(f"no feature '{name}' to drop: the framing lists {', '.join(spec) or 'none'}")
            del spec[name]
        for text in args.features:
            feature = parse_feature(text)
            spec[feature["name"]] = feature
        revision = deliverables.save_framing(wb, args.project, fields, list(spec.values()))
    proposal = None
    if args.infer_from is not None:
        target = args.target or before.get("target") or None
        from app.services import numbering

        proposal = deliverables.propose_features(
            wb, args.project, numbering.dataset_id(wb, args.infer_from, project=args.project), target=target)
    after = deliverables.deliverables(wb, args.project)[deliverables.FRAMING]
    pending = deliverables.framing_proposal(wb, args.project)
    g = gates.gate(wb, args.project, 2)
    if args.json:
        print(json.dumps({
            "project": args.project, "revision": revision, "framing": after,
            "proposed": pending.get("features", []), "proposed_from_dataset": pending.get("dataset_version"),
            "confirmed": list(confirmation.confirmed) if confirmation else [],
            "gate": _gate_json(g)}, indent=2, ensure_ascii=False))
        return 0
    _saved_line(args.project, "framing", before, after, revision)
    if confirmation is not None:
        print(f"confirmed {len(confirmation.confirmed)} proposed feature(s) as your decision: "
              f"{', '.join(confirmation.confirmed) or 'none'}")
        if confirmation.kept_existing:
            print(f"kept what the framing already said for: {', '.join(confirmation.kept_existing)}")
    for key in ("target", "label_strategy", "cold_start", "temporal_aspects", "proxy_metrics"):
        print(f"  {key:<16}  {one_line(after.get(key, '—'))}")
    features = after.get("features", [])
    print(f"features ({len(features)}):" if features else "features: none yet")
    for f in features:
        print(f"  {one_line(f['name'])}\t{f['type']}\tserving {WORD[f.get('available_at_serving')]}\t"
              f"pii {WORD[f.get('pii')]}\t{one_line(f.get('source') or '')}")
    if pending.get("features"):
        _print_proposals(args.project, pending, fresh=proposal is not None)
    _print_gate(g)
    return 0


def _print_proposals(slug: str, pending: dict[str, Any], *, fresh: bool) -> None:
    head = "proposed" if fresh else "still proposed"
    print(f"{head} from dataset version {pending.get('dataset_version')} — guesses, not recorded as anyone's "
          f"decision until confirmed:")
    for f in pending["features"]:
        basis = f.get("basis", {})
        notable = [basis["type"]] if "distinct values" in basis.get("type", "") else []
        notable += [basis[k] for k, usual in (("available_at_serving", True), ("pii", False))
                    if f[k] is not usual and basis.get(k)]
        why = f"  ({'; '.join(notable)})" if notable else ""
        print(f"  {one_line(f['name'])}\t{f['type']}\tserving {WORD[f['available_at_serving']]}\t"
              f"pii {WORD[f['pii']]}{one_line(why)}")
    print("  (a guess with no reason given comes from the stored column type and a name that suggests nothing "
          "else: look at the values)")
    print(f"confirm all with `mlwb frame {slug} --confirm`, some with `--confirm NAME,NAME`, or write your own "
          f"with `--feature 'NAME|TYPE|SOURCE|yes|no'`")


def _cmd_project(args: argparse.Namespace) -> int:
    from app.services import project_file

    wb = open_workspace()
    if args.project_verb == "export":
        path = project_file.export_project_file(wb, args.project, args.out)
        if args.json:
            print(json.dumps({"project": args.project, "file": str(path)}))
        else:
            print(f"wrote {path}: edit it, then `mlwb project apply {path} --dry-run` shows what would change")
        return 0
    outcome = project_file.apply_project_file(wb, args.file, dry_run=args.dry_run)
    if args.json:
        print(json.dumps(outcome.as_json(), indent=2, ensure_ascii=False))
        return 0
    if not outcome.changes:
        print(f"{outcome.slug}: nothing to change: the registry already matches {args.file}; nothing recorded")
        return 0
    for c in outcome.changes:
        print(f"  {c.table}.{c.field}: {_shown(c.before)} → {_shown(c.after)}")
    if outcome.dry_run:
        print(f"{outcome.slug}: dry run: {len(outcome.changes)} field(s) would change; nothing recorded")
    else:
        revisions = ", ".join(f"{k} revision {v}" for k, v in outcome.revisions.items())
        print(f"{outcome.slug}: applied {len(outcome.changes)} changed field(s) ({revisions}); "
              f"audited as project_file.applied (file sha256 {outcome.sha256[:16]}…)")
    return 0


def _shown(value: Any) -> str:
    """A field's value on one line, quoted so an empty or multi-line value is visible as such."""
    if value is None:
        return "(unset)"
    return json.dumps(value, ensure_ascii=False)


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "statement": _cmd_statement, "checklist": _cmd_checklist, "frame": _cmd_frame, "project": _cmd_project,
}
