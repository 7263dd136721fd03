"""docs/hub.md's reverse proxies, run for real: its nginx site and its Caddyfile, taken from the
document as written (only the host name, ports and certificate are put in for this machine),
in front of a real hub. Through each: HTTPS with HSTS, a body that says it is over 1 MiB
refused before the hub sees it, the client's scheme passed on, and the console's WebSocket.

nginx and Caddy come from Debian (scripts/ensure-proxies); without them these tests are
skipped on a developer's machine and fail in CI (CI=true), where a missing dependency is never
a skip.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.hub.api import create_api
from tests.sync.hubs import free_port

DOC = Path(__file__).parents[2] / "docs" / "hub.md"
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def documented(heading: str) -> str:
    """The fenced block in docs/hub.md that starts with the comment `heading`."""
    found = re.search(r"```\n" + re.escape(heading) + r"\n(.*?)```", DOC.read_text(), re.S)
    assert found, f"docs/hub.md has no block starting {heading!r}"
    return found.group(1)


def needs(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}")
                                  else None)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{tool} is required in CI (scripts/ensure-proxies) and is missing")
        pytest.skip(f"no {tool} here: scripts/ensure-proxies installs it")
    return path


@dataclass
class Seen:
    """The hub's app, noting each request that reaches it: (kind, path, scheme it was told)."""

    app: Any
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # the statuses the hub answered

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            headers = dict(scope["headers"])
            self.requests.append((scope["type"], scope["path"], headers.get(
                b"x-forwarded-proto", b"").decode()))

        async def answering(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.answers.append(message["status"])
            await send(message)

        await self.app(scope, receive, answering)


@pytest.fixture
def hub(engine: Engine) -> Iterator[tuple[int, Seen]]:
    """A real hub with its console on a port of its own, noting what reaches it."""
    from fieldapp.console.app import mount_console

    app = create_api(engine, HubKeyPair.generate(), password_cost=4)
    mount_console(app)
    seen = Seen(app)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(seen, host="127.0.0.1", port=port,
                                           log_level="warning", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_up(port, tls=False)
    yield port, seen
    server.should_exit = True
    thread.join(timeout=10)


def wait_until_up(port: int, tls: bool, process: subprocess.Popen[bytes] | None = None
                  ) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the proxy stopped: {process.stderr and process.stderr.read()}")
        try:
            httpx.get(f"{'https' if tls else 'http'}://127.0.0.1:{port}/api/v1/health",
                      verify=False, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered on port {port}")


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example-trust.org.uk")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(1))
            .sign(key, hashes.SHA256()))
    chain, private = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, private


@pytest.fixture
def nginx(hub: tuple[int, Seen], tmp_path: Path, certificate: tuple[Path, Path]
          ) -> Iterator[tuple[int, int]]:
    binary = needs("nginx")
    site = documented("# /etc/nginx/sites-available/fieldapp-hub")
    plain, secure = free_port(), free_port()
    chain, private = certificate
    site = (site.replace("listen 80;", f"listen 127.0.0.1:{plain};")
            .replace("listen 443 ", f"listen 127.0.0.1:{secure} ")
            .replace("/etc/letsencrypt/live/hub.example-trust.org.uk/fullchain.pem", str(chain))
            .replace("/etc/letsencrypt/live/hub.example-trust.org.uk/privkey.pem", str(private))
            .replace("127.0.0.1:8080", f"127.0.0.1:{hub[0]}"))
    (tmp_path / "site.conf").write_text(site)
    for temporary in ("body", "proxy"):  # as Debian's /var/lib/nginx has them
        (tmp_path / temporary).mkdir()
    (tmp_path / "nginx.conf").write_text(
        # As root, workers would run as nobody, who cannot write to this test's folders.
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        "events {}\nhttp {\n  access_log off;\n"
        f"  client_body_temp_path {tmp_path}/body;\n  proxy_temp_path {tmp_path}/proxy;\n"
        f"  include {tmp_path}/site.conf;\n}}\n")
    checked = subprocess.run([binary, "-t", "-c", str(tmp_path / "nginx.conf"), "-p",
                              str(tmp_path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr  # the document's site, as written
    process = subprocess.Popen([binary, "-c", str(tmp_path / "nginx.conf"), "-p",
                                str(tmp_path)], stderr=subprocess.PIPE)
    try:
        wait_until_up(secure, tls=True, process=process)
        yield plain, secure
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def caddy(hub: tuple[int, Seen], tmp_path: Path) -> Iterator[tuple[int, int]]:
    binary = needs("caddy")
    site = documented("# /etc/caddy/Caddyfile")
    secure = free_port()
    site = (site.replace("hub.example-trust.org.uk {",
                         f"https://127.0.0.1:{secure} {{\n\ttls internal")
            .replace("127.0.0.1:8080", f"127.0.0.1:{hub[0]}"))
    (tmp_path / "Caddyfile").write_text(
        f"{{\n\tadmin off\n\tstorage file_system {tmp_path}/caddy\n\tskip_install_trust\n}}\n"
        + site)
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    process = subprocess.Popen([binary, "run", "--config", str(tmp_path / "Caddyfile"),
                                "--adapter", "caddyfile"], env=env, stderr=subprocess.PIPE)
    try:
        wait_until_up(secure, tls=True, process=process)
        yield 0, secure
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("proxy", ["nginx", "caddy"])
def test_the_documented_proxy_serves_the_hub_as_the_document_says(
        request: pytest.FixtureRequest, hub: tuple[int, Seen], proxy: str) -> None:
    plain, secure = request.getfixturevalue(proxy)
    _port, seen = hub
    base = f"https://127.0.0.1:{secure}"
    with httpx.Client(verify=False, timeout=10) as client:
        health = client.get(f"{base}/api/v1/health")
        assert health.json()["status"] == "ok"
        assert health.headers["strict-transport-security"] == "max-age=31536000"
        assert seen.requests[-1] == ("http", "/api/v1/health", "https")
        seen.requests.clear()
        over = client.post(f"{base}/api/v1/push", content=b"x" * (2 * 1024 * 1024),
                           headers={"Content-Type": "application/json"})
        assert over.status_code == 413
        assert seen.requests == []  # refused before the hub read a byte of it
        seen.answers.clear()
        chunked = client.post(f"{base}/api/v1/push", content=iter([b"x" * 65536] * 32),
                              headers={"Content-Type": "application/json"})
        assert chunked.status_code == 413  # a body sent in chunks, without a length
        # nginx holds it back; Caddy passes on its first 1 MiB, then cuts it off, and the hub,
        # its request gone, answers nobody (never a 500).
        assert seen.answers in ([], [499])
        under = client.post(f"{base}/api/v1/push", content=b"{}",
                            headers={"Content-Type": "application/json"})
        assert under.status_code == 401 and under.json()["error"] == "unauthenticated"
        if plain:
            moved = client.get(f"http://127.0.0.1:{plain}/api/v1/health")
            assert moved.status_code == 301
            assert moved.headers["location"].startswith("https://")
    assert b"101" in websocket_handshake(secure).split(b"\r\n")[0]
    assert ("websocket", "/console/ws", "https") in seen.requests


def websocket_handshake(port: int) -> bytes:
    """The console's WebSocket opened through the proxy, over TLS: its status line."""
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw) as tls:  # by address, as httpx did
        tls.sendall(f"GET /console/ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode() +
                    b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n")
        return tls.recv(1024)
