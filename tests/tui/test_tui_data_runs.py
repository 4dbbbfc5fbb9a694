"""The data (D) and runs (M) screens driven with Pilot on a private copy of the demo."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input, Select

from app.services import audit_trail, datasets, training
from app.tui import WorkbenchApp
from screens.data import NO_LEAKAGE, DataScreen
from screens.modals.compare_result import CompareResult
from screens.modals.confirm import ConfirmDialog
from screens.modals.split_dialog import SplitDialog
from screens.modals.train_dialog import TrainDialog
from screens.runs import RunsScreen
from screens.widgets.charts import hbar, sparkline
from screens.widgets.runs_table import COLUMNS, RunsTable
from tests.tui.test_tui_workbench import SIZE, open_demo, settle

SLUG = "ctr-demo"


def text_of(screen, selector: str) -> str:  # type: ignore[no-untyped-def]
    return str(screen.query_one(selector).content)


async def open_runs(app: WorkbenchApp, pilot) -> tuple[RunsScreen, RunsTable]:  # type: ignore[no-untyped-def]
    await open_demo(app, pilot)
    await pilot.press("M")
    await settle(app, pilot)
    assert isinstance(app.screen, RunsScreen)
    return app.screen, app.screen.query_one(RunsTable)


async def test_data_screen_shows_versions_split_and_leakage(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_demo(app, pilot)
        await pilot.press("D")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, DataScreen)
        table = screen.query_one("#datasets", DataTable)
        roles = [str(table.get_row_at(r)[1]) for r in range(table.row_count)]
        assert sorted(roles) == ["feedback"] * 3 + ["monitoring"] * 3 + ["training"] * 2  # labelled batches, retraining
        assert roles[0] == "training" and str(table.get_row_at(0)[4]) == "clicked"

        split = datasets.list_splits(app.wb, SLUG)[0]
        shown = text_of(screen, "#data-split")
        assert split.fingerprint in shown and "stratified" in shown and "seed" in shown
        leakage = text_of(screen, "#data-leakage")
        assert "error" not in leakage
        if not split.leakage:
            assert NO_LEAKAGE in leakage

        await pilot.press("c")
        await settle(app, pilot)
        assert screen.last_check is not None and screen.last_check.split_id == split.id
        assert f"against split {split.id}" in text_of(screen, "#data-check")

        # A monitoring batch has no target: check and split are not offered for it.
        await pilot.press("down")
        await pilot.pause()
        assert screen.selected is not None and screen.selected.role == "monitoring"
        assert screen.check_action("split", ()) is False
        assert "not split" in text_of(screen, "#data-split")

        await pilot.press("up", "s")
        await pilot.pause()
        assert isinstance(app.screen, SplitDialog)
        app.screen.query_one("#split-strategy", Select).value = "random"
        app.screen.query_one("#split-seed", Input).value = "7"
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen
        splits = datasets.list_splits(app.wb, SLUG)
        assert len(splits) == 3 and splits[-1].strategy == "random" and splits[-1].seed == 7
        assert splits[-1].fingerprint in text_of(screen, "#data-split")
        assert "split.created" in [e.action for e in audit_trail.recent_events(app.wb, project=SLUG, limit=3)]


async def test_runs_screen_filters_sorts_and_compares(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_runs(app, pilot)
        kinds = [r.model_kind for r in table.visible_runs]
        # the fourth run is the demo's retraining after the drift alert, the fifth and sixth the
        # baseline and the champion re-scored on its split to compare with it
        assert kinds == ["popularity_baseline", "logistic_regression", "hist_gradient_boosting",
                         "hist_gradient_boosting", "popularity_baseline", "hist_gradient_boosting"]
        assert table.row_text(0)[2] == "baseline ★" and table.row_text(2)[2] == "complex"
        assert all(row[6] == "sealed" for row in map(table.row_text, range(len(kinds))))

        # the re-scored runs say which run they re-score
        originals = {r.id: r.number for r in table.visible_runs}
        for position, run in enumerate(table.visible_runs):
            if run.params.get("rescored_from"):
                assert table.row_text(position)[2].endswith(f"↻{originals[run.params['rescored_from']]}")

        await pilot.press("slash", *"hist")  # a bare word: a model, number or author containing it
        await settle(app, pilot)
        assert [r.model_kind for r in table.visible_runs] == ["hist_gradient_boosting"] * 3 and table.total == 3
        assert "3 shown" in text_of(screen, "#runs-status")

        # the query grammar, in SQL over the registry
        best_auc = max(r.metrics["val_roc_auc"] for r in table.visible_runs)
        screen.query_one("#runs-filter", Input).value = f"val_roc_auc >= {best_auc} and model ~ hist"
        await settle(app, pilot)
        assert [r.metrics["val_roc_auc"] for r in table.visible_runs] == [best_auc]

        # a filter the grammar refuses is explained under the box; the table keeps the last good rows
        screen.query_one("#runs-filter", Input).value = "val_roc_auc > 0.5 or model ~ tree"
        await settle(app, pilot)
        error = screen.query_one("#runs-filter-error")
        assert error.display and "'or' is not supported" in text_of(screen, "#runs-filter-error")
        assert [r.metrics["val_roc_auc"] for r in table.visible_runs] == [best_auc]
        screen.query_one("#runs-filter", Input).value = "val_roc_aux > 0.5"
        await settle(app, pilot)
        assert "no run of this project has a metric 'val_roc_aux'" in text_of(screen, "#runs-filter-error")
        assert table.total == 1

        screen.query_one("#runs-filter", Input).value = ""
        await settle(app, pilot)
        assert not error.display
        await pilot.press("escape")  # leaves the filter, not the screen
        await pilot.pause()
        assert app.screen is screen and table.total == len(kinds)

        await pilot.press("s")  # id -> model
        await settle(app, pilot)
        assert table.sort_column == "model" and screen.shown_query.sort == "model"
        assert [r.model_kind for r in table.visible_runs] == sorted(kinds)
        await pilot.press("s")  # -> rung: up the ladder, baseline first
        await settle(app, pilot)
        assert [r.is_baseline for r in table.visible_runs] == [True, True, False, False, False, False]
        await pilot.press("s")  # -> validation metric, best first
        await settle(app, pilot)
        values = [r.metrics["val_roc_auc"] for r in table.visible_runs]
        assert table.sort_column == "val" and values == sorted(values, reverse=True)
        assert screen.shown_query.sort == "-val_roc_auc"

        baseline = next(r for r in table.visible_runs if r.is_baseline and not r.params.get("rescored_from"))
        # the best run on the baseline's validation rows (the retrained run has a split of its own)
        best = next(r for r in table.visible_runs if r.split_id == baseline.split_id and not r.is_baseline)
        assert table.select_run(baseline.id)
        await pilot.press("a")
        assert table.select_run(best.id)
        await pilot.press("b")
        await pilot.press("c")
        await settle(app, pilot)
        assert isinstance(app.screen, CompareResult)
        assert "significantly better" in app.screen.verdict
        assert "significantly better" in text_of(app.screen, "#compare-verdict")
        assert screen.last_comparison is not None and screen.last_comparison.p_value < 0.05
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen

        await pilot.press("enter")
        await pilot.pause()
        detail = text_of(screen, "#run-detail-body")
        assert f"Run {best.number}" in detail and "Validation metrics" in detail and "sealed" in detail


async def test_train_with_cv_from_the_dialog_adds_a_run(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_runs(app, pilot)
        await pilot.press("n")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TrainDialog)
        dialog.query_one("#train-kind", Select).value = "decision_tree"
        dialog.query_one("#train-cv", Input).value = "3"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is screen
        await settle(app, pilot)
        run = training.list_runs(app.wb, SLUG)[-1]
        assert run.model_kind == "decision_tree" and len(run.cv_metrics["roc_auc"]["folds"]) == 3
        assert [r.id for r in table.visible_runs][-1] == run.id
        assert table.row_text(table.total - 1)[4] != "—"  # the CV mean±std column
        table.select_run(run.id)
        await pilot.press("enter")
        await pilot.pause()
        detail = text_of(screen, "#run-detail-body")
        assert "fold 3" in detail and "±" in detail


async def test_opening_the_test_set_asks_first_and_is_audited(demo_home: Path) -> None:
    app = WorkbenchApp(offer_demo=False)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_runs(app, pilot)
        run = table.visible_runs[1]
        table.select_run(run.id)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        assert f"run {run.number}" in app.screen.question and "audit trail" in app.screen.detail
        await pilot.press("y")
        await settle(app, pilot)
        assert app.screen is screen
        row = next(p for p, r in enumerate(table.visible_runs) if r.id == run.id)
        assert table.row_text(row)[6].startswith("scored")
        events = audit_trail.recent_events(app.wb, project=SLUG, limit=5)
        assert any(e.action == "run.test_scored" for e in events)
        assert audit_trail.verify(app.wb).ok

        await pilot.press("r")  # reproduce the same run from its recorded inputs
        await settle(app, pilot)
        assert screen.last_reproduction is not None and screen.last_reproduction.run_id == run.id
        assert screen.last_reproduction.matches
        assert any("reproduced" in n.message for n in app._notifications)


def test_rungs_match_the_model_ladder() -> None:
    from datetime import datetime

    from app.ml.catalogue import KIND_INFO
    from app.services.training import RunView

    rung = next(c for c in COLUMNS if c.key == "rung")
    shown = {kind: rung.cell(RunView(1, "default", kind, False, 0, {}, {}, {}, 1, 1, None, 0.0, datetime(2026, 1, 1),
                                     "ana"))[0] for kind in KIND_INFO}
    assert shown == {kind: info.rung for kind, info in KIND_INFO.items()}


def test_unicode_charts() -> None:
    assert hbar(1.0, 0.0, 1.0, 4) == "████"
    assert hbar(0.5, 0.0, 1.0, 3) == "█▌ "
    assert hbar(0.0, 0.0, 1.0, 2) == "▏ "
    assert sparkline([0.1, 0.5, 0.9]) == "▁▅█"
    assert sparkline([None, 1.0]) == " ▅"  # a flat series sits mid-height
