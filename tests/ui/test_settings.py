import os
import subprocess
import sys

from PySide6.QtCore import QByteArray, QSettings

from inspector.line.config import LineConfig
from inspector.paths import demo_model_path
from inspector.ui.main_window import MainWindow
from inspector.ui.settings import remember, remembered_config, source_still_exists

DEMO = LineConfig(weights=str(demo_model_path()))


def _settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "station.ini"), QSettings.Format.IniFormat)


def test_the_last_line_is_remembered_while_it_still_exists(tmp_path, synthetic_video):
    weights = tmp_path / "mine.pt"
    weights.write_bytes(demo_model_path().read_bytes())
    s = _settings(tmp_path)
    remember(
        s,
        DEMO.with_(
            source=str(synthetic_video),
            weights=str(weights),
            min_confidence=0.7,
            defect_classes=("dent",),
            backend="compiled",
            mode="default",
        ),
        QByteArray(),
    )
    config = remembered_config(s, DEMO, frozenset())
    assert (config.source, config.weights) == (str(synthetic_video), str(weights))
    assert config.min_confidence == 0.7 and config.defect_classes == ("dent",)
    assert (config.backend, config.mode) == ("compiled", "default")
    weights.unlink()  # the model is gone: back to the demo model
    assert remembered_config(s, DEMO, frozenset()).weights == DEMO.weights
    # what the command line names wins over what was remembered
    given = DEMO.with_(source="synthetic", min_confidence=0.3, backend="eager")
    config = remembered_config(s, given, frozenset({"source", "min_confidence", "backend"}))
    assert (config.source, config.min_confidence, config.backend) == ("synthetic", 0.3, "eager")
    assert config.defect_classes == ("dent",), "what the command line did not name is remembered"


def test_sources_that_still_exist(tmp_path):
    assert source_still_exists("synthetic:seed=3") and source_still_exists("0")
    assert source_still_exists("rtsp://10.0.0.5/stream")
    assert not source_still_exists(str(tmp_path / "gone.mp4"))


def test_closing_the_window_remembers_its_line(qtbot, db_path):
    win = MainWindow(DEMO.with_(source="synthetic:fps=5", device="cpu", imgsz=160), db_path)
    qtbot.addWidget(win)
    win.show()
    win.rules.conf_slider.setValue(65)
    win.close()
    from inspector.ui.settings import station_settings

    s = station_settings()
    assert s.value("line/source") == "synthetic:fps=5" and float(s.value("line/min_confidence")) == 0.65


def test_smoke_run_saves_a_screenshot_and_exits_0(tmp_path):
    png = tmp_path / "station.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "inspector",
            "--exit-after",
            "6",
            "--screenshot",
            str(png),
            "--db",
            str(tmp_path / "log.sqlite"),
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert png.stat().st_size > 10_000
