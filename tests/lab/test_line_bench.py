"""The line bench runs each configuration as its own headless line, quiet and beside a busy process."""

import pytest

from inspector.inference.threads import inference_threads, usable_cores
from inspector.lab.line_bench import EVERY_CORE, format_line, measure_line


@pytest.mark.slow
def test_each_configuration_runs_as_a_station_would_quiet_and_beside_a_hog(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    said = []
    report = measure_line("cpu", 160, 40, ("openvino",), said.append)
    runs = report["runs"]
    assert list(runs) == ["eager", EVERY_CORE, "compiled (openvino)"]
    for name, run in runs.items():
        for figures in (run["quiet"], run["beside_hog"]):
            assert figures["fps"] > 0 and 0 < figures["infer_p50"] <= figures["infer_p95"], (name, figures)
    assert runs["eager"]["quiet"]["device"] == _cpu(inference_threads())
    assert runs[EVERY_CORE]["quiet"]["device"] == _cpu(usable_cores())
    assert runs["compiled (openvino)"]["quiet"]["backend"].startswith("compiled (openvino ")
    assert "compiled (openvino): a first run fills the cache" in said
    table = format_line(report)
    assert "compiled (openvino): " in table and "x faster inference" in table


def _cpu(threads: int) -> str:
    return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
