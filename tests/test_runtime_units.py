"""The runtime object's C logic on the host: the small-object allocator over a fake page allocator,
and the stable folder listing over a fake ramfs whose offsets are positions (tests/programs/
runtime_units.c includes the runtime's sources). Built with the sanitizers, so a stray write fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROGRAM = Path(__file__).parent / "programs" / "runtime_units.c"


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed (kraftld itself needs it)")
    binary = tmp_path_factory.mktemp("runtime-units") / "runtime_units"
    subprocess.run(
        [
            "gcc",
            "-O1",
            "-g",
            "-Wall",
            "-Werror",
            "-Wno-address",
            "-fsanitize=address,undefined",
            "-fno-sanitize-recover=all",
            "-o",
            str(binary),
            str(PROGRAM),
        ],
        check=True,
    )
    return binary


@pytest.mark.parametrize(
    ("part", "facts"),
    [
        (
            "malloc",
            ["200000 x malloc(16): ", "after freeing them: ", "after the random run: ", "malloc: 0 failures"],
        ),
        (
            "files",
            [
                "without the snapshot: removed 10 of 20",
                "removed 20 of 20 while reading",
                "after a rewind: removed 25 of 25",
                "files: 0 failures",
            ],
        ),
    ],
)
def test_runtime_logic(harness: Path, part: str, facts: list[str]) -> None:
    result = subprocess.run([str(harness), part], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line for line in lines if "FAILED" in line] == []
    for fact in facts:
        assert any(line.startswith(fact) for line in lines), (fact, lines)
