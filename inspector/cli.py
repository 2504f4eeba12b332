"""The ``inspector`` command: the desktop station, the headless line, history and tools."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from inspector.capture.spec import SOURCE_HELP
from inspector.errors import InspectorError
from inspector.inspection.rules import parse_roi
from inspector.line.cameras import read_sources
from inspector.line.config import LineConfig
from inspector.line.recipes import Recipe
from inspector.logs import log_path, setup_logging
from inspector.outputs.config import OutputsConfig, redact
from inspector.paths import compile_cache_dir, demo_model_path
from inspector.shifts import DEFAULT_SHIFTS, Shifts, naive_utc
from inspector.storage.retention import DiskBudget

EXIT_BAD_INPUT = 2
EXIT_RUN_FAILED = 1
EXIT_INTERNAL = 70  # a bug: the traceback is in the log

log = logging.getLogger("inspector.cli")

HEADLESS_ONLY = ("frames", "json", "detections_out", "parts_out")
WINDOW_ONLY = ("exit_after", "screenshot", "shifts")


class UsageError(InspectorError):
    """Bad input the operator can fix; printed as one line."""


def _default_db() -> Path:
    from inspector.storage.database import default_database_path

    return default_database_path()


def _parse_time(text: str) -> datetime:
    """ISO 8601 (local time when no zone is given) or an age such as ``30m``, ``2h``, ``7d``;
    returned as naive UTC, as the log stores times."""
    age = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd])", text.strip())
    try:
        if age:
            unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[age.group(2)]
            return naive_utc(datetime.now(UTC) - timedelta(**{unit: float(age.group(1))}))
        moment = datetime.fromisoformat(text.strip())
        return naive_utc(moment if moment.tzinfo is not None else moment.astimezone())  # local without a zone
    except (ValueError, OverflowError) as exc:
        raise UsageError(
            f"time {text!r}: use ISO 8601 (2026-11-23T08:00) or an age (30m, 2h, 7d) within the calendar"
        ) from exc


def _add_line_options(p: argparse.ArgumentParser) -> None:
    """What the window and the headless run share: the line's source, model and log."""
    p.add_argument(
        "--source",
        action="append",
        default=None,
        help=f"{SOURCE_HELP} (default: the synthetic line); repeat it for several cameras, each "
        "optionally named: --source top=0 --source side=1",
    )
    p.add_argument(
        "--sources",
        type=Path,
        default=None,
        help="a file naming the line's cameras, one [name=]source per line (# starts a comment)",
    )
    p.add_argument(
        "--weights",
        default=None,
        help="ultralytics detect .pt or model .yaml (default: the shipped demo model)",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--imgsz", type=int, default=None, help="model input size (default: as trained)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic line")
    p.add_argument("--conf", type=float, default=None, help="minimum confidence of a defect (0.5)")
    p.add_argument(
        "--iou", type=float, default=None, help="NMS IoU: overlapping boxes of a class above it merge (0.5)"
    )
    p.add_argument(
        "--trust-model",
        action="store_true",
        help="load a .pt that safe loading refuses (it can run code as it is read: only files you vouch for)",
    )
    p.add_argument("--db", type=Path, default=None, help="defect database (default: user data dir)")
    p.add_argument("--exit-after", type=float, default=None, help="window: close after this many seconds")
    p.add_argument("--screenshot", type=Path, default=None, help="window: save a PNG of it before closing")
    p.add_argument(
        "--shifts",
        default=None,
        help=f"window: local times shifts start at (default {DEFAULT_SHIFTS}; remembered)",
    )
    p.add_argument(
        "--keep-images", default=None, help="days defect images are kept, or 'forever' (default 30)"
    )
    p.add_argument(
        "--min-free", type=float, default=None, help="MB of free disk below which images give way (500)"
    )
    p.add_argument("--recipes", type=Path, default=None, help="TOML file of numbered recipes (see README)")
    p.add_argument("--recipe", type=int, default=None, help="the recipe to start with (its number)")
    p.add_argument(
        "--trigger", action="store_true", help="judge one frame per trigger (PLC coil or Inspect button)"
    )
    p.add_argument(
        "--tracking-processes",
        type=int,
        default=None,
        metavar="N",
        help="processes that follow the cameras' parts (default: one per 16 cameras from 32 on; 0: none)",
    )
    plant = p.add_argument_group("plant links (none unless given; see the README)")
    plant.add_argument("--station", default=None, help="this station's name in messages (default: host name)")
    plant.add_argument("--plc", default=None, help="PLC over Modbus TCP: modbus://HOST[:PORT][?coil=0&…]")
    plant.add_argument(
        "--mqtt", default=None, help="MQTT broker: mqtt[s]://[USER@]HOST[:PORT][/TOPIC/PREFIX]"
    )
    plant.add_argument("--opcua", default=None, help="serve OPC UA here: opc.tcp://HOST:PORT")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inspector",
        description="Inspection station: live YOLO defect detection with a SQLite defect log.",
    )
    _add_line_options(parser)
    sub = parser.add_subparsers(dest="command")

    run = sub.add_parser("run", help="run the line (with --headless: without a window)")
    run.add_argument("--headless", action="store_true", help="no window; print a summary at the end")
    _add_line_options(run)
    run.add_argument("--backend", default=None, help="eager or compiled")
    run.add_argument(
        "--mode",
        default=None,
        help="compile mode for --backend compiled (default: reduce-overhead on a GPU, openvino on a CPU; "
        "see `inspector bench`)",
    )
    run.add_argument("--frames", type=int, default=None, help="stop after this many frames")
    run.add_argument("--classes", default=None, help="comma-separated classes that count as defects")
    run.add_argument("--roi", default=None, help="region of interest x1,y1,x2,y2 in frame pixels")
    run.add_argument(
        "--part-classes",
        default=None,
        help="comma-separated classes that are parts (default: plate,washer where the model has them)",
    )
    run.add_argument("--min-frames", type=int, default=None, help="frames a defect must be seen on (3)")
    run.add_argument(
        "--exit-line",
        type=float,
        default=None,
        help="decide a part once its centre passes this fraction of the frame's width",
    )
    run.add_argument("--log-frames", action="store_true", help="also log every defect on every frame")
    run.add_argument("--loop", action="store_true", help="restart a video or folder at its end")
    run.add_argument("--no-images", action="store_true", help="log defects without saving images")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument(
        "--detections-out",
        type=Path,
        default=None,
        help="write one JSON line of detections per frame to this file",
    )
    run.add_argument("--parts-out", type=Path, default=None, help="write one JSON line per decided part")

    hist = sub.add_parser("history", help="list, tally or export logged parts and defects")
    hist.add_argument("--db", type=Path, default=None)
    shown = hist.add_mutually_exclusive_group()
    shown.add_argument("--parts", action="store_true", help="parts, one row each, instead of defects")
    shown.add_argument(
        "--summary",
        nargs="?",
        const="run",
        choices=("run", "shift"),
        help="parts, OK, NG, yield and NG by class per run (default) or per shift",
    )
    hist.add_argument(
        "--shifts", default=DEFAULT_SHIFTS, help=f"local times shifts start at (default {DEFAULT_SHIFTS})"
    )
    hist.add_argument(
        "--class", dest="class_name", default=None, help="defects of this class (--parts: parts with one)"
    )
    hist.add_argument("--verdict", choices=("OK", "NG"), default=None, help="parts with this verdict")
    hist.add_argument("--since", default=None, help="ISO 8601 time or an age (30m, 2h, 7d)")
    hist.add_argument("--until", default=None, help="ISO 8601 time or an age")
    hist.add_argument("--min-conf", type=float, default=None, help="defects at least this confident")
    hist.add_argument("--run", type=int, default=None)
    hist.add_argument("--limit", type=int, default=50, help="rows to list (newest first)")
    hist.add_argument("--csv", type=Path, default=None, help="export all matching rows to this file")

    synth = sub.add_parser("synth", help="write synthetic frames as a YOLO dataset")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--frames", type=int, default=200)
    synth.add_argument("--stride", type=int, default=5, help="take every Nth frame of the line")
    synth.add_argument("--out", type=Path, required=True)
    synth.add_argument("--workers", type=int, default=1, help="processes that render frames")

    evaluate = sub.add_parser(
        "evaluate", help="score a --detections-out file of a synthetic run against the line's truth"
    )
    what = evaluate.add_mutually_exclusive_group(required=True)
    what.add_argument("--detections", type=Path, help="the run's --detections-out file")
    what.add_argument("--parts", type=Path, help="the run's --parts-out file (needs --frames)")
    evaluate.add_argument("--frames", type=int, default=None, help="with --parts: the run's frame count")
    evaluate.add_argument("--source", default="synthetic", help="the synthetic source the run used")
    evaluate.add_argument("--seed", type=int, default=0, help="the run's --seed")
    evaluate.add_argument("--iou", type=float, default=0.5, help="IoU a detection needs to count")
    evaluate.add_argument(
        "--conf", type=float, default=LineConfig.min_confidence, help="the run's minimum defect confidence"
    )

    bench = sub.add_parser(
        "bench", help="time ultralytics predict against inspector eager and compiled on 1080p frames"
    )
    bench.add_argument("--weights", default=None, help=".pt or model .yaml (default: the demo model)")
    bench.add_argument("--imgsz", type=int, default=640)
    bench.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    bench.add_argument(
        "--modes",
        default=None,
        help="comma-separated compile modes (default: reduce-overhead,cuda-graph on a GPU; "
        "openvino,openvino-int8,default on a CPU)",
    )
    bench.add_argument("--iters", type=int, default=300, help="timed calls per contender")
    bench.add_argument("--batch", type=int, default=1, help="frames per call (one camera: 1)")
    bench.add_argument("--warmup", type=int, default=50, help="untimed frames first")
    bench.add_argument("--frame", default="1920x1080", help="frame size WxH")
    bench.add_argument("--conf", type=float, default=0.25)
    bench.add_argument("--iou", type=float, default=0.7)
    bench.add_argument("--no-ultralytics", action="store_true", help="skip ultralytics' own predict")
    bench.add_argument(
        "--hog", action="store_true", help="also time every contender beside a process keeping a core busy"
    )
    bench.add_argument(
        "--tracking-only", action="store_true", help="only time following parts (no model, any device)"
    )
    bench.add_argument(
        "--line",
        type=int,
        default=None,
        metavar="FRAMES",
        help="time the whole headless line per backend (eager, every core, --modes), quiet and beside "
        "a busy process",
    )
    bench.add_argument(
        "--streams",
        default=None,
        metavar="N[,N...]",
        help="time one line of N cameras of --frame frames replayed at --stream-fps, per N (the first "
        "of --modes), beside its backend on full batches of N, ultralytics predict on N frames and "
        "the compiled forward at batch N",
    )
    bench.add_argument("--stream-fps", type=float, default=30.0, help="with --streams: each camera's rate")
    bench.add_argument("--stream-seconds", type=float, default=10.0, help="with --streams: timed per N")
    bench.add_argument(
        "--stream-rounds",
        type=int,
        default=1,
        help="with --streams: timed stretches of --stream-seconds per N, on one running line",
    )
    bench.add_argument(
        "--tracking-processes",
        type=int,
        default=None,
        metavar="N",
        help="with --streams: processes that follow the cameras' parts (default: by the number of cameras)",
    )
    bench.add_argument(
        "--outputs",
        action="store_true",
        help="time the plant links on loopback: verdict to reject coil, and the line with links on vs off",
    )
    bench.add_argument(
        "--switch",
        type=float,
        default=0.0,
        help="also time the eager stream during a cold compile, after S s",
    )
    bench.add_argument(
        "--line-fps",
        type=float,
        default=0.0,
        help="with --switch: frames come as from a camera at this rate (default: back to back)",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON object instead of the table")

    cache = sub.add_parser("cache", help="show or clear the compile cache")
    cache.add_argument("--clear", action="store_true", help="delete it; the next compile starts cold")

    train = sub.add_parser("train-demo", help="train the demo model on the synthetic line (GPU advised)")
    train.add_argument("--out", type=Path, required=True, help="folder for data, runs and the checkpoint")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--model", default="yolov8n.yaml", help="ultralytics model YAML to train")
    train.add_argument("--imgsz", type=int, default=416)
    train.add_argument("--epochs", type=int, default=60)
    train.add_argument("--batch", type=int, default=64)
    train.add_argument("--train-frames", type=int, default=3000)
    train.add_argument("--stride", type=int, default=20, help="line frames between dataset frames")
    train.add_argument("--device", default="0", help="ultralytics device: 0, cpu, ...")
    train.add_argument("--workers", type=int, default=8)
    train.add_argument("--init", default=None, help="start from these weights (the layers whose shapes fit)")
    return parser


def _demo_or(weights: str | None) -> str:
    path = weights or str(demo_model_path())
    if weights is None and not Path(path).is_file():
        raise UsageError(f"the demo model {path} is missing; pass --weights MODEL.pt")
    return path


def _line_config(args: argparse.Namespace) -> tuple[LineConfig, frozenset[str]]:
    """The line the options describe, and the names of the settings given on the command line (they
    win over what the window remembers)."""
    sources = tuple(args.source or ()) + (read_sources(args.sources) if args.sources else ())
    given = {
        "source": sources[0] if sources else None,
        "cameras": sources if len(sources) > 1 else None,
        "weights": args.weights,
        "device": None if args.device == "auto" else args.device,
        "imgsz": args.imgsz,
        "min_confidence": args.conf,
        "iou": args.iou,
        "backend": getattr(args, "backend", None),
        "mode": getattr(args, "mode", None),
        "defect_classes": _names(getattr(args, "classes", None), "--classes"),
        "roi": parse_roi(args.roi) if getattr(args, "roi", None) else None,
        "loop": getattr(args, "loop", False) or None,
        "save_images": False if getattr(args, "no_images", False) else None,
        "part_classes": _names(getattr(args, "part_classes", None), "--part-classes", allow_empty=True),
        "min_frames": getattr(args, "min_frames", None),
        "exit_line": getattr(args, "exit_line", None),
        "log_frames": getattr(args, "log_frames", False) or None,
        "trust_model": args.trust_model or None,
        "trigger": args.trigger or None,
        "tracking_processes": args.tracking_processes,
    }
    given = {name: value for name, value in given.items() if value is not None}
    config = LineConfig(
        **{**given, "weights": _demo_or(args.weights), "seed": args.seed}  # type: ignore[arg-type]
    )
    if config.mode is not None:
        _check_mode(config.mode, config.device)
    return config, frozenset(given)


def _counts(text: str) -> tuple[int, ...]:
    """``--streams 1,16,64``: numbers of cameras, each within what a line takes."""
    from inspector.line.cameras import MAX_CAMERAS

    try:
        counts = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        counts = ()
    if not counts or not all(1 <= n <= MAX_CAMERAS for n in counts):
        raise UsageError(f"--streams {text!r}: give numbers of cameras within 1..{MAX_CAMERAS}, e.g. 1,16,64")
    return counts


def _check_mode(mode: str, device_name: str) -> None:
    """A ``--mode`` the line's device cannot run is refused, with the ones it can."""
    from inspector.inference.devices import resolve_device
    from inspector.inference.frame_pipeline import PIPELINE_MODES, modes_for

    device = resolve_device(device_name)
    usable = modes_for(device.type)
    if mode not in PIPELINE_MODES:
        raise UsageError(f"unknown compile mode {mode!r}: choose {', '.join(usable)}")
    if mode not in usable:
        choose = ", ".join(usable)
        if PIPELINE_MODES[mode].device == device.type:  # the right device, but a CPU without bf16
            raise UsageError(f"--mode {mode} needs a CPU that computes in bf16; here choose {choose}")
        where = "a CUDA GPU" if device.type == "cpu" else "the CPU"
        raise UsageError(f"--mode {mode} runs on {where}; on {device} choose {choose}")


def _names(text: str | None, option: str, allow_empty: bool = False) -> tuple[str, ...] | None:
    """Comma-separated class names; ``--part-classes ""`` says the model has no part class."""
    if text is None:
        return None
    names = tuple(sorted({c.strip() for c in text.split(",") if c.strip()}))
    if not names and not allow_empty:
        raise UsageError(f"{option} needs at least one class name")
    return names


def _refuse(args: argparse.Namespace, names: tuple[str, ...], where: str) -> None:
    """Options that do not apply here are refused in one line, never ignored."""
    given = [f"--{n.replace('_', '-')}" for n in names if getattr(args, n, None) not in (None, False)]
    if given:
        raise UsageError(f"{', '.join(given)} only {'apply' if len(given) > 1 else 'applies'} {where}")


def _cmd_window(args: argparse.Namespace) -> int:
    from inspector.ui.qt_env import window_problem

    _refuse(args, HEADLESS_ONLY, "with run --headless")
    config, given = _line_config(args)
    shifts = Shifts.parse(args.shifts) if args.shifts is not None else None
    if problem := window_problem():
        raise UsageError(problem)
    from inspector.storage.database import one_station
    from inspector.ui.app import run_app

    db = args.db or _default_db()
    with one_station(db):
        plant, recipes, budget = _plant(args), _recipes(args), _budget(args)
        return run_app(
            config, db, args.exit_after, args.screenshot, given, shifts, plant, recipes, args.recipe, budget
        )


def _plant(args: argparse.Namespace) -> OutputsConfig:
    return OutputsConfig.parse(args.station, args.plc, args.mqtt, args.opcua)


def _budget(args: argparse.Namespace) -> DiskBudget:
    """The disk budget from ``--keep-images`` and ``--min-free`` (each defaults as documented)."""
    changes: dict[str, float | None] = {}
    if args.keep_images is not None:
        text = args.keep_images.strip().lower()
        try:
            changes["keep_days"] = None if text == "forever" else float(text)
        except ValueError as exc:
            raise UsageError(f"--keep-images {args.keep_images!r}: a number of days, or forever") from exc
    if args.min_free is not None:
        changes["min_free_mb"] = args.min_free
    return replace(DiskBudget(), **changes)


def _recipes(args: argparse.Namespace) -> dict[int, Recipe]:
    from inspector.line.recipes import load_recipes

    recipes = load_recipes(args.recipes) if args.recipes else {}
    if args.recipe is not None and args.recipe not in recipes:
        known = ", ".join(str(n) for n in sorted(recipes)) or "none: give --recipes FILE"
        raise UsageError(f"--recipe {args.recipe}: no such recipe (recipes: {known})")
    return recipes


def _cmd_run(args: argparse.Namespace) -> int:
    if not args.headless:
        return _cmd_window(args)
    from inspector.headless import format_summary, run_headless

    _refuse(args, WINDOW_ONLY, "to the window (inspector without --headless)")
    if args.frames is not None and args.frames < 1:
        raise UsageError("--frames must be at least 1")
    config, _ = _line_config(args)
    summary = run_headless(
        config,
        args.db or _default_db(),
        args.frames,
        args.detections_out,
        parts_out=args.parts_out,
        plant=_plant(args),
        recipes=_recipes(args),
        recipe=args.recipe,
        budget=_budget(args),
    )
    print(json.dumps(summary) if args.json else format_summary(summary))
    if summary["source_error"] or summary["output_error"] or summary["defects_dropped"]:
        return EXIT_RUN_FAILED
    done = args.frames is not None and summary["frames"] >= args.frames
    if summary["stopped_by"] and not done:  # the shell's convention: 128 + the signal's number
        return 128 + signal.Signals[summary["stopped_by"]].value
    return 0


def _cmd_history(args: argparse.Namespace) -> int:
    from inspector.storage.database import open_read_only

    db_path = args.db or _default_db()
    if args.run is not None and not 1 <= args.run < 2**63:
        raise UsageError(f"--run {args.run}: a run number is a positive whole number")
    if (args.parts or args.summary) and args.min_conf is not None:
        raise UsageError("--min-conf filters defects; parts are filtered by --verdict and --class")
    if not (args.parts or args.summary) and args.verdict is not None:
        raise UsageError("--verdict filters parts: add --parts or --summary")
    if args.summary and args.csv:
        raise UsageError("--csv exports rows: use it with --parts or alone (defects)")
    shifts = Shifts.parse(args.shifts)
    since = _parse_time(args.since) if args.since else None
    until = _parse_time(args.until) if args.until else None
    if not db_path.is_file():
        raise UsageError(f"no defect database at {db_path}")
    engine = open_read_only(db_path)
    if args.parts or args.summary:
        from inspector.storage.part_queries import PartFilter

        flt = PartFilter(args.run, args.verdict, args.class_name, since, until)
        if args.summary:
            return _print_summary(engine, flt, shifts if args.summary == "shift" else None)
        return _print_parts(engine, flt, args.limit, args.csv)
    return _print_defects(engine, args, since, until)


def _export(csv_path: Path, what: str, export) -> int:
    try:
        n = export()
    except OSError as exc:
        raise UsageError(f"cannot write {csv_path}: {exc.strerror}") from exc
    print(f"{n} {what} written to {csv_path}")
    return 0


def _print_defects(engine, args: argparse.Namespace, since, until) -> int:
    from inspector.storage.queries import DefectFilter, count_defects, export_csv, query_defects

    flt = DefectFilter(args.run, args.class_name, since, until, args.min_conf)
    if args.csv:
        return _export(args.csv, "defects", lambda: export_csv(engine, args.csv, flt))
    total = count_defects(engine, flt)
    rows = query_defects(engine, flt, limit=args.limit)
    print(f"{total} defects match; newest {len(rows)}:")
    print(
        f"{'id':>8} {'run':>4} {'part':>6} {'time (UTC)':<23} {'frame':>7} {'class':<14} {'conf':>5} "
        f"{'frames':>6}  box"
    )
    for r in rows:
        print(
            f"{r.id:>8} {r.run_id:>4} {r.part.part if r.part else '-':>6} "
            f"{r.detected_at.isoformat(sep=' ', timespec='milliseconds'):<23} "
            f"{r.frame_index:>7} {r.class_name:<14} {r.confidence:>5.2f} {r.frames or '-':>6}  "
            f"{r.x1:.0f},{r.y1:.0f},{r.x2:.0f},{r.y2:.0f}"
        )
    return 0


def _print_parts(engine, flt, limit: int, csv_path: Path | None) -> int:
    from inspector.storage.part_queries import count_parts, export_parts_csv, query_parts

    if csv_path:
        return _export(csv_path, "parts", lambda: export_parts_csv(engine, csv_path, flt))
    total = count_parts(engine, flt)
    rows = query_parts(engine, flt, limit=limit)
    print(f"{total} parts match; newest {len(rows)}:")
    head = f"{'run':>4} {'camera':<8} {'part':>6} {'decided (UTC)':<23} {'kind':<8} {'verdict':<7}"
    print(f"{head} {'frames':>13}  defects")
    for p in rows:
        defects = ", ".join(f"{d.class_name} {d.confidence:.2f}" for d in p.defects) or "-"
        print(
            f"{p.run_id:>4} {p.camera:<8} {p.part:>6} "
            f"{p.decided_at.isoformat(sep=' ', timespec='milliseconds'):<23} "
            f"{p.kind:<8} {p.verdict:<7} {f'{p.first_frame}-{p.last_frame}':>13}  {defects}"
        )
    return 0


def _print_summary(engine, flt, shifts: Shifts | None) -> int:
    from inspector.storage.part_queries import tally

    if shifts is None:
        rows = tally(engine, flt)
        head = "run"
    else:
        rows = tally(engine, flt, key=lambda _run, at: shifts.start_of(at).strftime("%Y-%m-%d %H:%M"))
        head = "shift (local)"
    if not rows:
        print("no parts match")
        return 0
    width = max(len(head), *(len(str(k)) for k in rows))
    print(f"{head:<{width}} {'parts':>7} {'OK':>7} {'NG':>7} {'yield':>7}  NG by class")
    for key, t in rows.items():
        by_class = ", ".join(f"{c} {n}" for c, n in t.ng_by_class.most_common()) or "-"
        print(f"{key!s:<{width}} {t.parts:>7} {t.ok:>7} {t.ng:>7} {t.yield_pct:>6.1f}%  {by_class}")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from inspector.lab.synth_dataset import write_dataset

    if args.frames < 1 or args.stride < 1:
        raise UsageError("--frames and --stride must be at least 1")
    data = write_dataset(
        args.out, seed=args.seed, frames=args.frames, stride=args.stride, workers=max(1, args.workers)
    )
    print(f"{args.frames} frames written; dataset description: {data}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from inspector.capture.spec import open_source
    from inspector.capture.synthetic import SyntheticConveyor
    from inspector.lab.scoring import score_detections

    line = open_source(args.source, seed=args.seed)
    if not isinstance(line, SyntheticConveyor):
        raise UsageError("only runs on the synthetic line have a ground truth to score against")
    path = args.parts or args.detections
    if not path.is_file():
        raise UsageError(f"no {'parts' if args.parts else 'detections'} file at {path}")
    if args.parts:
        from inspector.lab.part_scoring import score_parts

        if args.frames is None or args.frames < 1:
            raise UsageError("--parts needs --frames, the number of frames the run inspected")
        score = score_parts(path, line, args.frames).as_dict()
    else:
        score = score_detections(path, line, args.iou, args.conf).as_dict()
    print(json.dumps(score, indent=2))
    return 0


def _cmd_train_demo(args: argparse.Namespace) -> int:
    from inspector.lab.training import TrainConfig, train_demo

    report = train_demo(
        TrainConfig(
            out=args.out,
            seed=args.seed,
            model=args.model,
            imgsz=args.imgsz,
            epochs=args.epochs,
            batch=args.batch,
            train_frames=args.train_frames,
            stride=args.stride,
            device=args.device,
            workers=args.workers,
            init=args.init,
        )
    )
    print(json.dumps(report, indent=2))
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from inspector.inference.backends import COMPILE_MODES
    from inspector.inference.devices import resolve_device
    from inspector.lab.bench import BenchOptions, format_bench, run_bench
    from inspector.lab.tracking_bench import format_tracking, measure_tracking

    if args.outputs:
        from inspector.lab.outputs_bench import format_outputs, measure_outputs

        report = measure_outputs(args.iters, args.iters, args.device, _demo_or(args.weights), args.imgsz)
        print(json.dumps({"outputs": report}) if args.json else format_outputs(report))
        return 0
    if args.tracking_only:
        tracking = measure_tracking()
        print(json.dumps({"tracking": tracking}) if args.json else format_tracking(tracking))
        return 0

    device = resolve_device(args.device)
    default_modes = (
        "reduce-overhead,cuda-graph" if device.type == "cuda" else "openvino,openvino-int8,default"
    )
    modes = tuple(m.strip() for m in (args.modes or default_modes).split(",") if m.strip())
    for mode in modes:
        if mode not in COMPILE_MODES:
            raise UsageError(f"unknown compile mode {mode!r}: choose {', '.join(COMPILE_MODES)}")
    if args.line is not None:
        from inspector.lab.line_bench import format_line, measure_line

        if args.line < 1:
            raise UsageError("--line takes the frames each run inspects, at least 1")
        report = measure_line(
            str(device), args.imgsz, args.line, modes, lambda m: print(m, file=sys.stderr, flush=True)
        )
        print(json.dumps({"line": report}) if args.json else format_line(report))
        return 0
    size = re.fullmatch(r"(\d+)x(\d+)", args.frame)
    if not size:
        raise UsageError(f"--frame {args.frame!r}: use WxH, e.g. 1920x1080")
    if args.iters < 1 or args.warmup < 0 or args.batch < 1:
        raise UsageError("--iters and --batch must be at least 1, --warmup at least 0")
    streams = _counts(args.streams) if args.streams is not None else ()
    if streams and not (0 < args.stream_fps <= 1000 and 0 < args.stream_seconds <= 3600):
        raise UsageError("--stream-fps must be within 0..1000 and --stream-seconds within 0..3600")
    if streams and not 1 <= args.stream_rounds <= 100:
        raise UsageError("--stream-rounds must be within 1..100")
    opts = BenchOptions(
        weights=_demo_or(args.weights),
        device=device,
        imgsz=args.imgsz,
        modes=modes,
        iters=args.iters,
        warmup=args.warmup,
        frame_width=int(size.group(1)),
        frame_height=int(size.group(2)),
        conf=args.conf,
        iou=args.iou,
        ultralytics=not args.no_ultralytics,
        switch_s=args.switch,
        line_fps=args.line_fps,
        batch=args.batch,
        hog=args.hog,
        tracking_processes=args.tracking_processes,
    )
    torch.backends.cudnn.benchmark = False  # same kernels for every contender
    if streams:
        from inspector.lab.streams_bench import format_streams, measure_streams

        say = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        timing = (args.stream_fps, args.stream_seconds, modes[0], say, args.stream_rounds)
        report = measure_streams(opts, streams, *timing)
        print(json.dumps({"streams": report}) if args.json else format_streams(report))
        return 0
    report = run_bench(opts, lambda m: print(m, file=sys.stderr, flush=True))
    report["tracking"] = measure_tracking()
    text = f"{format_bench(report)}\n\n{format_tracking(report['tracking'])}"
    print(json.dumps(report) if args.json else text)
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    """Shows the compile cache in use; ``--clear`` deletes only inspector's own cache folder, never a
    folder that ``TORCHINDUCTOR_CACHE_DIR`` names in the user's environment."""
    import shutil

    path, own = Path(os.environ["TORCHINDUCTOR_CACHE_DIR"]), compile_cache_dir()
    if args.clear and path.resolve() != own.resolve():
        raise UsageError(
            f"the compile cache in use is {path} (TORCHINDUCTOR_CACHE_DIR); inspector clears only its "
            f"own, {own}: delete that folder yourself if it is yours"
        )
    if not path.is_dir():
        print(f"compile cache {path}: empty")
        return 0
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    if args.clear:
        shutil.rmtree(path)
        print(f"compile cache {path}: cleared ({size / 2**20:.1f} MiB); the next compile starts cold")
    else:
        print(f"compile cache {path}: {size / 2**20:.1f} MiB (inspector cache --clear deletes it)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # compiled kernels are kept per user, so the next launch compiles from a warm cache
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
    setup_logging()
    if getattr(args, "db", None) is not None:
        args.db = args.db.expanduser()  # once, so the database and its images land in one place

    handlers = {
        None: _cmd_window,
        "run": _cmd_run,
        "history": _cmd_history,
        "synth": _cmd_synth,
        "evaluate": _cmd_evaluate,
        "train-demo": _cmd_train_demo,
        "bench": _cmd_bench,
        "cache": _cmd_cache,
    }
    log.info("inspector %s", redact(" ".join(argv if argv is not None else sys.argv[1:])))
    try:
        return handlers[args.command](args)
    except InspectorError as exc:
        log.warning("refused: %s", exc)
        print(f"inspector: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # the reader went away (``history | head``): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except Exception as exc:  # a bug: one line here, the traceback in the log
        log.exception("internal error")
        where = f"details in {log_path()}"
        print(f"inspector: internal error: {type(exc).__name__}: {exc} ({where})", file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
