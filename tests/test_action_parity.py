"""Every person action has both faces (issue 13, point 1).

Walks ``app.services.actions.PERSON_ACTIONS`` against the real ``mlwb`` argparse parser (the verb
exists, takes ``--json`` and the flags that select the action) and the real ``Binding``
declarations of every screen and modal (the key exists, has a description, and the
command palette offers it). Then the other way round: every public service function that writes
is a person action or is named, with its reason, in ``NOT_PERSON_ACTIONS``.

A face another branch of issue 13 is building is listed in ``KNOWN_GAPS`` with its owner; its
test is an expected failure until the face lands, and fails loudly once it has (so the entry is
removed, not forgotten).
"""

from __future__ import annotations

import argparse
import re
import ast
import json
from pathlib import Path

import pytest
from textual.binding import Binding

from app.cli import _parser
from app.services.actions import NOT_PERSON_ACTIONS, PERSON_ACTIONS, PersonAction
from screens.commands import binding_commands
from tests.tui.test_tui_bindings import _classes_with_bindings

SERVICES = Path(__file__).resolve().parent.parent / "app" / "services"

# (action name, face) -> why the face is missing. A gap that gets filled fails the test until its
# entry is removed, so this list only shrinks.
KNOWN_GAPS: dict[tuple[str, str], str] = {}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def verb_parser(words: tuple[str, ...]) -> argparse.ArgumentParser | None:
    """The parser of ``mlwb WORDS…``, following sub-commands; ``findings add|set`` parse their own
    words (the listing takes the project first), so their parsers come from ``SUBVERBS``."""
    from app.cli import findings

    nested = {("findings",): findings.SUBVERBS}
    parser: argparse.ArgumentParser | None = _parser()
    for i, word in enumerate(words):
        assert parser is not None
        choices = _subparsers(parser)
        if word in choices:
            parser = choices[word]
        elif word in nested.get(words[:i], {}):
            parser = nested[words[:i]][word]()
        else:
            return None
    return parser


def cli_problem(action: PersonAction) -> str | None:
    parser = verb_parser(action.cli)
    if parser is None:
        return f"no verb `{' '.join(('mlwb',) + action.cli)}`"
    options = parser._option_string_actions
    missing = [flag for flag in ("--json", *action.cli_flags) if flag not in options]
    return f"`{action.verb}` takes no {', '.join(missing)}" if missing else None


def bindings_by_id() -> dict[str, tuple[type, Binding]]:
    return {b.id: (cls, b) for cls in _classes_with_bindings() for b in cls.BINDINGS if b.id}


def tui_problem(action: PersonAction, known: dict[str, tuple[type, Binding]]) -> str | None:
    if action.tui not in known:
        return f"no binding with id {action.tui}"
    cls, binding = known[action.tui]
    if not binding.description:
        return f"{cls.__name__}: {action.tui} needs a description (the footer, F1 and the palette show it)"
    if action.tui not in {binding_id for binding_id, _text, _help in binding_commands(cls.BINDINGS)}:
        return f"the command palette does not offer {action.tui}"
    return None


def _check(action: PersonAction, face: str, problem: str | None) -> None:
    gap = KNOWN_GAPS.get((action.name, face))
    if gap is None:
        assert problem is None, f"{action.name}: {problem}"
    elif problem is None:
        pytest.fail(f"{action.name}: the {face} face exists now; remove it from KNOWN_GAPS ({gap})")
    else:
        pytest.xfail(f"{gap}: {problem}")


@pytest.mark.parametrize("action", PERSON_ACTIONS, ids=lambda a: a.name)
def test_each_person_action_has_a_verb_with_json(action: PersonAction) -> None:
    _check(action, "cli", cli_problem(action))


@pytest.mark.parametrize("action", PERSON_ACTIONS, ids=lambda a: a.name)
def test_each_person_action_has_a_described_key_the_palette_offers(action: PersonAction) -> None:
    _check(action, "tui", tui_problem(action, bindings_by_id()))


def test_each_action_names_a_real_service_function_once() -> None:
    names = [a.name for a in PERSON_ACTIONS]
    assert len(names) == len(set(names)), "two actions share a name"
    for action in PERSON_ACTIONS:
        assert callable(action.resolve()), action.service
        assert 0 <= action.stage <= 6


def test_known_gaps_name_real_actions() -> None:
    names = {a.name for a in PERSON_ACTIONS}
    assert {name for name, _face in KNOWN_GAPS} <= names
    assert {face for _name, face in KNOWN_GAPS} <= {"cli", "tui"}


def writing_service_functions() -> set[str]:
    """``module:function`` of every public module-level function under app/services that opens a
    unit of work, itself or through a private helper of its own module."""
    found: set[str] = set()
    for path in sorted(SERVICES.glob("*.py")):
        if path.stem in ("workbench", "actions", "__init__"):
            continue
        tree = ast.parse(path.read_text())
        functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        calls = {name: {c.func.id for c in ast.walk(node) if isinstance(c, ast.Call) and isinstance(c.func, ast.Name)}
                 for name, node in functions.items()}
        writes = {name for name, node in functions.items()
                  if any(isinstance(a, ast.Attribute) and a.attr == "unit_of_work" for a in ast.walk(node))}
        changed = True
        while changed:  # close over calls to this module's own functions
            grown = {name for name in functions if calls[name] & writes} | writes
            changed, writes = grown != writes, grown
        found |= {f"{path.stem}:{name}" for name in writes if not name.startswith("_")}
    return found


def test_every_writing_service_is_a_person_action_or_says_why_not() -> None:
    writers = writing_service_functions()
    assert "registry:register_model" in writers and "release_analysis:analyse_shadow" in writers  # the walk works
    listed = {a.service for a in PERSON_ACTIONS} | set(NOT_PERSON_ACTIONS)
    unlisted = sorted(writers - listed)
    assert not unlisted, (f"service functions that write but are neither in PERSON_ACTIONS nor in "
                          f"NOT_PERSON_ACTIONS: {unlisted}")
    stale = sorted(set(NOT_PERSON_ACTIONS) - writers)
    assert not stale, f"NOT_PERSON_ACTIONS names functions that no longer write: {stale}"


def _json_of(capsys: pytest.CaptureFixture[str], *argv: str) -> object:
    from app.cli import main

    assert main(list(argv)) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"`mlwb {' '.join(argv)}` printed more than one line: {out!r}"
    return json.loads(out)


def test_json_faces_print_the_result_record(demo_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A few verbs' --json on the demo: one JSON document each, with what the service recorded."""
    versions = _json_of(capsys, "models", "ctr-demo", "--json")
    assert isinstance(versions, list) and {v["stage"] for v in versions} >= {"production", "none"}
    registered = {v["run_id"] for v in versions}
    runs = _json_of(capsys, "runs", "ctr-demo", "--json")
    free = next(r["id"] for r in runs if r["id"] not in registered and r["parent_run_id"] is None)
    new = _json_of(capsys, "models", "ctr-demo", "--register", str(free), "--json")
    assert new["run_id"] == free and new["version"] == max(v["version"] for v in versions) + 1

    card = _json_of(capsys, "card", "ctr-demo", str(new["version"]), "--set", "intended_use=ranking ads", "--json")
    intended = next(s for s in card["sections"] if s["key"] == "intended_use")
    assert (intended["origin"], intended["text"], card["complete"]) == ("person", "ranking ads", False)

    waiver = _json_of(capsys, "waive", "ctr-demo", str(new["version"]), "canary_passed", "--reason", "low traffic",
                      "--json")
    assert (waiver["check_id"], waiver["version"], waiver["reason"]) == ("canary_passed", new["version"], "low traffic")

    shadowed = next(v["version"] for v in versions if v["stage"] == "none")
    analysis = _json_of(capsys, "release", "shadow", "ctr-demo", "--version", str(shadowed), "--json")
    assert analysis["kind"] == "shadow" and analysis["verdict"] in ("passed", "failed", "inconclusive")
    assert analysis["results"]["n"] > 0
    gate = _json_of(capsys, "release-gate", "ctr-demo", str(new["version"]), "--json")
    assert "canary_passed" not in gate["blocked"] and not gate["passed"]


README = Path(__file__).resolve().parent.parent / "README.md"


def _verbs(parser: argparse.ArgumentParser, words: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf verb of the real parser, as the words typed after ``mlwb``."""
    inner = _subparsers(parser)
    if not inner:
        return [words]
    return [leaf for word, sub in inner.items() for leaf in _verbs(sub, (*words, word))]


def test_the_readme_shows_every_verb() -> None:
    """Issue 13's "the README lists every verb and key": each verb appears as a person types it."""
    text = README.read_text()
    missing = [" ".join(words) for words in _verbs(_parser())
               if not re.search(r"mlwb " + r"\s+".join(map(re.escape, words)) + r"\b", text)]
    assert not missing, f"README.md shows no example of: {', '.join(missing)}"


def test_the_readme_keys_table_has_every_action_key() -> None:
    """Each person action's key is in the README's row for the screen that binds it."""
    rows = {m[1]: m[2] for m in re.finditer(r"^\| ([a-z ]+) \| (.*)\|$", README.read_text(), re.M)}
    known = bindings_by_id()
    missing = []
    for action in PERSON_ACTIONS:
        screen, key = action.tui.split(".", 1)[0], known[action.tui][1].key
        if f"`{key}`" not in rows.get(screen, ""):
            missing.append(f"{action.name}: `{key}` on the {screen} row")
    assert not missing, "README.md keys table lacks: " + "; ".join(missing)
