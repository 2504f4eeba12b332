"""The station as an OPC UA server (asyncua) for MES and SCADA.

Under ``Objects`` one object named after the station (namespace ``urn:inspector:station``) holds:
``State`` (text) and ``StateCode`` (the PLC's state numbers), ``Recipe`` (its number),
``ModelSha256``, a ``Counters``
object (``Run``, ``Parts``, ``OK``, ``NG``) and a ``LastResult`` object (``ResultId``, ``PartId``,
``Verdict``, ``ResultState``, ``DefectClasses``, ``CreationTime``). Each decided part raises a
``ResultReadyEventType`` event on the station object, named as in the OPC UA Machine Vision
companion specification (OPC 40100), with those fields plus ``Run``, ``ModelSha256`` and ``Backend``.
``ResultId`` is ``station/run/part``; ``ResultState`` is 1 for OK and 2 for NG.

The server listens where ``--opcua`` says (127.0.0.1 unless told otherwise), with a self-signed
certificate made at its first start (``opcua_pki_dir()``): it offers Basic256Sha256 with signing
and encryption, and no security as well unless a user is set. With a user in the URL it admits
only that user, with the password from ``INSPECTOR_OPCUA_PASSWORD``, only over the encrypted
endpoint; anonymous clients are then refused.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.server.user_managers import User, UserManager, UserRole
from cryptography.x509.oid import ExtendedKeyUsageOID

from inspector.outputs.config import OpcUaConfig
from inspector.outputs.link import CONNECTED, OFF, Link
from inspector.outputs.messages import STATE_CODES, Update
from inspector.paths import opcua_pki_dir

log = logging.getLogger(__name__)
logging.getLogger("asyncua").setLevel(logging.WARNING)  # it logs each request at INFO

NAMESPACE = "urn:inspector:station"
POLL_S = 0.02  # how often the server's loop looks for news from the line
RESULT_FIELDS: list[tuple[str, ua.VariantType]] = [
    ("ResultId", ua.VariantType.String),
    ("Run", ua.VariantType.UInt32),
    ("PartId", ua.VariantType.UInt32),
    ("Verdict", ua.VariantType.String),
    ("ResultState", ua.VariantType.Int32),
    ("DefectClasses", ua.VariantType.String),
    ("CreationTime", ua.VariantType.DateTime),
    ("ModelSha256", ua.VariantType.String),
    ("Backend", ua.VariantType.String),
]
LAST_RESULT = RESULT_FIELDS[:7]  # what the LastResult object holds; the event adds the rest


class _OneUser(UserManager):
    """Admits the one configured user; anyone else is refused."""

    def __init__(self, username: str, password: str) -> None:
        self._username, self._password = username, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username is None or password is None:
            return None
        same = hmac.compare_digest(username.encode(), self._username.encode())
        if same & hmac.compare_digest(password.encode(), self._password.encode()):
            return User(role=UserRole.User, name=username)
        return None


async def _own_certificate(uri: str) -> tuple[Path, Path]:
    """The server's private key and self-signed certificate, made once and kept (the key readable
    by its owner alone), so clients can pin it."""
    folder = opcua_pki_dir()
    key, cert = folder / "server-key.pem", folder / "server-cert.der"
    if not (key.is_file() and cert.is_file()):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)
        await setup_self_signed_certificate(
            key,
            cert,
            uri,
            socket.gethostname(),
            [ExtendedKeyUsageOID.SERVER_AUTH],
            {"commonName": f"inspector {socket.gethostname()}", "organizationName": "inspector"},
        )
        key.chmod(0o600)
    return key, cert


class OpcUaLink(Link):
    name = "OPC UA"

    def __init__(self, config: OpcUaConfig, station: str) -> None:
        super().__init__(config.target)
        self.config = config
        self.station = station

    def _serve(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        cfg = self.config
        users = _OneUser(cfg.username, cfg.password or "") if cfg.username else None
        server = Server(user_manager=users)
        await server.init()
        server.set_endpoint(cfg.endpoint)
        server.set_server_name(f"inspector station {self.station}")
        uri = f"urn:inspector:station:{self.station}"
        await server.set_application_uri(uri)
        key, cert = await _own_certificate(uri)
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        # with a user, only the encrypted endpoint: a password never crosses the wire in clear
        secure = [ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        server.set_security_policy(secure if users else [ua.SecurityPolicyType.NoSecurity, *secure])
        server.set_identity_tokens([ua.UserNameIdentityToken] if users else [ua.AnonymousIdentityToken])
        idx = await server.register_namespace(NAMESPACE)
        event_type = await server.create_custom_event_type(
            idx, "ResultReadyEventType", ua.ObjectIds.BaseEventType, RESULT_FIELDS
        )
        station = await server.nodes.objects.add_object(idx, self.station)
        nodes = await self._variables(idx, station)
        events = await server.get_event_generator(event_type, station)
        try:
            await server.start()
        except OSError as exc:
            self._set(OFF, f"cannot listen at {cfg.endpoint}: {exc.strerror or exc}")
            return
        self._set(CONNECTED, "listening")
        written: dict[str, Any] = {}  # node name -> the value it holds
        try:
            while True:
                items, final = self._take(0)
                if not items and not final:
                    await asyncio.sleep(POLL_S)
                    continue
                for item in items:
                    if isinstance(item, Update):
                        await self._show(item, nodes, events, written)
                if final:
                    break
        finally:
            await server.stop()

    async def _variables(self, idx: int, station: Node) -> dict[str, Node]:
        nodes = {
            "State": await station.add_variable(idx, "State", "stopped"),
            "StateCode": await station.add_variable(idx, "StateCode", 0, ua.VariantType.Int32),
            "ModelSha256": await station.add_variable(idx, "ModelSha256", ""),
            "Recipe": await station.add_variable(idx, "Recipe", 0, ua.VariantType.UInt32),
        }
        counters = await station.add_object(idx, "Counters")
        for name in ("Run", "Parts", "OK", "NG"):
            nodes[name] = await counters.add_variable(idx, name, 0, ua.VariantType.UInt32)
        last = await station.add_object(idx, "LastResult")
        for name, kind in LAST_RESULT:
            initial = datetime.fromtimestamp(0, UTC) if kind == ua.VariantType.DateTime else None
            value = initial if initial else (0 if kind != ua.VariantType.String else "")
            nodes[f"Last{name}"] = await last.add_variable(idx, name, value, kind)
        return nodes

    async def _show(
        self, update: Update, nodes: dict[str, Node], events: Any, written: dict[str, Any]
    ) -> None:
        """Writes only the values that changed: every write wakes asyncua's subscriptions, in a
        thread that shares the interpreter with the inspection loop."""

        async def write(name: str, value: Any, kind: ua.VariantType | None = None) -> None:
            if written.get(name, written) != value:
                await nodes[name].write_value(value, kind)
                written[name] = value

        c = update.counters
        await write("State", update.state)
        await write("StateCode", STATE_CODES[update.state], ua.VariantType.Int32)
        await write("Recipe", update.recipe, ua.VariantType.UInt32)
        for name, value in (("Run", c.run), ("Parts", c.parts), ("OK", c.ok), ("NG", c.ng)):
            await write(name, value, ua.VariantType.UInt32)
        message = update.part
        if message is None:
            return
        part = message.part
        fields: dict[str, Any] = {
            "ResultId": f"{message.run.station}/{message.run.run}/{part.part}",
            "Run": message.run.run,
            "PartId": part.part,
            "Verdict": part.verdict,
            "ResultState": 2 if part.ng else 1,
            "DefectClasses": ",".join(part.defect_classes),
            "CreationTime": datetime.fromtimestamp(part.decided_at, UTC),
            "ModelSha256": message.run.model_sha256,
            "Backend": message.backend,
        }
        await write("ModelSha256", message.run.model_sha256)
        for name, kind in LAST_RESULT:
            await write(f"Last{name}", fields[name], kind)
        for name, value in fields.items():
            setattr(events.event, name, value)
        events.event.Severity = 500 if part.ng else 100
        await events.trigger(message=f"part {part.part} {part.verdict}")
        with self._lock:
            self.sent += 1
