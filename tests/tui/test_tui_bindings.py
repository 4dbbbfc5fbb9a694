"""Every key binding has an id a keymap can name, and a description the footer and F1 show."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from textual.binding import Binding
from textual.dom import DOMNode

import screens
from app.tui import WorkbenchApp
from screens.audit import AuditScreen
from screens.dashboard import DashboardScreen
from tests.tui.test_tui_workbench import SIZE, settle


def _classes_with_bindings() -> list[type[DOMNode]]:
    found: list[type[DOMNode]] = [WorkbenchApp]
    for module in pkgutil.walk_packages(screens.__path__, "screens."):
        for value in vars(importlib.import_module(module.name)).values():
            if (isinstance(value, type) and issubclass(value, DOMNode) and value.__module__ == module.name
                    and "BINDINGS" in vars(value)):
                found.append(value)
    return found


def test_every_binding_has_a_unique_id_and_a_description() -> None:
    owners: dict[str, str] = {}
    classes = _classes_with_bindings()
    assert len(classes) > 15
    for cls in classes:
        for binding in cls.BINDINGS:
            assert isinstance(binding, Binding), f"{cls.__name__}: {binding!r} is not a Binding"
            assert binding.id, f"{cls.__name__}: {binding.key} → {binding.action} has no id"
            assert binding.description, f"{cls.__name__}: {binding.id} has no description"
            assert binding.id not in owners, f"{binding.id} is used by {owners[binding.id]} and {cls.__name__}"
            owners[binding.id] = cls.__name__


async def test_a_keymap_rebinds_a_key_by_its_id(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.set_keymap({"dashboard.audit": "A"})
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, DashboardScreen)
        await pilot.press("A")
        await settle(app, pilot)
        assert isinstance(app.screen, AuditScreen)
