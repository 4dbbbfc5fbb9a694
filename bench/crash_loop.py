"""Crash loop: `kill -9` of CLI writers and of the scoring server at random moments, then proof that
nothing acknowledged was lost, the database and the audit chain are intact, and no process the
killed one started is still running a second later (issue 12, "Done when").

Three CLI writers run at any time, each a cheap audited verb that writes (`projects new`,
`findings add`, `projects set --owner`) or, one in ten, a training run (a worker process to
orphan); beside them, one `mlwb serve` after another, with the challenger in shadow and two
clients sending requests over keep-alive. Each process gets SIGKILL after a random delay, drawn
relative to how long its kind takes when left alone (measured at the start, then kept up to
date), so about half die mid-way: a writer while it starts up or commits, the server during
start-up (a fifth) or under load. A process that exited first is not killed; its place is taken
at once. What counts as acknowledged:

* a CLI write whose process exited 0 before its kill (its effect must be in the workspace:
  the project, the finding, the owner change's audit event, the run it printed);
* a scoring request that got HTTP 200 (its request id must be in the prediction log).

A second after each process ends (killed or not), every process still alive that carries its
environment tag (inherited by forkservers, workers and resource trackers) is an orphan: it is
counted and named, then watched to say how long it outlives its parent; one still alive
``ORPHAN_GIVE_UP_S`` after its parent ended is killed by the benchmark (and counted as such),
so it cannot pile up. At the end: `PRAGMA integrity_check` and `mlwb audit verify`.

    python -m bench crash_loop [--kills 200] [--seconds 900] [--home EXISTING_MLWB_HOME] [--seed 1]
    python -m bench.crash_loop ...

Exits 1 if any acknowledged write is lost, any orphan is left, a writer fails without being killed, or the
integrity or chain check fails; also if the time budget ran out before ``--kills`` kills (the figures are
then printed for the kills made).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import scratch_home

SLUG = "ctr-demo"
TAG = "MLWB_CRASH_TAG"
WRITERS = 3  # CLI writers running at any time
SERVER_PAUSE_S = 2.0  # between one server's kill and the next server's start
ORPHAN_GRACE_S = 1.0  # a child still alive this long after its parent ended is an orphan
ORPHAN_GIVE_UP_S = 30.0  # an orphan still alive this long after its parent ended is killed here
FEATURES = ["user_age", "user_location", "item_genre", "item_popularity"]


@dataclass
class Launched:
    """One process of a round: what it was, how to check its effect, and what became of it."""

    kind: str  # projects-new | findings-add | owner-set | train | serve
    tag: str
    process: subprocess.Popen
    check: str = ""  # the slug, title or owner whose presence proves the write
    killed: bool = False
    exit_code: int | None = None
    output: str = ""
    error: str = ""
    out_path: Path | None = None
    err_path: Path | None = None
    ended_at: float = 0.0


@dataclass
class Tally:
    kills: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    orphan_lifetimes: list[float] = field(default_factory=list)  # seconds after the parent ended
    orphans_killed: int = 0  # still alive ORPHAN_GIVE_UP_S after their parent ended
    failures: list[str] = field(default_factory=list)  # writers that exited non-zero without being killed
    expected: dict[str, list[str]] = field(default_factory=dict)  # kind -> acknowledged keys
    served_acked: list[str] = field(default_factory=list)
    server_rounds: int = 0

    @property
    def total_kills(self) -> int:
        return sum(self.kills.values())


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "app.cli", *args]


def _spawn(kind: str, tag: str, argv: list[str], check: str = "") -> Launched:
    """Start a tagged process whose output goes to files, not pipes: an orphan holding a pipe
    open would make reading its parent's output block until the orphan dies."""
    env = {**os.environ, TAG: tag}
    out, err = (Path(os.environ["MLWB_HOME"]).parent / f"{tag}.{name}" for name in ("out", "err"))
    with open(out, "w") as stdout, open(err, "w") as stderr:
        process = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env,
                                   cwd=Path(__file__).resolve().parents[1])
    return Launched(kind, tag, process, check, out_path=out, err_path=err)


def _writer(rng: random.Random, tag: str, dataset: int, kind: str | None = None) -> Launched:
    # training is the slow one (seconds, not one): a tenth of the writers, so kills stay frequent
    kind = kind or rng.choices(["projects-new", "findings-add", "owner-set", "train"], weights=[3, 3, 3, 1])[0]
    if kind == "projects-new":
        slug = f"crash-{tag}"
        return _spawn(kind, tag, _cli("projects", "new", slug, "--problem-type", "binary_classification"), slug)
    if kind == "findings-add":
        title = f"crash finding {tag}"
        return _spawn(kind, tag, _cli("findings", "add", SLUG, "--title", title, "--severity", "low"), title)
    if kind == "owner-set":
        owner = f"owner-{tag}"
        return _spawn(kind, tag, _cli("projects", "set", SLUG, "--owner", owner, "--reason", "crash loop"), owner)
    model = rng.choice(["logistic_regression", "hist_gradient_boosting"])  # a worker process to orphan
    return _spawn(kind, tag, _cli("train", SLUG, str(dataset), "--model", model, "--json"))


def _kill(launched: Launched) -> None:
    """SIGKILL unless it already exited; either way, reap it and keep its exit code and output."""
    if launched.process.poll() is None:
        launched.process.send_signal(signal.SIGKILL)
        launched.killed = True
    launched.process.wait(timeout=30)
    launched.ended_at = time.monotonic()
    launched.exit_code = launched.process.returncode
    launched.output = launched.out_path.read_text(errors="replace") if launched.out_path else ""
    launched.error = launched.err_path.read_text(errors="replace") if launched.err_path else ""
    for path in (launched.out_path, launched.err_path):
        if path is not None:
            path.unlink(missing_ok=True)
    if launched.killed and launched.exit_code != -signal.SIGKILL:
        launched.killed = False  # it exited on its own between poll() and the signal


def _tagged_processes(tags: set[str]) -> list[tuple[int, str, str]]:
    """(pid, tag, command line) of every live, non-zombie process carrying one of ``tags``; a job
    worker, forked from the forkserver and so sharing its command line, is named as such."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # exited meanwhile, or not ours to read
            continue
        if state == "Z":
            continue
        for item in environ:
            if item.startswith(TAG.encode() + b"="):
                tag = item.split(b"=", 1)[1].decode()
                if tag in tags:
                    found.append((int(entry.name), tag, cmdline, int(ppid)))
                break
    servers = {pid for pid, _, cmdline, _ in found if "forkserver import main" in cmdline}
    return [(pid, tag, f"job worker (forked from forkserver {ppid}): {cmdline}" if ppid in servers else cmdline)
            for pid, tag, cmdline, ppid in found]


class ServerRound:
    """`mlwb serve` with two keep-alive clients; ``acked`` holds the ids answered with HTTP 200."""

    def __init__(self, tag: str, rows: list[dict]) -> None:
        self.launched = _spawn("serve", tag, _cli("serve", SLUG, "--port", "0"))
        self.tag = tag
        self.rows = rows
        self.acked: list[str] = []
        self.port: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._clients: list[threading.Thread] = []
        threading.Thread(target=self._await_ready, daemon=True).start()

    def _await_ready(self) -> None:
        match = None
        while match is None and self.launched.process.poll() is None:  # the "serving ... on http://..." line
            match = re.search(r"http://127\.0\.0\.1:(\d+)", self.launched.out_path.read_text(errors="replace"))
            time.sleep(0.02)
        if match:
            self.port = int(match.group(1))
            self._clients = [threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(2)]
            for t in self._clients:
                t.start()
        self._ready.set()

    def ready(self) -> bool:
        """The server printed its address (its clients are running); or it died before that."""
        return self._ready.is_set()

    def _client(self, k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        i = 0
        while not self._stop.is_set():
            request_id = f"crash-{self.tag}-{k}-{i}"
            body = json.dumps({"request_id": request_id, "features": self.rows[i % len(self.rows)]})
            i += 1
            try:
                conn.request("POST", "/predict", body=body, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                answer = json.loads(response.read())
            except (OSError, http.client.HTTPException, ValueError):
                return  # the server is gone: whatever was not answered was not acknowledged
            if response.status == 200 and answer.get("request_id") == request_id:
                with self._lock:
                    self.acked.append(request_id)

    def stop_clients(self) -> None:
        self._stop.set()
        for t in self._clients:
            t.join(timeout=15)


class CrashLoop:
    """Keeps ``WRITERS`` CLI writers and one scoring server running, each killed at a random
    moment (or left to finish), and checks for orphans a second after each process ends."""

    def __init__(self, rng: random.Random, dataset: int, rows: list[dict], tally: Tally) -> None:
        self.rng, self.dataset, self.rows, self.tally = rng, dataset, rows, tally
        self.writers: list[tuple[float, float, Launched]] = []  # (started, kill_at, process)
        self.server: ServerRound | None = None
        self.server_kill_at: float | None = None
        self.next_server_at = time.monotonic()
        self.checks: list[tuple[float, Launched]] = []  # (when, process): orphan scans due
        self.lingering: list[tuple[int, str, float]] = []  # orphans being watched: (pid, tag, parent ended at)
        # How long each kind takes when left alone (a running mean, seeded with a guess): kill
        # delays are drawn relative to it, so about half the writers die mid-way on any machine.
        self.duration = {"projects-new": 2.0, "findings-add": 2.0, "owner-set": 2.0, "train": 6.0}
        self.count = 0

    def calibrate(self) -> None:
        """Run one cheap verb and one training to the end (both acknowledged writes) to seed the
        duration estimates with this machine's figures."""
        for kind in ("owner-set", "train"):
            self.count += 1
            started = time.monotonic()
            writer = _writer(self.rng, f"w{self.count}", self.dataset, kind)
            writer.process.wait()
            _kill(writer)
            took = time.monotonic() - started
            self._record(writer, took)
            if writer.exit_code == 0:
                for name in (("projects-new", "findings-add", "owner-set") if kind == "owner-set" else ("train",)):
                    self.duration[name] = took
            self.checks.append((time.monotonic() + ORPHAN_GRACE_S, writer))

    def _kill_delay(self, kind: str) -> float:
        high = 1.3 if kind == "train" else 1.6  # a training run mostly dies while its worker fits
        return self.rng.uniform(0.15, high) * self.duration[kind]

    def step(self, launching: bool) -> bool:
        """One pass: launch, kill what is due, scan for orphans. False when nothing is left."""
        now = time.monotonic()
        while launching and len(self.writers) < WRITERS:
            self.count += 1
            writer = _writer(self.rng, f"w{self.count}", self.dataset)
            self.writers.append((now, now + self._kill_delay(writer.kind), writer))
        if launching and self.server is None and now >= self.next_server_at:
            self.count += 1
            self.server = ServerRound(f"s{self.count}", self.rows)
            self.tally.server_rounds += 1
            # a fifth are killed while starting (loading and probing the models), the rest under load
            self.server_kill_at = now + self.rng.uniform(0.3, 3.0) if self.rng.random() < 0.2 else None
        for entry in list(self.writers):
            started, kill_at, writer = entry
            exited = writer.process.poll() is not None
            if exited or now >= kill_at:
                _kill(writer)
                self.writers.remove(entry)
                self._record(writer, now - started)
                self.checks.append((time.monotonic() + ORPHAN_GRACE_S, writer))
        if self.server is not None:
            server = self.server
            if self.server_kill_at is None and server.ready():
                self.server_kill_at = now + self.rng.uniform(0.1, 2.0)
            if server.launched.process.poll() is not None or (
                    self.server_kill_at is not None and now >= self.server_kill_at):
                _kill(server.launched)
                server.stop_clients()
                self.tally.served_acked.extend(server.acked)
                self._record(server.launched, 0.0, requests=len(server.acked))
                self.checks.append((time.monotonic() + ORPHAN_GRACE_S, server.launched))
                self.server = None
                self.next_server_at = time.monotonic() + SERVER_PAUSE_S
        due = [launched for when, launched in self.checks if when <= now]
        if due:
            self.checks = [(when, launched) for when, launched in self.checks if when > now]
            self._scan(due)
        if self.lingering:
            self._watch(now)
        return bool(self.writers or self.server or self.checks or self.lingering)

    def _record(self, launched: Launched, took: float, requests: int = 0) -> None:
        tally = self.tally
        if launched.kind == "serve":
            tally.acknowledged["serve (requests)"] = tally.acknowledged.get("serve (requests)", 0) + requests
            if launched.killed:
                tally.kills["serve"] = tally.kills.get("serve", 0) + 1
            else:
                tally.failures.append(f"{launched.tag} serve exited {launched.exit_code} without a kill: "
                                      f"{(launched.error.strip().splitlines() or [''])[-1][:200]}")
            return
        if launched.killed:
            tally.kills[launched.kind] = tally.kills.get(launched.kind, 0) + 1
            # it was still running after `took`: the estimate cannot be lower than that
            self.duration[launched.kind] = max(self.duration[launched.kind], 1.1 * took)
        elif launched.exit_code == 0:
            tally.acknowledged[launched.kind] = tally.acknowledged.get(launched.kind, 0) + 1
            key = str(json.loads(launched.output)["run"]) if launched.kind == "train" else launched.check
            tally.expected.setdefault(launched.kind, []).append(key)
            self.duration[launched.kind] = 0.8 * self.duration[launched.kind] + 0.2 * took
        else:
            said = (launched.error.strip() or launched.output.strip()).splitlines() or [""]
            tally.failures.append(f"{launched.tag} {launched.kind} exited {launched.exit_code} without a kill: "
                                  f"{said[-1][:200]}")

    def _scan(self, ended: list[Launched]) -> None:
        by_tag = {launched.tag: launched for launched in ended}
        for pid, tag, cmdline in _tagged_processes(set(by_tag)):
            launched = by_tag[tag]
            how = "killed" if launched.killed else f"exited {launched.exit_code}"
            self.tally.orphans.append(f"{tag} ({launched.kind}, {how}) pid {pid}: {cmdline[:120]}")
            self.lingering.append((pid, tag, launched.ended_at))

    def _watch(self, now: float) -> None:
        """How long each orphan outlives its parent; kill those that outlive it by too much."""
        alive = {(pid, tag) for pid, tag, _ in _tagged_processes({tag for _, tag, _ in self.lingering})}
        still = []
        for pid, tag, ended_at in self.lingering:
            if (pid, tag) not in alive:
                self.tally.orphan_lifetimes.append(now - ended_at)
            elif now - ended_at > ORPHAN_GIVE_UP_S:
                try:
                    os.kill(pid, signal.SIGKILL)  # ours (it carries our tag): do not let it pile up
                except OSError:
                    pass
                self.tally.orphans_killed += 1
                self.tally.orphan_lifetimes.append(now - ended_at)
            else:
                still.append((pid, tag, ended_at))
        self.lingering = still


def _lost(db: Path, tally: Tally) -> dict[str, int]:
    """Acknowledged writes absent from the workspace, by kind."""
    connection = sqlite3.connect(db)
    try:
        def present(sql: str, keys: list[str]) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                found |= {str(v) for (v,) in connection.execute(sql.format(marks=marks), chunk)}
            return found

        lost: dict[str, int] = {}
        checks = {
            "projects-new": "select slug from project where slug in ({marks})",
            "findings-add": "select title from finding where title in ({marks})",
            "train": "select id from run where id in ({marks})",
        }
        for kind, sql in checks.items():
            keys = tally.expected.get(kind, [])
            lost[kind] = len(set(keys) - present(sql, keys))
        owners = tally.expected.get("owner-set", [])
        payloads = "\n".join(p for (p,) in connection.execute(
            "select payload from audit_event where action = 'project.inventory_changed'"))
        lost["owner-set"] = sum(1 for owner in owners if json.dumps(owner) not in payloads)
        lost["serve (requests)"] = len(set(tally.served_acked) - present(
            "select request_id from prediction_log where request_id in ({marks})", tally.served_acked))
        return lost
    finally:
        connection.close()


def _integrity(db: Path) -> str:
    connection = sqlite3.connect(db)
    try:
        return "; ".join(str(r[0]) for r in connection.execute("PRAGMA integrity_check"))
    finally:
        connection.close()


def _dataset_id(db: Path) -> int:
    connection = sqlite3.connect(db)
    try:
        row = connection.execute(
            "select d.id from dataset_version d join project p on p.id = d.project_id "
            "where p.slug = ? and d.role = 'training' order by d.id limit 1", (SLUG,)).fetchone()
    finally:
        connection.close()
    if row is None:
        raise SystemExit(f"the workspace has no training dataset for {SLUG}: build the demo first")
    return int(row[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.crash_loop")
    parser.add_argument("--kills", type=int, default=200, help="stop after this many kills (default 200)")
    parser.add_argument("--seconds", type=float, default=900.0, help="time budget for the kills (default 900)")
    parser.add_argument("--home", type=Path, help="copy this workspace (with the demo) instead of building one")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    home = scratch_home("crash")
    if args.home:
        shutil.copytree(args.home, home)
    else:
        print("building a small demo workspace (mlwb demo --rows 6000) ...", flush=True)
        subprocess.run(_cli("demo", "--rows", "6000", "--batch-rows", "1500"), check=True, capture_output=True,
                       env=os.environ.copy())
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from app.ml.demo_data import generate_interactions
    from app.services.workbench import Workbench
    from bench.serving_latency import _ensure_challenger
    from storage.workspace import Workspace

    wb = Workbench.open(Workspace(home))
    try:
        _ensure_challenger(wb)  # the server scores a shadow too: its answers are later updates of the row
    finally:
        wb.close()
    db = home / "registry.sqlite3"
    dataset = _dataset_id(db)
    rows = generate_interactions(200, seed=args.seed)[FEATURES].to_dict("records")
    rng = random.Random(args.seed)
    tally = Tally()
    print(f"== crash loop: SIGKILL of CLI writers and `mlwb serve` on {home} (until {args.kills} kills "
          f"or {args.seconds:.0f} s) ==", flush=True)
    started = time.monotonic()
    loop = CrashLoop(rng, dataset, rows, tally)
    loop.calibrate()
    print("  left alone: a cheap verb takes {:.1f} s, a training {:.1f} s".format(
        loop.duration["owner-set"], loop.duration["train"]), flush=True)
    reported = 0
    while True:
        launching = tally.total_kills < args.kills and time.monotonic() - started < args.seconds
        if not loop.step(launching) and not launching:
            break
        if tally.total_kills >= reported + 25:
            reported = tally.total_kills
            print(f"  {tally.total_kills} kills, {sum(tally.acknowledged.values())} acknowledged, "
                  f"{len(tally.orphans)} orphans, {time.monotonic() - started:.0f} s", flush=True)
        time.sleep(0.02)
    elapsed = time.monotonic() - started

    lost = _lost(db, tally)
    integrity = _integrity(db)
    verify = subprocess.run(_cli("audit", "verify"), capture_output=True, text=True, env=os.environ.copy())
    chain = (verify.stdout.strip().splitlines() or [verify.stderr.strip()])[0]
    chain_ok = verify.returncode == 0 and "OK" in chain

    print(f"\n{loop.count} processes started ({tally.server_rounds} of them `mlwb serve`) in {elapsed:.0f} s")
    print(f"{'process':18s} {'killed':>7s} {'acknowledged':>13s} {'ack. lost':>10s}")
    for kind in ("projects-new", "findings-add", "owner-set", "train", "serve", "serve (requests)"):
        acked = tally.acknowledged.get(kind, "-" if kind == "serve" else 0)
        print(f"{kind:18s} {tally.kills.get(kind, '') if kind != 'serve (requests)' else '':>7} "
              f"{acked:>13} {lost.get(kind, '-'):>10}")
    total_lost = sum(lost.values())
    print(f"{'total':18s} {tally.total_kills:>7} {sum(tally.acknowledged.values()):>13} {total_lost:>10}")
    print(f"acknowledged writes lost: {total_lost}")
    print(f"orphaned processes 1 s after their parent ended: {len(tally.orphans)}")
    if tally.orphan_lifetimes:
        print(f"  they outlived their parent by {min(tally.orphan_lifetimes):.1f}-{max(tally.orphan_lifetimes):.1f} s; "
              f"still alive after {ORPHAN_GIVE_UP_S:.0f} s (killed by the benchmark): {tally.orphans_killed}")
    kinds: dict[str, int] = {}
    for orphan in tally.orphans:
        what = orphan.split(": ", 1)[1]
        kind = ("job worker" if what.startswith("job worker") else "forkserver" if "forkserver" in what
                else "resource tracker" if "resource_tracker" in what else what[:60])
        kinds[kind] = kinds.get(kind, 0) + 1
    for kind, n in sorted(kinds.items(), key=lambda item: -item[1]):
        print(f"  {n:4d} x {kind}")
    for orphan in tally.orphans[:5]:
        print(f"  e.g. {orphan}")
    print(f"writers that failed without being killed: {len(tally.failures)}")
    for failure in tally.failures[:5]:
        print(f"  {failure}")
    print(f"PRAGMA integrity_check: {integrity}")
    print(f"mlwb audit verify: {chain}")
    bad = []
    if total_lost:
        bad.append(f"{total_lost} acknowledged write(s) lost")
    if tally.orphans:
        bad.append(f"{len(tally.orphans)} orphan(s)")
    if integrity != "ok":
        bad.append("integrity check failed")
    if not chain_ok:
        bad.append("audit chain broken")
    if tally.failures:  # an error reached a user whose process nobody killed
        bad.append(f"{len(tally.failures)} writer(s) failed without a kill")
    if tally.total_kills < args.kills:
        bad.append(f"only {tally.total_kills} of {args.kills} kills within {args.seconds:.0f} s")
    print("verdict: " + ("ok" if not bad else "FAILED: " + "; ".join(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
