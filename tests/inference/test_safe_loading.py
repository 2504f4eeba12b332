"""A checkpoint is a pickle: one that carries code, or names a module to install, is refused unless
the operator trusts it, and nothing is ever installed."""

import subprocess
import sys
import types
from pathlib import Path

import pytest
import torch

from inspector.cli import main
from inspector.inference.model import ModelLoadError, load_detector
from inspector.paths import demo_model_path

CPU = torch.device("cpu")


class _Payload:
    """Unpickled, it creates the file ``marker`` names: code that runs as the checkpoint is read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def demo_with(tmp_path: Path, extra: object) -> Path:
    """The shipped demo checkpoint with one more key, as a tampered copy would carry it."""
    checkpoint = torch.load(demo_model_path(), map_location="cpu", weights_only=False)
    checkpoint["extra"] = extra
    path = tmp_path / "tampered.pt"
    torch.save(checkpoint, path)
    return path


def test_a_checkpoint_carrying_code_is_refused_before_the_code_runs(tmp_path):
    marker = tmp_path / "ran"
    path = demo_with(tmp_path, _Payload(marker))
    with pytest.raises(ModelLoadError, match=r"could run code as it is read.*--trust-model") as refused:
        load_detector(path, CPU)
    assert not marker.exists()
    assert "sha256 " in str(refused.value) and "\n" not in str(refused.value)
    trusted = load_detector(path, CPU, trust=True)  # the operator vouches for it: it loads (and ran)
    assert trusted.trusted and marker.exists() and trusted.names[0] == "scratch"


def test_the_demo_model_loads_safely():
    model = load_detector(demo_model_path(), CPU)
    assert not model.trusted and len(model.names) == 6


def test_a_checkpoint_naming_a_missing_module_installs_nothing(tmp_path, monkeypatch):
    module = types.ModuleType("inspector_absent_plugin")

    class Layer:
        pass

    Layer.__module__, Layer.__qualname__ = module.__name__, "Layer"
    module.Layer = Layer
    monkeypatch.setitem(sys.modules, module.__name__, module)
    path = demo_with(tmp_path, Layer())
    monkeypatch.delitem(sys.modules, module.__name__)
    calls = []

    def no_process(*args, **kwargs):
        calls.append(args)
        raise AssertionError(f"a process was started: {args}")

    for name in ("run", "check_output", "check_call", "Popen"):
        monkeypatch.setattr(subprocess, name, no_process)
    from ultralytics.utils import checks

    monkeypatch.setattr(checks, "ONLINE", True)  # a line PC on the network, its offline switch unset
    for trust in (False, True):
        with pytest.raises(ModelLoadError):
            load_detector(path, CPU, trust=trust)
    assert calls == []


def test_the_command_line_refuses_it_in_one_line_and_exits_2(tmp_path, capsys):
    marker = tmp_path / "ran"
    path = demo_with(tmp_path, _Payload(marker))
    db = tmp_path / "log.sqlite"
    args = ["run", "--headless", "--frames", "2", "--no-images", "--db", str(db), "--weights", str(path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("inspector: error:") and err.count("\n") == 1 and "--trust-model" in err
    assert not marker.exists()
    assert main([*args, "--trust-model", "--json"]) == 0
    assert marker.exists()
