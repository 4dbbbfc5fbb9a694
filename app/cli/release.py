"""Stage 5 verbs of ``mlwb``: the registry, reviews, the promotion gate, aliases, rollback,
release analyses and the scoring service. Errors surface through ``app.cli.main``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_key_option, add_project_verb, print_json
from app.cli.workspace import job_runner, open_workspace, progress_printer, signer
from app.errors import WorkbenchError


def add_parsers(sub: Any) -> None:
    models = add_project_verb(sub, "models", help="list model versions, or register a run's model")
    models.add_argument("--register", metavar="RUN", help="register this run's model as a new version (the run's "
                        "number in the project, as `mlwb runs PROJECT` lists it)")
    add_json_option(models, "the versions (or the version registered)")

    # `mlwb review …` is the offline review round trip (app.cli.review); asking for one is its own verb
    review = add_project_verb(sub, "request-review", help="ask for an independent review of a model version")
    review.add_argument("version", type=int)
    review.add_argument("--reviewer", help="who should review it (never its author)")
    review.add_argument("--comment", default="")
    add_json_option(review, "the review request")

    approve = add_project_verb(sub, "approve",
                               help="approve (or --reject, with a comment) a model version, signed with your key")
    approve.add_argument("version", type=int)
    approve.add_argument("--reject", action="store_true")
    approve.add_argument("--comment", default="")
    add_key_option(approve)
    add_json_option(approve, "the signed decision")

    gate = add_project_verb(sub, "release-gate", help="the promotion checklist of a version for the project's maturity")
    gate.add_argument("version", type=int)
    add_json_option(gate, "the checklist")

    promote = add_project_verb(sub, "promote", help="move a model version to staging or production (gate-checked)")
    promote.add_argument("version", type=int)
    promote.add_argument("--stage", default="production", choices=("staging", "production", "archived"))
    promote.add_argument("--reason", default="")
    add_key_option(promote)
    add_json_option(promote, "the gate the promotion passed")

    waive = add_project_verb(sub, "waive", help="record a waiver for a release check, with its reason")
    waive.add_argument("version", type=int)
    waive.add_argument("check", help="the check id, as `mlwb release-gate` lists it")
    waive.add_argument("--reason", required=True)
    add_key_option(waive)
    add_json_option(waive, "the waiver")

    alias = add_project_verb(sub, "alias", help="make a version the challenger (or --clear the challenger)")
    alias.add_argument("version", type=int, nargs="?")
    alias.add_argument("--clear", action="store_true", help="no version is the challenger any more")
    alias.add_argument("--reason", default="")
    add_json_option(alias, "the alias change")

    rollback = add_project_verb(sub, "rollback", help="restore an earlier production version")
    rollback.add_argument("--to", type=int, metavar="VERSION", help="default: the previous production version")
    rollback.add_argument("--reason", required=True)
    add_key_option(rollback)
    add_json_option(rollback, "the version restored")

    history = add_project_verb(sub, "history", help="every stage and alias transition of a project's versions")
    add_json_option(history, "the transitions")

    release = sub.add_parser("release", help="shadow, canary and A/B analyses from the prediction log")
    rsub = release.add_subparsers(dest="release_verb", metavar="shadow|canary|ab|list", required=True)
    shadow = add_project_verb(rsub, "shadow", help="how the challenger would have answered production's requests")
    shadow.add_argument("--version", type=int, help="default: the challenger")
    shadow.add_argument("--min-agreement", type=float, default=0.9)
    shadow.add_argument("--max-latency-p99", type=float, default=50.0, metavar="MS")
    canary = add_project_verb(rsub, "canary", help="guardrails on the canary's traffic; a breach rolls it back")
    canary.add_argument("--version", type=int, help="default: the challenger")
    canary.add_argument("--max-error-rate", type=float, default=0.01)
    canary.add_argument("--max-latency-p99", type=float, default=50.0, metavar="MS")
    canary.add_argument("--max-metric-drop", type=float, default=0.02)
    ab = add_project_verb(rsub, "ab", help="A/B test of production against the canary on the labelled outcome")
    ab.add_argument("--version", type=int, help="default: the challenger")
    ab.add_argument("--alpha", type=float, default=0.05)
    ab.add_argument("--mde", type=float, help="minimum detectable effect, for the sample size needed")
    ab.add_argument("--power", type=float, default=0.8)
    listing = add_project_verb(rsub, "list", help="release analyses recorded so far")
    for verb in (shadow, canary, ab, listing):
        add_json_option(verb, "the analysis recorded (for list: every analysis)")

    serve = add_project_verb(sub, "serve", help="HTTP JSON scoring service for the production model (Ctrl-C stops)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--no-shadow", action="store_true", help="do not score the challenger in shadow")
    serve.add_argument("--canary-share", type=float, default=0.0, metavar="SHARE",
                       help="share of requests (0–1) the challenger answers")

    score = add_project_verb(sub, "score", help="batch-score a CSV/Parquet file with the production model")
    score.add_argument("file", type=Path)
    score.add_argument("--out", type=Path, required=True)


def _cmd_models(args: argparse.Namespace) -> int:
    from app.services import numbering, registry

    wb = open_workspace()
    if args.register is not None:
        v = registry.register_model(wb, args.project, numbering.run_id(wb, args.register, project=args.project),
                                    runner=job_runner(wb), on_progress=progress_printer())
        if args.json:
            print_json(v)
            return 0
        print(f"model version {v.version} from {numbering.run_label(v.run_number)} ({v.model_kind}) "
              f"sha256 {v.artifact_sha256}")
        return 0
    if args.json:
        print(json.dumps([asdict(v) for v in registry.list_models(wb, args.project)], default=str, sort_keys=True))
        return 0
    for v in registry.list_models(wb, args.project):
        approvals = ", ".join(f"{a.decision} by {a.approver}" for a in v.approvals) or "no approval"
        print(f"v{v.version}\t{v.stage}\t{v.alias or '-'}\t{numbering.run_label(v.run_number)} {v.model_kind}\t{approvals}\t"
              f"{'card' if v.has_card else 'no card'}")
    return 0


def _cmd_review(args: argparse.Namespace) -> int:
    from app.services import registry

    r = registry.request_review(open_workspace(), args.project, args.version, reviewer=args.reviewer,
                                comment=args.comment)
    if args.json:
        print_json(r)
        return 0
    print(f"review request {r.id} for version {r.version}" + (f" sent to {r.reviewer}" if r.reviewer else ""))
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from app.services import registry

    a = registry.record_approval(open_workspace(), args.project, args.version,
                                 decision="rejected" if args.reject else "approved", comment=args.comment,
                                 signer=signer(args.key))
    if args.json:
        print_json(a)
        return 0
    print(f"model version {a.version} {a.decision} by {a.approver}, {_signed(a.signer_fingerprint)}")
    return 0


def _signed(fingerprint: str | None) -> str:
    from app.signing import short_fingerprint

    return f"signed by key {short_fingerprint(fingerprint)}" if fingerprint else "UNSIGNED (no signing key: `mlwb people init`)"


def _print_gate(gate: Any) -> None:
    print(f"version {gate.version}, {gate.maturity} profile: {'ready for production' if gate.passed else 'BLOCKED'}")
    for c in gate.checks:
        mark = "ok  " if c.passed else ("WAIV" if c.waiver else ("MISS" if c.required else "warn"))
        extra = f" (waived: {c.waiver})" if c.waiver else ""
        print(f"  [{mark}] {c.id}: {c.label} — {c.detail}{extra}")


def _gate_json(gate: Any) -> dict[str, Any]:
    return asdict(gate) | {"passed": gate.passed, "blocked": [c.id for c in gate.blocked],
                           "warnings": [c.id for c in gate.warnings]}


def _cmd_release_gate(args: argparse.Namespace) -> int:
    from app.services import promotion

    gate = promotion.promotion_gate(open_workspace(), args.project, args.version)
    if args.json:
        print_json(_gate_json(gate))
        return 0
    _print_gate(gate)
    return 0


def _cmd_promote(args: argparse.Namespace) -> int:
    from app.services import promotion

    gate = promotion.promote(open_workspace(), args.project, args.version, stage=args.stage, reason=args.reason,
                             signer=signer(args.key))
    if args.json:
        print_json(_gate_json(gate) | {"stage": args.stage})
        return 0
    for c in gate.checks:
        if not c.passed:
            print(f"warning: {c.label} not met" + (f" — waived: {c.waiver}" if c.waiver else " (recommended)"))
    print(f"model version {args.version} is now in {args.stage}")
    return 0


def _cmd_waive(args: argparse.Namespace) -> int:
    from app.services import promotion

    w = promotion.waive(open_workspace(), args.project, args.version, args.check, args.reason,
                        signer=signer(args.key))
    if args.json:
        print_json(w)
        return 0
    print(f"waiver recorded for {w.check_id} on version {w.version} by {w.granted_by}, {_signed(w.signer_fingerprint)}")
    return 0


def _cmd_alias(args: argparse.Namespace) -> int:
    from app.services import promotion

    if args.clear == (args.version is not None):
        raise WorkbenchError("give a VERSION to make it the challenger, or --clear (not both)")
    promotion.set_alias(open_workspace(), args.project, None if args.clear else args.version, "challenger",
                        reason=args.reason)
    if args.json:
        print_json({"project": args.project, "alias": "challenger", "version": None if args.clear else args.version,
                    "reason": args.reason})
        return 0
    print("no challenger" if args.clear else f"version {args.version} is the challenger")
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    from app.services import promotion

    restored = promotion.rollback(open_workspace(), args.project, to_version=args.to, reason=args.reason,
                                  signer=signer(args.key))
    if args.json:
        print_json({"project": args.project, "production": restored, "reason": args.reason})
        return 0
    print(f"rolled back: version {restored} is in production again")
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from app.services import promotion

    rows = promotion.transitions(open_workspace(), args.project)
    if args.json:
        print(json.dumps([asdict(t) for t in rows], default=str, sort_keys=True))
        return 0
    for t in rows:
        key = t.signer_fingerprint[:16] if t.signer_fingerprint else "-"
        print(f"{t.created_at:%Y-%m-%d %H:%M}\tv{t.version}\t{t.from_stage} → {t.to_stage}\t{t.actor}\t{key}\t{t.reason}")
    return 0


def _cmd_release(args: argparse.Namespace) -> int:
    from app.services import release_analysis as ra

    wb = open_workspace()
    if args.release_verb == "list":
        if args.json:
            print(json.dumps([asdict(a) for a in ra.list_release_analyses(wb, args.project)], default=str,
                             sort_keys=True))
            return 0
        for a in ra.list_release_analyses(wb, args.project):
            print(f"{a.id}\t{a.kind}\tv{a.version} vs v{a.baseline_version}\t{a.verdict}\t{a.summary()}")
        return 0
    if args.release_verb == "shadow":
        a = ra.analyse_shadow(wb, args.project, version=args.version, min_agreement=args.min_agreement,
                              max_latency_p99_ms=args.max_latency_p99)
    elif args.release_verb == "canary":
        a = ra.analyse_canary(wb, args.project, version=args.version, max_error_rate=args.max_error_rate,
                              max_latency_p99_ms=args.max_latency_p99, max_metric_drop=args.max_metric_drop)
    else:
        a = ra.analyse_ab_test(wb, args.project, version=args.version, alpha=args.alpha, mde=args.mde,
                               power=args.power)
    if args.json:
        print_json(a)
        return 0
    print(f"{a.kind} of v{a.version} against v{a.baseline_version}: {a.verdict}")
    print(f"  {a.summary()}")
    if a.decision:
        print(f"  decision: {a.decision}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from app.scoring_server import serve

    if not 0.0 <= args.canary_share <= 1.0:
        raise WorkbenchError(f"--canary-share must be between 0 and 1, not {args.canary_share}")
    serve(open_workspace(), args.project, host=args.host, port=args.port, shadow=not args.no_shadow,
          canary_share=args.canary_share, ready=lambda message: print(message, flush=True))
    return 0


def _cmd_score(args: argparse.Namespace) -> int:
    from app.services.serving import score_file

    summary = score_file(open_workspace(), args.project, args.file, args.out)
    print(json.dumps(summary, default=str))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models": _cmd_models, "request-review": _cmd_review, "approve": _cmd_approve, "release-gate": _cmd_release_gate,
    "promote": _cmd_promote, "waive": _cmd_waive, "alias": _cmd_alias, "rollback": _cmd_rollback,
    "history": _cmd_history, "release": _cmd_release, "serve": _cmd_serve, "score": _cmd_score,
}
