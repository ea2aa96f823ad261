"""The launcher's object store (launcher/objects.c), run for real with gcc: what it serves, what it compiles again."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kraftld import objects
from kraftld.ccache import plan_launcher
from kraftld.compiled import ensure_compiled, package_source
from kraftld.errors import ConfigError
from kraftld.process import run_process

# gcc behind a counter: each run adds a line to $COMPILES, so a test sees whether it ran.
COUNTING_GCC = '#!/bin/sh\necho run >> "$COMPILES"\nexec gcc "$@"\n'

CONFIG = "#define CONFIG_USED 1\n#define CONFIG_OTHER 1\n#define CONFIG_HEADER_ONLY 3\n"
HEADER = "#include <uk/bits/config.h>\n#define FROM_HEADER CONFIG_HEADER_ONLY\n"
SOURCE = "#include <lib.h>\n#ifdef CONFIG_USED\nint used(void) { return CONFIG_USED + FROM_HEADER; }\n#endif\n"


@pytest.fixture(scope="module")
def launcher(tmp_path_factory: pytest.TempPathFactory) -> str:
    return ensure_compiled(plan_launcher(str(tmp_path_factory.mktemp("cache"))), run_process)


@dataclass
class Build:
    """A build folder laid out as Unikraft's (its configuration header where objects.py says)."""

    root: Path
    store: Path
    launcher: str
    served: bool = True  # False: the launcher without its store (what gcc makes of the files)

    def write(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def compile(
        self, *extra: str, source: str = "lib/x.c", includes: tuple[str, ...] = ("include", "lib")
    ) -> subprocess.CompletedProcess[str]:
        root = str(self.root.resolve())
        argv = [
            self.launcher,
            root,
            *((f"--objects={self.store}", f"--config={objects.CONFIG_HEADER}") if self.served else ()),
            "counting-gcc",
            *(f"-I{root}/{folder}" for folder in includes),
            "-O2",
            "-g",
            *extra,
            "-c",
            f"{root}/{source}",
            "-o",
            f"{root}/lib/x.o",
            f"-Wp,-MD,{root}/lib/.x.o.d",
        ]
        env = {"PATH": f"{self.root.parent / 'bin'}:/usr/bin:/bin", "COMPILES": str(self.root.parent / "compiles")}
        return subprocess.run(argv, env=env, capture_output=True, text=True, cwd="/")

    def compiles(self) -> int:
        counted = self.root.parent / "compiles"
        return len(counted.read_text().splitlines()) if counted.exists() else 0


@pytest.fixture
def build(launcher: str, tmp_path: Path) -> Build:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcc = bin_dir / "counting-gcc"
    gcc.write_text(COUNTING_GCC)
    gcc.chmod(gcc.stat().st_mode | stat.S_IEXEC)
    made = Build(tmp_path / "build", tmp_path / "store", launcher)
    objects.prepare(str(made.store))
    made.write(objects.CONFIG_HEADER, CONFIG)
    made.write("lib/lib.h", HEADER)
    made.write("lib/x.c", SOURCE)
    return made


def fresh_object(build: Build, includes: tuple[str, ...] = ("include", "lib")) -> bytes:
    """The same compile without the store: what a served object must equal."""
    completed = Build(build.root, build.store, build.launcher, served=False).compile(includes=includes)
    assert completed.returncode == 0, completed.stderr
    return (build.root / "lib" / "x.o").read_bytes()


@pytest.mark.parametrize(
    ("change", "served"),
    [
        # an option no file of the compile names: the object is the same, so it is served
        (lambda b: b.write(objects.CONFIG_HEADER, CONFIG.replace("CONFIG_OTHER 1", "CONFIG_OTHER 2")), True),
        (lambda b: b.write(objects.CONFIG_HEADER, CONFIG + "#define CONFIG_NEW 1\n"), True),
        (lambda b: None, True),
        # an option the source names, or one only a header names: compiled again
        (lambda b: b.write(objects.CONFIG_HEADER, CONFIG.replace("CONFIG_USED 1", "CONFIG_USED 2")), False),
        (lambda b: b.write(objects.CONFIG_HEADER, CONFIG.replace("ONLY 3", "ONLY 4")), False),
        (lambda b: b.write(objects.CONFIG_HEADER, CONFIG.replace("#define CONFIG_USED 1\n", "")), False),
        # a header's or the source's text changed
        (lambda b: b.write("lib/lib.h", HEADER + "/* changed */\n"), False),
        (lambda b: b.write("lib/x.c", SOURCE + "int more(void) { return 2; }\n"), False),
    ],
)
def test_a_compile_is_served_only_when_what_it_reads_is_the_same(
    build: Build, tmp_path: Path, change: object, served: bool
) -> None:
    first = build.compile()
    assert first.returncode == 0, first.stderr
    assert build.compiles() == 1
    change(build)  # type: ignore[operator]
    (build.root / "lib" / "x.o").unlink()
    again = build.compile()
    assert again.returncode == 0, again.stderr
    assert build.compiles() == (1 if served else 2)
    got = (build.root / "lib" / "x.o").read_bytes()
    # served or not, the object is what gcc makes of the files as they are now
    assert got == fresh_object(build)
    # and the dependency file names the build folder's files absolutely, as after a compile
    assert f"{build.root.resolve()}/lib/lib.h" in (build.root / "lib" / ".x.o.d").read_text()


def test_a_build_folder_elsewhere_is_served_the_same_object(build: Build, tmp_path: Path) -> None:
    # another configuration's folder, or the same configuration in another KRAFTLD_CACHE
    assert build.compile().returncode == 0
    (build.root / "lib" / "x.o").unlink()
    elsewhere = Build(tmp_path / "elsewhere" / "build", build.store, build.launcher)
    shutil.copytree(build.root, elsewhere.root)
    (tmp_path / "elsewhere" / "bin").symlink_to(tmp_path / "bin")
    assert elsewhere.compile().returncode == 0
    assert build.compiles() == 1 and elsewhere.compiles() == 0  # the counter is per folder's parent
    served = (elsewhere.root / "lib" / "x.o").read_bytes()
    assert f"{elsewhere.root.resolve()}/lib/lib.h" in (elsewhere.root / "lib" / ".x.o.d").read_text()
    assert served == fresh_object(elsewhere) and elsewhere.compiles() == 1


@pytest.mark.parametrize(
    ("includes", "shadow", "served"),
    [
        # enabling a library adds its folder to every compile's include path
        (("include", "new", "lib"), None, True),
        (("new", "include", "lib"), None, True),
        (("include", "lib", "new"), "new/lib.h", True),  # after the folder lib.h was found in
        # a new folder before it with a lib.h of its own: that one would be read now
        (("include", "new", "lib"), "new/lib.h", False),
        # the folder lib.h was found in is gone, or the folders come in another order
        (("include", "other"), "other/lib.h", False),
        (("lib", "include"), None, False),
    ],
)
def test_a_changed_include_path_serves_only_when_every_file_would_be_found_where_it_was(
    build: Build, tmp_path: Path, includes: tuple[str, ...], shadow: str | None, served: bool
) -> None:
    assert build.compile().returncode == 0
    (build.root / "new").mkdir()
    if shadow:
        build.write(shadow, HEADER.replace("CONFIG_HEADER_ONLY", "7"))
    (build.root / "lib" / "x.o").unlink()
    again = build.compile(includes=includes)
    assert again.returncode == 0, again.stderr
    assert build.compiles() == (1 if served else 2)
    got = (build.root / "lib" / "x.o").read_bytes()
    assert got == fresh_object(build, includes)


@pytest.mark.parametrize(
    "source",
    [
        # a pasted option name: the words in the file are not the options it reads
        '#include "lib.h"\n#define OPT(x) CONFIG_##x\nint f(void) { return OPT(USED); }\n',
        '#include "lib.h"\n#define OPT(x) x ## CONFIG_USED\nint f(void) { return 1; }\n',
        # the clock, or a file that is not in the dependency list
        "const char *when = __DATE__;\n",
        '#if __has_include("absent.h")\n#endif\nint f(void) { return 1; }\n',
    ],
)
def test_what_the_words_cannot_describe_is_never_kept(build: Build, source: str) -> None:
    build.write("lib/x.c", source)
    for expected in (1, 2):
        completed = build.compile()
        assert completed.returncode == 0, completed.stderr
        assert build.compiles() == expected
    assert list((build.store / "m").iterdir()) == []


# A generated table as libuklibid's uk/bits/libid.h, and the header that names its entries.
TABLE = (
    "/* Automatically generated */\n\n#define ID_one ((short) 0)\n#define ID_two ((short) 1)\n\n#define ID_COUNT 2\n"
)
ID_H = (
    "#include <bits/table.h>\n#define id_static(l) ID_ ## l\n#define id_count() ID_COUNT\n#define CONCAT(a, b) a ## b\n"
)
RENUMBERED = TABLE.replace("ID_one ((short) 0)", "ID_aaa ((short) 0)\n#define ID_one ((short) 1)").replace(
    "ID_two ((short) 1)", "ID_two ((short) 2)"
)
GROWN = TABLE.replace("ID_COUNT 2", "ID_COUNT 3\n#define ID_three 3")


@pytest.mark.parametrize(
    ("source", "table", "extra", "served"),
    [
        # the table is included but none of its names is reached: any change serves
        ('#include "id.h"\nint f(void) { return 1; }\n', RENUMBERED, (), True),
        ('#include "id.h"\nint f(void) { return CONCAT(4, 2); }\n', GROWN, (), True),
        # a name the source reaches through macros, or by pasting
        ('#include "id.h"\nint f(void) { return id_count(); }\n', GROWN, (), False),
        ('#include "id.h"\nint f(void) { return id_count(); }\n', RENUMBERED, (), True),  # the count stays
        ('#include "id.h"\nint f(void) { return id_static(two); }\n', RENUMBERED, (), False),
        ('#include "id.h"\nint f(void) { return id_static(two); }\n', GROWN, (), True),  # ID_two stays
        ('#include "id.h"\nint f(void) { return CONCAT(ID_, two); }\n', RENUMBERED, (), False),
        ('#include "id.h"\n#define PICK(n) CONCAT(ID_, n)\nint f(void) { return PICK(two); }\n', RENUMBERED, (), False),
        # a macro only a paste names, whose body reads the table
        (
            '#include "id.h"\n#define via_count() ID_COUNT\nint f(void) { return CONCAT(via_, count)(); }\n',
            GROWN,
            (),
            False,
        ),
        # a name that is new in the table: pasted together ("ID_three" before, "3" after), or
        # asked for by #ifdef
        (
            '#include "id.h"\n#define STR(x) #x\n#define XSTR(x) STR(x)\nconst char *s = XSTR(id_static(three));\n',
            GROWN,
            (),
            False,
        ),
        ('#include "id.h"\n#ifdef ID_three\nint g;\n#endif\nint f(void) { return 1; }\n', GROWN, (), False),
        # a name the command line names, or that another file defines (a redefinition)
        ('#include "id.h"\nint f(void) { return WHICH; }\n', RENUMBERED, ("-DWHICH=ID_two",), False),
        ('#include "id.h"\n#define ID_two ((short) 1)\nint f(void) { return 1; }\n', RENUMBERED, (), False),
        # no longer a table (a macro with parameters): the file is compared whole
        ('#include "id.h"\nint f(void) { return 1; }\n', TABLE + "#define ID_f(x) x\n", (), False),
        # a name in a comment or a definition nobody uses reaches nothing
        ('#include "id.h"\n/* ID_COUNT */\n#define UNUSED ID_COUNT\nint f(void) { return 1; }\n', GROWN, (), True),
    ],
)
def test_a_generated_table_serves_when_what_the_compile_reaches_of_it_is_the_same(
    build: Build, source: str, table: str, extra: tuple[str, ...], served: bool
) -> None:
    build.write("include/bits/table.h", TABLE)
    build.write("lib/id.h", ID_H)
    build.write("lib/x.c", source)
    first = build.compile(*extra)
    assert first.returncode == 0, first.stderr
    build.write("include/bits/table.h", table)
    (build.root / "lib" / "x.o").unlink()
    again = build.compile(*extra)
    assert again.returncode == 0, again.stderr
    assert build.compiles() == (1 if served else 2)
    got = (build.root / "lib" / "x.o").read_bytes()
    # served or not, the object is what gcc makes of the files as they are now
    fresh = Build(build.root, build.store, build.launcher, served=False).compile(*extra)
    assert fresh.returncode == 0, fresh.stderr
    assert got == (build.root / "lib" / "x.o").read_bytes()


@pytest.mark.parametrize("damage", [lambda path: path.unlink(), lambda path: path.write_bytes(path.read_bytes()[:-1])])
def test_a_table_whose_kept_reach_is_gone_or_damaged_is_compared_whole(build: Build, damage: object) -> None:
    build.write("include/bits/table.h", TABLE)
    build.write("lib/id.h", ID_H)
    build.write("lib/x.c", '#include "id.h"\nint f(void) { return 1; }\n')
    assert build.compile().returncode == 0
    (kept,) = (build.store / "o").glob("*.r")
    damage(kept)  # type: ignore[operator]
    build.write("include/bits/table.h", RENUMBERED)
    assert build.compile().returncode == 0
    assert build.compiles() == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text.replace("\nF ", "\nF0", 1),  # a line no entry has
        lambda text: text[: text.rindex("\n.\n") + 1],  # an entry still being written
        lambda text: text.replace("\nW ", "\nW  ", 1),  # other words
    ],
)
def test_an_entry_read_only_in_part_is_never_served(build: Build, damage: object) -> None:
    assert build.compile().returncode == 0
    (manifest,) = (build.store / "m").iterdir()
    manifest.write_text(damage(manifest.read_text()))  # type: ignore[operator]
    assert build.compile().returncode == 0
    assert build.compiles() == 2


def test_macro_debug_information_is_not_served(build: Build) -> None:
    # -g3 records every macro of the configuration header in the object
    for expected in (1, 2):
        assert build.compile("-g3").returncode == 0
        assert build.compiles() == expected


def test_warnings_come_again_with_a_served_object_and_a_failure_keeps_nothing(build: Build) -> None:
    build.write("lib/x.c", SOURCE + "int warned(void) { int unused; return 0; }\n")
    first = build.compile("-Wall")
    again = build.compile("-Wall")
    assert build.compiles() == 1
    assert "unused variable" in first.stderr and again.stderr == first.stderr
    build.write("lib/x.c", "int broken(void) { return }\n")
    for expected in (2, 3):
        failed = build.compile()
        assert failed.returncode != 0 and "error" in failed.stderr
        assert build.compiles() == expected


def test_the_store_s_hash_is_blake2b(tmp_path: Path) -> None:
    harness = tmp_path / "hash.c"
    harness.write_text(
        '#include <stdio.h>\n#include "launcher.h"\n'
        "int main(void) { static char data[1 << 20]; size_t n; struct hasher h; char hex[DIGEST_HEX + 1];\n"
        "  hasher_init(&h); while ((n = fread(data, 1, 100, stdin)) > 0) hasher_update(&h, data, n);\n"
        "  hasher_final(&h, hex); puts(hex); return 0; }\n"
    )
    program = tmp_path / "hash"
    blake = package_source("launcher", "blake2b.c")
    subprocess.run(["gcc", "-O2", f"-I{os.path.dirname(blake)}", "-o", program, harness, blake], check=True)
    for size in (0, 1, 100, 127, 128, 129, 256, 1000, 70000):
        data = bytes((i * 7 + size) % 256 for i in range(size))
        got = subprocess.run([program], input=data, capture_output=True, check=True).stdout.decode().strip()
        assert got == hashlib.blake2b(data, digest_size=20).hexdigest(), size


@pytest.mark.parametrize(
    ("environ", "compiler_cache", "expected"),
    [
        ({}, True, "/c/ccache/kraftld-objects"),
        ({"CCACHE_DIR": "/shared"}, True, "/shared/kraftld-objects"),  # wherever ccache's store goes
        ({}, False, None),  # KRAFTLD_CCACHE=0: everything compiled afresh
        ({"KRAFTLD_OBJECTS": "0"}, True, None),
        ({"KRAFTLD_OBJECTS": "1"}, True, "/c/ccache/kraftld-objects"),
    ],
)
def test_where_the_store_is(environ: dict[str, str], compiler_cache: bool, expected: str | None) -> None:
    assert objects.object_store(environ, "/c", compiler_cache) == expected


def test_a_word_that_is_not_yes_or_no() -> None:
    with pytest.raises(ConfigError, match="KRAFTLD_OBJECTS='maybe'"):
        objects.object_store({"KRAFTLD_OBJECTS": "maybe"}, "/c", True)


def test_the_bound_removes_the_least_recently_used_objects(tmp_path: Path) -> None:
    store = tmp_path / "store"
    objects.prepare(str(store))
    for age, name in enumerate(["old", "middle", "new"]):
        for suffix, size in ((".o", 600), (".d", 100), (".err", 0)):
            path = store / "o" / (name + suffix)
            path.write_bytes(b"x" * size)
            os.utime(path, (1000 + age, 1000 + age))
    assert objects.prune(str(store), bound=2100, to=1500) == []  # 2100 bytes: within the bound
    assert objects.prune(str(store), bound=2000, to=1500) == ["old"]
    left = sorted(p.name for p in (store / "o").iterdir())
    assert left == ["middle.d", "middle.err", "middle.o", "new.d", "new.err", "new.o"]
