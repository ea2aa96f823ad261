"""Booting a networked guest from tests: kraftld-run with QEMU's user network, ports forwarded from
the host's 127.0.0.1, stopped by the test. Loopback only: the host side binds 127.0.0.1, and the
guest reaches the host as 10.0.2.2 through QEMU's own NAT to the host's loopback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from realboot import Tools


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Forward:
    guest: int
    protocol: str = "tcp"


def network_args(forwards: dict[int, Forward]) -> list[str]:
    """kraftld-run arguments for one virtio-net card on QEMU's user network, `host → guest` ports."""
    netdev = "user,id=n0" + "".join(
        f",hostfwd={f.protocol}:127.0.0.1:{host}-:{f.guest}" for host, f in forwards.items()
    )
    words = ["-netdev", netdev, "-device", "virtio-net-pci,netdev=n0"]
    return [part for word in words for part in ("--qemu-arg", word)]


@dataclass
class Guest:
    process: subprocess.Popen[bytes]
    ports: dict[int, int]  # guest port → host port
    output: Path

    def url(self, path: str, guest_port: int = 8080) -> str:
        return f"http://127.0.0.1:{self.ports[guest_port]}{path}"

    def console(self) -> str:
        return self.output.read_text(errors="replace")


@contextlib.contextmanager
def booted(
    tools: Tools,
    image: Path,
    forwards: Sequence[Forward],
    args: Sequence[str] = (),
    ready_path: str | None = "/",
    timeout: float = 90,
) -> Iterator[Guest]:
    """Boot `image` with `forwards`; with `ready_path`, wait until HTTP answers there. Always stopped."""
    by_host = {free_port(socket.SOCK_DGRAM if f.protocol == "udp" else socket.SOCK_STREAM): f for f in forwards}
    with tempfile.NamedTemporaryFile(prefix="guest-", suffix=".out", delete=False) as handle:
        output = Path(handle.name)
    with open(output, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "kraftld.run", *network_args(by_host), str(image), *args],
            env=tools.environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    guest = Guest(process, {f.guest: host for host, f in by_host.items()}, output)
    try:
        if ready_path is not None:
            wait_for_http(guest, ready_path, timeout)
        yield guest
    finally:
        stop(process)
        with contextlib.suppress(OSError):
            os.unlink(output)


def wait_for_http(guest: Guest, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if guest.process.poll() is not None:
            raise AssertionError(f"the guest ended ({guest.process.returncode}) before answering:\n{guest.console()}")
        try:
            with urllib.request.urlopen(guest.url(path), timeout=5) as reply:
                reply.read()
                return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"no HTTP answer within {timeout} s:\n{guest.console()}") from None
            time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the runner (it stops QEMU), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def get(url: str, timeout: float = 20) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        body: bytes = reply.read()
        return body
