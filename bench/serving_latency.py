"""Latency of `mlwb serve` on loopback: one-row requests, production answering, the challenger in
shadow (target p99 ≤ 20 ms), each answer sent only once its prediction-log row is committed.
Baselines from the same run: the same load with no shadow (`--no-shadow`); the design durable
answers replaced, where the answer went out before its log row was written (what waiting for
the commit costs); and the rejected design — every call through the sklearn Pipeline instead of
the compiled path (a quarter of the requests: it is slow).

The server runs in this process (a thread, as `mlwb serve` runs it); the load generator runs in a
separate, spawned process so its own work never shares the server's GIL. Each of its client
threads keeps one HTTP/1.1 connection open (keep-alive) and sends one request after another
(closed loop), timing each from the request's first byte to the parsed answer. After the server
is shut down, the prediction log must hold exactly one row per request sent.

    python -m bench.serving_latency [--home EXISTING_MLWB_HOME] [--requests 2000]

``--home`` copies an existing workspace holding the demo instead of building a fresh one.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from bench.common import scratch_home

SLUG = "ctr-demo"
CONCURRENCY = (1, 4)
WARMUP = 100
TARGET_P99_MS = 20.0


def _load(url: str, payloads: list[bytes], concurrency: int, results) -> None:  # type: ignore[no-untyped-def]
    """In the load process: ``concurrency`` threads, each with one keep-alive connection."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    shares = [payloads[i::concurrency] for i in range(concurrency)]

    def client(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        mine: list[float] = []
        bad: list[str] = []
        headers = {"Content-Type": "application/json"}
        for body in share:
            started = time.perf_counter()
            conn.request("POST", "/predict", body=body, headers=headers)
            response = conn.getresponse()
            answer = json.loads(response.read())
            mine.append(time.perf_counter() - started)
            if response.status != 200 or "prediction" not in answer:
                bad.append(f"{response.status} {answer}")
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.extend(bad)

    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results.put({"latencies": latencies, "failures": failures, "wall": time.perf_counter() - started})


def _run_load(url: str, payloads: list[bytes], concurrency: int) -> dict:
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_load, args=(url, payloads, concurrency, results), daemon=True)
    process.start()
    outcome = results.get(timeout=600)
    process.join(timeout=30)
    return outcome


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _payloads(prefix: str, n: int, seed: int) -> list[bytes]:
    from app.ml.demo_data import generate_interactions

    frame = generate_interactions(n, seed=seed)
    features = ["user_age", "user_location", "item_genre", "item_popularity"]
    return [json.dumps({"request_id": f"{prefix}-{i:06d}", "features": row}).encode()
            for i, row in enumerate(frame[features].to_dict("records"))]


def _ensure_challenger(wb) -> None:  # type: ignore[no-untyped-def]
    """The demo leaves a challenger; if a canary rolled it back, make the logistic run the challenger."""
    from sqlalchemy import select

    from app.services import promotion, registry, training
    from storage.models import ModelVersion

    with wb.read() as session:
        has = session.scalars(select(ModelVersion.id).where(ModelVersion.alias == "challenger")).first()
    if has is not None:
        return
    runs = [r for r in training.list_runs(wb, SLUG) if r.artifact_sha256 and r.model_kind == "logistic_regression"]
    version = registry.register_model(wb, SLUG, runs[0].id)
    promotion.set_alias(wb, SLUG, version.version, "challenger", reason="serving benchmark")


def _measure(wb, label: str, shadow: bool, requests: int, run: str,  # type: ignore[no-untyped-def]
             compiled: bool = True, durable: bool = True) -> tuple[list[str], int, dict]:
    from app.scoring_server import ScoringServer

    server = ScoringServer(wb, SLUG, port=0, shadow=shadow, seed=7, wait_for_log=durable)
    if not compiled:  # the rejected design: every call through the sklearn Pipeline
        for model in (server.service.models.production, server.service.models.challenger):
            if model is not None:
                model.fast = None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    lines: list[str] = []
    models = server.service.models
    for model in (models.production, models.challenger if shadow else None):
        if model is not None:
            path = "compiled" if model.fast is not None else "pipeline"
            lines.append(f"{label:22s} {model.role} v{model.version} {model.kind}: {path} path, "
                         f"{'micro-batched' if model.batch_safe else 'one row per call'}")
    sent = 0
    try:
        warm = _payloads(f"{label}-{run}-warm", WARMUP, seed=11)
        _run_load(server.url, warm, 1)
        sent += len(warm)
        for concurrency in CONCURRENCY:
            payloads = _payloads(f"{label}-{run}-c{concurrency}", requests, seed=100 + concurrency)
            outcome = _run_load(server.url, payloads, concurrency)
            sent += len(payloads)
            ordered = sorted(outcome["latencies"])
            p50, p95, p99 = (_percentile(ordered, q) * 1000 for q in (0.5, 0.95, 0.99))
            verdict = "ok" if p99 <= TARGET_P99_MS else "over target"
            lines.append(f"{label:22s} concurrency {concurrency}: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
                         f"p99 {p99:6.2f} ms ({verdict})  {len(ordered) / outcome['wall']:6.0f} req/s  "
                         f"n={len(ordered)}  failed={len(outcome['failures'])}")
    finally:
        server.shutdown()
        thread.join()
        summary = server.close()
    return lines, sent, summary


def _logged(wb, label: str) -> int:  # type: ignore[no-untyped-def]
    from sqlalchemy import func, select

    from storage.models import PredictionLog

    with wb.read() as session:
        return int(session.scalar(select(func.count(PredictionLog.id)).where(
            PredictionLog.request_id.like(f"{label}-%"))))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.serving_latency")
    parser.add_argument("--home", type=Path, help="copy this workspace (with the demo) instead of building one")
    parser.add_argument("--requests", type=int, default=2000, help="requests per concurrency level")
    args = parser.parse_args(argv)

    home = scratch_home("serving")
    if args.home:
        shutil.copytree(args.home, home)
    else:
        subprocess.run([sys.executable, "-m", "app.cli", "demo"], check=True, capture_output=True, env=os.environ.copy())
    from app.services.workbench import Workbench
    from storage.workspace import Workspace

    wb = Workbench.open(Workspace(home))
    try:
        _ensure_challenger(wb)
        print(f"== scoring service on loopback, one-row requests, keep-alive (target p99 ≤ {TARGET_P99_MS:.0f} ms) ==")
        run = uuid.uuid4().hex[:6]  # request ids are unique across runs on a reused workspace
        # (label, shadow, compiled path, answer only once the log row is committed, requests)
        configurations = (("baseline-no-shadow", False, True, True, args.requests),
                          ("shadow-challenger", True, True, True, args.requests),
                          ("shadow-answer-unlogged", True, True, False, args.requests),
                          ("rejected-pipeline-path", True, False, True, max(1, args.requests // 4)))
        for label, shadow, compiled, durable, requests in configurations:
            lines, sent, summary = _measure(wb, label, shadow, requests, run, compiled, durable)
            for line in lines:
                print(line)
            in_log = _logged(wb, f"{label}-{run}")
            check = "ok" if in_log == sent else "MISMATCH"
            print(f"{label:22s} prediction log after shutdown: {in_log} rows for {sent} requests sent ({check}; "
                  f"the service counted {summary['logged']} in {summary['log_commits']} commits, "
                  f"{summary['logged'] / max(1, summary['log_commits']):.1f} rows per commit; "
                  f"answers {'after' if durable else 'BEFORE'} the commit)")
    finally:
        wb.close()


if __name__ == "__main__":
    main()
