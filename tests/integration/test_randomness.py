"""Randomness from a real source, or a loud stop: RDRAND, the host's seed, or neither."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kraftld.runner.qemu import BootOptions, qemu_command
from realboot import PROGRAMS, Tools


@pytest.fixture(scope="module")
def random_image(tools: Tools) -> Path:
    obj = tools.compile_c(PROGRAMS / "random.c", tools.work / "random.o")
    tools.kraftld([str(obj), "-o", str(tools.work / "random")])
    return tools.work / "random"


def test_rdrand(tools: Tools, random_image: Path) -> None:
    result = tools.run(random_image)
    assert result.returncode == 0
    assert result.stdout.decode().startswith("rdrand=1\n")


def test_host_seed_without_rdrand(tools: Tools, random_image: Path) -> None:
    outputs = set()
    for _ in range(2):
        result = tools.run(random_image, env={"KRAFTLD_QEMU_ARGS": "-cpu qemu64"})
        assert result.returncode == 0, result.stdout
        lines = result.stdout.decode().splitlines()
        assert lines[0] == "rdrand=0"
        outputs.add(lines[1])
    assert len(outputs) == 2, "each boot gets fresh randomness from the host"


def test_no_source_stops_loudly(random_image: Path) -> None:
    # Booted by hand: kraftld-run's command without its kraftld.seed, on a CPU without RDRAND.
    command = list(qemu_command(str(random_image), [], BootOptions(), [0, 0, 0, 0]))
    command[command.index("-cpu") + 1] = "qemu64"
    del command[command.index("-append") : command.index("-append") + 2]
    result = subprocess.run(command, capture_output=True, timeout=60)
    assert "has no source" in result.stdout.decode()
    assert result.returncode == 85  # Unikraft's crash code: kraftld-run reports 134
