"""What a running scoring service counts, and the same numbers in the Prometheus text exposition
format that ``GET /metrics`` serves."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5)
ROUTES = ("production", "canary")


class ServingMetrics:
    """Counters and the latency histogram of one service run; thread-safe, plain numbers out."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = dict.fromkeys(ROUTES, 0)
        self.counts = {"errors": 0, "bad_requests": 0, "shadow_scored": 0, "shadow_failed": 0,
                       "shadow_skipped": 0, "log_failed": 0}
        self.buckets = [0] * len(LATENCY_BUCKETS)
        self.latency_sum = 0.0
        self.latency_count = 0

    def observe(self, route: str, seconds: float, *, failed: bool = False) -> None:
        with self._lock:
            self.requests[route] += 1
            if failed:
                self.counts["errors"] += 1
            self.latency_sum += seconds
            self.latency_count += 1
            for i, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
                    break

    def count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def snapshot(self) -> dict[str, Any]:
        """Cumulative histogram buckets (as Prometheus wants them), counters and sums."""
        with self._lock:
            cumulative, running = [], 0
            for bound, n in zip(LATENCY_BUCKETS, self.buckets):
                running += n
                cumulative.append((bound, running))
            return {"requests": dict(self.requests), **self.counts, "latency_buckets": cumulative,
                    "latency_sum": self.latency_sum, "latency_count": self.latency_count}


def iter_exposition(stats: dict[str, Any], *, production: int, challenger: int | None,
                    log_backlog: int) -> Iterable[str]:
    """A service's metrics in the Prometheus text exposition format (version 0.0.4), line by line.

    Given plain numbers (``ServingMetrics.snapshot()``, the served versions, the log backlog)
    rather than the service, so this module does not import ``serving``, which imports it.
    """

    def family(name: str, kind: str, help_text: str) -> Iterable[str]:
        yield f"# HELP {name} {help_text}"
        yield f"# TYPE {name} {kind}"

    yield from family("mlwb_requests_total", "counter", "Requests scored, by the route that answered them.")
    for route in ROUTES:
        yield f'mlwb_requests_total{{route="{route}"}} {stats["requests"][route]}'
    yield from family("mlwb_request_errors_total", "counter",
                      "Requests the served model failed to score (answered with HTTP 500).")
    yield f"mlwb_request_errors_total {stats['errors']}"
    yield from family("mlwb_bad_requests_total", "counter",
                      "Requests refused before scoring because of the request (HTTP 4xx).")
    yield f"mlwb_bad_requests_total {stats['bad_requests']}"
    yield from family("mlwb_request_latency_seconds", "histogram",
                      "Server-side time to answer a scored request, from the parsed body to the response.")
    for bound, count in stats["latency_buckets"]:
        yield f'mlwb_request_latency_seconds_bucket{{le="{_float(bound)}"}} {count}'
    yield f'mlwb_request_latency_seconds_bucket{{le="+Inf"}} {stats["latency_count"]}'
    yield f"mlwb_request_latency_seconds_sum {_float(stats['latency_sum'])}"
    yield f"mlwb_request_latency_seconds_count {stats['latency_count']}"
    yield from family("mlwb_model_version", "gauge", "Version number of the model in each role.")
    yield f'mlwb_model_version{{role="production"}} {production}'
    if challenger is not None:
        yield f'mlwb_model_version{{role="challenger"}} {challenger}'
    yield from family("mlwb_shadow_predictions_total", "counter",
                      "Answers of the other model (shadow or canary counterpart), by outcome; never returned.")
    for outcome, key in (("scored", "shadow_scored"), ("failed", "shadow_failed"), ("skipped", "shadow_skipped")):
        yield f'mlwb_shadow_predictions_total{{outcome="{outcome}"}} {stats[key]}'
    yield from family("mlwb_prediction_log_failures_total", "counter",
                      "Scored requests whose log row could not be committed (answered 503, not acknowledged).")
    yield f"mlwb_prediction_log_failures_total {stats['log_failed']}"
    yield from family("mlwb_prediction_log_pending", "gauge",
                      "Log rows and other-model answers not yet committed to the prediction log.")
    yield f"mlwb_prediction_log_pending {log_backlog}"


def _float(value: float) -> str:
    """A sample value or bucket bound as Prometheus parses it (``0.005``, ``1.0``)."""
    return repr(float(value))
