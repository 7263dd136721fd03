"""Where the slip gives the hub's TLS key pins, the phone talks only to a server holding one of
those keys, checked in the handshake, before a byte of a request (the code, events) leaves."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub.api import create_api
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.sync.client import HubFault, enrol, enrolment_of, spki_pin
from tests.sync.hubs import Hub, Phone, free_port, set_up_school


def certificate(directory: Path, name: str) -> tuple[Path, Path, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / f"{name}.pem", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file, spki_pin(cert.public_bytes(serialization.Encoding.DER))


@pytest.fixture
def https_hub(tmp_path: Path) -> Iterator[tuple[Hub, str]]:
    engine = connect(f"sqlite:///{tmp_path / 'hub.db'}")
    keys = HubKeyPair.generate()
    cert_file, key_file, pin = certificate(tmp_path, "hub")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(
        create_api(engine, keys, password_cost=4), host="127.0.0.1", port=port,
        log_level="warning", lifespan="off", ssl_certfile=str(cert_file),
        ssl_keyfile=str(key_file)))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        threading.Event().wait(0.02)
    yield Hub(f"https://127.0.0.1:{port}", engine, keys, set_up_school(engine),
              EventStore(engine), server), pin
    server.should_exit = True


def test_a_phone_with_the_pin_enrols_and_syncs_over_https(
        https_hub: tuple[Hub, str], tmp_path: Path) -> None:
    hub, pin = https_hub
    phone = Phone(tmp_path / "ann")
    enrol(phone.repository, hub.url, hub.slip("staff-ann"), tls_pins=["backup-pin=", pin])
    kept = enrolment_of(phone.repository)
    assert kept is not None and kept.tls_pins == ("backup-pin=", pin)
    phone.client.sync()
    assert phone.client.status().last_failure is None


def test_a_server_without_a_pinned_key_gets_nothing(https_hub: tuple[Hub, str],
                                                    tmp_path: Path) -> None:
    hub, _pin = https_hub
    _cert, _key, other = certificate(tmp_path, "intercepting-proxy")
    phone = Phone(tmp_path / "ann")
    slip = hub.slip("staff-ann")
    with pytest.raises(HubFault, match="not the school's hub"):
        enrol(phone.repository, hub.url, slip, tls_pins=[other])
    assert hub.directory.devices("uplands") == []  # the code never reached the hub...
    enrol(phone.repository, hub.url, slip, tls_pins=[_pin])  # ...so it still works
