"""Compiles shared beyond one machine: ccache's remote storage (redis) and distcc, on loopback.

Each test starts its own server on 127.0.0.1 at a free port and stops it; nothing else is
contacted. CI installs redis-server and distcc (Debian: apt-get install redis-server distcc).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from netboot import free_port
from realboot import PROGRAMS, Tools

# Boots under TCG: what these tests check is the build, and a host whose KVM aborts on the first
# boot (as this project's build machines do) must not decide it. QEMU takes the last -machine/-cpu.
TCG = {"KRAFTLD_QEMU_ARGS": "-machine accel=tcg -cpu max"}


@contextmanager
def loopback_server(argv: list[str], port: int, log: Path) -> Iterator[None]:
    """A server started in a process group of its own, stopped (the whole group) afterwards."""
    with open(log, "wb") as output:
        server = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, log.read_text(errors="replace")
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, f"{argv[0]} did not listen on 127.0.0.1:{port}"
            time.sleep(0.1)
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def ccache_stats(ccache_dir: Path) -> dict[str, int]:
    out = subprocess.run(
        ["ccache", "--print-stats"], env={"CCACHE_DIR": str(ccache_dir)}, capture_output=True, text=True, check=True
    ).stdout
    return {key: int(value) for key, value in (line.split("\t") for line in out.splitlines())}


def test_a_build_in_an_empty_cache_is_served_from_ccache_s_remote_storage(tools: Tools, tmp_path: Path) -> None:
    redis = shutil.which("redis-server")
    assert redis, "redis-server is not installed (Debian: apt-get install redis-server)"
    assert shutil.which("ccache"), "ccache is not installed (Debian: apt-get install ccache)"
    port = free_port()
    argv = [redis, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="remote"')
    with loopback_server(argv, port, tmp_path / "redis.log"):
        remote = {"KRAFTLD_CCACHE": "1", "CCACHE_REMOTE_STORAGE": f"redis://127.0.0.1:{port}"}
        # A build on "one machine": its own kraftld cache, its own local ccache store.
        first = {**remote, "KRAFTLD_CACHE": str(tmp_path / "one"), "CCACHE_DIR": str(tmp_path / "one-ccache")}
        tools.kraftld([str(obj), "-o", str(tmp_path / "one-image")], env=first)
        filled = ccache_stats(tmp_path / "one-ccache")
        assert filled["cache_miss"] > 50 and filled["remote_storage_error"] == 0
        # "Another machine": empty kraftld cache, empty local store: its compiles come from redis.
        second = {**remote, "KRAFTLD_CACHE": str(tmp_path / "two"), "CCACHE_DIR": str(tmp_path / "two-ccache")}
        tools.kraftld([str(obj), "-o", str(tmp_path / "two-image")], env=second)
        served = ccache_stats(tmp_path / "two-ccache")
    print(f"second machine: {served['remote_storage_read_hit']} remote hits, {served['cache_miss']} misses")
    assert served["remote_storage_read_hit"] > 50
    assert served["remote_storage_read_hit"] > 5 * served["cache_miss"]
    result = tools.run(tmp_path / "two-image", ["return", "5"], env=TCG)
    assert result.stdout.decode().startswith("program remote") and result.returncode == 5


def test_distcc_compiles_unikraft_on_a_loopback_server(tools: Tools, tmp_path: Path) -> None:
    distccd = shutil.which("distccd")
    assert distccd and shutil.which("distcc"), "distcc is not installed (Debian: apt-get install distcc)"
    port = free_port()
    log = tmp_path / "distccd.log"
    argv = [
        distccd,
        "--daemon",
        "--no-detach",
        "--listen",
        "127.0.0.1",
        "--allow",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-stderr",
        "--log-level",
        "info",
    ]
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="distcc"')
    with loopback_server(argv, port, log):
        env = {
            "KRAFTLD_CACHE": str(tmp_path / "cache"),
            "CCACHE_DIR": str(tmp_path / "ccache"),  # empty: every compile is a miss, handed to distcc
            # No local slot: distcc would otherwise compile some jobs on this host itself.
            "DISTCC_HOSTS": f"127.0.0.1:{port}/4",
            "DISTCC_FALLBACK": "0",
        }
        tools.kraftld([str(obj), "-o", str(tmp_path / "image")], env=env)
        time.sleep(0.5)  # the daemon's last log lines
    compiled = log.read_text(errors="replace").count("COMPILE_OK")
    print(f"distccd compiled {compiled} files")
    assert compiled > 50, log.read_text(errors="replace")[-2000:]
    result = tools.run(tmp_path / "image", ["return", "6"], env=TCG)
    assert result.stdout.decode().startswith("program distcc") and result.returncode == 6
