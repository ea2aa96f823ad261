"""The cache's size bound: least recently used builds removed, never one in use."""

from __future__ import annotations

import fcntl
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kraftld import cache_prune
from kraftld.cli import main
from kraftld.errors import ConfigError

MB = 1 << 20


def make_entry(cache: Path, key: str, size: int, used: int) -> Path:
    """An entry holding `size` bytes of real data, last used at `used` (seconds)."""
    entry = cache / "builds" / key
    (entry / "build").mkdir(parents=True)
    (entry / "lock").touch()
    (entry / "build" / "libmusl.o").write_bytes(os.urandom(1024) * (size // 1024))
    (entry / "build.log").write_text("make\n")
    for path in (entry / "build.log", entry / "build", entry):
        os.utime(path, ns=(used * 10**9, used * 10**9))
    return entry


@contextmanager
def held(entry: Path, mode: int = fcntl.LOCK_SH) -> Iterator[None]:
    with open(entry / "lock", "a+") as handle:
        fcntl.flock(handle, mode)
        yield


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", cache_prune.DEFAULT_CACHE_MAX),
        ("4G", 4 << 30),
        ("500M", 500 * MB),
        ("1.5G", int(1.5 * (1 << 30))),
        ("300MiB", 300 * MB),
        ("2048", 2048),
        ("0", None),
        ("none", None),
    ],
)
def test_cache_max_values(text: str, expected: int | None) -> None:
    assert cache_prune.parse_cache_max({"KRAFTLD_CACHE_MAX": text}) == expected


@pytest.mark.parametrize("text", ["lots", "-1G", "4X", "G"])
def test_cache_max_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="not a size") as raised:
        cache_prune.parse_cache_max({"KRAFTLD_CACHE_MAX": text})
    assert raised.value.hint


def test_a_full_cache_prunes_least_recently_used_first_to_its_bound(tmp_path: Path) -> None:
    old = make_entry(tmp_path, "old", 3 * MB, used=1000)
    middle = make_entry(tmp_path, "middle", 3 * MB, used=2000)
    new = make_entry(tmp_path, "new", 3 * MB, used=3000)
    report = cache_prune.prune(str(tmp_path), 7 * MB)
    assert [Path(e.path).name for e in report.removed] == ["old"]
    assert not old.exists() and middle.exists() and new.exists()
    assert report.after <= 7 * MB < report.before
    assert cache_prune.disk_usage(str(tmp_path / "builds")) <= 7 * MB
    # Already within the bound: nothing more goes.
    assert cache_prune.prune(str(tmp_path), 7 * MB).removed == ()


def test_a_fast_relink_counts_as_a_use(tmp_path: Path) -> None:
    first = make_entry(tmp_path, "first", 3 * MB, used=1000)
    second = make_entry(tmp_path, "second", 3 * MB, used=2000)
    (first / "links").mkdir()  # what a fast relink leaves: its folder's time moves
    os.utime(first / "links", ns=(3000 * 10**9, 3000 * 10**9))
    cache_prune.prune(str(tmp_path), 4 * MB)
    assert first.exists() and not second.exists()


@pytest.mark.parametrize("mode", [fcntl.LOCK_SH, fcntl.LOCK_EX])
def test_an_entry_in_use_survives(tmp_path: Path, mode: int) -> None:
    busy = make_entry(tmp_path, "busy", 3 * MB, used=1000)
    idle = make_entry(tmp_path, "idle", 3 * MB, used=2000)
    with held(busy, mode):  # a link, a build or a head start holds it
        report = cache_prune.prune(str(tmp_path), 1 * MB)
    assert busy.exists() and not idle.exists()
    assert [Path(e.path).name for e in report.kept_in_use] == ["busy"]
    # Once released, it goes like any other.
    cache_prune.prune(str(tmp_path), 1 * MB)
    assert not busy.exists()


def test_the_entry_just_used_is_kept_even_over_the_bound(tmp_path: Path) -> None:
    big = make_entry(tmp_path, "big", 5 * MB, used=3000)
    other = make_entry(tmp_path, "other", 1 * MB, used=1000)
    cache_prune.prune(str(tmp_path), 2 * MB, keep=str(big))
    assert big.exists() and not other.exists()


def test_no_bound_removes_nothing(tmp_path: Path) -> None:
    make_entry(tmp_path, "a", 2 * MB, used=1000)
    assert cache_prune.prune(str(tmp_path), None).removed == ()
    assert cache_prune.prune(str(tmp_path / "no-cache-yet"), 1).before == 0


def test_a_killed_prune_s_leftovers_are_removed(tmp_path: Path) -> None:
    make_entry(tmp_path, "a", 1 * MB, used=1000)
    dead = tmp_path / "builds" / f"{cache_prune.TRASH_PREFIX}gone-999999999-abcd"
    (dead / "build").mkdir(parents=True)
    report = cache_prune.prune(str(tmp_path), None)
    assert not dead.exists() and [Path(e.path).name for e in cache_prune.list_entries(str(tmp_path))] == ["a"]
    assert report.before > 0


def test_hard_links_count_once(tmp_path: Path) -> None:
    entry = make_entry(tmp_path, "linked", 2 * MB, used=1000)
    single = cache_prune.disk_usage(str(entry))
    os.link(entry / "build" / "libmusl.o", entry / "build" / "libmusl.ld.o")
    assert cache_prune.disk_usage(str(entry)) == single


def test_prune_cache_command(tmp_path: Path) -> None:
    make_entry(tmp_path, "old", 3 * MB, used=1000)
    make_entry(tmp_path, "new", 3 * MB, used=2000)
    out, err = io.StringIO(), io.StringIO()
    env = {"KRAFTLD_CACHE": str(tmp_path), "KRAFTLD_CACHE_MAX": "4M"}
    assert main(["--prune-cache"], environ=env, stdout=out, stderr=err) == 0
    assert "removed " in out.getvalue() and "/builds/old" in out.getvalue() and err.getvalue() == ""
    assert sorted(p.name for p in (tmp_path / "builds").iterdir()) == ["new"]
    bad = io.StringIO()
    assert main(["--prune-cache"], environ={**env, "KRAFTLD_CACHE_MAX": "big"}, stdout=out, stderr=bad) == 1
    assert bad.getvalue().startswith("kraftld: error: KRAFTLD_CACHE_MAX=")
