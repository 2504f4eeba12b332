"""``inspector bench --line N``: the whole line, headless, per backend, quiet and beside a busy process.

Each configuration is its own ``inspector run --headless --json`` process on the synthetic line at
full speed (``fps=0``: the renderer shares the cores, as a camera's decoding would), so each sets
its threads as a station does. "eager, a thread on every core" is the line as it ran before
inference left a core to the rest (``OMP_NUM_THREADS``). Every compiled mode runs once untimed
first, so the timed runs start from its cache (``openvino-int8`` calibrates on that run's frames).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from inspector.inference.threads import usable_cores
from inspector.lab.bench import Say, busy_neighbour

EVERY_CORE = "eager, a thread on every core"


def measure_line(device: str, imgsz: int, frames: int, modes: tuple[str, ...], say: Say) -> dict[str, Any]:
    """Frames/s and the inference stage's p50/p95 of each configuration, quiet and beside a hog."""
    configs: dict[str, tuple[list[str], dict[str, str]]] = {
        "eager": (["--backend", "eager"], {}),
        EVERY_CORE: (["--backend", "eager"], {"OMP_NUM_THREADS": str(usable_cores())}),
    }
    for mode in modes:
        configs[f"compiled ({mode})"] = (["--backend", "compiled", "--mode", mode], {})
    report: dict[str, Any] = {"device": device, "imgsz": imgsz, "frames": frames, "cores": usable_cores()}
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="inspector-line-bench-") as folder:
        env = {"TORCHINDUCTOR_CACHE_DIR": os.path.join(folder, "cache")}

        def run(args: list[str], extra: dict[str, str]) -> dict[str, Any]:
            cmd = [sys.executable, "-m", "inspector", "run", "--headless", "--json", "--no-images"]
            cmd += ["--device", device, "--imgsz", str(imgsz), "--source", "synthetic:fps=0"]
            cmd += ["--frames", str(frames), "--db", os.path.join(folder, "line.sqlite"), *args]
            done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env, **extra})
            if done.returncode != 0:
                return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
            return _figures(json.loads(done.stdout))

        for name, (args, extra) in configs.items():
            if name.startswith("compiled"):
                say(f"{name}: a first run fills the cache")
                run(args, extra)
            say(f"{name}: quiet")
            runs[name] = {"quiet": run(args, extra)}
            say(f"{name}: beside a busy process")
            with busy_neighbour():
                runs[name]["beside_hog"] = run(args, extra)
    report["runs"] = runs
    return report


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    infer = summary["latency_ms"]["infer"]
    return {
        "fps": summary["fps"],
        "infer_p50": infer["p50"],
        "infer_p95": infer["p95"],
        "total_p95": summary["latency_ms"]["total"]["p95"],
        "backend": summary["backend"],
        "device": summary["device"],
    }


def format_line(report: dict[str, Any]) -> str:
    runs = report["runs"]
    width = max(len(name) for name in runs) + 2
    lines = [
        f"the line, headless: synthetic 1280x720 at full speed, {report['frames']} frames, "
        f"{report['imgsz']} px, {report['device']}, {report['cores']} cores",
        "",
        f"{'':<{width}}{'quiet: fps':>11}{'infer p50':>10}{'p95':>7}"
        f"{'beside a busy process: fps':>28}{'infer p50':>10}{'p95':>7}{'p95/quiet p50':>15}",
    ]
    for name, r in runs.items():
        quiet, hog = r["quiet"], r["beside_hog"]
        if "error" in quiet or "error" in hog:
            lines.append(f"{name:<{width}}failed: {quiet.get('error') or hog.get('error')}")
            continue
        lines.append(
            f"{name:<{width}}{quiet['fps']:>11.1f}{quiet['infer_p50']:>10.1f}{quiet['infer_p95']:>7.1f}"
            f"{hog['fps']:>28.1f}{hog['infer_p50']:>10.1f}{hog['infer_p95']:>7.1f}"
            f"{hog['infer_p95'] / quiet['infer_p50']:>15.2f}"
        )
    eager = runs.get("eager", {}).get("quiet", {})
    if "fps" in eager:
        lines += ["", "against eager, quiet: inference p50 ratio, frames/s ratio"]
        for name, r in runs.items():
            q = r["quiet"]
            if name.startswith("compiled") and "fps" in q:
                lines.append(
                    f"  {name}: {eager['infer_p50'] / q['infer_p50']:.2f}x faster inference, "
                    f"{q['fps'] / eager['fps']:.2f}x the frames/s"
                )
    return "\n".join(lines)
