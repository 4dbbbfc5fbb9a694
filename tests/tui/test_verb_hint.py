"""Errors shown in the TUI say what to press where the service's message names an ``mlwb`` verb."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.errors import WorkbenchError
from app.services import reporting
from app.services.actions import PERSON_ACTIONS
from app.services.workbench import Workbench
from screens.dashboard import DashboardScreen
from screens.monitoring import MonitoringScreen
from screens.verb_hint import stack_bindings, with_tui_keys

SERVICES = Path(__file__).resolve().parents[2] / "app" / "services"


def test_a_service_error_gets_the_key_of_the_screen_that_binds_it(wb: Workbench) -> None:
    from app.services.projects import create_project

    create_project(wb, "quiet", problem_type="binary_classification")
    with pytest.raises(WorkbenchError) as raised:
        reporting.collect_drift_report(wb, "quiet")
    message = str(raised.value)
    assert "`mlwb monitor import`" in message
    on_monitoring = with_tui_keys(message, stack_bindings([DashboardScreen(), MonitoringScreen("quiet")]))
    assert on_monitoring == message.replace("`mlwb monitor import`", "`mlwb monitor import` (here: press i)")
    elsewhere = with_tui_keys(message, stack_bindings([DashboardScreen()]))
    assert elsewhere.endswith("`mlwb monitor import` (here: import a monitoring batch, on the monitoring screen)")


def test_every_action_verb_a_service_names_gets_a_hint_and_nothing_else_changes() -> None:
    named = {m for path in SERVICES.glob("*.py") for m in re.findall(r"`mlwb ([a-z][^`{]*)`", path.read_text())}
    actions = {" ".join(a.cli) for a in PERSON_ACTIONS}
    hinted = [verb for verb in named if with_tui_keys(f"`mlwb {verb}`", []) != f"`mlwb {verb}`"]
    assert hinted and all(any(verb.startswith(a) for a in actions) for verb in hinted)
    assert with_tui_keys("`mlwb audit verify` says the chain is intact", []) == \
        "`mlwb audit verify` says the chain is intact"
