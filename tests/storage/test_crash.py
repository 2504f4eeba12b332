"""Kill -9 during a run: the log must be intact and hold every defect whose frame finished more
than 0.5 s before the kill."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time


def test_sigkill_loses_nothing_older_than_half_a_second(tmp_path):
    db, dets = tmp_path / "log.sqlite", tmp_path / "dets.jsonl"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "inspector",
            "run",
            "--headless",
            "--source",
            "synthetic:fps=0",
            "--db",
            str(db),
            "--detections-out",
            str(dets),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen_at: dict[int, float] = {}  # frame -> when its line was first seen (after it finished)
    counts: dict[int, int] = {}
    offset = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and len(seen_at) < 60:
            assert proc.poll() is None, proc.stderr.read().decode()
            if dets.exists():
                with dets.open() as fh:
                    fh.seek(offset)
                    chunk = fh.read()
                complete = chunk[: chunk.rfind("\n") + 1]
                offset += len(complete)
                now = time.monotonic()
                for line in complete.splitlines():
                    row = json.loads(line)
                    seen_at[row["frame"]] = now
                    counts[row["frame"]] = len(row["detections"])
            time.sleep(0.01)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    old_enough = [f for f, t in seen_at.items() if t < killed_at - 0.5]
    assert len(old_enough) >= 20
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = dict(
            conn.execute("SELECT frame_index, COUNT(*) FROM defects GROUP BY frame_index").fetchall()
        )
    missing = {f: counts[f] for f in old_enough if stored.get(f, 0) != counts[f]}
    assert not missing, f"frames whose defects were lost: {missing}"
    assert sum(counts[f] for f in old_enough) > 0
