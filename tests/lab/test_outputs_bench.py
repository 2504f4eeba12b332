"""The plant-link bench on loopback: every reject timed, from the verdict to the PLC's answer."""

from inspector.lab.outputs_bench import format_outputs, measure_verdict_latency


def test_each_reject_is_timed_from_its_verdict_to_the_plc_s_answer(tmp_path):
    report = measure_verdict_latency(20, 0.02, tmp_path)
    coil = report["verdict_to_coil_ms"]
    assert 0 < coil["p50"] <= coil["p95"] <= coil["p99"] < 1000
    assert "verdict_to_broker_ack_ms" in report, "mosquitto is installed here, so MQTT is timed too"
    loop = {"frames": 1, "rounds": 1, "backend": "eager", "parts": {"off": 0, "PLC": 0, "all": 0}}
    loop["total_ms"] = {k: {"p50": 1.0, "p95": 2.0, "p99": 3.0} for k in loop["parts"]}
    text = format_outputs({"latency": report, "loop": loop})
    assert "verdict -> reject coil acknowledged" in text and "PLC alone: p50 1.00 ms" in text
