"""Layout snapshots (few on purpose: behaviour is asserted with Pilot elsewhere).

Update after an intended layout change with `pytest tests/tui --snapshot-update` and review
the SVG diff.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable

from app.tui import WorkbenchApp

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
