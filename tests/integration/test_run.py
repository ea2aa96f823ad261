"""The runner issue's proof: real boots, exit statuses, crashes, hangs and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realboot import Tools


@pytest.mark.parametrize("status", [0, 3, 42, 255])
def test_return_status(tools: Tools, behave_image: Path, status: int) -> None:
    result = tools.run(behave_image, ["return", str(status)])
    assert result.returncode == status, result.stderr
    assert result.stderr == b""


@pytest.mark.parametrize("status", [0, 3, 42, 255])
def test_exit_status_and_unterminated_output(tools: Tools, behave_image: Path, status: int) -> None:
    result = tools.run(behave_image, ["exit", str(status)])
    assert result.returncode == status
    assert result.stdout.decode().endswith(f"exiting with {status}")


@pytest.mark.parametrize("how", ["crash", "abort"])
def test_crash_gives_134(tools: Tools, behave_image: Path, how: str) -> None:
    result = tools.run(behave_image, [how])
    assert result.returncode == 134
    assert result.stderr.decode().count("\n") == 1 and "crashed" in result.stderr.decode()


def test_hang_is_stopped_by_the_timeout(tools: Tools, behave_image: Path) -> None:
    started = time.monotonic()
    result = tools.run(behave_image, ["hang"], env={"KRAFTLD_RUN_TIMEOUT": "3"})
    assert result.returncode == 124
    assert "did not finish in time" in result.stderr.decode()
    assert time.monotonic() - started < 30


def qemu_processes(marker: str) -> list[int]:
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"qemu-system" in cmdline and marker.encode() in cmdline:
            found.append(int(pid))
    return found


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_qemu_outlives_the_runner(tools: Tools, behave_image: Path, tmp_path: Path, sig: signal.Signals) -> None:
    image = tmp_path / f"stop-{sig.name}"
    os.symlink(behave_image, image)
    runner = subprocess.Popen(
        [sys.executable, "-m", "kraftld.run", str(image), "hang"],
        env=tools.environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not qemu_processes(image.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qemu_processes(image.name), "QEMU did not start"
    runner.send_signal(sig)
    status = runner.wait(timeout=30)
    assert status == (128 + sig if sig != signal.SIGKILL else -sig)
    deadline = time.monotonic() + 10
    while qemu_processes(image.name) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert qemu_processes(image.name) == []


def test_image_path_with_spaces(tools: Tools, behave_image: Path, tmp_path: Path) -> None:
    folder = tmp_path / "target dir" / "debug"
    folder.mkdir(parents=True)
    image = folder / "my image"
    image.write_bytes(behave_image.read_bytes())
    result = tools.run(image, ["x"])
    assert result.stdout.decode() == "program behave argc=2\narg[1]=<x>\n"
    assert result.returncode == 0
