"""Nothing acknowledged is lost: `mlwb serve` as a real process on a copy of the demo workspace,
clients send requests from a few threads, the server is killed with SIGKILL right after the last
answer, and every request that got HTTP 200 must be in the prediction log (issue 12, point 7).

Before group commit, a response went out before its log row was committed (the shadow lingered
50 ms, the writer another 50 ms), and this kill lost the last ~100 ms of acknowledged requests.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from sqlalchemy import select

from app.ml.demo_data import generate_interactions
from app.services import promotion, registry, training
from app.services.demo import SLUG
from app.services.workbench import Workbench
from storage.models import ModelVersion, PredictionLog

FEATURES = ["user_age", "user_location", "item_genre", "item_popularity"]
CLIENTS, PER_CLIENT = 4, 75  # 300 requests


def _ensure_challenger(wb: Workbench) -> None:
    """A challenger in shadow, so each request also waits on the path that used to linger longest."""
    with wb.read() as session:
        if session.scalars(select(ModelVersion.id).where(ModelVersion.alias == "challenger")).first() is not None:
            return
    run = next(r for r in training.list_runs(wb, SLUG) if r.model_kind == "logistic_regression" and r.artifact_sha256)
    view = registry.register_model(wb, SLUG, run.id)
    promotion.set_alias(wb, SLUG, view.version, "challenger", reason="test: serve it in shadow")


def test_every_acknowledged_request_survives_a_kill_9(demo_home: Path, demo_wb: Workbench) -> None:
    _ensure_challenger(demo_wb)
    rows = generate_interactions(PER_CLIENT, seed=21)[FEATURES].to_dict("records")
    process = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", SLUG, "--port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
                               cwd=Path(__file__).resolve().parents[1])
    acknowledged: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        assert "in shadow" in line
        port = int(match.group(1))

        def client(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for i, row in enumerate(rows):
                request_id = f"durable-{k}-{i:03d}"
                conn.request("POST", "/predict", body=json.dumps({"request_id": request_id, "features": row}),
                             headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = json.loads(response.read())
                with lock:
                    if response.status == 200 and answer.get("request_id") == request_id:
                        acknowledged.append(request_id)
                    else:
                        refused.append(f"{request_id}: {response.status} {answer}")
            conn.close()

        threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        process.send_signal(signal.SIGKILL)  # right after the last answer: no drain, no "serving.stopped"
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert refused == []
    assert len(acknowledged) == CLIENTS * PER_CLIENT
    reopened = Workbench.open()  # a fresh engine on the killed server's workspace
    try:
        with reopened.read() as session:
            logged = set(session.scalars(select(PredictionLog.request_id).where(
                PredictionLog.request_id.startswith("durable-"))))
            if reopened.db.engine.dialect.name == "sqlite":  # the killed writer left the file whole
                assert session.connection().exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
    finally:
        reopened.close()
    lost = sorted(set(acknowledged) - logged)
    assert lost == [], f"{len(lost)} of {len(acknowledged)} acknowledged requests are not in the log: {lost[:5]}"
