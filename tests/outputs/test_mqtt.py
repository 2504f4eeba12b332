"""The MQTT link against a real broker (mosquitto) on loopback: messages, retained state, outages."""

from __future__ import annotations

import logging
import subprocess
import threading
import time

from inspector.lab.loopback_broker import LoopbackBroker
from inspector.line.config import LineConfig
from inspector.line.station import Station
from inspector.outputs.config import MqttConfig, OutputsConfig
from inspector.outputs.hub import Outputs
from inspector.outputs.link import CONNECTED, RETRYING
from inspector.outputs.mqtt import MqttLink
from inspector.paths import demo_model_path
from inspector.storage.database import open_database
from inspector.storage.outbox import Outbox

from .conftest import CLASS_IDS, Consumer, part, wait_for

SHA = "ab" * 32


def station_outputs(port: int, db) -> tuple[Outputs, MqttLink]:
    link = MqttLink(MqttConfig.parse(f"mqtt://127.0.0.1:{port}/site/line1/st1", "st1"), Outbox(db))
    outputs = Outputs("st1", [link]).start()
    outputs.begin_run(4, SHA, CLASS_IDS)
    outputs.set_state("running")
    return outputs, link


def test_one_message_per_part_with_the_schema_and_the_state_and_counters_retained(broker, db_path):
    consumer = Consumer(broker.port, "site/line1/st1/#")
    outputs, link = station_outputs(broker.port, open_database(db_path))
    wait_for(lambda: link.status().state == CONNECTED, 10, "connected")
    outputs.decided([part(1), part(2, "dent", "crack")], "compiled (cuda-graph)")
    wait_for(lambda: len(consumer.on("site/line1/st1/parts")) == 2, 10, "two part messages")
    outputs.close()
    first, second = consumer.on("site/line1/st1/parts")
    assert first["station"] == "st1" and first["run"] == 4 and first["part"] == 1 and first["verdict"] == "OK"
    assert second["verdict"] == "NG" and second["defect_classes"] == ["crack", "dent"]
    assert [d["class"] for d in second["defects"]] == ["dent", "crack"]
    assert second["defects"][0]["frames"] == 5
    assert second["model_sha256"] == SHA and second["backend"] == "compiled (cuda-graph)"
    assert second["time"].endswith("Z") and second["first_frame"] == 20
    assert link.status().sent == 2 and link.queued() == 0
    consumer.close()
    late = Consumer(broker.port, "site/line1/st1/#", name="late")  # a consumer that joins later
    wait_for(lambda: late.on("site/line1/st1/counters") and late.on("site/line1/st1/state"), 5, "retained")
    assert late.on("site/line1/st1/state")[-1]["state"] == "stopped"
    assert {k: late.on("site/line1/st1/counters")[-1][k] for k in ("run", "parts", "ok", "ng")} == {
        "run": 4,
        "parts": 2,
        "ok": 1,
        "ng": 1,
    }
    assert not late.on("site/line1/st1/parts"), "part messages are not retained"
    late.close()


def test_messages_wait_in_the_outbox_while_no_broker_listens_and_go_once_it_does(broker, db_path):
    broker.stop()
    db = open_database(db_path)
    outputs, link = station_outputs(broker.port, db)
    outputs.decided([part(n, *(["stain"] if n % 2 else [])) for n in range(1, 6)], "eager")
    wait_for(lambda: link.queued() == 5, 5, "five queued")
    outputs.close(timeout_s=1)
    assert Outbox(db).count() == 5 and link.status().state == RETRYING  # the station stops; they stay
    broker.start()
    consumer = Consumer(broker.port, "site/line1/st1/parts")
    outputs, link = station_outputs(broker.port, db)  # the station starts again
    wait_for(lambda: len(consumer.on("site/line1/st1/parts")) == 5, 15, "the backlog delivered")
    wait_for(lambda: Outbox(db).count() == 0, 5, "the outbox emptied")
    outputs.close()
    assert [m["part"] for m in consumer.on("site/line1/st1/parts")] == [1, 2, 3, 4, 5]
    consumer.close()


def test_a_line_loses_no_part_message_when_the_broker_is_killed_for_ten_seconds(broker, db_path):
    consumer = Consumer(broker.port, "plant/+/parts")
    plant = OutputsConfig.parse("st9", None, f"mqtt://127.0.0.1:{broker.port}/plant/st9", None)
    station = Station(db_path, outputs=plant)
    config = LineConfig(source="synthetic:fps=15", weights=str(demo_model_path()), device="cpu", imgsz=320)
    line = station.build_line(config)
    (link,) = station.outputs.links
    runner = threading.Thread(target=line.run)
    runner.start()
    try:
        wait_for(lambda: line.stats.parts >= 2, 120, "two parts decided")
        broker.stop()
        parts_before = line.stats.parts
        time.sleep(10)
        assert line.stats.parts > parts_before, "the line kept deciding parts"
        assert link.queued() > 0 and link.status().state == RETRYING
        broker.start()
        wait_for(lambda: link.status().state == CONNECTED, 20, "reconnected")
        wait_for(lambda: line.stats.parts >= parts_before + 4, 120, "more parts decided")
    finally:
        line.stop()
        runner.join(30)
    line.close()
    station.close()
    got = {m["part"] for m in consumer.on("plant/st9/parts") if m["run"] == line.run_id}
    assert got == set(range(1, line.stats.parts + 1))
    assert Outbox(station.db).count() == 0
    consumer.close()


def _tls_files(folder):
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for command in (
        "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=test-CA",
        "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1",
        "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 "
        "-extfile san.ext",
    ):
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)
    return folder / "ca.crt"


def test_a_broker_with_tls_and_a_password_takes_the_station_s_messages_and_no_secret_is_logged(
    tmp_path, db_path, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)  # every record of every library, paho's own included
    ca = _tls_files(tmp_path)
    users = tmp_path / "passwords"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(users), "line7", "pa55-line7"], check=True)
    settings = (
        f"allow_anonymous false\npassword_file {users}\ncafile {ca}\n"
        f"certfile {tmp_path / 'server.crt'}\nkeyfile {tmp_path / 'server.key'}\n"
    )
    broker = LoopbackBroker(tmp_path, settings).start()
    try:
        url = f"mqtts://line7@127.0.0.1:{broker.port}/secure/st1?ca={ca}"
        monkeypatch.setenv("INSPECTOR_MQTT_PASSWORD", "n0t-the-pa55")
        refused = MqttLink(MqttConfig.parse(url, "st1"), Outbox(open_database(db_path)))
        outputs = Outputs("st1", [refused]).start()
        outputs.begin_run(1, SHA, CLASS_IDS)
        outputs.decided([part(1, "dent")], "eager")
        wait_for(lambda: refused.status().state == RETRYING, 10, "the wrong password refused")
        assert "not authori" in refused.status().detail.lower() and refused.queued() == 1
        outputs.close(timeout_s=1)
        monkeypatch.setenv("INSPECTOR_MQTT_PASSWORD", "pa55-line7")
        config = MqttConfig.parse(url, "st1")
        assert config.tls and config.port == broker.port and "pa55" not in repr(config) + config.target
        link = MqttLink(config, Outbox(open_database(db_path)))
        outputs = Outputs("st1", [link]).start()
        outputs.begin_run(1, SHA, CLASS_IDS)
        outputs.decided([part(2)], "eager")
        wait_for(lambda: link.status().sent == 2, 10, "both delivered over TLS, the refused one too")
        assert link.status().state == CONNECTED
        outputs.close()
        assert Outbox(open_database(db_path)).count() == 0
    finally:
        broker.stop()
    assert "pa55" not in caplog.text, "no password is ever logged"
