"""The shape the architecture page promises, checked: pure stages without the process machinery,
every cache path from the one layout, and the head start's light imports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kraftld.atomic import replacing, write_atomically
from kraftld.layout import CacheLayout
from kraftld.runner import kvm


@pytest.mark.parametrize(
    ("module", "absent"),
    [
        ("kraftld.plan", ("subprocess", "kraftld.process")),
        ("kraftld.resolve", ("subprocess", "kraftld.process")),
        # Choosing libraries and resolving symbols are pure: only libraries.choose reads and runs.
        ("kraftld.libraries.selection", ("subprocess", "kraftld.process", "kraftld.symbols.archives")),
        ("kraftld.symbols.needed", ("subprocess", "kraftld.process", "kraftld.symbols.cache")),
        # The head start runs before kraftld is imported: it must stay light.
        ("kraftld.headstart", ("subprocess", "threading", "dataclasses", "json", "typing")),
    ],
)
def test_a_module_imports_no_more_than_its_stage_needs(module: str, absent: tuple[str, ...]) -> None:
    def loaded(imports: str) -> set[str]:
        code = f"import sys{imports}; print(' '.join(m for m in {absent!r} if m in sys.modules))"
        found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        return set(found.stdout.split())

    # What the interpreter loads by itself does not count: a site hook (such as a sandbox's
    # certificate hook in sitecustomize) may import threading or typing before any code runs.
    assert loaded(f", {module}") - loaded("") == set()


def test_every_cache_path_is_under_the_cache(tmp_path: Path) -> None:
    layout = CacheLayout(str(tmp_path))
    entry = layout.entry("key")
    paths = [
        layout.builds,
        layout.runtime_object("digest"),
        layout.source("lib-musl", "digest"),
        layout.note("0a1b2c3d"),
        layout.kvm_verdict("6.1.0", "/usr/bin/qemu-system-x86_64"),
        *(getattr(entry, name) for name in ("app", "build", "config", "defconfig", "pending_defconfig")),
        *(getattr(entry, name) for name in ("inputs", "outputs", "manifest", "log", "build_marker", "lock")),
        entry.record,
        entry.missing_downloads,
        layout.launcher("digest"),
        layout.fetch_script("digest"),
        entry.link_folder("1-abcd"),
        layout.symbol_table("digest"),
        layout.sysroot("x86_64-unikraft-linux-musl-rustc-1.96.0-digest"),
        layout.progress_record("digest"),
        layout.ccache,
    ]
    assert len(set(paths)) == len(paths)
    assert all(os.path.commonpath([str(tmp_path), path]) == str(tmp_path) for path in paths)
    assert kvm.verdict_path(str(tmp_path), "qemu-system-x86_64") == layout.kvm_verdict(
        os.uname().release, "qemu-system-x86_64"
    )


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "record"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), replacing(str(target)) as temporary:
        temporary.write(b"half of the n")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["record"]
    write_atomically(str(target), b"new", 0o644)
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["record"]


def test_a_folder_made_first_by_another_is_kept(tmp_path: Path) -> None:
    clone = tmp_path / "sources" / "lib-musl-1234"
    clone.mkdir(parents=True)
    (clone / "Makefile.uk").write_text("theirs")
    with replacing(str(clone), folder=True) as partial:
        Path(partial.temporary, "Makefile.uk").write_text("ours")
    assert (clone / "Makefile.uk").read_text() == "theirs"
    assert [p.name for p in clone.parent.iterdir()] == ["lib-musl-1234"]


def test_no_two_test_files_share_a_name() -> None:
    # pytest imports test files by their base name (no packages under tests/): two files of one
    # name stop the whole run at collection ("import file mismatch").
    tests = Path(__file__).parent
    names = [path.name for path in tests.rglob("test_*.py")]
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
