"""The OPC UA server against asyncua's own client on loopback: nodes, one event per part, users."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest
from asyncua import ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.sync import Client
from cryptography.x509.oid import ExtendedKeyUsageOID

from inspector.lab.loopback_plc import free_port
from inspector.outputs.config import OpcUaConfig
from inspector.outputs.hub import Outputs
from inspector.outputs.link import CONNECTED, CONNECTING, OFF
from inspector.outputs.opcua import NAMESPACE, OpcUaLink
from inspector.paths import opcua_pki_dir

from .conftest import CLASS_IDS, part, wait_for


def serve(url: str, station: str = "st4") -> tuple[Outputs, OpcUaLink]:
    link = OpcUaLink(OpcUaConfig.parse(url), station)
    outputs = Outputs(station, [link]).start()
    wait_for(lambda: link.status().state != CONNECTING, 20, "the server up")
    outputs.begin_run(12, "cd" * 32, CLASS_IDS)
    outputs.set_state("running")
    return outputs, link


class Events:
    def __init__(self) -> None:
        self.got: list[dict] = []
        self._lock = threading.Lock()

    def event_notification(self, event) -> None:
        with self._lock:
            self.got.append(event.get_event_props_as_fields_dict())


def test_a_subscribed_client_gets_one_event_per_decided_part_and_reads_the_counters():
    url = f"opc.tcp://127.0.0.1:{free_port()}"
    outputs, link = serve(url)
    assert link.status().state == CONNECTED
    with Client(url) as client:
        idx = client.get_namespace_index(NAMESPACE)
        station = client.nodes.objects.get_child(f"{idx}:st4")
        event_type = client.nodes.base_event_type.get_child(f"{idx}:ResultReadyEventType")
        handler = Events()
        subscription = client.create_subscription(50, handler)
        subscription.subscribe_events(station, event_type)
        outputs.decided([part(1), part(2, "dent", "crack"), part(3)], "eager")
        wait_for(lambda: len(handler.got) == 3, 10, "three events")
        fields = [{k: v.Value for k, v in e.items()} for e in handler.got]
        assert [f["PartId"] for f in fields] == [1, 2, 3]
        assert [f["Verdict"] for f in fields] == ["OK", "NG", "OK"] and fields[1]["ResultState"] == 2
        assert fields[1]["ResultId"] == "st4/12/2" and fields[1]["DefectClasses"] == "crack,dent"
        assert fields[1]["ModelSha256"] == "cd" * 32 and fields[1]["Run"] == 12
        read = lambda *path: station.get_child([f"{idx}:{p}" for p in path]).read_value()  # noqa: E731
        wait_for(lambda: read("Counters", "Parts") == 3, 5, "the counters")
        assert (read("Counters", "OK"), read("Counters", "NG"), read("Counters", "Run")) == (2, 1, 12)
        assert read("State") == "running" and read("StateCode") == 2
        assert read("LastResult", "PartId") == 3 and read("LastResult", "Verdict") == "OK"
        subscription.delete()
    outputs.close()


def _client_certificate(folder) -> str:
    """A client's own key and self-signed certificate, as asyncua's security string wants them."""
    key, cert = folder / "client-key.pem", folder / "client-cert.der"
    asyncio.run(
        setup_self_signed_certificate(
            key, cert, "urn:test:client", "localhost", [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "qe"}
        )
    )
    return f"Basic256Sha256,SignAndEncrypt,{cert},{key}"


def test_with_a_user_only_that_user_gets_in_and_only_encrypted(monkeypatch, tmp_path):
    monkeypatch.setenv("INSPECTOR_OPCUA_PASSWORD", "line-7-secret")
    port = free_port()
    outputs, _ = serve(f"opc.tcp://qe@127.0.0.1:{port}")
    url = f"opc.tcp://127.0.0.1:{port}"
    secure = _client_certificate(tmp_path)
    for user, password, security in (
        (None, None, secure),
        ("qe", "wrong", secure),
        ("intruder", "line-7-secret", secure),
        ("qe", "line-7-secret", None),  # the right password, but it would cross the wire in clear
    ):
        client = Client(url)
        if security:
            client.set_security_string(security)
        if user:
            client.set_user(user)
            client.set_password(password)
        with pytest.raises((ua.UaError, TimeoutError, ConnectionError)):
            client.connect()
        with contextlib.suppress(ua.UaError, ConnectionError):
            client.disconnect()
    client = Client(url)
    client.set_security_string(secure)
    client.set_user("qe")
    client.set_password("line-7-secret")
    with client:
        idx = client.get_namespace_index(NAMESPACE)
        assert client.nodes.objects.get_child([f"{idx}:st4", f"{idx}:State"]).read_value() == "running"
    outputs.close()
    key = next(opcua_pki_dir().glob("server-key.pem"))
    assert key.stat().st_mode & 0o077 == 0, "the server's private key is readable by its owner alone"


def test_a_port_in_use_says_so_and_the_station_goes_on():
    outputs, first = serve(f"opc.tcp://127.0.0.1:{free_port()}")
    taken = first.config.endpoint
    second_outputs, second = serve(taken)
    assert second.status().state == OFF and "cannot listen" in second.status().detail
    second_outputs.close()
    outputs.close()
