"""The scoring service over real HTTP on an ephemeral port, on a copy of the demo workspace:
answers equal the model's own ``predict_output``, the shadow is logged and never returned, the
canary routes, bad requests are refused with a clear message and the server keeps answering,
every scored request is in the prediction log after a clean shutdown, /health and /metrics,
batch scoring of a file, and a tampered model file stops the service from starting."""

from __future__ import annotations

import http.client
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select, text
from threadpoolctl import threadpool_limits

from app.errors import WorkbenchError
from app.ml.demo_data import generate_interactions
from app.ml.fitting import predict_output
from app.ml.model_building import build_model
from app.ml.model_files import load_model
from app.ml.training_spec import TrainingSpec
from app.scoring_server import ScoringServer
from app.services import promotion, registry, training
from app.services.demo import SLUG
from app.ml.compiled_pipeline import verified_fast_preparation as _verified_fast_preparation
from app.ml.served_model import ServedModel
from app.ml.served_model import probe_rows as _probe_rows
from app.services.scoring_requests import parse_request
from app.services.serving import BadRequest, ScoringService, score_file
from app.services.workbench import Workbench
from storage.models import AuditEvent, ModelVersion, PredictionLog

FEATURES = ["user_age", "user_location", "item_genre", "item_popularity"]


# --- helpers ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def one_openmp_thread() -> Iterator[None]:
    """The test's own reference predictions with one OpenMP thread, as the service's threads do:
    with two per call on a busy 2-core machine, single-row HistGradientBoosting predictions took
    up to seconds here (the threads spin waiting for each other)."""
    with threadpool_limits(1, user_api="openmp"):
        yield


def _make_challenger(wb: Workbench) -> ModelVersion:
    """The demo's logistic run as the challenger, through the registry and `promotion.set_alias`."""
    run = next(r for r in training.list_runs(wb, SLUG) if r.model_kind == "logistic_regression" and r.artifact_sha256)
    view = registry.register_model(wb, SLUG, run.id)
    promotion.set_alias(wb, SLUG, view.version, "challenger", reason="test: serve it beside production")
    return _version(wb, view.version)


def _version(wb: Workbench, number: int) -> ModelVersion:
    with wb.read() as session:
        return session.scalars(select(ModelVersion).where(ModelVersion.version == number)).one()


def _production(wb: Workbench) -> ModelVersion:
    with wb.read() as session:
        return session.scalars(select(ModelVersion).where(ModelVersion.stage == "production")).one()


def _model(wb: Workbench, mv: ModelVersion) -> Any:
    return load_model(wb.artifacts.get_bytes(mv.artifact_sha256, ".skops"))


def _expected(model: Any, row: dict[str, Any]) -> tuple[Any, Any]:
    """What the model says for the same row in a DataFrame, the way the pipeline is used offline."""
    predicted, score = predict_output(model, pd.DataFrame([row])[FEATURES], "binary_classification")
    return predicted.tolist()[0], score.tolist()[0]


def _one_row() -> dict[str, Any]:
    return generate_interactions(1, seed=5)[FEATURES].to_dict("records")[0]


def _rows(n: int, seed: int = 5) -> list[dict[str, Any]]:
    rows = generate_interactions(n, seed=seed, drift=0.6)[FEATURES].to_dict("records")
    rows[0] = {**rows[0], "user_location": None}  # a missing value
    rows[1] = {**rows[1], "item_genre": "opera"}  # a category the model never saw
    rows[2] = {**rows[2], "user_age": None}
    return rows


@contextmanager
def _server(wb: Workbench, **options: Any) -> Iterator[ScoringServer]:
    server = ScoringServer(wb, SLUG, port=0, seed=3, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()
        thread.join(timeout=10)


def _conn(server: ScoringServer) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)


def _call(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
    response = conn.getresponse()
    data = response.read()
    assert response.getheader("Content-Length") == str(len(data))
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


def _predict(conn: http.client.HTTPConnection, payload: Any) -> tuple[int, dict[str, Any]]:
    status, _, data = _call(conn, "POST", "/predict", json.dumps(payload).encode())
    return status, json.loads(data)


def _log(wb: Workbench) -> list[PredictionLog]:
    with wb.read() as session:
        return list(session.scalars(select(PredictionLog).order_by(PredictionLog.id)))


def _audit(wb: Workbench, action: str) -> list[dict[str, Any]]:
    with wb.read() as session:
        return [json.loads(p) for p in session.scalars(
            select(AuditEvent.payload).where(AuditEvent.action == action).order_by(AuditEvent.seq))]


# --- serving -----------------------------------------------------------------------------------


def test_answers_equal_predict_output_and_the_shadow_is_logged_never_returned(demo_wb: Workbench) -> None:
    challenger = _make_challenger(demo_wb)
    production = _production(demo_wb)
    prod_model, chal_model = _model(demo_wb, production), _model(demo_wb, challenger)
    before = len(_log(demo_wb))
    rows = _rows(40)
    answers = []
    with _server(demo_wb, shadow=True) as server:
        conn = _conn(server)
        for i, row in enumerate(rows):
            status, answer = _predict(conn, {"request_id": f"t-{i}", "features": row})
            assert status == 200, answer
            answers.append(answer)
        conn.close()
    for i, (row, answer) in enumerate(zip(rows, answers)):
        assert set(answer) == {"request_id", "prediction", "score", "model_version", "route"}
        assert answer["request_id"] == f"t-{i}" and answer["route"] == "production"
        assert answer["model_version"] == production.version
        assert (answer["prediction"], answer["score"]) == _expected(prod_model, row)  # exactly, not approximately
    logged = {r.request_id: r for r in _log(demo_wb)[before:]}
    assert len(logged) == len(rows)
    differ = 0
    for i, row in enumerate(rows):
        entry = logged[f"t-{i}"]
        assert entry.route == "production" and entry.served_version_id == production.id and entry.error == ""
        assert entry.other_version_id == challenger.id and entry.other_latency_ms > 0 and entry.latency_ms > 0
        shadow = _expected(chal_model, row)
        assert (entry.other_prediction["prediction"], entry.other_prediction["score"]) == shadow
        assert entry.prediction == {"prediction": answers[i]["prediction"], "score": answers[i]["score"]}
        assert entry.features == {k: (float(v) if isinstance(v, int) else v) for k, v in row.items()}
        differ += shadow[1] != answers[i]["score"]
    assert differ == len(rows)  # the client only ever saw production's answers
    (started,) = _audit(demo_wb, "serving.started")[-1:]
    assert started == {"production": production.version, "challenger": challenger.version, "shadow": True,
                       "canary_share": 0.0, "session": started["session"]}


def test_canary_share_one_routes_everything_to_the_challenger(demo_wb: Workbench) -> None:
    challenger = _make_challenger(demo_wb)
    production = _production(demo_wb)
    chal_model, prod_model = _model(demo_wb, challenger), _model(demo_wb, production)
    before = len(_log(demo_wb))
    rows = _rows(20, seed=8)
    with _server(demo_wb, shadow=False, canary_share=1.0) as server:
        conn = _conn(server)
        answers = [_predict(conn, {"features": row})[1] for row in rows]
        conn.close()
    assert {a["route"] for a in answers} == {"canary"}
    assert {a["model_version"] for a in answers} == {challenger.version}
    for row, answer in zip(rows, answers):
        assert (answer["prediction"], answer["score"]) == _expected(chal_model, row)
    logged = {r.request_id: r for r in _log(demo_wb)[before:]}
    assert len(logged) == len(rows)
    for row, answer in zip(rows, answers):
        entry = logged[answer["request_id"]]  # a generated id, returned so labels can be joined later
        assert entry.route == "canary" and entry.served_version_id == challenger.id
        assert entry.other_version_id == production.id  # production scored as the counterpart
        assert (entry.other_prediction["prediction"], entry.other_prediction["score"]) == _expected(prod_model, row)


def test_bad_requests_get_a_clear_4xx_and_the_server_keeps_answering(demo_wb: Workbench) -> None:
    row = _one_row()
    before = len(_log(demo_wb))
    with _server(demo_wb) as server:
        conn = _conn(server)  # one keep-alive connection through every refusal
        cases: list[tuple[bytes, dict[str, str], int, str]] = [
            (b'{"features": {', {}, 400, "not valid JSON"),
            (b"[1, 2]", {}, 400, "must be a JSON object"),
            (b'{"features": {"user_age": NaN}}', {}, 400, "not valid JSON"),
            (b"\xff\xfe", {}, 400, "not UTF-8"),
            (json.dumps({"features": row}).encode(), {"Content-Type": "text/plain"}, 400, "must be JSON"),
            (json.dumps({"features": {k: v for k, v in row.items() if k != "user_age"}}).encode(), {}, 400,
             "missing feature(s) 'user_age'"),
            (json.dumps({"features": row | {"colour": "red"}}).encode(), {}, 400, "unknown feature(s) 'colour'"),
            (json.dumps({"features": row | {"item_popularity": "lots"}}).encode(), {}, 400,
             "feature 'item_popularity' is numeric but 'lots' is not a number"),
            (json.dumps({"features": row | {"user_age": True}}).encode(), {}, 400, "feature 'user_age' is numeric"),
            (json.dumps({"features": row | {"item_genre": ["a"]}}).encode(), {}, 400,
             "feature 'item_genre' is categorical"),
            (json.dumps({"features": row, "extra": 1}).encode(), {}, 400, "unknown field(s) 'extra'"),
            (json.dumps({"features": row, "request_id": 7}).encode(), {}, 400, "'request_id' must be"),
            (json.dumps({"rows": [row]}).encode(), {}, 400, "unknown field(s) 'rows'"),
            (b" " * 1_000_001, {}, 413, "more than the 1,000,000-byte limit"),
            (b"[" * 100_000 + b"]" * 100_000, {}, 400, "nests arrays or objects too deeply"),
            (json.dumps({"features": row | {"item_genre": "g" * 900_000}}).encode(), {}, 400,
             "feature 'item_genre' is 900,000 characters long; a category is at most 1,000"),
        ]
        for body, headers, status, message in cases:
            got, response_headers, data = _call(conn, "POST", "/predict", body, headers)
            assert got == status, (body[:60], data)
            assert response_headers["content-type"] == "application/json"
            assert message in json.loads(data)["error"], (message, data)
        got, headers, data = _call(conn, "GET", "/nowhere")
        assert got == 404 and "POST /predict" in json.loads(data)["error"]
        got, headers, data = _call(conn, "GET", "/predict")
        assert got == 405 and headers["allow"] == "POST"
        assert _predict(conn, {"features": row, "request_id": "once"})[0] == 200
        status, answer = _predict(conn, {"features": row, "request_id": "once"})
        assert status == 409 and "already used" in answer["error"]
        status, answer = _predict(conn, {"features": row | {"user_age": "42", "item_genre": None}})
        assert status == 200 and answer["route"] == "production"  # still answering, same connection
        metrics = _metrics(_call(conn, "GET", "/metrics")[2].decode())
        conn.close()
    assert metrics["mlwb_bad_requests_total"][()] == len(cases) + 1
    assert len(_log(demo_wb)) - before == 2  # refused requests are not predictions


def test_a_model_failure_is_a_logged_500_and_the_server_stays_up(demo_wb: Workbench,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    row = _one_row()
    with _server(demo_wb) as server:
        production = server.service.models.production
        real = production.predict_arrays

        def flaky(rows, **kwargs):  # type: ignore[no-untyped-def]
            if any(r.numbers["user_age"] == 999 for r in rows):
                raise ValueError("age out of the model's world")
            return real(rows, **kwargs)

        monkeypatch.setattr(production, "predict_arrays", flaky)
        conn = _conn(server)
        status, answer = _predict(conn, {"features": row | {"user_age": 999}, "request_id": "boom"})
        assert status == 500 and "could not score request boom" in answer["error"]
        assert "age out of the model's world" in answer["error"]
        assert _predict(conn, {"features": row, "request_id": "fine"})[0] == 200
        metrics = _metrics(_call(conn, "GET", "/metrics")[2].decode())
        conn.close()
    assert metrics["mlwb_request_errors_total"][()] == 1
    entries = {r.request_id: r for r in _log(demo_wb)}
    assert "age out of the model's world" in entries["boom"].error and entries["boom"].prediction is None
    assert entries["fine"].error == ""


def test_n_requests_from_concurrent_clients_give_n_log_rows_after_shutdown(demo_wb: Workbench) -> None:
    _make_challenger(demo_wb)
    rows = _rows(30, seed=9)
    clients, per_client = 4, 30
    statuses: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = _conn(server)
        mine = [_predict(conn, {"request_id": f"c{k}-{i}", "features": rows[i]})[0] for i in range(per_client)]
        conn.close()
        with lock:
            statuses.extend(mine)

    with _server(demo_wb, shadow=True) as server:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        summary = server.close()
    assert statuses == [200] * clients * per_client
    with demo_wb.read() as session:
        ours = session.scalar(select(func.count(PredictionLog.id)).where(PredictionLog.request_id.like("c_-%")))
        shadowed = session.scalar(select(func.count(PredictionLog.id)).where(
            PredictionLog.request_id.like("c_-%"), PredictionLog.other_prediction.is_not(None)))
    assert ours == shadowed == clients * per_client
    assert summary["requests"] == summary["logged"] == clients * per_client and summary["not_logged"] == 0
    stopped = _audit(demo_wb, "serving.stopped")[-1]
    assert stopped["requests"] == clients * per_client and stopped["logged"] == clients * per_client


def _metrics(text: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Parse the text exposition strictly: every sample belongs to a family announced by HELP and TYPE."""
    families: dict[str, str] = {}
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name = line.split()[2]
            assert name not in families
            families[name] = ""
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert families[name] == "" and kind in ("counter", "gauge", "histogram")
            families[name] = kind
        else:
            match = re.fullmatch(r'([a-z_]+)(?:\{(.*)\})? (\S+)', line)
            assert match, line
            name, labels, value = match.groups()
            family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in families else name
            assert families.get(family), f"{name} has no HELP/TYPE"
            key = tuple(re.findall(r'(\w+)="([^"]*)"', labels or ""))
            samples.setdefault(name, {})[key] = float(value)
    return samples


def test_health_and_metrics(demo_wb: Workbench) -> None:
    challenger = _make_challenger(demo_wb)
    production = _production(demo_wb)
    rows = _rows(12, seed=4)
    with _server(demo_wb, shadow=True) as server:
        conn = _conn(server)
        status, headers, data = _call(conn, "GET", "/health")
        assert status == 200 and json.loads(data) == {
            "status": "ok", "project": SLUG, "production_version": production.version,
            "challenger_version": challenger.version, "canary_share": 0.0, "shadow": True}
        for row in rows:
            assert _predict(conn, {"features": row})[0] == 200
        assert _predict(conn, {"features": {}})[0] == 400
        status, headers, data = _call(conn, "GET", "/metrics")
        conn.close()
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    metrics = _metrics(data.decode())
    assert metrics["mlwb_requests_total"] == {(("route", "production"),): len(rows), (("route", "canary"),): 0}
    assert metrics["mlwb_request_errors_total"][()] == 0 and metrics["mlwb_bad_requests_total"][()] == 1
    assert metrics["mlwb_model_version"] == {(("role", "production"),): production.version,
                                             (("role", "challenger"),): challenger.version}
    buckets = metrics["mlwb_request_latency_seconds_bucket"]
    counts = [buckets[(("le", le),)] for le in sorted((k[0][1] for k in buckets if k[0][1] != "+Inf"), key=float)]
    assert counts == sorted(counts) and buckets[(("le", "+Inf"),)] == len(rows) >= counts[-1]
    assert metrics["mlwb_request_latency_seconds_count"][()] == len(rows)
    assert 0 < metrics["mlwb_request_latency_seconds_sum"][()] < len(rows)


# --- start-up refusals -------------------------------------------------------------------------


def test_a_tampered_model_file_refuses_to_start(demo_wb: Workbench) -> None:
    production = _production(demo_wb)
    path = demo_wb.artifacts.path_for(production.artifact_sha256, ".skops")
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes()[:-10] + b"tampered!!")
    started = len(_audit(demo_wb, "serving.started"))
    with pytest.raises(WorkbenchError) as caught:
        ScoringServer(demo_wb, SLUG, port=0)
    message = str(caught.value)
    assert f"version {production.version}" in message and "no longer matches the SHA-256" in message
    assert "backup" in message and "mlwb rollback" in message
    assert len(_audit(demo_wb, "serving.started")) == started
    with pytest.raises(WorkbenchError, match="no longer matches the SHA-256"):
        score_file(demo_wb, SLUG, Path("unused.csv"), Path("unused-out.csv"))


def test_a_model_file_with_untrusted_types_refuses_to_start(demo_wb: Workbench) -> None:
    import functools

    import skops.io as sio

    challenger = _make_challenger(demo_wb)
    hostile = functools.partial(os.system, "echo this file would run a shell command")
    sha = demo_wb.artifacts.put_bytes(sio.dumps(hostile), ".skops")
    with demo_wb.unit_of_work() as uow:  # a version registered with a (hash-valid) file of unknown types
        uow.session.get(ModelVersion, challenger.id).artifact_sha256 = sha
        uow.audit("test.model_file_replaced", "model_version", challenger.id, project=SLUG, sha256=sha)
    with pytest.raises(WorkbenchError) as caught:
        ScoringService(demo_wb, SLUG)
    message = str(caught.value)
    assert f"challenger model (version {challenger.version}" in message and "allow-list" in message
    assert f"mlwb alias {SLUG} --clear" in message


def test_no_production_version_or_canary_without_challenger_is_refused(demo_wb: Workbench) -> None:
    promotion.set_alias(demo_wb, SLUG, None, "challenger", reason="test: no challenger")
    with pytest.raises(WorkbenchError, match="needs a challenger"):
        ScoringService(demo_wb, SLUG, canary_share=0.5)
    with pytest.raises(WorkbenchError, match="between 0 and 1"):
        ScoringService(demo_wb, SLUG, canary_share=1.5)
    with demo_wb.db.write() as session:
        session.get(ModelVersion, _production(demo_wb).id).stage = "archived"
    with pytest.raises(WorkbenchError, match=f"promote a version first: mlwb promote {SLUG}"):
        ScoringService(demo_wb, SLUG)


# --- the log writer ------------------------------------------------------------------------------


def test_a_request_id_reused_across_runs_is_logged_under_a_derived_id(demo_wb: Workbench) -> None:
    row = _one_row()
    for run in range(2):
        with ScoringService(demo_wb, SLUG, shadow=False) as service:
            assert service.score({"request_id": "client-42", "features": row})["request_id"] == "client-42"
            with pytest.raises(BadRequest, match="already used"):
                service.score({"request_id": "client-42", "features": row})
    ids = sorted(r.request_id for r in _log(demo_wb) if r.request_id.startswith("client-42"))
    assert len(ids) == 2 and ids[0] == "client-42" and ids[1].startswith("client-42#dup-")
    assert _audit(demo_wb, "serving.stopped")[-1]["renamed_duplicate_ids"] == 1


def test_the_shadow_answer_updates_the_row_it_belongs_to_even_under_a_derived_id(demo_wb: Workbench) -> None:
    """The shadow's answer is written after the row's commit, as an update: it must land on the
    row this run logged (renamed), not on the earlier run's row that kept the id."""
    _make_challenger(demo_wb)
    row = _one_row()
    with ScoringService(demo_wb, SLUG, shadow=False) as service:
        service.score({"request_id": "client-7", "features": row})
    with ScoringService(demo_wb, SLUG, shadow=True) as service:
        service.score({"request_id": "client-7", "features": row})
    entries = {r.request_id: r for r in _log(demo_wb) if r.request_id.startswith("client-7")}
    first = entries.pop("client-7")
    (derived,) = entries.values()
    assert first.other_prediction is None and first.other_version_id is None
    assert derived.other_prediction is not None and derived.other_version_id is not None


def test_a_log_that_cannot_be_written_answers_503_and_the_retry_is_logged(demo_wb: Workbench) -> None:
    """No answer claims success for a request the log does not hold: while inserts into the log
    fail (a real database error, raised by a trigger), requests get 503 with what to do; the id is
    freed, so the client's retry with the same id succeeds once the log is writable again."""
    row = _one_row()
    on_postgresql = demo_wb.db.engine.dialect.name == "postgresql"
    with demo_wb.db.write() as session:
        if on_postgresql:  # a trigger calls a function there
            session.execute(text("CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS "
                                 "$$ BEGIN RAISE EXCEPTION 'disk is full (test)'; END $$"))
            session.execute(text("CREATE TRIGGER refuse_log BEFORE INSERT ON prediction_log "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_log()"))
        else:
            session.execute(text("CREATE TRIGGER refuse_log BEFORE INSERT ON prediction_log "
                                 "BEGIN SELECT RAISE(ABORT, 'disk is full (test)'); END"))
    with _server(demo_wb, shadow=False) as server:
        conn = _conn(server)
        status, answer = _predict(conn, {"request_id": "retry-me", "features": row})
        assert status == 503
        assert "not acknowledged" in answer["error"] and "disk is full (test)" in answer["error"]
        assert "send it again" in answer["error"]
        metrics = _metrics(_call(conn, "GET", "/metrics")[2].decode())
        assert metrics["mlwb_prediction_log_failures_total"][()] == 1
        assert metrics["mlwb_request_errors_total"][()] == 0
        with demo_wb.db.write() as session:
            session.execute(text("DROP TRIGGER refuse_log" + (" ON prediction_log" if on_postgresql else "")))
        status, answer = _predict(conn, {"request_id": "retry-me", "features": row})
        assert status == 200 and answer["request_id"] == "retry-me"
        conn.close()
        with pytest.raises(WorkbenchError, match="1 scored request.*could not be written.*not acknowledged"):
            server.close()
    assert [r.request_id for r in _log(demo_wb) if r.request_id.startswith("retry-me")] == ["retry-me"]
    stopped = _audit(demo_wb, "serving.stopped")[-1]
    assert stopped["not_logged"] == 1 and stopped["logged"] == 1


# --- batch scoring --------------------------------------------------------------------------------


def test_score_file_writes_the_rows_and_their_predictions(demo_wb: Workbench, tmp_path: Path) -> None:
    production = _production(demo_wb)
    model = _model(demo_wb, production)
    frame = generate_interactions(120, seed=21, drift=0.3)
    source = tmp_path / "batch.csv"
    frame.to_csv(source, index=False)
    for out in (tmp_path / "scored.csv", tmp_path / "scored.parquet"):
        summary = score_file(demo_wb, SLUG, source, out)
        assert summary["rows"] == 120 and summary["version"] == production.version and summary["out"] == str(out)
        written = pd.read_csv(out) if out.suffix == ".csv" else pd.read_parquet(out)
        assert list(written.columns) == [*frame.columns, "prediction", "score"]
        assert written["clicked"].tolist() == frame["clicked"].tolist()
        predicted, score = predict_output(model, frame[FEATURES], "binary_classification")
        assert written["prediction"].tolist() == predicted.tolist()
        assert np.allclose(written["score"], score, rtol=0, atol=1e-15 if out.suffix == ".csv" else 0)
    events = _audit(demo_wb, "model.batch_scored")
    assert [(e["rows"], e["input"], e["output"], e["version"]) for e in events[-2:]] == [
        (120, "batch.csv", "scored.csv", production.version), (120, "batch.csv", "scored.parquet", production.version)]
    assert not list(tmp_path.glob(".*.tmp"))


def test_score_file_refuses_missing_columns_and_unreadable_files(demo_wb: Workbench, tmp_path: Path) -> None:
    frame = generate_interactions(10, seed=1).drop(columns=["item_genre"])
    source = tmp_path / "short.csv"
    frame.to_csv(source, index=False)
    out = tmp_path / "out.csv"
    with pytest.raises(WorkbenchError, match="no column 'item_genre' that model version"):
        score_file(demo_wb, SLUG, source, out)
    broken = tmp_path / "broken.csv"
    broken.write_bytes(b"a,b\n1,2,3\n")
    with pytest.raises(WorkbenchError, match="line 2 has 3 fields"):
        score_file(demo_wb, SLUG, broken, out)
    with pytest.raises(WorkbenchError, match="does not exist"):
        score_file(demo_wb, SLUG, tmp_path / "nowhere.csv", out)
    with pytest.raises(WorkbenchError, match=r"must end in \.csv or \.parquet"):
        score_file(demo_wb, SLUG, source, tmp_path / "out.xlsx")
    assert not out.exists()


# --- `mlwb serve` as a process: blocks until SIGTERM, then drains and audits ---------------------


def test_serve_runs_until_sigterm_then_drains_the_log(demo_home: Path, demo_wb: Workbench) -> None:
    code = ("import sys; from app.services.workbench import Workbench; from app.scoring_server import serve; "
            "serve(Workbench.open(), 'ctr-demo', port=0, ready=lambda m: print(m, flush=True))")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=os.environ.copy(), cwd=Path(__file__).resolve().parents[1])
    try:
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        assert "production v" in line and "Ctrl-C stops" in line
        conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
        row = _one_row()
        for i in range(5):
            assert _predict(conn, {"request_id": f"proc-{i}", "features": row})[0] == 200
        conn.close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stderr.read() == ""  # quiet: no access log
    assert sum(r.request_id.startswith("proc-") for r in _log(demo_wb)) == 5
    assert _audit(demo_wb, "serving.stopped")[-1]["requests"] == 5


# --- no database: validation, and the compiled fast path across the model ladder -----------------


def test_parse_request_names_the_field() -> None:
    features = {"age": "numeric", "city": "categorical"}
    row = parse_request({"features": {"age": " 41 ", "city": 7}, "request_id": "r1"}, features)
    assert (row.request_id, row.values, row.numbers) == ("r1", {"age": 41.0, "city": 7}, {"age": 41.0})
    missing = parse_request({"features": {"age": None, "city": None}}, features)
    assert math.isnan(missing.numbers["age"]) and missing.values == {"age": None, "city": None}
    assert len(missing.request_id) == 32
    for payload, message in [
        ("text", "must be a JSON object"),
        ({"features": [1]}, "'features' must be an object"),
        ({}, "'features' must be an object of feature values, not missing"),
        ({"features": {"age": 1}}, "missing feature(s) 'city'"),
        ({"features": {"age": "1e400", "city": "x"}}, "'age' must be a finite number"),
        ({"features": {"age": {}, "city": "x"}}, "'age' is numeric: send a number or null, not an object"),
        ({"features": {"age": 1, "city": "x"}, "request_id": "x" * 65}, "1 to 64 characters"),
    ]:
        with pytest.raises(BadRequest) as caught:
            parse_request(payload, features)
        assert message in str(caught.value)


LADDER = [
    ("logistic_regression", "binary_classification"),
    ("decision_tree", "binary_classification"),
    ("random_forest", "binary_classification"),
    ("hist_gradient_boosting", "binary_classification"),
    ("majority_baseline", "binary_classification"),
    ("popularity_baseline", "binary_classification"),
    ("hist_gradient_boosting", "multiclass_classification"),
    ("logistic_regression", "multiclass_classification"),
    ("linear_regression", "regression"),
    ("hist_gradient_boosting", "regression"),
    ("kmeans", "clustering"),
    ("isolation_forest", "anomaly_detection"),
]


@pytest.mark.parametrize(("kind", "problem_type"), LADDER)
def test_served_answers_equal_predict_output_for_every_kind(kind: str, problem_type: str) -> None:
    rng = np.random.default_rng(0)
    features = {"age": "numeric", "city": "categorical", "genre": "categorical", "popularity": "numeric"}
    n = 400
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, n).astype("float64"),
        "city": rng.choice(["Lisbon", "Berlin", "Oslo", None], n),
        "genre": rng.choice(["drama", "comedy", "action"], n),
        "popularity": rng.random(n),
    })
    frame.loc[rng.random(n) < 0.1, "age"] = np.nan
    signal_ = frame["popularity"] + (frame["city"] == "Berlin") + rng.normal(0, 0.3, n)
    y = {"binary_classification": (signal_ > 1).astype(int).to_numpy(),
         "multiclass_classification": pd.cut(signal_, 3, labels=False).to_numpy(),
         "regression": signal_.to_numpy()}.get(problem_type)
    small = {"hist_gradient_boosting": {"max_iter": 30}, "random_forest": {"n_estimators": 20},
             "isolation_forest": {"n_estimators": 20}}.get(kind, {})
    spec = TrainingSpec(kind=kind, dataset_path="", target="y", features=features, assignments={"train": [0]},
                        problem_type=problem_type, baseline_feature="popularity", seed=1, params=small)
    model = build_model(spec).fit(frame, y)
    n_classes = 3 if problem_type == "multiclass_classification" else 0
    served = ServedModel(id=1, version=1, role="production", run_id=1, kind=kind, problem_type=problem_type,
                         n_classes=n_classes, features=features, model=model, artifact_sha256="")
    profile = {"age": {"min": 18.0, "max": 80.0}, "popularity": {"min": 0.0, "max": 1.0},
               "city": {"top": [["Lisbon", 1], ["Berlin", 1]]}, "genre": {"top": [["drama", 1]]}}
    served.fast = _verified_fast_preparation(served, _probe_rows(features, profile))
    if kind in ("logistic_regression", "decision_tree", "random_forest", "hist_gradient_boosting",
                "linear_regression", "kmeans", "isolation_forest") and problem_type != "multiclass_classification":
        assert served.fast is not None, "the compiled preparation should serve this pipeline"
    requests = frame.head(60).to_dict("records")
    requests += [{"age": 33, "city": "Madrid", "genre": "horror", "popularity": 0.5},
                 {"age": None, "city": None, "genre": None, "popularity": None}]
    rows = [parse_request({"features": r}, features) for r in requests]

    def offline(records: list[dict[str, Any]]) -> list[tuple[Any, Any]]:
        predicted, score = predict_output(model, pd.DataFrame(records)[list(features)], problem_type, n_classes)
        return list(zip(predicted.tolist(), [None] * len(records) if score is None else score.tolist()))

    assert served.predict(rows) == offline(requests)  # exactly, for the rows together
    sample = [*range(10), len(rows) - 2, len(rows) - 1]
    assert [served.predict([rows[i]])[0] for i in sample] == [offline([requests[i]])[0] for i in sample]  # one by one


def test_the_demo_resumed_after_a_crash_sends_only_the_requests_not_yet_logged(demo_wb: Workbench) -> None:
    """A kill during the demo's shadow requests left some logged: the rerun sends the rest, once."""
    from app.services.demo import _serve
    from storage.models import PredictionLog

    frame = generate_interactions(30, seed=3)
    _serve(demo_wb, frame.iloc[:12], prefix="resume", shadow=True, canary_share=0.0, seed=1)  # the crash
    _serve(demo_wb, frame, prefix="resume", shadow=True, canary_share=0.0, seed=1)  # the rerun
    with demo_wb.read() as session:
        ids = sorted(session.scalars(select(PredictionLog.request_id).where(
            PredictionLog.request_id.startswith("resume"))))
    assert ids == [f"resume-{i:05d}" for i in range(30)]  # every request once, none under a #dup- id
    head = _events_and_rows(demo_wb)
    _serve(demo_wb, frame, prefix="resume", shadow=True, canary_share=0.0, seed=1)  # a finished run: nothing
    assert _events_and_rows(demo_wb) == head


def _events_and_rows(wb: Workbench) -> tuple[int, int]:
    from app.services import audit_trail
    from storage.models import PredictionLog

    with wb.read() as session:
        rows = session.scalar(select(func.count(PredictionLog.id)))
    return audit_trail.head(wb)[1], rows
