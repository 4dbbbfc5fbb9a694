"""The workspace's own actions in the TUI (issue 13, point 1), driven with Pilot on real
workspaces: a project's maturity profile (project screen, m) and its risk tier and owner (i);
people and signing keys (dashboard P: i creates my key, a registers someone's); rotating the
audit key (audit screen, K). Each is checked through the services, not on the screen alone, and
each refusal is checked to change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea

from app.services import audit_trail, people, projects
from app.services.workbench import Workbench
from app.signing import new_signing_key
from app.tui import WorkbenchApp
from screens.audit import AuditScreen
from screens.modals.confirm import ConfirmDialog
from screens.modals.people_dialogs import AddPersonForm, InitKeyForm
from screens.modals.project_settings import InventoryForm, MaturityForm
from screens.people import PeopleScreen
from screens.project import ProjectScreen
from storage.workspace import Workspace
from tests.conftest import ME, register_person
from tests.tui.test_tui_release_monitoring import messages
from tests.tui.test_tui_workbench import SIZE, settle

SLUG = "churn"


@pytest.fixture
def project(wb: Workbench) -> Workbench:
    projects.create_project(wb, SLUG, problem_type="binary_classification", maturity="startup")
    return wb


async def open_project(app: WorkbenchApp, pilot) -> ProjectScreen:  # type: ignore[no-untyped-def]
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, ProjectScreen)
    return app.screen


def newest_event(wb: Workbench) -> audit_trail.EventView:
    return audit_trail.recent_events(wb, limit=1)[0]


async def test_the_maturity_profile_changes_with_a_reason(project: Workbench) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_project(app, pilot)
        await pilot.press("m")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, MaturityForm)
        form.query_one("#maturity-profile", Select).value = "enterprise"
        # No reason: the service refuses; the form stays open with the choice kept and says why.
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "say why" in form.errors()["maturity-reason-error"]
        assert form.query_one("#maturity-profile", Select).value == "enterprise"
        assert projects.project_summary(app.wb, SLUG).maturity == "startup"
        await pilot.press(*"banks")  # the reason field has the cursor now
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        assert projects.project_summary(app.wb, SLUG).maturity == "enterprise"
        event = newest_event(app.wb)
        assert (event.action, event.actor, event.project) == ("project.maturity_changed", ME, SLUG)
        assert dict(event.payload)["reason"] == "banks"
        assert "enterprise profile" in str(screen.query_one("#project-title").content)


async def test_the_risk_tier_and_owner_are_set_and_an_owner_is_never_emptied(project: Workbench) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_project(app, pilot)
        await pilot.press("i")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, InventoryForm)
        await pilot.press("ctrl+s")  # nothing changed yet: said in the form, nothing recorded
        await pilot.pause()
        assert app.screen is form and "Nothing to change" in form.errors()["inventory-tier-error"]
        form.query_one("#inventory-tier", Select).value = "high"
        form.query_one("#inventory-owner", Input).value = "Maria Owner"
        form.query_one("#inventory-reason", TextArea).text = "credit decisions:\nhigh impact"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        summary = projects.project_summary(app.wb, SLUG)
        assert (summary.risk_tier, summary.owner) == ("high", "Maria Owner")
        event = newest_event(app.wb)
        assert event.action == "project.inventory_changed"
        assert dict(event.payload)["reason"] == "credit decisions:\nhigh impact"
        # Emptying the owner is refused beside the owner field; nothing changes.
        await pilot.press("i")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, InventoryForm)
        assert form.query_one("#inventory-owner", Input).value == "Maria Owner"
        form.query_one("#inventory-owner", Input).value = "  "
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "owner needs a name" in form.errors()["inventory-owner-error"]
        assert projects.project_summary(app.wb, SLUG).owner == "Maria Owner"


async def test_the_maturity_form_is_found_by_name_in_the_palette(project: Workbench) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_project(app, pilot)
        await pilot.press("ctrl+p")
        await settle(app, pilot)
        await pilot.press(*"maturity profile")
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, MaturityForm)


async def test_my_key_is_created_on_the_people_screen_and_never_replaced(mlwb_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("P")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PeopleScreen)
        assert "no signing key" in str(screen.query_one("#people-me").content)
        await pilot.press("i")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, InitKeyForm)
        form.query_one("#init-name", Input).value = "zoe"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        key = app.wb.signing_key()
        assert key is not None and key.store == str(mlwb_home / "signing.key")
        (zoe,) = people.list_people(app.wb)
        assert (zoe.name, zoe.role, zoe.fingerprint) == ("zoe", "admin", key.fingerprint)
        said = messages(app)[-1]
        assert key.store in said and key.fingerprint in said and "the first person, so the admin" in said
        assert (mlwb_home / "signing.pub").read_text().strip() == key.public_line
        assert screen.query_one("#people").row_count == 1
        # Again: refused at once, saying which key I have; nothing is created or replaced.
        await pilot.press("i")
        await settle(app, pilot)
        assert app.screen is screen
        assert "already have a signing key" in messages(app, "warning")[-1]
        assert app.wb.signing_key().fingerprint == key.fingerprint and len(people.list_people(app.wb)) == 1


async def test_an_admin_registers_keys_pasted_or_from_a_file(wb: Workbench, tmp_path: Path) -> None:
    pasted, filed = new_signing_key(), new_signing_key()
    key_file = tmp_path / "val.pub"
    key_file.write_text(filed.public_line + "\n")
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("P")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, PeopleScreen)
        for name, role, key_text in (("val", "validator", str(key_file)), ("apu", "approver", pasted.public_line)):
            await pilot.press("a")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, AddPersonForm)
            form.query_one("#person-name", Input).value = name
            form.query_one("#person-role", Select).value = role
            form.query_one("#person-key", Input).value = key_text
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert app.screen is screen, messages(app, "error")
        known = {p.name: p for p in people.list_people(app.wb)}
        assert (known["val"].role, known["val"].fingerprint, known["val"].added_by) == \
            ("validator", filed.fingerprint, ME)
        assert (known["apu"].role, known["apu"].fingerprint) == ("approver", pasted.fingerprint)
        assert newest_event(app.wb).action == "person.added"
        assert screen.query_one("#people").row_count == 3
        # The same key under another name: refused beside the key, with what was typed kept.
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddPersonForm)
        form.query_one("#person-name", Input).value = "val2"
        form.query_one("#person-key", Input).value = str(key_file)
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "already registered to 'val'" in form.errors()["person-key-error"]
        assert form.query_one("#person-name", Input).value == "val2"
        # A path that does not exist is refused the same way.
        form.query_one("#person-key", Input).value = str(tmp_path / "missing.pub")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "cannot read the public key file" in form.errors()["person-key-error"]
        assert len(people.list_people(app.wb)) == 3


async def test_the_audit_key_is_rotated_after_a_confirmation(wb: Workbench, mlwb_home: Path) -> None:
    old_id = wb.key.key_id
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, AuditScreen)
        await pilot.press("K")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, ConfirmDialog)
        assert old_id in dialog.detail and "retired" in dialog.detail and "Back up" in dialog.detail
        await pilot.press("n")  # no: nothing happens
        await settle(app, pilot)
        assert app.screen is screen and app.wb.key.key_id == old_id
        await pilot.press("K")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert app.screen is screen, messages(app, "error")
        new_id = app.wb.key.key_id
        assert new_id != old_id
        event = newest_event(app.wb)
        assert event.action == "audit.key_rotated"
        assert (dict(event.payload)["old_key_id"], dict(event.payload)["new_key_id"]) == (old_id, new_id)
        assert new_id in screen.rotation_text and old_id in screen.rotation_text
        assert "Back up" in screen.rotation_text
        assert audit_trail.verify(app.wb).ok
    # Opened afresh from disk: the new key is current and the retired one still verifies the old events.
    reopened = Workbench.open(Workspace(mlwb_home))
    try:
        assert reopened.key.key_id == new_id and audit_trail.verify(reopened).ok
    finally:
        reopened.close()


async def test_a_validator_can_neither_register_people_nor_rotate_the_key(
        wb: Workbench, mlwb_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_person(wb, "val", key_dir=mlwb_home)
    monkeypatch.setenv("MLWB_SIGNING_KEY", str(mlwb_home / "val.key"))
    old_id, someone = wb.key.key_id, new_signing_key()
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("P")
        await settle(app, pilot)
        await pilot.press("a")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, AddPersonForm)
        form.query_one("#person-name", Input).value = "eve"
        form.query_one("#person-key", Input).value = someone.public_line
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is form and "only an admin can add people" in form.errors()["form-error"]
        assert {p.name for p in people.list_people(app.wb)} == {ME, "val"}
        await pilot.press("escape", "escape")
        await settle(app, pilot)
        await pilot.press("a")
        await settle(app, pilot)
        assert isinstance(app.screen, AuditScreen)
        await pilot.press("K")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert "only an admin can rotate the audit key" in messages(app, "error")[-1]
        assert app.wb.key.key_id == old_id and audit_trail.verify(app.wb).ok
