"""Findings and the model inventory in ``mlwb``: what a validator asked to be fixed, tracked to
closure, and every model with its risk tier, owner, validator and next periodic review.

``mlwb findings PROJECT`` lists, ``mlwb findings add PROJECT …`` records one by hand and
``mlwb findings set PROJECT ID STATUS --reason …`` moves one (signed with your key, or
``--key FILE``). The listing takes the project where the other two take a word, so the verb
reads its first word itself and hands the rest to the parser of ``add`` or ``set``.
Errors surface through ``app.cli.main``.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable
from typing import Any

from app.cli.arguments import add_json_option, add_key_option, print_json
from app.cli.workspace import open_workspace, signer

FINDINGS_USAGE = ("mlwb findings PROJECT [--open] [--version N] [--json]\n"
                  "       mlwb findings add PROJECT --title TEXT --severity low|medium|high [--version N] "
                  "[--concerns TEXT] [--remediation TEXT] [--due YYYY-MM-DD] [--json]\n"
                  "       mlwb findings set PROJECT ID open|remediated|accepted|closed --reason TEXT [--key FILE] "
                  "[--json]")


def _add_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlwb findings add", description="record a finding by hand (audited)")
    p.add_argument("project")
    p.add_argument("--title", required=True, help="what is wrong, in one line")
    p.add_argument("--severity", required=True, metavar="low|medium|high")
    p.add_argument("--version", type=int, help="the model version it is about (default: the project)")
    p.add_argument("--concerns", default="", help="the section or evidence it concerns")
    p.add_argument("--remediation", default="", help="what is asked to fix it")
    p.add_argument("--due", metavar="YYYY-MM-DD", help="when the remediation is due")
    add_json_option(p, "the finding raised")
    return p


def _set_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlwb findings set",
                                description="move a finding to another status, saying why (signed with your key)")
    p.add_argument("project")
    p.add_argument("id", type=int, help="the finding's number, as `mlwb findings PROJECT` lists it")
    p.add_argument("status", metavar="open|remediated|accepted|closed")
    p.add_argument("--reason", required=True, help="what was done, or why the risk is accepted")
    add_key_option(p)
    add_json_option(p, "the finding with its history")
    return p


def _list_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlwb findings", description="a project's findings, oldest first")
    p.add_argument("project")
    p.add_argument("--open", action="store_true", help="only findings not yet accepted or closed")
    p.add_argument("--version", type=int, help="only the findings on this model version")
    p.add_argument("--json", action="store_true", help="every field and the history, as JSON")
    return p


SUBVERBS: dict[str, Callable[[], argparse.ArgumentParser]] = {"add": _add_parser, "set": _set_parser}


def add_parsers(sub: Any) -> None:
    findings = sub.add_parser("findings", usage=FINDINGS_USAGE,
                              help="list a project's findings, add one, or change a finding's status",
                              description="What a validator asked to be fixed, tracked to closure. "
                                          "`mlwb findings add --help` and `mlwb findings set --help` say more.")
    findings.add_argument("words", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)

    inventory = sub.add_parser("inventory", help="every model with its risk tier, owner, validator and next "
                                                 "periodic review (SR 11-7)")
    shape = inventory.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true")
    shape.add_argument("--csv", action="store_true")


def _signed(fingerprint: str | None) -> str:
    from app.signing import short_fingerprint

    return f"signed by key {short_fingerprint(fingerprint)}" if fingerprint else "unsigned"


def _cut(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def _view_json(f: Any) -> dict[str, Any]:
    return {
        "id": f.id, "project": f.project, "version": f.version, "source": f.source, "review": f.review_id,
        "title": f.title, "severity": f.severity, "concerns": f.concerns, "remediation": f.remediation,
        "due_date": f.due_date, "status": f.status, "overdue": f.overdue(), "raised_by": f.raised_by,
        "raised_at": f.created_at.isoformat(timespec="seconds"),
        "history": [{"from": e.from_status, "to": e.to_status, "by": e.actor, "reason": e.reason,
                     "at": e.created_at.isoformat(timespec="seconds"), "signer_fingerprint": e.signer_fingerprint}
                    for e in f.history],
    }


def _cmd_findings(args: argparse.Namespace) -> int:
    from app.services import findings

    words = list(args.words)
    if not words:
        print(f"usage: {FINDINGS_USAGE}\nerror: name the project whose findings to list", file=sys.stderr)
        return 2
    if words[0] in SUBVERBS:
        parsed = SUBVERBS[words[0]]().parse_args(words[1:])
    else:
        parsed = _list_parser().parse_args(words)
    wb = open_workspace()
    if words[0] == "add":
        f = findings.record_finding(wb, parsed.project, title=parsed.title, severity=parsed.severity,
                                    version=parsed.version, concerns=parsed.concerns,
                                    remediation=parsed.remediation, due_date=parsed.due)
        if parsed.json:
            print_json(_view_json(f))
            return 0
        where = f"on version {f.version}" if f.version is not None else "on the project"
        print(f"finding #{f.id} raised {where} ({f.severity}) by {f.raised_by}: {f.title}")
        return 0
    if words[0] == "set":
        f = findings.set_status(wb, parsed.project, parsed.id, parsed.status, parsed.reason,
                                signer=signer(parsed.key))
        if parsed.json:
            print_json(_view_json(f))
            return 0
        last = f.history[-1]
        print(f"finding #{f.id} is now {f.status}, by {last.actor}, {_signed(last.signer_fingerprint)}")
        return 0
    rows = findings.list_findings(wb, parsed.project, open_only=parsed.open, version=parsed.version)
    if parsed.json:
        print(json.dumps([_view_json(f) for f in rows], indent=2))
        return 0
    if not rows:
        print(f"no {'open ' if parsed.open else ''}findings on {parsed.project}"
              + (f" version {parsed.version}" if parsed.version is not None else ""), file=sys.stderr)
    for f in rows:
        version = f"v{f.version}" if f.version is not None else "-"
        due = f"due {f.due_date}" + (" OVERDUE" if f.overdue() else "") if f.due_date else "no due date"
        print(f"#{f.id}\t{version}\t{f.severity.upper()}\t{f.status}\t{due}\t{f.source}\t{f.title}")
    return 0


def _cmd_inventory(args: argparse.Namespace) -> int:
    from app.services.inventory import CSV_COLUMNS, inventory

    entries = inventory(open_workspace())
    if args.json:
        print(json.dumps([e.row() for e in entries], indent=2))
        return 0
    if args.csv:
        out = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        out.writeheader()
        out.writerows(e.row() for e in entries)
        return 0
    if not entries:
        print("no projects yet: run `mlwb demo` or `mlwb projects new SLUG --problem-type TYPE`", file=sys.stderr)
    for e in entries:
        production = f"v{e.production_version}" if e.production_version is not None else "none"
        found = e.open_findings
        print(f"{e.slug}\t{e.risk_tier} risk\towner {e.owner or '(none)'}\tstage {e.stage} {e.stage_title}\t"
              f"production {production}\tvalidated {e.last_validated or 'never'}"
              + (f" by {e.validator}" if e.validator else "")
              + f"\tnext review {e.next_review or '-'}\t{e.review_status()}\t"
              f"open findings {found['high']} high, {found['medium']} medium, {found['low']} low\t"
              f"intended use: {_cut(e.intended_use) or '(not written)'}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {"findings": _cmd_findings, "inventory": _cmd_inventory}
