"""The cache's size bound: least recently used items of every kind removed, never one in use or needed."""

from __future__ import annotations

import contextlib
import fcntl
import io
import json
import marshal
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kraftld import cache_prune, kconfig_tools, objects, pipeline
from kraftld.cli import main
from kraftld.errors import ConfigError, SourceError
from kraftld.settings import Settings

MB = 1 << 20
SOURCES = next(kind for kind in cache_prune.KINDS if kind.folder == "sources")


def at(path: Path, used: int) -> None:
    os.utime(path, ns=(used * 10**9, used * 10**9))


def make_entry(cache: Path, key: str, size: int, used: int, trees: list[Path] | None = None) -> Path:
    """An entry holding `size` bytes of real data, last used at `used` (seconds); with `trees`, a
    fast-relink record naming the source trees it was built from."""
    entry = cache / "builds" / key
    (entry / "build").mkdir(parents=True)
    (entry / "lock").touch()
    (entry / "build" / "libmusl.o").write_bytes(os.urandom(1024) * (size // 1024))
    (entry / "build.log").write_text("make\n")
    paths = [entry / "build.log", entry / "build", entry]
    if trees is not None:
        (entry / "prebuilt.json").write_text(json.dumps({"trees": [[str(tree), "abc"] for tree in trees]}))
        paths.insert(0, entry / "prebuilt.json")
    for path in paths:
        at(path, used)
    return entry


def make_folder(cache: Path, kind: str, name: str, size: int, used: int) -> Path:
    """A clone (`sources`) or a sysroot of `size` bytes, last used at `used`."""
    folder = cache / kind / name
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "data").write_bytes(os.urandom(1024) * (size // 1024))
    at(folder / "lib", used)
    at(folder, used)
    return folder


def make_file(cache: Path, kind: str, name: str, size: int, used: int, serves: Path | None = None) -> Path:
    """A note or a record; with `serves`, the note names that build entry as its own."""
    path = cache / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "headstart":
        note = (3, "out", "/cwd", 3, str(serves), str(serves) + "/lock", str(serves) + "/links", (), ())
        path.write_bytes(marshal.dumps(note) + os.urandom(size))
    elif kind == "cc":
        path.write_text(json.dumps({"format": 1, "entry": str(serves), "pad": "x" * size}))
    else:
        path.write_bytes(os.urandom(size))
    at(path, used)
    return path


def fates(report: cache_prune.PruneReport, cache: Path) -> dict[str, str]:
    """Each item the prune considered, by its path in the cache, and what became of it."""
    seen = {str(Path(i.path).relative_to(cache)): "removed" for i in report.removed}
    seen |= {str(Path(i.path).relative_to(cache)): "in use" for i in report.kept_in_use}
    seen |= {str(Path(i.path).relative_to(cache)): "needed" for i, _ in report.kept_needed}
    return seen


@contextmanager
def held(entry: Path, mode: int = fcntl.LOCK_SH, lock_name: str = "lock") -> Iterator[None]:
    with open(entry / lock_name, "a+") as handle:
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


# What killed writers leave (cache_prune.LEFTOVERS): each row a folder, whether its writer still
# runs (this test's own process) or holds the sysroot's lock, and whether a prune removes it.
LEFTOVER_ROWS = [
    ("builds/.removing-gone-999999999-abcd", None, True),  # a prune killed before deleting
    ("builds/.removing-gone-{pid}-abcd", None, False),  # a prune deleting it right now
    ("sources/unikraft-x.partial-999999999-abcd", None, True),  # a killed git clone
    ("sources/unikraft-x.partial-{pid}-abcd", None, False),  # a clone under way
    ("sysroot/std.partial", None, True),  # a killed kraftld-sysroot
    ("sysroot/std.partial", "sysroot/std.lock", False),  # a kraftld-sysroot building now
]


@pytest.mark.parametrize(("where", "lock", "goes"), LEFTOVER_ROWS)
def test_leftovers_of_killed_writers_go(tmp_path: Path, where: str, lock: str | None, goes: bool) -> None:
    make_entry(tmp_path, "a", 1 * MB, used=1000)
    leftover = tmp_path / where.format(pid=os.getpid())
    (leftover / "build").mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        if lock is not None:
            stack.enter_context(held(tmp_path / lock.split("/")[0], fcntl.LOCK_EX, lock_name=lock.split("/")[1]))
        report = cache_prune.prune(str(tmp_path), None)
    assert leftover.exists() != goes
    assert [Path(i.path).name for i in cache_prune.list_items(str(tmp_path))] == ["a"]  # never an item
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
    assert out.getvalue().startswith("cache: ")
    assert sorted(p.name for p in (tmp_path / "builds").iterdir()) == ["new"]
    bad = io.StringIO()
    assert main(["--prune-cache"], environ={**env, "KRAFTLD_CACHE_MAX": "big"}, stdout=out, stderr=bad) == 1
    assert bad.getvalue().startswith("kraftld: error: KRAFTLD_CACHE_MAX=")


def test_prune_cache_bounds_the_stores_in_ccache_s_folder(tmp_path: Path) -> None:
    shared = tmp_path / "shared-ccache"
    store = shared / objects.FOLDER
    objects.prepare(str(store))
    for age, name in enumerate(["old", "new"]):  # 1.2 GiB in all (sparse): over the store's bound
        for suffix in (".o", ".d", ".err"):
            path = store / "o" / (name + suffix)
            with open(path, "wb") as handle:
                handle.truncate(600 << 20 if suffix == ".o" else 10)
            os.utime(path, (1000 + age, 1000 + age))
    kept = shared / kconfig_tools.FOLDER
    for age in range(kconfig_tools.KEPT + 2):
        pair = kept / f"key{age}"
        pair.mkdir(parents=True)
        os.utime(pair, (1000 + age, 1000 + age))
    out, err = io.StringIO(), io.StringIO()
    env = {"KRAFTLD_CACHE": str(tmp_path / "cache"), "CCACHE_DIR": str(shared)}
    assert main(["--prune-cache"], environ=env, stdout=out, stderr=err) == 0, err.getvalue()
    assert f"object store {store}: 1 objects removed" in out.getvalue()
    assert sorted(p.name for p in (store / "o").iterdir()) == ["new.d", "new.err", "new.o"]
    assert f"kept kconfig tools {kept}: 2 removed" in out.getvalue()
    assert sorted(p.name for p in kept.iterdir()) == [f"key{age}" for age in range(2, kconfig_tools.KEPT + 2)]


# One cache with an item of every kind, pruned to (almost) nothing: what goes, and why the rest stays.
# Each row: the item, and whether a link holds it (shared, as a link does) while the prune runs.
EVERY_KIND = [
    ("builds/idle", False, "removed"),
    ("builds/busy", True, "in use"),  # a link, a build or a head start holds its lock
    ("sources/unikraft-free", False, "removed"),  # no build points into it
    ("sources/unikraft-held", True, "in use"),  # a link that found it holds it (cache_prune.holding)
    ("sources/unikraft-kept", False, "needed"),  # the busy build's record names it as its tree
    ("sysroot/std-old", False, "removed"),
    ("sysroot/std-held", True, "in use"),  # a link whose inputs are in it
    ("headstart/note", False, "removed"),
    ("cc/note.json", False, "removed"),
    ("symbols/table.json", False, "removed"),
    ("progress/counts.json", False, "removed"),
    ("kvm/verdict", False, "removed"),
]


def make_item(cache: Path, where: str, used: int) -> Path:
    kind, name = where.split("/")
    if kind == "builds":
        trees = [cache / "sources" / "unikraft-kept" / "sub"] if name == "busy" else []
        return make_entry(cache, name, 64 << 10, used, trees)
    if kind in ("sources", "sysroot"):
        return make_folder(cache, kind, name, 64 << 10, used)
    return make_file(cache, kind, name, 4096, used, serves=cache / "builds" / "busy")


def lock_of(path: Path) -> Path:
    return path / "lock" if path.parent.name == "builds" else path.with_name(path.name + ".lock")


def test_every_kind_is_pruned_to_the_bound_but_what_is_in_use_or_needed(tmp_path: Path) -> None:
    paths = {where: make_item(tmp_path, where, used) for used, (where, _, _) in enumerate(EVERY_KIND, 1000)}
    (tmp_path / "ccache").mkdir()
    (tmp_path / "ccache" / "store").write_bytes(os.urandom(8192))
    with contextlib.ExitStack() as stack:
        for where, holds, _ in EVERY_KIND:
            if holds:
                lock_of(paths[where]).touch()
                stack.enter_context(held(lock_of(paths[where]).parent, lock_name=lock_of(paths[where]).name))
        report = cache_prune.prune(str(tmp_path), 1)
    assert fates(report, tmp_path) == {where: fate for where, _, fate in EVERY_KIND}
    for where, _, fate in EVERY_KIND:
        assert paths[where].exists() == (fate != "removed"), where
    # ccache's store is measured and left to ccache's own bound.
    assert (tmp_path / "ccache" / "store").exists() and dict(report.unbounded)["ccache"] > 0
    text = cache_prune.describe(report, 1)
    assert f"kept {paths['sources/unikraft-kept']}" in text and f"the build {paths['builds/busy']} needs it" in text
    assert "not bounded: ccache/" in text
    # Once nothing holds them, and the build that needed the clone has gone, the rest goes too.
    again = cache_prune.prune(str(tmp_path), 1)
    assert {Path(i.path).name for i in again.removed} == {"busy", "unikraft-held", "unikraft-kept", "std-held"}
    assert again.after == 0


# Least recently used first, whatever the kind: each row an item (where, last used, its size in
# KB), the bound in KB, and the items that go, in order.
ORDER = [
    (
        "across kinds, the oldest first",
        [("builds/b", 3000, 256), ("sysroot/s", 1000, 256), ("symbols/t.json", 2000, 256)],
        400,
        ["sysroot/s", "symbols/t.json"],
    ),
    (
        "a clone is used as recently as the latest build built from it",
        [("sources/uk", 100, 256), ("builds/new", 3000, 256), ("builds/old", 2000, 256)],
        300,
        ["builds/old", "builds/new"],  # the clone, older by its own time, outlives them
    ),
    (
        "a note whose build is gone goes first, however new",
        [("builds/old", 1000, 256), ("headstart/orphan", 9000, 64), ("cc/orphan.json", 9000, 64)],
        300,
        ["cc/orphan.json", "headstart/orphan"],
    ),
    (
        "a note of a build still there is used when it was written",
        [("headstart/n", 1000, 64), ("builds/b", 2000, 256), ("cc/c.json", 3000, 64)],
        360,
        ["headstart/n"],
    ),
    (
        "within the bound, nothing goes",
        [("builds/b", 1000, 256), ("sources/uk", 1000, 256)],
        1024,
        [],
    ),
]


@pytest.mark.parametrize(("items", "bound", "gone"), [row[1:] for row in ORDER], ids=[row[0] for row in ORDER])
def test_least_recently_used_first(
    tmp_path: Path, items: list[tuple[str, int, int]], bound: int, gone: list[str]
) -> None:
    for where, used, size in items:
        kind, name = where.split("/")
        if kind == "builds":
            # Every build here is built from the clone `uk` (when there is one); notes serve `builds/b`
            # or, as orphans, a build that is not there.
            make_entry(tmp_path, name, size << 10, used, [tmp_path / "sources" / "uk"])
        elif kind in ("sources", "sysroot"):
            make_folder(tmp_path, kind, name, size << 10, used)
        else:
            serves = tmp_path / "builds" / ("gone" if "orphan" in name else "b")
            make_file(tmp_path, kind, name, size << 10, used, serves=serves)
    report = cache_prune.prune(str(tmp_path), bound << 10)
    assert [str(Path(i.path).relative_to(tmp_path)) for i in report.removed] == gone
    assert report.after <= bound << 10 or report.kept_in_use or report.kept_needed


def test_a_build_without_a_record_needs_every_clone(tmp_path: Path) -> None:
    """A failed or interrupted build names no trees: its clones stay until it goes itself."""
    clone = make_folder(tmp_path, "sources", "unikraft-x", 256 << 10, used=1000)
    failed = make_entry(tmp_path, "failed", 64 << 10, used=2000)
    with held(failed):
        report = cache_prune.prune(str(tmp_path), 1)
    assert clone.exists() and fates(report, tmp_path) == {"builds/failed": "in use", "sources/unikraft-x": "needed"}
    assert cache_prune.prune(str(tmp_path), 1).after == 0 and not clone.exists()


# What a link holds (cache_prune.holding): each row the paths the link uses, relative to the cache
# (an absolute path: outside it), and the lock files it holds.
HOLDS = [
    ("a tree in a clone", ["sources/unikraft-a"], ["sources/unikraft-a.lock"]),
    (
        "a library's tree and an rlib in a sysroot",
        ["sources/lib-musl-b", "sysroot/std/lib/libstd.rlib"],
        ["sources/lib-musl-b.lock", "sysroot/std.lock"],
    ),
    ("a tree of the mirror, an input of the user's", ["/mirror/unikraft", "/home/main.o"], []),
    ("builds are held by their own lock, not here", ["builds/k/inputs/main.o"], []),
]


@pytest.mark.parametrize(("paths", "locks"), [row[1:] for row in HOLDS], ids=[row[0] for row in HOLDS])
def test_what_a_link_holds(tmp_path: Path, paths: list[str], locks: list[str]) -> None:
    for lock in locks:
        kind, name = lock.removesuffix(".lock").split("/")
        make_folder(tmp_path, kind, name, 4096, used=1000)
    given = [path if path.startswith("/") else str(tmp_path / path) for path in paths]
    with cache_prune.holding(given, str(tmp_path)) as whole:
        assert whole
        for lock in locks:
            with open(tmp_path / lock) as handle, pytest.raises(BlockingIOError):
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            assert (tmp_path / lock).stat().st_mtime > 1000  # the hold is the item's use
        assert cache_prune.prune(str(tmp_path), 1).removed == ()
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.glob("*/*.lock")) == sorted(locks)
    assert len(cache_prune.prune(str(tmp_path), 1).removed) == len(locks)


def test_a_hold_on_a_clone_a_prune_has_just_removed_says_so(tmp_path: Path) -> None:
    clone = make_folder(tmp_path, "sources", "unikraft-a", 4096, used=1000)
    assert cache_prune.prune(str(tmp_path), 1).removed  # between the link finding it and holding it
    with cache_prune.holding([str(clone)], str(tmp_path)) as whole:
        assert not whole  # the link plans again, which clones it again
    with cache_prune.holding([str(tmp_path / "sysroot" / "std" / "libstd.rlib")], str(tmp_path)) as whole:
        assert not whole  # no sysroot/ at all


@pytest.mark.parametrize(("pruned", "plans"), [(0, 1), (1, 2), (pipeline.PLAN_ATTEMPTS, None)])
def test_a_link_holds_its_clone_and_plans_again_when_a_prune_removed_it_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pruned: int, plans: int | None
) -> None:
    line: Any = None  # what the faked plan_from_line is given and ignores
    runner: Any = None
    """`pruned`: how many of the link's plans a prune follows, removing the clone the plan found
    before the link holds it; `plans`: how many plans the link then makes (None: it gives up)."""
    clone = tmp_path / "sources" / "unikraft-a"
    made: list[int] = []

    def plan_from_line(*_args: Any) -> tuple[Any, None]:
        made.append(1)
        clone.mkdir(parents=True, exist_ok=True)  # the plan finds (or clones) it
        (clone / "Makefile").write_text("all:\n")
        if len(made) <= pruned:
            assert cache_prune.remove_item(SOURCES, str(clone))  # a prune, before the hold
        config = SimpleNamespace(unikraft=SimpleNamespace(path=str(clone)), libraries=())
        return SimpleNamespace(config=config, staged=()), None

    monkeypatch.setattr(pipeline, "plan_from_line", plan_from_line)
    settings = Settings.from_environ({"KRAFTLD_CACHE": str(tmp_path)})
    with contextlib.ExitStack() as held:
        if plans is None:
            with pytest.raises(SourceError, match="kept being removed") as raised:
                pipeline._plan_held(held, line, settings, {}, "/", runner, None)
            assert raised.value.hint and len(made) == pipeline.PLAN_ATTEMPTS
            return
        pipeline._plan_held(held, line, settings, {}, "/", runner, None)
        assert len(made) == plans
        report = cache_prune.prune(str(tmp_path), 1)  # the link holds it until it ends
        assert fates(report, tmp_path) == {"sources/unikraft-a": "in use"}
    assert [Path(i.path).name for i in cache_prune.prune(str(tmp_path), 1).removed] == ["unikraft-a"]


def test_an_entry_without_a_lock_file_goes_like_any_other(tmp_path: Path) -> None:
    """No link has locked it (a folder an older kraftld or an interrupted one left): its lock is made and taken."""
    entry = make_entry(tmp_path, "lockless", 1 * MB, used=1000)
    (entry / "lock").unlink()
    assert [Path(i.path).name for i in cache_prune.prune(str(tmp_path), 1).removed] == ["lockless"]
    assert not (tmp_path / "builds" / "lockless").exists()
