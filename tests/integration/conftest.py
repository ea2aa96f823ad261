"""Real builds: a Unikraft tree named by KRAFTLD_TEST_UNIKRAFT, real make, real QEMU boots.

Every test here skips, saying why, when no tree is configured or a tool is missing. Images that
several tests boot are linked once per session; the build cache is shared by the session (or
kept in KRAFTLD_TEST_CACHE across sessions, to skip the cold build while developing).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from realboot import PROGRAMS, Tools


def unikraft_tree() -> str | None:
    return os.environ.get("KRAFTLD_TEST_UNIKRAFT") or None


def skip_reason() -> str | None:
    if not unikraft_tree():
        return "set KRAFTLD_TEST_UNIKRAFT to a Unikraft 0.17+ checkout to run the real build and boot tests"
    for tool in ("make", "gcc", "qemu-system-x86_64", "flex", "bison"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (see the README's setup command)"
    return None


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = skip_reason()
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.unikraft)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    work = tmp_path_factory.mktemp("real")
    cache = os.environ.get("KRAFTLD_TEST_CACHE") or str(work / "cache")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    for name, module in (("kraftld", "kraftld"), ("kraftld-run", "kraftld.run")):
        script = bin_dir / name
        script.write_text(f'#!/bin/sh\nexec {sys.executable} -m {module} "$@"\n')
        script.chmod(0o755)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("KRAFTLD_")}
    environ.update(
        {
            "KRAFTLD_UNIKRAFT": unikraft_tree() or "",
            "KRAFTLD_CACHE": cache,
            "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        }
    )
    return Tools(environ, work, bin_dir)


@pytest.fixture(scope="session")
def behave_image(tools: Tools) -> Path:
    obj = tools.compile_c(PROGRAMS / "behave.c", tools.work / "behave.o")
    tools.kraftld([str(obj), "-o", str(tools.work / "behave")])
    return tools.work / "behave"
