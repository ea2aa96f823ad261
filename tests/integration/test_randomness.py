"""Randomness from a real source, or a loud stop: RDRAND, the host's seed, or neither."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

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
    # Booted by hand: no kraftld.seed, and a CPU without RDRAND.
    result = subprocess.run(
        [
            "qemu-system-x86_64",
            "-cpu",
            "qemu64",
            "-m",
            "128M",
            "-nodefaults",
            "-display",
            "none",
            "-vga",
            "none",
            "-no-reboot",
            "-serial",
            "stdio",
            "-device",
            "isa-debug-exit,iobase=0x501,iosize=2",
            "-kernel",
            str(random_image),
        ],
        capture_output=True,
        timeout=60,
    )
    assert "has no source" in result.stdout.decode()
    assert result.returncode == 85  # Unikraft's crash code: kraftld-run reports 134
