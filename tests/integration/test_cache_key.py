"""The build cache key sees uncommitted changes in library trees: an edited tree never reuses the
build of the unedited one. Shown on a clone of the mirror's lib-lwip (the mirror stays as it is),
through the cache folder a dry run names, which is the entry a real link would build in."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools


def entry(tools: Tools, folder: Path) -> str:
    line = [str(folder / "main.o"), "-o", str(folder / "app")]
    result = tools.kraftld(line, cwd=folder, env={"KRAFTLD_DRY_RUN": "1"}, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("cache folder: ")]
    assert lines, result.stdout + result.stderr
    return lines[0].removeprefix("cache folder: ")


def test_an_edited_library_tree_gets_a_build_of_its_own(tools: Tools, tmp_path: Path) -> None:
    sources = os.environ.get("KRAFTLD_TEST_SOURCES")
    if not sources:
        pytest.skip("set KRAFTLD_TEST_SOURCES to an offline mirror with lib-lwip/")
    clone = tmp_path / "lib-lwip"
    subprocess.run(["git", "clone", "-q", "--shared", os.path.join(sources, "lib-lwip"), str(clone)], check=True)
    app = tmp_path / "app"
    app.mkdir()
    (app / "Kraftfile").write_text(f"spec: v0.6\nlibraries:\n  lwip:\n    source: {clone}\ntargets: [qemu/x86_64]\n")
    tools.compile_c(PROGRAMS / "behave.c", app / "main.o")
    clean = entry(tools, app)
    init = clone / "init.c"
    original = init.read_text()
    init.write_text(original + "\n/* edited by a library developer */\n")
    edited = entry(tools, app)
    init.write_text(original + "\n/* edited again: the same `M init.c`, other bytes */\n")
    edited_again = entry(tools, app)
    assert len({clean, edited, edited_again}) == 3
    init.write_text(original)
    assert entry(tools, app) == clean  # back to the committed bytes: the first build serves again
    (clone / "patches" / "9999-new.patch").write_text("an untracked patch changes what the build applies\n")
    assert entry(tools, app) != clean
