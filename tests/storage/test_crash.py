"""Kill -9 during a run: the log must be intact and hold every part decided more than 0.5 s before
the kill, with every defect on it."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time


def test_sigkill_loses_nothing_older_than_half_a_second(tmp_path):
    db, dets = tmp_path / "log.sqlite", tmp_path / "parts.jsonl"
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
            "--parts-out",
            str(dets),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    seen_at: dict[int, float] = {}  # part -> when its line was first seen (after it was decided)
    defects: dict[int, list[tuple[int, str]]] = {}  # part -> (part, class) of each defect on it
    offset = 0
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and len(seen_at) < 12:
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
                    seen_at[row["part"]] = now
                    defects[row["part"]] = [(row["part"], d["class"]) for d in row["defects"]]
            time.sleep(0.01)
        killed_at = time.monotonic()
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    old_enough = [p for p, t in seen_at.items() if t < killed_at - 0.5]
    assert len(old_enough) >= 6
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        parts = {row[0] for row in conn.execute("SELECT part FROM parts")}
        on_parts = "SELECT p.part, d.class_name FROM defects d JOIN parts p ON d.part_id = p.id"
        stored = set(conn.execute(on_parts))
    assert set(old_enough) <= parts, f"parts lost: {set(old_enough) - parts}"
    missing = {p: defects[p] for p in old_enough if not set(defects[p]) <= stored}
    assert not missing, f"parts whose defects were lost: {missing}"
    assert sum(len(defects[p]) for p in old_enough) > 0
