import math

import pytest

from inspector.errors import ConfigError, InspectorError
from inspector.line.config import LineConfig


@pytest.mark.parametrize(
    "changes",
    [
        {"min_confidence": math.nan},
        {"min_confidence": 1.5},
        {"draw_confidence": -0.1},
        {"iou": 5.0},
        {"imgsz": 0},
        {"imgsz": 100_000},
        {"backend": "tensorrt"},
        {"roi": (0.0, 0.0, math.nan, 10.0)},
        {"roi": (10.0, 10.0, 5.0, 20.0)},
    ],
)
def test_out_of_range_settings_are_refused_in_one_line(changes):
    with pytest.raises(ConfigError) as refused:
        LineConfig(**changes)
    assert isinstance(refused.value, InspectorError) and "\n" not in str(refused.value)


def test_one_set_of_defaults_and_the_engine_finds_what_the_window_draws():
    config = LineConfig()
    assert (config.min_confidence, config.draw_confidence, config.iou) == (0.5, 0.25, 0.5)
    assert config.detect_confidence == 0.25
    assert config.with_(min_confidence=0.1).detect_confidence == 0.1, "the rules never see less than asked"
    rules = config.with_(defect_classes=("dent",), roi=(0.0, 0.0, 10.0, 10.0)).rules()
    assert rules.defect_classes == frozenset({"dent"}) and rules.roi == (0.0, 0.0, 10.0, 10.0)
