"""Stage 6 verbs of ``mlwb``: monitoring batches and delayed labels, drift, SLA rules and
thresholds, retraining, and the Prometheus exposition. Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_project_verb, print_json
from app.cli.workspace import job_runner, open_workspace, progress_printer
from app.errors import WorkbenchError


def add_parsers(sub: Any) -> None:
    monitor = sub.add_parser("monitor", help="monitoring batches, delayed labels, SLA rules and thresholds")
    msub = monitor.add_subparsers(dest="monitor_verb", required=True,
                                  metavar="import|collect|labels|label-log|analyse|list|resolve|revise-framing|sla|threshold|schedule")
    mimp = add_project_verb(msub, "import", help="import a batch file of production inputs")
    mimp.add_argument("file", type=Path)
    mimp.add_argument("--label", required=True, help="the period the batch covers, e.g. 2026-03")
    mimp.add_argument("--id-column", help="the column that identifies rows, to join labels that arrive later")
    _add_analyse_option(mimp)
    add_json_option(mimp, "the batch recorded (analysed unless --no-analyse)")
    collect = add_project_verb(msub, "collect",
                               help="make a batch of the requests logged by `mlwb serve` since the last one")
    collect.add_argument("--label", required=True)
    _add_analyse_option(collect)
    add_json_option(collect, "the batch recorded (analysed unless --no-analyse)")
    labels = add_project_verb(msub, "labels", help="attach delayed labels to a batch and measure performance")
    labels.add_argument("label", help="the batch")
    labels.add_argument("file", type=Path)
    labels.add_argument("--id-column", required=True, help="the id column in the labels file")
    labels.add_argument("--label-column", required=True, help="the column holding the true outcome")
    add_json_option(labels, "the batch with its labels, metrics and SLA outcomes")
    log = add_project_verb(msub, "label-log", help="attach delayed labels to logged requests by request id")
    log.add_argument("file", type=Path)
    log.add_argument("--id-column", default="request_id")
    log.add_argument("--label-column", required=True)
    add_json_option(log, "how many logged requests were labelled")
    man = add_project_verb(msub, "analyse", help="drift of a batch against the model's reference (in a worker)")
    man.add_argument("label")
    add_json_option(man, "the batch with its drift results, metrics and SLA outcomes")
    listing = add_project_verb(msub, "list", help="batches, alerts and retraining triggers")
    add_json_option(listing, "the batches, alerts and triggers")
    resolve = add_project_verb(msub, "resolve", help="close an alert, saying how it was handled")
    resolve.add_argument("alert", type=int)
    resolve.add_argument("--note", required=True)
    add_json_option(resolve, "the alert")
    revise = add_project_verb(msub, "revise-framing",
                              help="send the project back to stage 2 (framing) because of an alert; "
                                   "production keeps serving")
    revise.add_argument("--alert", type=int, required=True, help="the alert that showed the framing is wrong")
    revise.add_argument("--reason", required=True, help="what retraining cannot fix (a reviewer reads it)")
    revise.add_argument("--json", action="store_true", help="print one JSON object")
    sla = add_project_verb(msub, "sla", help="list SLA rules, --add 'accuracy>=0.8' or --remove ID")
    sla.add_argument("--add", metavar="RULE", help="METRIC>=X or METRIC<=X, e.g. latency_p99_ms<=20")
    sla.add_argument("--severity", default="warning", choices=("warning", "critical"))
    sla.add_argument("--remove", type=int, metavar="ID")
    add_json_option(sla, "the rule added, the rule removed and the rules now in force")
    threshold = add_project_verb(msub, "threshold", help="the effect size at which a feature (or *) counts as drifted")
    threshold.add_argument("feature", help="a feature name, or * for every feature")
    from app.ml.drift_bands import DEFAULT_THRESHOLDS  # a few constants, no numeric library

    threshold.add_argument("statistic", choices=tuple(DEFAULT_THRESHOLDS))
    threshold.add_argument("value", type=float)
    add_json_option(threshold, "the thresholds now set")
    schedule = add_project_verb(msub, "schedule",
                                help="retrain every N days (`mlwb retrain --scheduled` runs it when due)")
    group = schedule.add_mutually_exclusive_group(required=True)
    group.add_argument("--every-days", type=int)
    group.add_argument("--off", action="store_true")
    add_json_option(schedule, "the thresholds and schedule now in force")

    retrain = add_project_verb(sub, "retrain", help="retrain the production model on its data plus labelled batches")
    retrain.add_argument("--trigger", type=int, help="answer this retraining trigger (default: a new on-demand one)")
    retrain.add_argument("--reason", default="", help="why, for an on-demand retraining")
    retrain.add_argument("--scheduled", action="store_true", help="retrain only if the schedule is due")
    retrain.add_argument("--json", action="store_true", help="print one JSON object")

    add_project_verb(sub, "metrics", help="Prometheus exposition of the project's monitoring state")

    drift = add_project_verb(sub, "drift", help="drift of a file against the production model's reference (read only)")
    drift.add_argument("file", type=Path)
    drift.add_argument("--reference", type=Path, help="compare with this file's columns instead")
    drift.add_argument("--json", action="store_true", help="print one JSON object")


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _print_batch(b: Any) -> None:
    print(f"batch {b.label} ({b.source}): {b.n_rows} rows, {b.n_labelled} labelled, model v{b.model_version}")
    if b.analysed and b.reference:
        print(f"  {b.reference}")
    for r in b.drift:
        name = {"prediction": "(prediction)", "label": "(label)"}.get(r.subject, r.feature)
        print(f"  {name:<24} {r.kind:<11} ks {_fmt(r.ks)} p {_fmt(r.ks_pvalue, 4)}  psi {_fmt(r.psi)}  "
              f"chi2 p {_fmt(r.chi2_pvalue, 4)}  js {_fmt(r.js)}  w {_fmt(r.wasserstein)}  "
              f"{'DRIFT' if r.drifted else 'ok'}")
    for name, value in sorted(b.metrics.items()):
        print(f"  metric {name} = {value:.4f}")
    for rule, outcome in b.sla.items():
        state = {True: "ok", False: "BREACHED", None: "not measured"}[outcome["passed"]]
        print(f"  SLA {rule}: {state}" + (f" ({outcome['value']:.4g})" if outcome["value"] is not None else ""))


def _add_analyse_option(parser: argparse.ArgumentParser) -> None:
    """A batch is analysed as it arrives, as the TUI's import does; the stage-6 gate waits for it."""
    parser.add_argument("--no-analyse", dest="analyse", action="store_false",
                        help="only store the batch; analyse it later with `mlwb monitor analyse`")


def _cmd_monitor(args: argparse.Namespace) -> int:
    from app.services import monitoring_alerts, monitoring_analysis, monitoring_batches, monitoring_policy, retraining

    wb = open_workspace()
    verb = args.monitor_verb
    if verb in ("import", "collect"):
        if verb == "import":
            b = monitoring_batches.import_batch(wb, args.project, args.file, label=args.label,
                                                id_column=args.id_column)
            what = "rows"
        else:
            b = monitoring_batches.batch_from_predictions(wb, args.project, label=args.label)
            what = "logged requests"
        if not args.json:
            print(f"monitoring batch {b.label}: {b.n_rows} {what} for model version {b.model_version}")
        if args.analyse:
            try:
                b = monitoring_analysis.analyse_batch(wb, job_runner(wb), args.project, b.label,
                                                      on_progress=None if args.json else progress_printer())
            except WorkbenchError as exc:
                raise WorkbenchError(f"batch {b.label} is stored, but its analysis failed: {exc}. Analyse it "
                                     f"again with `mlwb monitor analyse {args.project} {b.label}`") from None
        if args.json:
            print_json(b)
            return 0
        if args.analyse:
            _print_batch(b)
    elif verb == "labels":
        b = monitoring_analysis.attach_labels(wb, job_runner(wb), args.project, args.label, args.file,
                                              id_column=args.id_column, label_column=args.label_column,
                                              on_progress=progress_printer())
        if args.json:
            print_json(b)
            return 0
        _print_batch(b)
    elif verb == "label-log":
        n = monitoring_batches.label_predictions(wb, args.project, args.file, id_column=args.id_column,
                                                 label_column=args.label_column)
        if args.json:
            print_json({"project": args.project, "labelled": n})
            return 0
        print(f"labelled {n} logged request(s)")
    elif verb == "analyse":
        b = monitoring_analysis.analyse_batch(wb, job_runner(wb), args.project, args.label,
                                              on_progress=progress_printer())
        if args.json:
            print_json(b)
            return 0
        _print_batch(b)
    elif verb == "list":
        batches = monitoring_batches.list_batches(wb, args.project)
        alerts = monitoring_alerts.list_alerts(wb, args.project)
        triggers = retraining.list_triggers(wb, args.project)
        if args.json:
            print_json({"batches": batches, "alerts": alerts, "triggers": triggers})
            return 0
        for b in batches:
            print(f"{b.label}\t{b.source}\t{b.n_rows} rows\t{b.n_labelled} labelled\tanalysed {b.analysed}\t"
                  f"max PSI {_fmt(b.max_psi)}\tdrifted {', '.join(b.drifted_features) or '-'}")
        for a in alerts:
            trigger = f"trigger {a.trigger_id}" if a.trigger_id else "no trigger"
            print(f"alert {a.id}\t{a.severity}\t{a.status}\t{trigger}\t{a.message}")
        for t in triggers:
            print(f"trigger {t.id}\t{t.kind}\t{t.status}\trun {t.run_number or '-'}\t{t.reason}")
    elif verb == "revise-framing":
        revision = monitoring_alerts.revise_framing(wb, args.project, args.alert, reason=args.reason)
        if args.json:
            print(json.dumps(revision.as_json(), sort_keys=True))
        else:
            serving = (f"v{revision.production_version} keeps serving" if revision.production_version
                       else "no production model")
            print(f"{revision.slug} is back at stage {revision.to_stage} (problem framing) because of alert "
                  f"{revision.alert_id}; {serving}. Revise the framing, then pass each gate again with "
                  f"`mlwb advance {revision.slug}`")
    elif verb == "resolve":
        a = monitoring_alerts.resolve_alert(wb, args.project, args.alert, note=args.note)
        if args.json:
            print_json(a)
            return 0
        print(f"alert {a.id} is {a.status}")
    elif verb == "sla":
        added = None
        if args.add:
            match = re.fullmatch(r"\s*([a-z_0-9]+)\s*(>=|<=)\s*([-+0-9.eE]+)\s*", args.add)
            if not match:
                raise WorkbenchError(f"an SLA rule looks like accuracy>=0.8 or latency_p99_ms<=20, not '{args.add}'")
            added = monitoring_policy.add_sla_rule(wb, args.project, match[1], match[2], float(match[3]),
                                                   severity=args.severity)
        if args.remove is not None:
            monitoring_policy.remove_sla_rule(wb, args.project, args.remove)
        rules = monitoring_policy.sla_rules(wb, args.project)
        if args.json:
            print_json({"project": args.project, "added": added, "removed": args.remove, "rules": rules})
            return 0
        for r in rules:
            print(f"{r.id}\t{r.describe()}\t{r.severity}")
    elif verb == "threshold":
        thresholds = monitoring_policy.set_drift_threshold(wb, args.project, args.feature, args.statistic, args.value)
        print_json(thresholds)  # the thresholds as JSON is also the sentence: one shape either way
    else:
        monitoring_policy.set_retraining_schedule(wb, args.project, None if args.off else args.every_days)
        if args.json:  # the service returns nothing: print the policy it left, as the settings dialog reads it
            print_json(monitoring_policy.policy_settings(wb, args.project))
            return 0
        print("retraining schedule off" if args.off else f"retrain every {args.every_days} day(s)")
    return 0


def _cmd_retrain(args: argparse.Namespace) -> int:
    from app.services import retraining

    wb = open_workspace()
    if args.scheduled:
        outcome = retraining.run_due_schedule(wb, job_runner(wb), args.project, on_progress=progress_printer())
        if outcome is None:
            print(json.dumps(None) if args.json else "the retraining schedule is not due yet")
            return 0
    else:
        if args.trigger is None and not args.reason.strip():
            raise WorkbenchError("say why with --reason, or answer an existing trigger with --trigger ID")
        outcome = retraining.retrain(wb, job_runner(wb), args.project, args.trigger, reason=args.reason,
                                     on_progress=None if args.json else progress_printer())
    if args.json:
        print(json.dumps(outcome.as_json(), sort_keys=True))
        return 0
    numbers = outcome.numbers
    print(f"trigger {outcome.trigger_id} answered by run {numbers.get('run')} "
          f"(trained on dataset {numbers.get('dataset')})")
    for role, run, c in (("baseline", numbers.get("baseline_run"), outcome.baseline_comparison),
                         ("champion", numbers.get("champion_run"), outcome.champion_comparison)):
        if c is not None:
            name = f"champion v{outcome.champion_version}" if role == "champion" else "baseline"
            print(f"  vs {name} (re-scored as run {run}): Δ{c.metric} {c.difference:+.4f} "
                  f"[{c.ci[0]:+.4f}, {c.ci[1]:+.4f}], p={c.p_value:.3g}"
                  f"{'' if c.significant else ', not significant'}")
    for note in outcome.notes:
        print(f"  note: {note}")
    if outcome.version is not None:
        carried = f"; card started from v{outcome.card_carried_from}" if outcome.card_carried_from else ""
        print(f"registered as version {outcome.version}{carried}. Still a person's: "
              f"`mlwb card {args.project} {outcome.version} --confirm`, a second person's "
              f"`mlwb approve {args.project} {outcome.version}`, then `mlwb promote {args.project} {outcome.version}`"
              f" (check with `mlwb release-gate {args.project} {outcome.version}`)")
    return 0


def _cmd_metrics(args: argparse.Namespace) -> int:
    from app.services import monitoring_check

    print(monitoring_check.prometheus_metrics(open_workspace(), args.project), end="")
    return 0


def _cmd_drift(args: argparse.Namespace) -> int:
    from app.services import monitoring_check

    result = monitoring_check.drift_file(open_workspace(), args.project, args.file, reference=args.reference)
    if args.json:
        print(json.dumps(result, sort_keys=True))
        return 0
    for name, stats in result["features"].items():
        parts = "  ".join(f"{k} {v:.4g}" for k, v in stats.items() if k != "drifted" and v is not None)
        print(f"{name:<24} {parts}  {'DRIFT' if stats['drifted'] else 'ok'}")
    for alert in result["alerts"]:
        print(f"alert ({alert['severity']}): {alert['message']}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "monitor": _cmd_monitor, "retrain": _cmd_retrain, "metrics": _cmd_metrics, "drift": _cmd_drift,
}
