"""``--metrics HOST:PORT``: a real run's figures scraped from /metrics match its recording."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mptop.workers import metrics
from mptop.workers.record import read_recording
from mptop.workers.snapshot import Snapshot, WorkerState
from tests.helpers import alive, reap_recorded, wait_for
from tests.terminal import mptop_cmd
from tests.ui.samples import snapshot

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Samples by name: each one's labels and value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def test_a_scrape_during_a_run_matches_the_recorded_snapshot_it_served(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "run.jsonl"
    cmd = mptop_cmd(
        "-n", "2", "--workload", "sleep", "--interval", "0.3", "--headless",
        "--duration", "4", "--output", str(out), "--metrics", f"127.0.0.1:{port}",
    )  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:

        def flowing() -> dict[str, list[tuple[dict[str, str], float]]] | None:
            try:
                got = scrape(port)
            except OSError:
                return None
            sent = [v for labels, v in got.get("mptop_channel_sent_messages_total", [])]
            return got if sent and max(sent) > 0 else None

        got = wait_for(flowing, timeout=20, interval=0.2)
        assert got is not None
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    assert proc.returncode == 0, stderr
    rec = read_recording(out)
    reap_recorded(rec.snapshots)
    (stamp,) = [v for _, v in got["mptop_snapshot_timestamp_seconds"]]
    snap = next(s for s in rec.snapshots if abs(s.time - stamp) < 1e-6)  # the one it served
    for c in snap.channels:
        which = {"source": "spawn", "channel": c.name, "kind": c.kind}
        for name, value in (
            ("mptop_channel_sent_messages_total", c.sent),
            ("mptop_channel_received_messages_total", c.received),
            ("mptop_channel_sent_bytes_total", c.sent_bytes),
            ("mptop_channel_lost_messages_total", c.lost),
            ("mptop_channel_backlog_messages", c.backlog),
        ):
            assert (which, float(value)) in got[name], (name, which, got[name])
    for w in snap.workers:
        who = {"source": "spawn", "name": w.name, "pid": str(w.pid)}
        assert ({**who, "state": w.state.value}, 1.0) in got["mptop_worker_state"]
        if w.rss is not None:
            assert (who, float(w.rss)) in got["mptop_worker_resident_memory_bytes"]
        if w.cpu_percent is not None:
            assert (who, w.cpu_percent / 100) in got["mptop_worker_cpu_cores"]
    assert ({"source": "spawn"}, 1.0) in got["mptop_up"]
    assert not alive(w.pid for s in rec.snapshots for w in s.workers)


def test_bad_metrics_addresses_are_one_line_and_exit_2() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        for value, says in (
            ("9464", "must be HOST:PORT"),
            ("127.0.0.1:99999", "port must be 1 to 65535"),
            (f"127.0.0.1:{port}", f"cannot serve on 127.0.0.1:{port}"),
        ):
            proc = subprocess.run(
                mptop_cmd("--metrics", value), capture_output=True, text=True, timeout=30
            )
            assert proc.returncode == 2, proc.stderr
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and "error: --metrics: " in lines[0] and says in lines[0]


def test_an_exited_workers_series_go_after_a_while(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    exporter = metrics.MetricsExporter("127.0.0.1", 0, kind="spawn")
    try:
        snap: Snapshot = snapshot(cores=2, workers=2)
        gone = dataclasses.replace(snap.workers[0], state=WorkerState.EXITED, exitcode=-9)
        snap = dataclasses.replace(snap, workers=(gone, snap.workers[1]))
        exporter.update(snap)
        got = scrape(exporter.port)
        who = {"source": "spawn", "name": gone.name, "pid": str(gone.pid)}
        assert (who, -9.0) in got["mptop_worker_exit_code"]
        monkeypatch.setattr(metrics, "EXITED_KEPT", -1.0)  # as if a minute had passed
        time.sleep(0.01)
        got = scrape(exporter.port)
        assert all(labels.get("pid") != str(gone.pid) for labels, _ in got["mptop_worker_state"])
        assert any(
            labels.get("pid") == str(snap.workers[1].pid) for labels, _ in got["mptop_worker_state"]
        )
    finally:
        exporter.stop()
