"""Stage 4 verbs of ``mlwb``: train runs up the model ladder, list and reproduce them, compare
them, analyse their errors, open the sealed test set once, and write the model card. Errors
surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from app.cli.arguments import DATASET_HELP, RUN_HELP, add_json_option, add_project_verb, print_json
from app.cli.workspace import job_runner, open_workspace, progress_printer
from app.errors import WorkbenchError


class _RunsParser(argparse.ArgumentParser):
    """`--sort -val_roc_auc` reads as the option's value: argparse would take a value that starts
    with '-' for an unknown option, and descending sorts are written that way."""

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        if args is not None:
            args = list(args)
            for i in range(len(args) - 1):
                if args[i] == "--sort" and args[i + 1].startswith("-") and args[i + 1] != "--":
                    args[i:i + 2] = [f"--sort={args[i + 1]}", ""]
            args = [a for a in args if a != ""]
        return super().parse_known_args(args, namespace)


def add_parsers(sub: Any) -> None:
    train = add_project_verb(sub, "train", help="train one model in a worker process and log the run")
    train.add_argument("dataset", metavar="DATASET", help=DATASET_HELP)
    train.add_argument("--model", required=True, help="e.g. majority_baseline, logistic_regression, "
                       "decision_tree, hist_gradient_boosting, random_forest (see `mlwb models-available`)")
    train.add_argument("--cv", type=int, metavar="K", help="also cross-validate with K folds on the train part")
    train.add_argument("--cv-kind", choices=("kfold", "stratified", "timeseries"))
    train.add_argument("--tune", choices=("grid", "random", "bayes"), help="hyper-parameter search on validation")
    train.add_argument("--trials", type=int, default=20)
    train.add_argument("--group-column", help="ranking: the column that groups rows into queries (user, session)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true", help="print the run (id and number) and validation metrics as JSON")

    available = sub.add_parser("models-available", help="the model ladder: kinds, rungs and the problem types they fit")
    add_json_option(available, "the model kinds (a list)")

    runs = sub.add_parser("runs", help="list a project's runs, or `runs reproduce RUN`")
    runs.__class__ = _RunsParser
    runs.add_argument("target", nargs="+", metavar="PROJECT | reproduce PROJECT/run N | reproduce PROJECT RUN")
    runs.add_argument("--filter", metavar="QUERY", help="e.g. 'val_roc_auc > 0.8 and model = hist_gradient_boosting'"
                      " or 'params.max_depth <= 4': clauses joined by 'and'; a bare word matches id, model or author")
    runs.add_argument("--sort", metavar="[-]KEY", help="a metric (val_roc_auc) or id, model, author, seconds, created,"
                      " rung, trials; '-' first for descending")
    runs.add_argument("--limit", type=int, metavar="N", help="at most N runs (default 50 with --filter/--sort)")
    runs.add_argument("--after", metavar="CURSOR", help="the next page: the next_cursor a previous --json printed")
    runs.add_argument("--trials", action="store_true", help="include tuning trials (child runs) in the query")
    add_json_option(runs, "the runs (or the reproduction); with --filter/--sort/--limit/--after an object "
                          "{runs, next_cursor}")

    compare = add_project_verb(sub, "compare", help="is run B significantly better than run A? (validation data)")
    compare.add_argument("run_a", metavar="RUN_A", help=RUN_HELP)
    compare.add_argument("run_b", metavar="RUN_B", help=RUN_HELP)
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--5x2cv", dest="five_by_two", action="store_true",
                         help="Dietterich's 5×2cv paired t-test instead (refits both recipes ten times, in a worker)")

    analyse = add_project_verb(sub, "analyse", help="error analysis of a run on validation data (in a worker)")
    analyse.add_argument("run", metavar="RUN", help=RUN_HELP)
    analyse.add_argument("--segment", action="append", default=[], metavar="COLUMN",
                         help="per-segment metrics for this column (repeatable)")
    analyse.add_argument("--sensitive", metavar="COLUMN", help="fairness metrics across this attribute")
    analyse.add_argument("--learning-curve", action="store_true", help="also refit on growing train shares")
    analyse.add_argument("--json", action="store_true")

    evaluate = add_project_verb(sub, "evaluate", help="open the sealed test set for one run (audited; do it once)")
    evaluate.add_argument("run", metavar="RUN", help=RUN_HELP)
    add_json_option(evaluate, "the test metrics")

    card = add_project_verb(sub, "card", help="show a model version's card, write sections with --set, or sign "
                                              "the registry's drafted sections with --confirm")
    card.add_argument("version", type=int)
    card.add_argument("--set", action="append", default=[], metavar="SECTION=TEXT",
                      help="write a section in your own words (intended_use, factors, ethical_considerations, "
                           "caveats, …); the evidence sections the registry drafts stay marked as machine drafts")
    card.add_argument("--confirm", nargs="*", metavar="SECTION", default=None,
                      help="sign the registry's draft of these sections (none named: every drafted one) with your "
                           "key, as your statement; until then the card is incomplete and reports mark them drafts")
    add_json_option(card, "the card's sections with their origin")


def _cmd_train(args: argparse.Namespace) -> int:
    from app.services import numbering, training

    wb = open_workspace()
    dataset_id = numbering.dataset_id(wb, args.dataset, project=args.project)
    run = training.train(wb, job_runner(wb), args.project, args.model, dataset_id=dataset_id, seed=args.seed,
                         cv=args.cv, cv_kind=args.cv_kind, tune=args.tune, trials=args.trials,
                         group_column=args.group_column,
                         on_progress=progress_printer())
    validation = {k: v for k, v in sorted(run.metrics.items()) if k.startswith("val_")}
    if args.json:
        print(json.dumps({"run": run.id, "number": run.number, "model": run.model_kind, "validation": validation,
                          "cv": run.cv_metrics or None, "tuning": run.tuning or None}))
    else:
        print(f"{run.label} {run.model_kind}: " + ", ".join(f"{k} {v:.4f}" for k, v in validation.items()))
    return 0


def _cmd_models_available(args: argparse.Namespace) -> int:
    from app.ml.catalogue import model_catalogue

    if args.json:
        print_json(model_catalogue())
        return 0
    for m in model_catalogue():
        print(f"{m['kind']}\t{m['rung']}\t{', '.join(m['problem_types'])}\t{m['description']}")
    return 0


def _cmd_runs(args: argparse.Namespace) -> int:
    from app.services import evaluation, numbering, training

    wb = open_workspace()
    if args.target[0] == "reproduce":
        if len(args.target) not in (2, 3):
            raise WorkbenchError("usage: mlwb runs reproduce PROJECT/run N, or mlwb runs reproduce PROJECT N "
                                 "(N as `mlwb runs PROJECT` lists it)")
        project, reference = (args.target[1], args.target[2]) if len(args.target) == 3 else (None, args.target[1])
        slug, run_id = numbering.resolve(wb, "run", reference, project=project)
        r = evaluation.reproduce_run(wb, job_runner(wb), slug, run_id, on_progress=progress_printer())
        if args.json:
            print_json(r)
            return 0 if r.matches else 1
        verdict = "reproduced: metrics match" if r.matches else "NOT reproduced: metrics differ"
        print(f"{slug}/{numbering.run_label(r.run_number)} {verdict} (largest difference {r.max_difference:.3g})")
        return 0 if r.matches else 1
    if len(args.target) != 1:
        raise WorkbenchError(f"usage: mlwb runs PROJECT [--filter …] (or mlwb runs reproduce PROJECT/run N), "
                             f"not {' '.join(args.target)!r}")
    queried = any(v is not None for v in (args.filter, args.sort, args.limit, args.after)) or args.trials
    if queried:
        from app.services.run_query import query_runs

        page = query_runs(wb, args.target[0], args.filter or "", args.sort or "id", limit=args.limit or 50,
                          after=args.after, include_trials=args.trials)
        if args.json:
            print(json.dumps({"runs": [asdict(r) for r in page.runs], "next_cursor": page.next_cursor}, default=str))
            return 0
        runs = page.runs
    else:
        if args.json:
            print(json.dumps([asdict(r) for r in training.list_runs(wb, args.target[0])], default=str))
            return 0
        runs = training.list_runs(wb, args.target[0])
    for r in runs:
        tag = "baseline" if r.is_baseline else "candidate"
        shown = ", ".join(f"{k} {v:.4f}" for k, v in sorted(r.metrics.items()) if k.startswith("val_"))
        sealed = "test sealed" if not r.test_metrics else "test scored"
        print(f"{r.number}\t{r.model_kind}\t{tag}\t{shown}\t{sealed}\t{r.duration_s:.1f}s\t{r.created_by}")
    if queried and page.next_cursor:
        print(f"more: --after {page.next_cursor}", file=sys.stderr)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from app.services import numbering
    from app.services.comparison import compare_runs

    wb = open_workspace()
    run_a, run_b = (numbering.run_id(wb, ref, project=args.project) for ref in (args.run_a, args.run_b))
    if args.five_by_two:
        from app.services.comparison import five_by_two

        c = five_by_two(wb, job_runner(wb), args.project, run_a, run_b, on_progress=progress_printer())
    else:
        c = compare_runs(wb, args.project, run_a, run_b)
    if args.json:
        print(json.dumps(c.as_json()))
    else:
        verdict = "significantly better" if c.significant else "not significantly better"
        a, b = numbering.run_label(c.run_a_number), numbering.run_label(c.run_b_number)
        print(f"{b} vs {a}: Δ{c.metric} {c.difference:+.4f} (95% CI {c.ci[0]:+.4f} to "
              f"{c.ci[1]:+.4f}), {c.test} p={c.p_value:.3g}: {b} is {verdict} at α={c.alpha}")
    if c.repeated:
        print(f"already compared on {c.created_at:%Y-%m-%d %H:%M} by {c.created_by} (comparison #{c.id}"
              + (f", seed {c.seed}" if c.seed is not None else "") + "): the recorded result stands and nothing "
              "was added; a pair is compared once per metric and test", file=sys.stderr)
    return 0


def _cmd_analyse(args: argparse.Namespace) -> int:
    from app.services import numbering
    from app.services.error_analysis import analyse_run

    wb = open_workspace()
    run_id = numbering.run_id(wb, args.run, project=args.project)
    result = analyse_run(wb, job_runner(wb), args.project, run_id, segments=tuple(args.segment),
                         sensitive=args.sensitive, learning_curve=args.learning_curve, on_progress=progress_printer())
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
    from app.services import numbering
    from app.services.evaluation import score_on_test

    wb = open_workspace()
    e = score_on_test(wb, job_runner(wb), args.project, numbering.run_id(wb, args.run, project=args.project),
                      on_progress=progress_printer())
    if args.json:
        print_json(e)
        return 0
    print(f"{numbering.run_label(e.run_number)} on the sealed test part: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(e.metrics.items())))
    if e.looks_in_experiment > 1:
        print(f"warning: the test set has now been used {e.looks_in_experiment} times in this experiment; "
              "the stage 4 gate flags it", file=sys.stderr)
    return 0


def _cmd_card(args: argparse.Namespace) -> int:
    from app.services import registry

    wb = open_workspace()
    if args.set:
        updates = {}
        for item in args.set:
            section, sep, text = item.partition("=")
            if not sep:
                raise WorkbenchError(f"--set needs SECTION=TEXT, got '{item}'")
            updates[section.strip()] = text
        current = registry.model_card(wb, args.project, args.version)
        # The registry's draft fills what nobody wrote yet; what is on the card stays as it is.
        registry.write_model_card(wb, args.project, args.version,
                                  registry.draft_model_card(wb, args.project, args.version) | current | updates)
    if args.confirm is not None:
        registry.confirm_model_card(wb, args.project, args.version, args.confirm)
    view = registry.model_card_view(wb, args.project, args.version)
    if args.json:
        print_json({"version": view.version, "complete": view.complete, "detail": view.detail(),
                    "sections": [asdict(s) | {"outdated": s.outdated, "counts": s.counts} for s in view.sections]})
        return 0
    drafts = registry.draft_model_card(wb, args.project, args.version)
    for s in view.sections:
        if s.origin == "missing":
            text = drafts.get(s.key, "")
            marker = (f"  (not on the card yet; the registry would draft: {text})" if text else
                      f"  (a person must write this: --set {s.key}=…)")
            print(f"{s.label}: —{marker}")
            continue
        marker = {"draft": "  [machine draft: sign it with --confirm, or write your own with --set]",
                  "confirmed": f"  [confirmed by {s.by}" + (f"; the evidence changed since, the registry now drafts: "
                                                            f"{s.current_draft}; --confirm again]" if s.outdated else "]"),
                  "person": f"  [written by {s.by}]"}[s.origin]
        print(f"{s.label}: {s.text}{marker}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _cmd_train, "models-available": _cmd_models_available, "runs": _cmd_runs, "compare": _cmd_compare,
    "analyse": _cmd_analyse, "evaluate": _cmd_evaluate, "card": _cmd_card,
}
