"""The offline review round trip, ``mlwb review …``.

On the validator's machine, with no workspace: ``review open BUNDLE`` (the read-only TUI) and
``review sign BUNDLE`` (the same signed ``review.json`` for scripts and CI). On the ML team's
workspace: ``review import review.json``. Errors surface through ``app.cli.main``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.cli.arguments import add_json_option, add_key_option, print_json
from app.review_file import CONCLUSIONS


def add_parsers(sub: Any) -> None:
    review = sub.add_parser(
        "review", help="review an exported evidence bundle offline, and import the signed review",
        description="The offline review round trip: `review open` and `review sign` run on the validator's machine "
                    "with no workspace; `review import` records the signed review.json in the team's workspace.")
    verbs = review.add_subparsers(dest="review_verb", metavar="STEP", required=True)

    opened = verbs.add_parser(
        "open", help="open a bundle read-only in the TUI: verify, read, record findings, sign review.json",
        description="Open an evidence bundle (folder or .zip from `mlwb export`) read-only: the verify-bundle "
                    "result, the report's chapters, the evidence tables, the audit trail and the figures. Record "
                    "findings and a conclusion, then sign them with your key into review.json. No workspace is "
                    "opened or created.")
    opened.add_argument("bundle", type=Path, metavar="BUNDLE", help="the bundle folder or .zip")
    add_key_option(opened)

    sign = verbs.add_parser(
        "sign", help="sign a review of a bundle without the TUI (for scripts and CI)",
        description="Verify BUNDLE, then write review.json with the conclusion, the summary and the findings, "
                    "signed with your key and bound to the bundle's manifest. No workspace is opened.")
    sign.add_argument("bundle", type=Path, metavar="BUNDLE", help="the bundle folder or .zip")
    sign.add_argument("--conclusion", required=True, choices=tuple(CONCLUSIONS))
    sign.add_argument("--summary", required=True, help="what you checked and why you conclude so")
    sign.add_argument("--finding-file", type=Path, metavar="FILE",
                      help="findings as JSON (a list, or {\"findings\": [...]}) or TOML ([[findings]]), each with "
                           "title, severity (low|medium|high), concerns, remediation, due_date (YYYY-MM-DD)")
    sign.add_argument("--reviewer", help="your name as written in the review (default: your login name)")
    sign.add_argument("--out", type=Path, metavar="FILE",
                      help="where to write the review (default: review.json beside the bundle); never overwritten")
    add_key_option(sign)
    add_json_option(sign, "the review written (path, bundle, conclusion, findings, signing key)")

    imported = verbs.add_parser(
        "import", help="check a signed review.json and record its findings and decision in this workspace",
        description="Verify the review's signature against the registered validator, check that the bundle it "
                    "reviewed matches the version's evidence as it stands now, then record the review, its "
                    "findings and the signed decision (audited). Importing the same review twice adds nothing.")
    imported.add_argument("review", type=Path, metavar="REVIEW_JSON")
    add_json_option(imported, "the review recorded (or already recorded)")


def _cmd_review(args: argparse.Namespace) -> int:
    return STEPS[args.review_verb](args)


def _open(args: argparse.Namespace) -> int:
    from app.bundle_verify import verify_bundle
    from app.tui import run_review

    verify_bundle(args.bundle)  # not a bundle at all: say so here, before a screen opens
    return run_review(args.bundle, key_file=args.key)


def _sign(args: argparse.Namespace) -> int:
    import getpass

    from app.bundle_reader import open_bundle
    from app.review_file import default_review_path, load_findings, reviewer_key, sign_review, write_review
    from app.signing import short_fingerprint

    bundle = open_bundle(args.bundle)
    print(bundle.verdict.summary(), file=sys.stderr if args.json else sys.stdout)
    findings = load_findings(args.finding_file) if args.finding_file else []
    key = reviewer_key(args.key)
    document = sign_review(bundle, key, reviewer=args.reviewer or getpass.getuser(), conclusion=args.conclusion,
                           summary=args.summary, findings=findings)
    path = write_review(document, args.out or default_review_path(bundle.path))
    if args.json:
        print_json({"path": path, "project": bundle.project, "version": bundle.version,
                    "conclusion": args.conclusion, "findings": len(findings), "signer_fingerprint": key.fingerprint,
                    "manifest_sha256": bundle.manifest_digest})
        return 0
    print(f"wrote {path}: review of {bundle.project} v{bundle.version}, {CONCLUSIONS[args.conclusion].lower()}, "
          f"{len(findings)} finding(s); signed with key {short_fingerprint(key.fingerprint)}; bound to manifest "
          f"SHA-256 {bundle.manifest_digest}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from app.cli.workspace import open_workspace
    from app.services.review_import import import_review
    from app.signing import short_fingerprint

    r = import_review(open_workspace(), args.review)
    if args.json:
        print_json(r)
        return 0
    if r.already_imported:
        print(f"{args.review} was already imported as review #{r.review_id} of {r.project} v{r.version}: "
              "nothing was added")
        return 0
    named = f" (review.json calls the reviewer '{r.named_reviewer}')" if r.named_reviewer != r.reviewer else ""
    listed = f" (#{', #'.join(map(str, r.findings))})" if r.findings else ""
    findings = f"{len(r.findings)} finding(s) raised{listed}"
    print(f"imported review #{r.review_id} of {r.project} v{r.version} by {r.reviewer}{named}, key "
          f"{short_fingerprint(r.signer_fingerprint)}: {CONCLUSIONS[r.conclusion].lower()}; {findings}; "
          f"signed decision recorded: {r.decision}")
    return 0


STEPS: dict[str, Callable[[argparse.Namespace], int]] = {"open": _open, "sign": _sign, "import": _import}
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"review": _cmd_review}
