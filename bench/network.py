#!/usr/bin/env python3
"""Measures a networked unikernel: boot to first HTTP answer, and requests/s against the host.

    python3 bench/network.py --image examples/rust-http/target/x86_64-unikraft-linux-musl/debug/rust-http \\
        --native examples/rust-http/target/x86_64-unknown-linux-gnu/debug/rust-http

- boot → first HTTP response: kraftld-run started with a forward from the host's 127.0.0.1 to
  the guest's port 8080, the clock running from the start of kraftld-run until the first full
  HTTP response to `GET /` (the host polls every 5 ms); --boots times, median and range. The
  runner gives the guest its address at boot; `--runner-arg=--dhcp` measures DHCP instead;
- requests/s: the same server, through QEMU's user-network forward into the unikernel, and built
  for the host and run natively (--native), measured one after the other in one run with the
  same client: --clients threads, each with one keep-alive HTTP/1.1 connection, for --seconds
  seconds (at most --max-requests per client); their ratio.

Loopback only. It prints what it measured and asserts nothing: the machine is noisy (read the
figures, rerun when in doubt). Every process it starts, it stops.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

# The tests' helpers for a networked guest: the same free port, forward and stop as the network suite.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from netboot import Forward, free_port, network_args, stop


def answer(port: int, timeout: float = 2.0) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", "/")
        ok = connection.getresponse().read() != b""
        connection.close()
        return ok
    except (OSError, http.client.HTTPException):
        return False


@contextlib.contextmanager
def guest(runner: Sequence[str], image: Path, port: int) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    """Boot the image; yield the runner's process and seconds until the first answer."""
    started = time.monotonic()
    process = subprocess.Popen(
        [*runner, *network_args({port: Forward(8080)}), str(image)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = started + 120
        while not answer(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the guest did not answer (runner status {process.poll()})")
            time.sleep(0.005)
        yield process, time.monotonic() - started
    finally:
        stop(process)


@contextlib.contextmanager
def native(binary: Path, port: int) -> Iterator[None]:
    process = subprocess.Popen([str(binary), str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not answer(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the native server did not answer")
            time.sleep(0.005)
        yield
    finally:
        stop(process)


def requests_per_second(port: int, clients: int, seconds: float, max_requests: int) -> tuple[float, int]:
    counts = [0] * clients
    errors = [0] * clients
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop_at and counts[index] < max_requests:
            try:
                connection.request("GET", "/api/status")
                if connection.getresponse().read():
                    counts[index] += 1
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.close()

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began), sum(errors)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", type=Path, required=True, help="the unikernel image (rust-http)")
    parser.add_argument("--native", type=Path, help="the same server built for the host")
    parser.add_argument("--boots", type=int, default=5)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--max-requests", type=int, default=20000, help="per client and run")
    parser.add_argument("--runner-arg", action="append", default=[], help="one more kraftld-run option")
    args = parser.parse_args(argv)
    runner = [sys.executable, "-m", "kraftld.run", *args.runner_arg]
    load = os.getloadavg()[0]
    print(f"image: {args.image}")
    print(f"runner: kraftld-run {' '.join(args.runner_arg)}  cpus: {os.cpu_count()}  load average: {load:.1f}")

    boots = []
    for _ in range(args.boots):
        with guest(runner, args.image, free_port()) as (_, seconds):
            boots.append(seconds)
    print(
        f"boot -> first HTTP response: median {statistics.median(boots):.3f} s, "
        f"min {min(boots):.3f} s, max {max(boots):.3f} s over {len(boots)} boots (target <= 1.0 s)"
    )

    port = free_port()
    with guest(runner, args.image, port):
        guest_rate, guest_errors = requests_per_second(port, args.clients, args.seconds, args.max_requests)
    print(f"requests/s through the forward into the unikernel: {guest_rate:.0f} ({guest_errors} errors)")
    if args.native:
        port = free_port()
        with native(args.native, port):
            native_rate, native_errors = requests_per_second(port, args.clients, args.seconds, args.max_requests)
        print(f"requests/s to the same server run natively:        {native_rate:.0f} ({native_errors} errors)")
        print(f"unikernel / native: {guest_rate / native_rate:.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
