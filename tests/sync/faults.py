"""A network that fails on purpose: an HTTP proxy on a real socket between phones and the hub.

Each request it relays is dealt a fault by a seeded plan: passed, delayed, sent twice, cut off
after some bytes on the way to the hub (the hub may or may not have it), or its answer cut off
after some bytes on the way back (the hub has it; the phone does not know). Requests from two
phones run side by side, so delays reorder them.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

FAULTS = ("pass", "delay", "duplicate", "cut_up", "cut_down")


@dataclass(frozen=True)
class Fault:
    kind: str  # one of FAULTS
    at: float = 0.0  # where to cut, as a share of the bytes; or the delay in seconds


def plan_from(seed: int, calm: float = 0.4) -> Callable[[], Fault]:
    """A seeded stream of faults: `calm` of the requests pass untouched."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def next_fault() -> Fault:
        with lock:
            if rng.random() < calm:
                return Fault("pass")
            kind = rng.choice(FAULTS[1:])
            return Fault(kind, rng.uniform(0.005, 0.05) if kind == "delay" else rng.random())

    return next_fault


class Proxy:
    """`killer`, for a "kill" fault: called once the request has gone up (it kills the hub)."""

    def __init__(self, upstream_port: int, plan: Callable[[], Fault],
                 killer: Callable[[], None] | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.plan = plan
        self.killer = killer
        self.dealt: list[str] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._closed = False
        threading.Thread(target=self._accept, name="proxy", daemon=True).start()

    def heal(self) -> None:
        """From now on, every request passes."""
        self.plan = lambda: Fault("pass")

    def close(self) -> None:
        self._closed = True
        self._server.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            client.settimeout(30)
            reader = client.makefile("rb")
            while True:
                request = read_message(reader, request=True)
                if request is None:
                    return
                fault = self.plan()
                self.dealt.append(fault.kind)
                if not self._relay(client, request, fault):
                    return

    def _relay(self, client: socket.socket, request: bytes, fault: Fault) -> bool:
        """Relay one request as the fault says; False when the connection is cut."""
        if fault.kind == "delay":
            time.sleep(fault.at)
        if fault.kind == "kill" and self.killer is not None:
            with socket.create_connection(self.upstream, timeout=30) as upstream:
                upstream.sendall(request)
                time.sleep(fault.at)  # the hub is at work on it
                self.killer()
            client.shutdown(socket.SHUT_RDWR)
            return False
        if fault.kind == "cut_up":
            with socket.create_connection(self.upstream, timeout=30) as upstream:
                upstream.sendall(request[:int(len(request) * fault.at)])
            client.shutdown(socket.SHUT_RDWR)
            return False
        answer = exchange(self.upstream, request)
        if fault.kind == "duplicate":
            answer = exchange(self.upstream, request)
        if answer is None:  # the hub went away mid-request
            client.shutdown(socket.SHUT_RDWR)
            return False
        if fault.kind == "cut_down":
            client.sendall(answer[:int(len(answer) * fault.at)])
            client.shutdown(socket.SHUT_RDWR)
            return False
        client.sendall(answer)
        return True


def exchange(upstream: tuple[str, int], request: bytes) -> bytes | None:
    try:
        with socket.create_connection(upstream, timeout=30) as connection:
            connection.sendall(request)
            return read_message(connection.makefile("rb"), request=False)
    except OSError:
        return None


def read_message(stream: object, request: bool) -> bytes | None:
    """One HTTP/1.1 message, whole (headers, and a body by Content-Length or chunks)."""
    read_line = stream.readline  # type: ignore[attr-defined]
    read = stream.read  # type: ignore[attr-defined]
    try:
        head = b""
        while True:
            line = read_line(65537)
            if not line:
                return None
            head += line
            if line in (b"\r\n", b"\n"):
                break
        headers = {k.strip().lower(): v.strip() for k, _, v in (
            h.decode("latin-1").partition(":") for h in head.split(b"\r\n")[1:] if b":" in h)}
        if "content-length" in headers:
            return head + read(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size_line = read_line()
                body += size_line
                size = int(size_line.split(b";")[0], 16)
                chunk = read(size + 2)
                body += chunk
                if size == 0:
                    return head + body
        return head if request else head + read()
    except (OSError, ValueError):
        return None
