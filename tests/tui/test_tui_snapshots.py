"""Layout snapshots (few on purpose: behaviour is asserted with Pilot elsewhere).

Update after an intended layout change with `pytest tests/tui --snapshot-update` and review
the SVG diff.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from textual.widgets import DataTable

from app.tui import WorkbenchApp
from screens.audit import AuditScreen

SIZE = (120, 40)


async def _settled(pilot) -> None:  # type: ignore[no-untyped-def]
    """Wait for the workers, then for the tables to lay out their rows.

    A DataTable sizes its columns on a later refresh than the one that adds rows; under load
    a snapshot taken right after the workers finish can catch the header-only widths.
    """
    for _ in range(3):
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
    for _ in range(20):
        tables = list(pilot.app.screen.query(DataTable))
        if tables and all(t.row_count and not t._require_update_dimensions for t in tables):
            break
        await pilot.pause(0.05)
    await pilot.pause(0.1)


def test_dashboard_layout(demo_home: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(offer_demo=False), terminal_size=SIZE, run_before=_settled)


def test_project_stage_one_layout(demo_home: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    async def open_project(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settled(pilot)
        await pilot.press("enter")
        await _settled(pilot)

    assert snap_compare(WorkbenchApp(offer_demo=False), terminal_size=SIZE, run_before=open_project)


# Issue 13 (point 5): the layout works at 100x30 (nothing essential cut without a key to read
# it) and uses the room at 160x48; the demo workspace's dashboard, project and audit screens.
SMALL, LARGE = (100, 30), (160, 48)


async def _open_project(pilot) -> None:  # type: ignore[no-untyped-def]
    await _settled(pilot)
    await pilot.press("enter")
    await _settled(pilot)
    await pilot.press("1")
    await _settled(pilot)


async def _open_audit(pilot) -> None:  # type: ignore[no-untyped-def]
    """The audit screen with the demo's times and hashes masked: they change with every build of
    the demo, and the snapshot is about the layout."""
    await _settled(pilot)
    await pilot.press("a")
    await _settled(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, AuditScreen)

    def masked(value: str) -> str:
        return re.sub(r"[0-9a-f]{16,}", lambda m: "0" * len(m.group()), value)

    events = [replace(e, ts="2026-01-01T00:00:00+00:00", hash="0" * 64, summary=masked(e.summary),
                      payload=tuple((k, masked(v)) for k, v in e.payload))
              for e in sorted(screen.events.values(), key=lambda e: -e.seq)]
    screen.show(events)
    await _settled(pilot)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["100x30", "160x48"])
def test_dashboard_at_size(demo_home: Path, snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(offer_demo=False), terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["100x30", "160x48"])
def test_project_stage_one_at_size(demo_home: Path, snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(offer_demo=False), terminal_size=size, run_before=_open_project)


@pytest.mark.parametrize("size", [SMALL, LARGE], ids=["100x30", "160x48"])
def test_audit_at_size(demo_home: Path, snap_compare, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(WorkbenchApp(offer_demo=False), terminal_size=size, run_before=_open_audit)
