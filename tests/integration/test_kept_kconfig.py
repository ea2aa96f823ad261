"""Unikraft's kconfig tools kept once and placed in a new build folder, for real (nolibc): make does
not build them again, and the configuration and the image are those of a build without it."""

from __future__ import annotations

from pathlib import Path

from realboot import PROGRAMS, Tools

TCG = {"KRAFTLD_QEMU_ARGS": "-machine accel=tcg -cpu max"}
# What make's sub-make prints while it builds fixdep (Unikraft's kconfig tools, with HOSTCC).
BUILDS_TOOLS = "fixdep.c"
# The configuration a build folder holds: the .config (C=), what `make defconfig` and the build's
# syncconfig made of it, and the header every compile includes.
CONFIGURATION = ("config", "build/kconfig/auto.conf", "build/kconfig/tristate.config", "build/include/uk/bits/config.h")


def entry_of(cache: Path) -> Path:
    (entry,) = (cache / "builds").iterdir()
    return entry


def test_a_fresh_cache_gets_the_kept_tools_and_the_same_configuration_and_image(tools: Tools, tmp_path: Path) -> None:
    shared = {"CCACHE_DIR": str(tmp_path / "ccache")}
    obj = tools.compile_c(PROGRAMS / "behave.c", tmp_path / "main.o", '-DPROGRAM_NAME="kconfig"')
    tools.kraftld([str(obj), "-o", str(tmp_path / "first")], env={**shared, "KRAFTLD_CACHE": str(tmp_path / "one")})
    assert BUILDS_TOOLS in (entry_of(tmp_path / "one") / "build.log").read_text()
    (kept,) = (tmp_path / "ccache" / "kraftld-kconfig").iterdir()
    assert sorted(path.name for path in kept.iterdir()) == ["conf", "fixdep"]

    tools.kraftld([str(obj), "-o", str(tmp_path / "placed")], env={**shared, "KRAFTLD_CACHE": str(tmp_path / "two")})
    placed = entry_of(tmp_path / "two")
    assert BUILDS_TOOLS not in (placed / "build.log").read_text()  # make found them up to date
    for name in ("conf", "fixdep"):
        assert (placed / "build" / "kconfig" / name).read_bytes() == (kept / name).read_bytes()

    # Without a compiler cache make builds the tools itself, as without kraftld.
    plain_env = {"KRAFTLD_CCACHE": "0", "KRAFTLD_CACHE": str(tmp_path / "plain")}
    tools.kraftld([str(obj), "-o", str(tmp_path / "plain-image")], env=plain_env)
    plain = entry_of(tmp_path / "plain")
    assert BUILDS_TOOLS in (plain / "build.log").read_text()
    for name in CONFIGURATION:
        assert (placed / name).read_bytes() == (plain / name).read_bytes(), name
    assert (tmp_path / "placed").read_bytes() == (tmp_path / "plain-image").read_bytes()
    assert (tmp_path / "placed.dbg").read_bytes() == (tmp_path / "plain-image.dbg").read_bytes()
    result = tools.run(tmp_path / "placed", ["return", "3"], env=TCG)
    assert result.stdout.decode().startswith("program kconfig") and result.returncode == 3
