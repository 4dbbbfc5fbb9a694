"""``mlwb``: headless verbs for every lifecycle step; with no verb it opens the TUI.

User errors (``WorkbenchError``) print one line on stderr and exit 2 with nothing
half-written; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app import cli_bundle as bundle_verbs
from app import cli_monitoring as monitoring_verbs
from app import cli_release as release_verbs
from app import cli_reports as report_verbs
from app.errors import WorkbenchError
from app.lifecycle import MATURITIES
from app.ml.catalogue import PROBLEM_TYPES
from storage.artifacts import ArtifactCorrupted


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlwb", description="ML Lifecycle Workbench. With no command, opens the TUI.")
    sub = p.add_subparsers(dest="verb", metavar="COMMAND")

    demo = sub.add_parser("demo", help="create the ctr-demo project, carried through all six stages")
    demo.add_argument("--rows", type=int, default=40_000, help="interactions to generate (default 40000)")
    demo.add_argument("--batch-rows", type=int, default=5_000, help="rows per monitoring batch (default 5000)")
    demo.add_argument("--seed", type=int, default=7)

    projects = sub.add_parser("projects", help="list projects, or create one with 'projects new'")
    psub = projects.add_subparsers(dest="projects_verb", metavar="new|maturity")
    new = psub.add_parser("new", help="create an empty project at stage 1")
    new.add_argument("slug")
    new.add_argument("--problem-type", required=True, choices=PROBLEM_TYPES)
    new.add_argument("--maturity", default="startup", choices=MATURITIES)
    new.add_argument("--name")
    maturity = psub.add_parser("maturity", help="change a project's maturity profile (gates follow it)")
    maturity.add_argument("slug")
    maturity.add_argument("maturity", choices=MATURITIES)
    maturity.add_argument("--reason", required=True)

    data = sub.add_parser("data", help="import datasets and split them")
    dsub = data.add_subparsers(dest="data_verb", metavar="import|split|list", required=True)
    imp = dsub.add_parser("import", help="import a CSV or Parquet file as a dataset version")
    imp.add_argument("project")
    imp.add_argument("file", type=Path)
    imp.add_argument("--target")
    imp.add_argument("--time-column", help="a date/time column: enables temporal splits and overlap checks")
    check = dsub.add_parser("check", help="quality and leakage findings of a dataset version")
    check.add_argument("project")
    check.add_argument("dataset", type=int, nargs="?", help="dataset version id (default: the latest)")
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    split = dsub.add_parser("split", help="train/validation/test split of a dataset, with leakage checks")
    split.add_argument("project")
    split.add_argument("--dataset", type=int, help="dataset version id (default: the latest)")
    split.add_argument("--strategy", choices=("random", "stratified", "temporal", "group"),
                       help="default: stratified for classification with a target, else random")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument("--time-column", help="order for a temporal split")
    split.add_argument("--group-column", help="groups that must not straddle parts, for a group split")
    split.add_argument("--gap", type=int, default=0, help="rows left out between parts of a temporal split")
    dlist = dsub.add_parser("list", help="list dataset versions")
    dlist.add_argument("project")

    train = sub.add_parser("train", help="train one model in a worker process and log the run")
    train.add_argument("project")
    train.add_argument("dataset", type=int, help="dataset version id")
    train.add_argument("--model", required=True, help="e.g. majority_baseline, logistic_regression, "
                       "decision_tree, hist_gradient_boosting, random_forest (see `mlwb models-available`)")
    train.add_argument("--cv", type=int, metavar="K", help="also cross-validate with K folds on the train part")
    train.add_argument("--cv-kind", choices=("kfold", "stratified", "timeseries"))
    train.add_argument("--tune", choices=("grid", "random", "bayes"), help="hyper-parameter search on validation")
    train.add_argument("--trials", type=int, default=20)
    train.add_argument("--group-column", help="ranking: the column that groups rows into queries (user, session)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true", help="print the run id and validation metrics as JSON")

    sub.add_parser("models-available", help="the model ladder: kinds, rungs and the problem types they fit")

    runs = sub.add_parser("runs", help="list a project's runs, or `runs reproduce RUN`")
    runs.add_argument("target", nargs="+", metavar="PROJECT | reproduce RUN")

    compare = sub.add_parser("compare", help="is run B significantly better than run A? (validation data)")
    compare.add_argument("project")
    compare.add_argument("run_a", type=int)
    compare.add_argument("run_b", type=int)
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--5x2cv", dest="five_by_two", action="store_true",
                         help="Dietterich's 5×2cv paired t-test instead (refits both recipes ten times, in a worker)")

    analyse = sub.add_parser("analyse", help="error analysis of a run on validation data (in a worker)")
    analyse.add_argument("project")
    analyse.add_argument("run", type=int)
    analyse.add_argument("--segment", action="append", default=[], metavar="COLUMN",
                         help="per-segment metrics for this column (repeatable)")
    analyse.add_argument("--sensitive", metavar="COLUMN", help="fairness metrics across this attribute")
    analyse.add_argument("--learning-curve", action="store_true", help="also refit on growing train shares")
    analyse.add_argument("--json", action="store_true")

    evaluate = sub.add_parser("evaluate", help="open the sealed test set for one run (audited; do it once)")
    evaluate.add_argument("project")
    evaluate.add_argument("run", type=int)

    card = sub.add_parser("card", help="show a model version's card, or write sections with --set")
    card.add_argument("project")
    card.add_argument("version", type=int)
    card.add_argument("--set", action="append", default=[], metavar="SECTION=TEXT",
                      help="write a section (intended_use, factors, ethical_considerations, caveats, …); "
                           "the evidence sections are refreshed from the registry on every write")

    release_verbs.add_parsers(sub)
    monitoring_verbs.add_parsers(sub)
    bundle_verbs.add_parsers(sub)

    gate = sub.add_parser("gate", help="show a stage gate's checklist (default: the current stage)")
    gate.add_argument("project")
    gate.add_argument("--stage", type=int)

    stage = sub.add_parser("advance", help="move a project to its next stage if the gate passes")
    stage.add_argument("project")

    report_verbs.add_parsers(sub)

    audit = sub.add_parser("audit", help="verify or list the audit trail")
    asub = audit.add_subparsers(dest="audit_verb", metavar="verify|log", required=True)
    asub.add_parser("verify", help="check every link of the hash chain")
    alog = asub.add_parser("log", help="list recent events")
    alog.add_argument("--project")
    alog.add_argument("--limit", type=int, default=30)

    jobs = sub.add_parser("jobs", help="list recent background jobs")
    jobs.add_argument("--project")
    return p


def _open():  # type: ignore[no-untyped-def]
    from app.services.jobs import recover_interrupted
    from app.services.workbench import Workbench

    wb = Workbench.open()
    for notice in wb.notices:
        print(f"note: {notice}", file=sys.stderr)
    for job_id in recover_interrupted(wb):
        print(f"note: job {job_id} was left running by a crash and is now marked interrupted", file=sys.stderr)
    return wb


def _runner(wb):  # type: ignore[no-untyped-def]
    from app.jobs import JobRunner

    return JobRunner(wb)


def _progress_printer() -> Callable[[int, float, str], None]:
    def show(job_id: int, fraction: float, message: str) -> None:
        print(f"  job {job_id} {fraction:4.0%} {message}", file=sys.stderr)

    return show


def _cmd_demo(args: argparse.Namespace) -> int:
    from app.services.demo import run_demo

    wb = _open()
    outcome = run_demo(wb, _runner(wb), rows=args.rows, seed=args.seed, batch_rows=args.batch_rows,
                       step=lambda m: print(f"- {m}", file=sys.stderr))
    verb = "created" if outcome.created else "already present, brought up to date"
    print(f"{outcome.slug}: {verb}; stage {outcome.stage} of 6; {outcome.alerts} monitoring alert(s)")
    return 0


def _cmd_projects(args: argparse.Namespace) -> int:
    from app.services import projects

    wb = _open()
    if args.projects_verb == "new":
        s = projects.create_project(wb, args.slug, problem_type=args.problem_type, maturity=args.maturity, name=args.name)
        print(f"{s.slug}: created at stage {s.current_stage} ({s.stage_title})")
        return 0
    if args.projects_verb == "maturity":
        s = projects.set_maturity(wb, args.slug, args.maturity, reason=args.reason)
        print(f"{s.slug}: maturity profile is now {s.maturity}")
        return 0
    rows = projects.list_projects(wb)
    if not rows:
        print("no projects yet: run `mlwb demo` or `mlwb projects new SLUG --problem-type TYPE`", file=sys.stderr)
    for s in rows:
        gate = "gate passed" if s.gate_passed else f"gate {s.checks_passed}/{s.checks_total}"
        print(f"{s.slug}\tstage {s.current_stage} {s.stage_title}\t{gate}\t{s.maturity}\t{s.name}")
    return 0


def _cmd_data(args: argparse.Namespace) -> int:
    from app.services import datasets

    wb = _open()
    if args.data_verb == "import":
        v = datasets.import_dataset(wb, args.project, args.file, target=args.target, time_column=args.time_column)
        note = "" if v.is_new else " (already imported: same bytes)"
        print(f"dataset version {v.id} sha256 {v.sha256} rows {v.n_rows} columns {v.n_columns}{note}")
        for f in v.findings:
            print(f"  finding [{f['severity']}] {f['check']} {f.get('column') or ''}: {f['detail']}")
    elif args.data_verb == "check":
        result = datasets.check_dataset(wb, args.project, args.dataset)
        if args.json:
            print(json.dumps(result.as_json(), indent=2))
        else:
            for f in result.quality:
                print(f"quality [{f['severity']}] {f['check']} {f.get('column') or ''}: {f['detail']}")
            for f in result.leakage:
                print(f"leakage [{f['severity']}] {f['check']} {f.get('feature') or ''}: {f['evidence']}")
            if not result.quality and not result.leakage:
                print("no findings")
    elif args.data_verb == "split":
        s = datasets.create_split(wb, args.project, dataset_id=args.dataset, strategy=args.strategy, seed=args.seed,
                                  time_column=args.time_column, group_column=args.group_column, gap=args.gap)
        counts = ", ".join(f"{k} {v}" for k, v in s.counts.items())
        print(f"split {s.id} ({s.strategy}) of dataset version {s.dataset_version_id}: {counts}; "
              f"fingerprint {s.fingerprint}")
        for f in s.leakage:
            print(f"  leakage [{f['severity']}] {f['check']} {f.get('feature') or ''}: {f['evidence']}")
    else:
        for v in datasets.list_datasets(wb, args.project):
            print(f"{v.id}\t{v.role}\t{v.source_name}\t{v.n_rows}x{v.n_columns}\ttarget {v.target or '-'}\t{v.sha256}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from app.services import training

    wb = _open()
    run = training.train(wb, _runner(wb), args.project, args.model, dataset_id=args.dataset, seed=args.seed,
                         cv=args.cv, cv_kind=args.cv_kind, tune=args.tune, trials=args.trials,
                         group_column=args.group_column,
                         on_progress=_progress_printer())
    validation = {k: v for k, v in sorted(run.metrics.items()) if k.startswith("val_")}
    if args.json:
        print(json.dumps({"run": run.id, "model": run.model_kind, "validation": validation,
                          "cv": run.cv_metrics or None, "tuning": run.tuning or None}))
    else:
        print(f"run {run.id} {run.model_kind}: " + ", ".join(f"{k} {v:.4f}" for k, v in validation.items()))
    return 0


def _cmd_models_available(args: argparse.Namespace) -> int:
    from app.ml.catalogue import model_catalogue

    for m in model_catalogue():
        print(f"{m['kind']}\t{m['rung']}\t{', '.join(m['problem_types'])}\t{m['description']}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from app.services import evaluation, training

    wb = _open()
    if args.target[0] == "reproduce":
        if len(args.target) != 2 or not args.target[1].isdigit():
            raise WorkbenchError("usage: mlwb runs reproduce RUN (a run id, as listed by `mlwb runs PROJECT`)")
        r = evaluation.reproduce_run(wb, _runner(wb), None, int(args.target[1]), on_progress=_progress_printer())
        verdict = "reproduced: metrics match" if r.matches else "NOT reproduced: metrics differ"
        print(f"run {r.run_id} {verdict} (largest difference {r.max_difference:.3g})")
        return 0 if r.matches else 1
    for r in training.list_runs(wb, args.target[0]):
        tag = "baseline" if r.is_baseline else "candidate"
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.metrics.items()) if k.startswith("val_"))
        sealed = "test sealed" if not r.test_metrics else "test scored"
        print(f"{r.id}\t{r.model_kind}\t{tag}\t{shown}\t{sealed}\t{r.duration_s:.1f}s\t{r.created_by}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from app.services.comparison import compare_runs

    wb = _open()
    if args.five_by_two:
        from app.services.comparison import five_by_two

        c = five_by_two(wb, _runner(wb), args.project, args.run_a, args.run_b, on_progress=_progress_printer())
    else:
        c = compare_runs(wb, args.project, args.run_a, args.run_b)
    if args.json:
        print(json.dumps(c.as_json()))
    else:
        verdict = "significantly better" if c.significant else "not significantly better"
        print(f"run {c.run_b} vs run {c.run_a}: Δ{c.metric} {c.difference:+.4f} (95% CI {c.ci[0]:+.4f} to "
              f"{c.ci[1]:+.4f}), {c.test} p={c.p_value:.3g}: run {c.run_b} is {verdict} at α={c.alpha}")
    return 0


def _cmd_analyse(args: argparse.Namespace) -> int:
    from app.services.error_analysis import analyse_run

    wb = _open()
    result = analyse_run(wb, _runner(wb), args.project, args.run, segments=tuple(args.segment),
                         sensitive=args.sensitive, learning_curve=args.learning_curve, on_progress=_progress_printer())
    if args.json:
        print(json.dumps(result))
        return 0
    if result.get("confusion"):
        print(f"confusion matrix (rows true, columns predicted; labels {result['confusion']['labels']}):")
        for row in result["confusion"]["matrix"]:
            print("  " + "  ".join(f"{v:>7}" for v in row))
    if result.get("calibration"):
        print(f"calibration: expected calibration error {result['calibration']['ece']:.4f}")
    fair = result.get("fairness")
    if fair:
        print(f"fairness over {fair['attribute']}: demographic parity difference "
              f"{fair['demographic_parity_difference']:.4f}, equalized odds difference "
              f"{fair['equalized_odds_difference']:.4f}")
    for column, rows in result.get("segments", {}).items():
        print(f"segments of {column}:")
        for r in rows:
            shown = ", ".join(f"{k} {v:.4f}" for k, v in r.items() if isinstance(v, float))
            print(f"  {r['segment']}: {r['rows']} rows {shown}")
    for item in result.get("permutation_importance", [])[:10]:
        print(f"importance {item['feature']}: {item['importance_mean']:.4f} ± {item['importance_std']:.4f}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from app.services.evaluation import score_on_test

    wb = _open()
    e = score_on_test(wb, _runner(wb), args.project, args.run, on_progress=_progress_printer())
    print(f"run {e.run_id} on the sealed test part: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(e.metrics.items())))
    if e.looks_in_experiment > 1:
        print(f"warning: the test set has now been used {e.looks_in_experiment} times in this experiment; "
              "the stage 4 gate flags it", file=sys.stderr)
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from app.services import registry

    wb = _open()
    if args.set:
        updates = {}
        for item in args.set:
            section, sep, text = item.partition("=")
            if not sep:
                raise WorkbenchError(f"--set needs SECTION=TEXT, got '{item}'")
            updates[section.strip()] = text
        current = registry.model_card(wb, args.project, args.version)
        registry.write_model_card(wb, args.project, args.version,
                                  current | registry.draft_model_card(wb, args.project, args.version) | updates)
    card = registry.model_card(wb, args.project, args.version) or registry.draft_model_card(
        wb, args.project, args.version)
    for key, label in registry.MODEL_CARD_SECTIONS:
        text = card.get(key)
        marker = "" if text else ("  (a person must write this: --set " + key + "=…)" if key in registry.PERSON_WRITTEN else "")
        print(f"{label}: {text or '—'}{marker}")
    return 0


def _cmd_gate(args: argparse.Namespace) -> int:
    from app.services import gates

    g = gates.gate(_open(), args.project, args.stage)
    print(f"stage {g.stage} {g.title}: {'PASSED' if g.passed else 'OPEN'}")
    for c in g.checks:
        mark = "ok  " if c.passed else ("MISS" if c.required else "warn")
        print(f"  [{mark}] {c.label} — {c.detail}")
    return 0


def _cmd_advance(args: argparse.Namespace) -> int:
    from app.services import gates

    print(f"{args.project} is now at stage {gates.advance_stage(_open(), args.project)}")
    return 0


def _cmd_audit(args: argparse.Namespace) -> int:
    from app.services import audit_trail

    wb = _open()
    if args.audit_verb == "verify":
        verdict, digest = audit_trail.verify_with_digest(wb)
        print(verdict.describe(), file=sys.stdout if verdict.ok else sys.stderr)
        if verdict.ok:  # what a report built now prints, and an exported bundle's manifest records
            print(f"evidence digest {digest}")
        return 0 if verdict.ok else 1
    for e in audit_trail.recent_events(wb, project=args.project, limit=args.limit):
        print(f"{e.seq}\t{e.ts}\t{e.actor}\t{e.action}\t{e.project or '-'}\t{e.summary}")
    return 0


def _cmd_jobs(args: argparse.Namespace) -> int:
    from app.services import jobs

    for j in jobs.list_jobs(_open(), project_slug=args.project):
        print(f"{j.id}\t{j.kind}\t{j.state}\t{j.progress:.0%}\t{j.project or '-'}\t{j.error.splitlines()[0] if j.error else ''}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": _cmd_demo, "projects": _cmd_projects, "data": _cmd_data, "train": _cmd_train, "runs": _cmd_runs,
    "models-available": _cmd_models_available, "compare": _cmd_compare, "evaluate": _cmd_evaluate,
    "analyse": _cmd_analyse, "card": _cmd_card,
    "gate": _cmd_gate, "advance": _cmd_advance, "audit": _cmd_audit, "jobs": _cmd_jobs,
    **release_verbs.COMMANDS, **monitoring_verbs.COMMANDS, **report_verbs.COMMANDS,
    **bundle_verbs.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.verb is None:
            from app.tui import run_tui

            return run_tui()
        return COMMANDS[args.verb](args)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ArtifactCorrupted as exc:
        print(f"error: {exc}: the workspace's artifact store was changed outside the workbench; "
              "restore it from a backup", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
