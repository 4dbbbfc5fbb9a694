"""Service messages name the ``mlwb`` verb that fixes a problem ("import one with `mlwb data
import`"); in the workbench a person needs the key instead. The services keep one message for
both faces, and the TUI adds, after each verb it names, what to press here: the key when a
screen in the stack binds the action, otherwise the action's name and the screen that has it.
The verb and its action come from the one list of actions (``app.services.actions``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from textual.binding import Binding

from app.services.actions import PERSON_ACTIONS, PersonAction

_VERB = re.compile(r"`mlwb ([^`]+)`")


def _action_for(words: list[str]) -> PersonAction | None:
    """The action whose verb is the longest prefix of ``words`` (flags that select it included)."""
    best: PersonAction | None = None
    for action in PERSON_ACTIONS:
        n = len(action.cli)
        if tuple(words[:n]) != action.cli or any(flag not in words for flag in action.cli_flags):
            continue
        if best is None or (n, len(action.cli_flags)) > (len(best.cli), len(best.cli_flags)):
            best = action
    return best


def with_tui_keys(message: str, bindings: Iterable[Binding]) -> str:
    """``message`` with "(here: …)" after each ``mlwb`` verb a person can do in the workbench."""
    keys = {b.id: b.key for b in bindings if b.id}

    def hint(match: re.Match[str]) -> str:
        action = _action_for(match[1].split())
        if action is None:
            return match[0]
        key = keys.get(action.tui)
        if key is not None:
            return f"{match[0]} (here: press {key})"
        screen = action.tui.split(".", 1)[0]
        return f"{match[0]} (here: {action.name.lower()}, on the {screen} screen)"

    return _VERB.sub(hint, message)


def stack_bindings(screens: Iterable[object]) -> list[Binding]:
    """The bindings the screens in the stack declare, the top one first."""
    found: list[Binding] = []
    for screen in reversed(list(screens)):
        found.extend(b for b in getattr(type(screen), "BINDINGS", ()) if isinstance(b, Binding))
    return found
