"""The demo's story does not depend on the machine's speed (issue 14).

At load 5-7 the canary's measured p99 (54 ms) broke a fixed 50 ms guardrail, the challenger was
rolled back, the A/B test failed with "'ctr-demo' has no challenger", and a rerun skipped the
release stage without a word. Here every served model really sleeps per scoring call (the
test-only ``MLWB_TEST_SCORING_DELAY_MS`` switch of ``app.services.serving``), so every latency the
demo measures is above that old limit: the story must still be told whole, and what it shows
must be what it measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.jobs import JobRunner
from app.services import gates, monitoring_alerts, monitoring_policy, promotion, registry, release_analysis
from app.services.demo import CANARY_LATENCY_RATIO, CHALLENGER_KIND, LATENCY_SLA_FACTOR, SLUG, run_demo
from app.services.jobs import WorkbenchLedger
from app.services.serving import TEST_DELAY_ENV
from app.services.workbench import Workbench
from storage.models import PredictionLog
from tests.conftest import DEMO_BATCH_ROWS, DEMO_ROWS, _open_as_me

DELAY_MS = 55.0  # above the 50 ms limit that rolled the canary back


@pytest.fixture
def slow_wb(mlwb_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workbench]:
    monkeypatch.setenv(TEST_DELAY_ENV, str(DELAY_MS))
    bench = _open_as_me(mlwb_home)
    yield bench
    bench.close()


def _logged(wb: Workbench, prefix: str, route: str) -> list[float]:
    with wb.read() as session:
        return list(session.scalars(select(PredictionLog.latency_ms).where(
            PredictionLog.request_id.startswith(prefix), PredictionLog.route == route)))


@pytest.mark.long
def test_the_demo_tells_its_whole_story_on_a_slow_machine_and_shows_what_it_measured(slow_wb: Workbench) -> None:
    steps: list[str] = []
    outcome = run_demo(slow_wb, JobRunner(WorkbenchLedger(slow_wb)), rows=DEMO_ROWS, batch_rows=DEMO_BATCH_ROWS,
                       step=steps.append, shadow_requests=30, canary_requests=100)
    assert outcome.stage == 6 and gates.project_stage(slow_wb, SLUG) == 6

    # Every request really was slow: the old fixed limit would have rolled the canary back.
    canary_ms, production_ms = _logged(slow_wb, "canary-", "canary"), _logged(slow_wb, "canary-", "production")
    assert min(canary_ms) >= DELAY_MS and min(production_ms) >= DELAY_MS

    analyses = {a.kind: a for a in release_analysis.list_release_analyses(slow_wb, SLUG)}
    assert set(analyses) == {"shadow", "canary", "ab_test"}
    canary = analyses["canary"]
    assert not canary.results["rollback"] and canary.verdict in ("passed", "inconclusive")
    lr = next(v for v in registry.list_models(slow_wb, SLUG) if v.model_kind == CHALLENGER_KIND)
    assert canary.version == lr.version and analyses["ab_test"].version == lr.version
    assert not any("rolled back" in t.reason for t in promotion.transitions(slow_wb, SLUG))

    # What it shows is what it measured: the figures recorded, and the step that printed them.
    measured_canary, measured_production = np.percentile(canary_ms, 99), np.percentile(production_ms, 99)
    assert canary.results["canary"]["latency"]["p99_ms"] == pytest.approx(measured_canary)
    assert canary.results["production"]["latency"]["p99_ms"] == pytest.approx(measured_production)
    relative = canary.results["relative_latency"]
    assert relative["ratio"] == CANARY_LATENCY_RATIO
    assert relative["limit_ms"] == pytest.approx(CANARY_LATENCY_RATIO * measured_production)
    assert (f"stage 5: canary {canary.verdict}: measured p99 canary {measured_canary:.1f} ms, "
            f"production {measured_production:.1f} ms") in "\n".join(steps)
    shadow = analyses["shadow"]
    shadow_production = np.percentile(_logged(slow_wb, "shadow-", "production"), 99)
    assert shadow_production >= DELAY_MS
    assert shadow.results["primary_latency"]["p99_ms"] == pytest.approx(shadow_production)
    assert f"shadow p99 {shadow.results['shadow_latency']['p99_ms']:.1f} ms" in shadow.summary()
    assert shadow.results["shadow_latency"]["p99_ms"] >= DELAY_MS  # each shadow batch slept too

    # The latency SLA is set from the same measurement (and says so), so it raises no alert of its
    # own: the alerts are the drift the story means to show.
    (rule,) = [r for r in monitoring_policy.sla_rules(slow_wb, SLUG) if r.metric == "latency_p99_ms"]
    assert rule.threshold == pytest.approx(round(LATENCY_SLA_FACTOR * shadow_production, 1))
    assert any(s.startswith(f"stage 6: SLA rules (latency p99 <= {rule.threshold:g} ms") for s in steps)
    alerts = monitoring_alerts.list_alerts(slow_wb, SLUG)
    # (the test's 130 logged requests make batch 2026-01's drift noisy, so only latency is checked)
    assert not [a for a in alerts if "latency" in a.rule]
    assert [a.batch for a in alerts if a.severity == "critical"] == ["2026-03"]

    # A rerun says where the release stands instead of skipping it silently.
    again: list[str] = []
    run_demo(slow_wb, JobRunner(WorkbenchLedger(slow_wb)), rows=DEMO_ROWS, batch_rows=DEMO_BATCH_ROWS,
             step=again.append, shadow_requests=30, canary_requests=100)
    assert (f"stage 5: the release of v{lr.version} is already recorded: shadow {shadow.verdict}; "
            f"canary {canary.verdict}; ab_test {analyses['ab_test'].verdict}") in again


def test_a_rerun_after_a_rolled_back_canary_says_so_and_finishes(demo_wb: Workbench) -> None:
    """Regression: the rerun after the rollback skipped the release stage without a word."""
    lr = next(v.version for v in registry.list_models(demo_wb, SLUG) if v.model_kind == CHALLENGER_KIND)
    promotion.set_alias(demo_wb, SLUG, lr, "challenger", reason="a canary with a latency limit no machine meets")
    failed = release_analysis.analyse_canary(demo_wb, SLUG, max_latency_p99_ms=0.001)
    assert failed.results["rollback"]
    steps: list[str] = []
    outcome = run_demo(demo_wb, JobRunner(WorkbenchLedger(demo_wb)), step=steps.append)
    (said,) = [s for s in steps if "rolled back" in s]
    assert said.startswith(f"stage 5: the canary of v{lr} was rolled back")
    assert "latency p99" in said and "there is no A/B test" in said
    assert outcome.stage == 6
