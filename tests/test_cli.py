"""The command line, run as an operator runs it: a real process, real files, real exit codes."""

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from inspector.cli import main
from inspector.paths import demo_model_path


def run_cli(*args: str, timeout: float = 300, **env_extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    return subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_a_first_run_on_a_fresh_account_prints_only_its_summary(tmp_path):
    # as an operator's shell has it: ultralytics hushes itself under pytest (and tells its children to)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_") and k != "YOLO_VERBOSE"}
    env |= {"YOLO_CONFIG_DIR": str(tmp_path / "yolo"), "XDG_STATE_HOME": str(tmp_path / "state")}
    args = ["run", "--headless", "--frames", "2", "--no-images", "--json", "--db", str(tmp_path / "d.sqlite")]
    proc = subprocess.run(
        [sys.executable, "-m", "inspector", *args], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["frames"] == 2
    log = (tmp_path / "state" / "inspector" / "log" / "inspector.log").read_text()
    assert "Creating new Ultralytics Settings" in log, "ultralytics' first-run notice went to the log"


def test_headless_summary_is_honest_and_matches_the_database(tmp_path):
    db = tmp_path / "log.sqlite"
    out, parts_out = tmp_path / "dets.jsonl", tmp_path / "parts.jsonl"
    proc = run_cli(
        "run",
        "--headless",
        "--parts-out",
        str(parts_out),
        "--frames",
        "40",
        "--source",
        "synthetic:fps=0",
        "--seed",
        "3",
        "--db",
        str(db),
        "--json",
        "--detections-out",
        str(out),
        # as on a fresh account: ultralytics writes its settings and says so, but not into the JSON
        YOLO_CONFIG_DIR=str(tmp_path / "ultralytics"),
        YOLO_VERBOSE="True",
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ultralytics" / "Ultralytics" / "settings.json").is_file()
    summary = json.loads(proc.stdout)
    assert summary["frames"] == 40 and summary["backend"] == "eager"
    with sqlite3.connect(db) as conn:
        in_db = conn.execute(
            "SELECT COUNT(*) FROM defects WHERE run_id = ?", (summary["run_id"],)
        ).fetchone()[0]
        frames = conn.execute("SELECT frames FROM runs WHERE id = ?", (summary["run_id"],)).fetchone()[0]
    assert summary["defects_logged"] == summary["defects_detected"] == in_db > 0
    assert frames == 40
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["frame"] for line in lines] == list(range(40))
    found = [d["confidence"] for line in lines for d in line["detections"]]
    assert min(found) >= 0.25, "the detections file holds what the window draws, dashed ones too"
    # one record per physical defect, not per frame: each part's defects, once
    parts = [json.loads(line) for line in parts_out.read_text().splitlines()]
    assert sum(len(p["defects"]) for p in parts) == in_db < sum(c >= 0.5 for c in found)
    assert summary["parts"] == len(parts) > 0 and summary["part_classes"] == ["plate", "washer"]
    assert summary["parts_ng"] == sum(p["verdict"] == "NG" for p in parts)
    assert summary["parts_ok"] + summary["parts_ng"] == summary["parts"]
    assert all(p["verdict"] == ("NG" if p["defects"] else "OK") for p in parts)
    assert all(d["frames"] >= 3 and 0 <= d["frame"] < 40 for p in parts for d in p["defects"])
    for stage in ("capture", "pre", "infer", "post", "total"):
        p = summary["latency_ms"][stage]
        assert 0 <= p["p50"] <= p["p95"] <= p["p99"]


def test_a_kill_closes_the_run_as_ctrl_c_does(tmp_path):
    db, out, parts_out = tmp_path / "log.sqlite", tmp_path / "dets.jsonl", tmp_path / "parts.jsonl"
    args = ["run", "--headless", "--source", "synthetic:fps=0", "--db", str(db), "--json"]
    args += ["--parts-out", str(parts_out)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(
        [sys.executable, "-m", "inspector", *args, "--detections-out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as proc:
        deadline = time.monotonic() + 120
        while not (out.is_file() and len(out.read_text().splitlines()) >= 5):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        proc.send_signal(signal.SIGTERM)  # a second kill does not cut the closing short
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, stderr  # 143: stopped by a kill, as shells count it
    assert "stopped by SIGTERM; finishing the run" in stderr
    summary = json.loads(stdout)
    assert summary["stopped_by"] == "SIGTERM"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary["interrupted"] and summary["frames"] == len(lines) >= 5
    with sqlite3.connect(db) as conn:
        frames, ended = conn.execute("SELECT frames, ended_at FROM runs").fetchone()
        in_db = conn.execute("SELECT COUNT(*) FROM defects").fetchone()[0]
    assert frames == len(lines) and ended is not None
    parts = [json.loads(line) for line in parts_out.read_text().splitlines()]
    assert summary["parts"] == len(parts) > 0, "the parts in view are decided as the run closes"
    assert in_db == summary["defects_logged"] == sum(len(p["defects"]) for p in parts)


def test_history_lists_and_exports(tmp_path, capsys):
    db = tmp_path / "log.sqlite"
    assert (
        run_cli(
            "run", "--headless", "--frames", "10", "--source", "synthetic:fps=0", "--db", str(db)
        ).returncode
        == 0
    )
    assert main(["history", "--db", str(db), "--class", "dent", "--since", "1h"]) == 0
    listed = capsys.readouterr().out
    assert "defects match" in listed
    csv_path = tmp_path / "out.csv"
    assert main(["history", "--db", str(db), "--min-conf", "0.5", "--csv", str(csv_path)]) == 0
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("id,run_id,camera,detected_at")
    assert f"{len(rows) - 1} defects written" in capsys.readouterr().out


def test_history_of_parts_lists_tallies_and_exports(tmp_path, capsys):
    db, parts_out = tmp_path / "log.sqlite", tmp_path / "parts.jsonl"
    run = ["run", "--headless", "--frames", "150", "--source", "synthetic:fps=0,seed=5", "--db", str(db)]
    assert main([*run, "--parts-out", str(parts_out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    decided = [json.loads(line) for line in parts_out.read_text().splitlines()]
    ng = [p for p in decided if p["verdict"] == "NG"]
    assert summary["parts"] == len(decided) >= 4 and ng, "the line passes good and bad parts in 150 frames"

    assert main(["history", "--db", str(db), "--parts", "--verdict", "NG"]) == 0
    listed = capsys.readouterr().out
    assert f"{len(ng)} parts match" in listed and " OK " not in listed
    assert main(["history", "--db", str(db), "--summary"]) == 0
    _, row = capsys.readouterr().out.splitlines()
    assert row.split()[:4] == ["1", str(len(decided)), str(len(decided) - len(ng)), str(len(ng))]
    classes = sorted({d["class"] for p in ng for d in p["defects"]})
    assert sorted(c for c in classes if c in row) == classes
    assert main(["history", "--db", str(db), "--summary", "shift", "--shifts", "00:00,12:00"]) == 0
    by_shift = capsys.readouterr().out.splitlines()[1:]
    assert sum(int(line.split()[2]) for line in by_shift) == len(decided)

    csv_path = tmp_path / "parts.csv"
    assert main(["history", "--db", str(db), "--parts", "--csv", str(csv_path)]) == 0
    rows = sorted(csv.DictReader(csv_path.open()), key=lambda r: int(r["part"]))
    assert [(int(r["part"]), r["verdict"], int(r["defects"])) for r in rows] == [
        (p["part"], p["verdict"], len(p["defects"])) for p in sorted(decided, key=lambda p: p["part"])
    ]
    assert all((db.parent / r["image_path"]).is_file() for r in rows if r["verdict"] == "NG")
    assert not any(r["image_path"] for r in rows if r["verdict"] == "OK")


@pytest.mark.parametrize(
    "args",
    [
        ["--summary", "--csv", "x.csv"],
        ["--verdict", "NG"],
        ["--parts", "--min-conf", "0.5"],
        ["--summary", "--shifts", "6am"],
        ["--since", "99999999d"],
        ["--until", "9999-12-31T23:59-12:00"],
        ["--run", str(10**23)],
    ],
)
def test_history_refuses_options_that_do_not_fit_or_are_out_of_range_in_one_line(tmp_path, capsys, args):
    db = tmp_path / "log.sqlite"
    assert main(["run", "--headless", "--frames", "2", "--no-images", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["history", "--db", str(db), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("inspector: error:") and err.count("\n") == 1


def test_synth_writes_a_yolo_dataset(tmp_path):
    assert main(["synth", "--seed", "4", "--frames", "6", "--out", str(tmp_path / "ds")]) == 0
    images = sorted((tmp_path / "ds" / "images").glob("*.jpg"))
    labels = sorted((tmp_path / "ds" / "labels").glob("*.txt"))
    assert len(images) == len(labels) == 6
    for label in labels:
        for row in label.read_text().splitlines():
            cls, *xywh = row.split()
            assert int(cls) in range(6) and all(0 <= float(v) <= 1 for v in xywh)
    assert "names:" in (tmp_path / "ds" / "data.yaml").read_text()


def _bad(tmp_path: Path) -> list[tuple[list[str], str]]:
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(demo_model_path().read_bytes()[:4096])
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    cases = [
        (["--weights", str(tmp_path / "absent.pt")], "model file not found"),
        (["--weights", str(corrupt)], "not a loadable ultralytics model"),
        (["--weights", "yolov8n-cls.yaml"], "needs a detect model"),
        (["--source", str(tmp_path / "absent.mp4")], "video file not found"),
        (["--source", "nonsense"], "unknown source"),
        (["--db", str(blocker / "x.sqlite")], "cannot create the folder"),
        (["--backend", "tensorrt"], "unknown backend"),
        (["--mode", "turbo"], "unknown compile mode"),
        (["--mode", "cuda-graph", "--device", "cpu"], "--mode cuda-graph runs on a CUDA GPU; on cpu choose"),
        (["--device", "tpu"], "unknown device"),
        (["--roi", "1,2"], "four numbers"),
        (["--frames", "0"], "--frames"),
        (["--imgsz", "0"], "input size must be within"),
        (["--imgsz", "100000"], "input size must be within"),
        (["--iou", "5"], "iou must be a number within 0..1"),
        (["--conf", "nan"], "min confidence must be a number within 0..1"),
        (["--roi", "nan,0,10,10"], "finite"),
        (["--classes", " , "], "at least one class"),
        (["--screenshot", str(tmp_path / "s.png")], "--screenshot only applies to the window"),
        (["--detections-out", str(tmp_path / "absent" / "d.jsonl")], "cannot write the detections file"),
        (["--source", "96"], "cannot open camera 96"),
        (["--source", "synthetic", "--source", "96"], "cannot open camera 96"),
        (["--source", "a=synthetic", "--source", "a=0"], "two cameras are named a"),
        (["--sources", str(tmp_path / "absent.txt")], "cannot read the sources file"),
        (["--source", str(_junk_folder(tmp_path))], "none of the 1 images"),
        (["--plc", "http://plc"], "expected modbus://HOST"),
        (["--plc", "modbus://plc?pulse_ms=0"], "pulse_ms must be a whole number within 10..10000"),
        (["--plc", "modbus://plc:99999"], "out of range"),
        (["--plc", "modbus://plc?coil=1&speed=2"], "unknown setting speed"),
        (["--mqtt", "mqtt://broker/site/#"], "may not hold +, #"),
        (["--mqtt", "mqtts://broker?ca=/absent.pem"], "ca file /absent.pem does not exist"),
        (["--mqtt", "mqtt://user:s3cret@broker?qos=2"], "--mqtt: unknown setting qos"),
        (["--opcua", "opc.tcp://admin@127.0.0.1:4840"], "needs a password in INSPECTOR_OPCUA_PASSWORD"),
        (["--station", "line/1"], "a station name may not"),
        (["--recipes", str(tmp_path / "absent.toml")], "recipes file"),
        (["--keep-images", "0"], "--keep-images must be a number of days above 0"),
        (["--keep-images", "soon"], "a number of days, or forever"),
        (["--min-free", "-1"], "--min-free must be a number of MB, 0 or more"),
        (["--recipe", "3"], "--recipe 3: no such recipe (recipes: none: give --recipes FILE)"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--device", "cuda:0"], "no CUDA GPU"))
    return cases


def _junk_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "junk"
    folder.mkdir(exist_ok=True)
    (folder / "frame.jpg").write_bytes(b"not a jpeg")
    return folder


def test_a_headless_line_of_several_cameras_reports_each(tmp_path, capsys):
    db, parts_out, listing = tmp_path / "log.sqlite", tmp_path / "parts.jsonl", tmp_path / "cameras.txt"
    listing.write_text("# the press\ntop=synthetic:fps=0,frames=60\nside=synthetic:fps=0,frames=40\n")
    args = ["run", "--headless", "--no-images", "--db", str(db), "--parts-out", str(parts_out)]
    assert main([*args, "--sources", str(listing), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    cameras = summary["cameras"]
    assert list(cameras) == ["top", "side"] and summary["frames"] == 100
    assert [cameras[c]["frames"] for c in cameras] == [60, 40]
    assert summary["parts"] == sum(c["parts"] for c in cameras.values()) > 0
    decided = [json.loads(line) for line in parts_out.read_text().splitlines()]
    assert {c: sum(p["camera"] == c for p in decided) for c in cameras} == {
        c: v["parts"] for c, v in cameras.items()
    }
    assert summary["tracking_processes"] == 0, "two cameras: their parts are followed here"
    two = ["--source", "synthetic:fps=0,frames=8", "--source", "b=synthetic:fps=0,frames=8"]
    assert main([*args, *two, "--tracking-processes", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 cameras: cam1 synthetic" in out and "  cam1: 8 frames" in out and "  b: 8 frames" in out
    assert "backend eager, parts followed in 2 processes" in out
    assert main(["history", "--db", str(db), "--parts", "--run", "1"]) == 0
    assert " top " in capsys.readouterr().out


def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, capsys):
    db = tmp_path / "ok.sqlite"
    for extra, message in _bad(tmp_path):
        code = main(["run", "--headless", "--frames", "2", "--db", str(db), *extra])
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert message in err, (extra, err)
        assert err.startswith("inspector: error:") and err.count("\n") == 1, (extra, err)
    if db.exists():  # nothing ran: no run was opened in the log
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--headless", "--weights", "missing.pt"], "model file not found"),
        (["run", "--headless", "--source", "96", "--frames", "3"], "cannot open camera 96"),
        (["history", "--db", "/nonexistent/log.sqlite"], "no defect database"),
    ],
)
def test_no_traceback_reaches_the_operator(tmp_path, args, message):
    proc = run_cli(*args, "--db", str(tmp_path / "x.sqlite")) if args[0] == "run" else run_cli(*args)
    assert proc.returncode == 2
    assert message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_window_refuses_options_that_only_a_headless_run_uses(tmp_path, capsys):
    code = main(["run", "--frames", "5", "--json", "--db", str(tmp_path / "x.sqlite")])
    err = capsys.readouterr().err
    assert code == 2 and err == "inspector: error: --frames, --json only apply with run --headless\n"
    assert not (tmp_path / "x.sqlite").exists()


def test_refusals_and_their_reasons_are_in_the_log(tmp_path):
    proc = run_cli("run", "--headless", "--iou", "5", XDG_STATE_HOME=str(tmp_path / "state"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    log = next((tmp_path / "state").rglob("inspector.log")).read_text()
    assert "refused: iou must be a number within 0..1" in log


def test_a_password_given_in_a_link_url_is_never_printed_or_logged(tmp_path):
    url = "mqtt://line7:s3cret@127.0.0.1:9/plant?ca=/absent.pem"
    proc = run_cli("run", "--headless", "--mqtt", url, XDG_STATE_HOME=str(tmp_path / "state"))
    log = next((tmp_path / "state").rglob("inspector.log")).read_text()
    assert proc.returncode == 2 and "ca file /absent.pem does not exist" in proc.stderr
    assert "mqtt://line7:***@127.0.0.1:9/plant" in log
    assert "s3cret" not in proc.stderr + proc.stdout + log


def test_a_failing_compile_falls_back_to_eager_and_says_why(tmp_path):
    # No working C++ compiler and a cold cache: Inductor cannot build the CPU kernels.
    env_extra = {"CXX": "/bin/false", "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "run",
            "--headless",
            "--frames",
            "3",
            "--source",
            "synthetic:fps=0",
            "--backend",
            "compiled",
            "--mode",
            "default",  # Inductor, which needs the C++ compiler taken away above
            "--imgsz",
            "128",
            "--db",
            str(tmp_path / "x.sqlite"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env_extra},
    )
    assert proc.returncode == 0, proc.stderr
    assert "torch.compile failed" in proc.stderr and "continuing on the eager backend" in proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["backend"] == "eager" and summary["frames"] == 3


@pytest.mark.parametrize("name", ["100%41.db", "a?mode=ro.db", "b#c.db"])
def test_a_database_name_is_a_name_not_url_syntax(tmp_path, name):
    code = main(["run", "--headless", "--frames", "2", "--no-images", "--db", str(tmp_path / name)])
    assert code == 0 and (tmp_path / name).is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".db") == [name]


def test_a_tilde_in_db_is_the_home_folder_for_the_database_and_its_images(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--headless", "--frames", "30", "--db=~/t.db"]) == 0
    assert (tmp_path / "home" / "t.db").is_file() and not (tmp_path / "~").exists()
    assert main(["history", "--db=~/t.db"]) == 0


def test_cache_clear_deletes_only_inspector_s_own_cache(tmp_path, monkeypatch, capsys):
    foreign = tmp_path / "someone-elses"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(foreign))
    assert main(["cache", "--clear"]) == 2
    assert "clears only its own" in capsys.readouterr().err
    assert (foreign / "keep.txt").read_text() == "mine"
    assert main(["cache"]) == 0, "showing it is harmless"


def test_compiled_kernels_are_kept_in_the_user_cache_folder(tmp_path):
    """Not in torch's default, /tmp/torchinductor_<user>, which a reboot wipes: a compiled run
    after a reboot would compile cold again."""
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    code = (
        "import os, sys; from inspector.cli import main; main(['cache']); import torch._inductor.config; "
        "print(os.environ['TORCHINDUCTOR_CACHE_DIR'])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    own = str(tmp_path / "cache" / "inspector" / "torch-compile")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"compile cache {own}: empty", own]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full, a device that is always full")
def test_an_output_file_on_a_full_disk_stops_the_run_closed_with_one_line(tmp_path, capsys):
    db = tmp_path / "log.sqlite"
    code = main(["run", "--headless", "--frames", "40", "--db", str(db), "--detections-out", "/dev/full"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert "cannot write the detections file /dev/full: No space left on device" in err
    assert not any("Traceback" in line or "internal error" in line for line in err)
    with sqlite3.connect(db) as conn:
        frames, ended = conn.execute("SELECT frames, ended_at FROM runs").fetchone()
    assert ended is not None and frames < 40, "stopped at once, and closed"


def test_below_the_disk_budget_a_run_keeps_every_row_saves_no_image_and_says_so(tmp_path, capsys):
    db = tmp_path / "d.sqlite"
    args = ["run", "--headless", "--source", "synthetic:fps=0", "--frames", "100", "--imgsz", "320"]
    code = main([*args, "--device", "cpu", "--min-free", "1e12", "--db", str(db), "--json"])
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert code == 0 and summary["parts_ng"] > 0
    assert summary["images_skipped"] == summary["parts_ng"] and summary["defects_dropped"] == 0
    assert summary["defects_logged"] >= summary["parts_ng"] and "defect images are not saved" in err
    assert not list(tmp_path.rglob("*.jpg"))


def test_history_into_a_reader_that_stops_early_ends_quietly_and_changes_nothing(tmp_path):
    from inspector.storage.database import open_database
    from inspector.storage.writer import DefectRecord, DefectWriter, RunInfo, utc_now

    db = tmp_path / "d.sqlite"
    engine = open_database(db)
    writer = DefectWriter(engine, db).start()
    run = writer.begin_run(RunInfo("synthetic", "demo.pt", None, "eager", "cpu"))
    box = (1.0, 2.0, 3.0, 4.0)
    writer.log(
        [DefectRecord(run, utc_now(), i, "dent", 0.9, box, "eager", None, (0, 0)) for i in range(5000)]
    )
    writer.stop()
    engine.dispose()
    before = db.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-m", "inspector", "history", "--db", str(db), "--limit", "5000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.readline()  # as `| head -1` does: one line, then the pipe is closed
    proc.stdout.close()
    assert proc.wait(60) == 128 + signal.SIGPIPE
    assert proc.stderr.read() == b"", "no traceback, no internal error"
    assert db.read_bytes() == before


def test_the_bf16_mode_on_a_cpu_without_bf16_is_refused_in_one_line(monkeypatch, capsys):
    from inspector.inference import frame_pipeline

    monkeypatch.setattr(frame_pipeline, "cpu_computes_bf16", lambda: False)
    assert main(["run", "--headless", "--device", "cpu", "--mode", "openvino-bf16"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--mode openvino-bf16 needs a CPU that computes in bf16; here choose openvino" in err


def _scored(tmp_path: Path, name: str, *backend: str, seed: int = 101) -> tuple[dict, dict, str]:
    """A headless run on a held-out seed of the synthetic line, its summary, its score, its stderr."""
    source = f"synthetic:seed={seed},fps=0"
    found = tmp_path / f"{name}.jsonl"
    proc = run_cli(
        "run", "--headless", "--device", "cpu", "--source", source, "--frames", "450", "--imgsz", "224",
        "--db", str(tmp_path / "x.sqlite"), "--no-images", "--json", "--detections-out", str(found), *backend,
        TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "cache"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    scored = run_cli("evaluate", "--detections", str(found), "--source", source, "--conf", "0.5")
    return json.loads(proc.stdout), json.loads(scored.stdout), proc.stderr


@pytest.mark.slow
def test_int8_calibrates_on_the_lines_frames_and_finds_what_eager_finds(tmp_path):
    _, eager_score, _ = _scored(tmp_path, "eager")
    int8, int8_score, said = _scored(tmp_path, "int8", "--backend", "compiled", "--mode", "openvino-int8")
    assert int8["backend"] == "compiled (openvino-int8)" and int8["frames"] == 450
    # eager inspected the frames it calibrated on; the run's numbers describe the INT8 line
    assert "NNCF on 64 frames of the line" in said and int8["compile_s"] > 0
    assert "nncf" not in said.lower() or "NNCF on" in said  # no library chatter, only the station's
    for key in ("precision", "recall"):
        assert abs(int8_score[key] - eager_score[key]) <= 0.02, (eager_score, int8_score)
    assert int8_score["true_positives"] > 100
    # the next run finds the quantized network in the cache: no calibration, no wait
    again, again_score, said = _scored(tmp_path, "again", "--backend", "compiled", "--mode", "openvino-int8")
    assert "from the on-disk cache" in said and "quantizing to INT8" not in said
    assert again["backend"] == "compiled (openvino-int8)" and again["compile_s"] < int8["compile_s"]
    for key in ("precision", "recall"):  # this time every frame was INT8's
        assert abs(again_score[key] - eager_score[key]) <= 0.02, (eager_score, again_score)
