"""Link-line parsing: every captured compiler line, the C user's spellings, and the rejects."""

from __future__ import annotations

import pytest

from kraftld.errors import UsageError
from kraftld.flags import Action
from kraftld.linkline import (
    DriverFlag,
    InputFile,
    LibraryRef,
    LinkerOption,
    LinkerOutputFile,
    LinkerScript,
    Request,
    parse_link_line,
)
from support import read_args

RUSTC_FIXTURES = [
    "kraftkit-612/rustc-main.args",
    "kraftkit-612/cargo-unikraft-demo.args",
    "rustc/rustc196-std-debug.args",
    "rustc/rustc196-std-release.args",
    "rustc/rustc196-std-link-arg.args",
    "rustc/rustc196-std-static-lib.args",
    "rustc/rustc196-std-static-lib-verbatim.args",
    "rustc/rustc196-std-static-lib-whole-archive.args",
    "rustc/rustc196-std-bin-a.args",
    "rustc/rustc196-std-bin-b.args",
    "rustc/rustc196-std-test-unittests.args",
    "rustc/rustc196-std-test-integration.args",
    "rustc/rustc195-host-nostd.args",
    "rustc/rustc195-host-nostd-cargo.args",
    "rustc/rustc195-host-nostd-lc.args",
]

# Nothing a hosted link asks for that would break a unikernel may reach Unikraft's link.
NEVER_FORWARDED = {
    "-lgcc_s",
    "-lc",
    "--as-needed",
    "-Bstatic",
    "-Bdynamic",
    "-pie",
    "-no-pie",
    "-nodefaultlibs",
    "-fuse-ld=lld",
    "relro",
    "now",
    "--strip-debug",
}


def kept_words(items: tuple[object, ...]) -> list[str]:
    words: list[str] = []
    for item in items:
        if isinstance(item, LinkerOption):
            words.extend(item.words)
        elif isinstance(item, DriverFlag):
            words.extend(item.args)
    return words


@pytest.mark.parametrize("fixture", RUSTC_FIXTURES)
def test_compiler_lines_keep_every_input_in_order(fixture: str) -> None:
    args = read_args(fixture)
    line = parse_link_line(args)
    expected_inputs = [a for a in args if a.endswith((".o", ".rlib")) and not a.startswith("-")]
    assert [i.path for i in line.inputs] == expected_inputs
    assert line.output == args[args.index("-o") + 1]
    assert not NEVER_FORWARDED & set(kept_words(line.items))
    assert line.request is Request.LINK
    # Every argument was decided, and each decision gives a reason.
    assert all(d.why for d in line.decisions)


@pytest.mark.parametrize(
    ("fixture", "kept"),
    [
        ("kraftkit-612/rustc-main.args", ["-m64", "--eh-frame-hdr", "-z", "noexecstack", "--gc-sections"]),
        ("rustc/rustc196-std-release.args", ["-m64", "--eh-frame-hdr", "-z", "noexecstack", "--gc-sections", "-O1"]),
        (
            "rustc/rustc196-std-link-arg.args",
            ["-m64", "--eh-frame-hdr", "-z", "noexecstack", "--gc-sections", "--defsym=foo=0"],
        ),
        ("rustc/rustc195-host-nostd.args", ["-m64", "--eh-frame-hdr", "-z", "noexecstack", "--gc-sections"]),
    ],
)
def test_kept_options(fixture: str, kept: list[str]) -> None:
    assert kept_words(parse_link_line(read_args(fixture)).items) == kept


def test_map_file_and_static_libraries() -> None:
    line = parse_link_line(read_args("rustc/rustc196-std-link-arg.args"))
    assert LinkerOutputFile("-Map", "/tmp/capture/out map.txt") in line.items
    line = parse_link_line(read_args("rustc/rustc196-std-static-lib.args"))
    assert LibraryRef("foo") in line.items
    line = parse_link_line(read_args("rustc/rustc196-std-static-lib-verbatim.args"))
    assert LibraryRef("libfoo.a", verbatim=True) in line.items
    line = parse_link_line(read_args("rustc/rustc196-std-static-lib-whole-archive.args"))
    index = line.items.index(LibraryRef("foo"))
    assert line.items[index - 1] == LinkerOption(("--whole-archive",))
    assert line.items[index + 1] == LinkerOption(("--no-whole-archive",))


def test_drops_are_explained() -> None:
    line = parse_link_line(read_args("rustc/rustc195-host-nostd.args"))
    dropped = {d.argument.split(" (from")[0]: d.why for d in line.decisions if d.action is Action.DROP}
    assert "GNU ld" in dropped["-fuse-ld=lld"]
    assert "dynamic" in dropped["-z relro"]
    assert "dynamic" in dropped["-z now"]
    assert "position independence" in dropped["-pie"]


@pytest.mark.parametrize(
    ("args", "items", "output"),
    [
        (
            ["main.o", "util.o", "-L.", "-lfoo", "-o", "app"],
            [InputFile("main.o"), InputFile("util.o"), LibraryRef("foo")],
            "app",
        ),
        (["-oapp", "a.o", "-l", "foo", "-L", "lib"], [InputFile("a.o"), LibraryRef("foo")], "app"),
        (["a.o", "-Xlinker", "--defsym=x=1", "-o", "app"], [InputFile("a.o"), LinkerOption(("--defsym=x=1",))], "app"),
        (
            ["a.o", "-Xlinker", "-z", "-Xlinker", "noexecstack", "-o", "app"],
            [InputFile("a.o"), LinkerOption(("-z", "noexecstack"))],
            "app",
        ),
        # A -Wl, group mixing kept and dropped options keeps what is kept, in order.
        (
            ["a.o", "-Wl,--as-needed,-z,noexecstack,-Bstatic,--gc-sections,-z,relro", "-o", "app"],
            [InputFile("a.o"), LinkerOption(("-z", "noexecstack")), LinkerOption(("--gc-sections",))],
            "app",
        ),
        (
            ["a.o", "-Wl,-z", "-Wl,noexecstack", "-o", "app"],
            [InputFile("a.o"), LinkerOption(("-z", "noexecstack"))],
            "app",
        ),
        (["a.o", "-l:libx.a", "-o", "app"], [InputFile("a.o"), LibraryRef("libx.a", verbatim=True)], "app"),
        (["-T", "extra.ld", "a.o", "-o", "app"], [LinkerScript("extra.ld"), InputFile("a.o")], "app"),
        (["-Tscript.ld", "a.o", "-o", "app"], [LinkerScript("script.ld"), InputFile("a.o")], "app"),
        (
            ["-Wl,--start-group", "liba.a", "libb.a", "-Wl,--end-group", "-o", "app"],
            [
                LinkerOption(("--start-group",)),
                InputFile("liba.a"),
                InputFile("libb.a"),
                LinkerOption(("--end-group",)),
            ],
            "app",
        ),
        (
            ["-Wl,--whole-archive", "liba.a", "-Wl,--no-whole-archive", "-o", "app"],
            [LinkerOption(("--whole-archive",)), InputFile("liba.a"), LinkerOption(("--no-whole-archive",))],
            "app",
        ),
        (
            ["-Wl,-(", "a.a", "-Wl,-)", "-o", "app"],
            [LinkerOption(("-(",)), InputFile("a.a"), LinkerOption(("-)",))],
            "app",
        ),
        (["a.o", "-Wl,-o,out"], [InputFile("a.o")], "out"),
        (["a.o", "-Wl,-gc-sections", "-o", "x"], [InputFile("a.o"), LinkerOption(("-gc-sections",))], "x"),
        (["a.o", "-lm", "-lpthread", "-lgcc", "-o", "x"], [InputFile("a.o"), LinkerOption(("-lgcc",))], "x"),
        (["a.o", "-Wl,-Map,out.map", "-o", "x"], [InputFile("a.o"), LinkerOutputFile("-Map", "out.map")], "x"),
        (
            ["a.o", "-O2", "-g", "-flto", "-march=native", "-o", "x"],
            [
                InputFile("a.o"),
                DriverFlag(("-O2",)),
                DriverFlag(("-g",)),
                DriverFlag(("-flto",)),
                DriverFlag(("-march=native",)),
            ],
            "x",
        ),
        (["a.o", "-Wall", "-I", "inc", "-DX=1", "-static", "-pthread", "-s", "-o", "x"], [InputFile("a.o")], "x"),
        (["a.o", "-u", "sym", "-o", "x"], [InputFile("a.o"), DriverFlag(("-u", "sym"))], "x"),
        (
            ["a.o", "-Wl,--unknown-to-kraftld", "-o", "x"],
            [InputFile("a.o"), LinkerOption(("--unknown-to-kraftld",))],
            "x",
        ),
        (["a.o", "x.ld", "-o", "x"], [InputFile("a.o"), InputFile("x.ld")], "x"),
    ],
)
def test_c_user_lines(args: list[str], items: list[object], output: str) -> None:
    line = parse_link_line(args)
    assert list(line.items) == items
    assert line.output == output


def test_search_dirs_apply_wherever_they_stand() -> None:
    line = parse_link_line(["-lfoo", "-L", "a", "-Lb", "-Wl,-L,c", "-Wl,--library-path=d", "-o", "x"])
    assert line.search_dirs == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-shared", "a.o", "-o", "x"], "shared object"),
        (["a.o", "-Wl,-shared", "-o", "x"], "shared object"),
        (["a.o", "-e", "start", "-o", "x"], "entry point"),
        (["a.o", "-Wl,--entry=start", "-o", "x"], "entry point"),
        (["a.o", "-r", "-o", "x"], "relocatable"),
        (["a.c", "-c"], "compile"),
        (["-m32", "a.o", "-o", "x"], "x86_64"),
        (["a.o", "-fsanitize=address", "-o", "x"], "sanitizer"),
        (["a.o", "-Wl,-dT,my.ld", "-o", "x"], "default linker script"),
        (["a.o", "--frobnicate", "-o", "x"], "unknown flag"),
        (["a.o", "-o"], "needs a value"),
        (["a.o", "-Xlinker"], "needs a value"),
        (["a.o", "-Wl,-z"], "needs a value"),
        (["a.o", "-o", "x", "-o", "y"], "named twice"),
        (["a.o", "-o", "x", "-Wl,-o,y"], "named twice"),
        (["-", "-o", "x"], "standard input"),
        (["a.o", "-l", "", "-o", "x"], "library name"),
    ],
)
def test_rejects(args: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message) as raised:
        parse_link_line(args)
    assert raised.value.hint


@pytest.mark.parametrize(
    ("args", "request_"),
    [
        (["--version"], Request.VERSION),
        (["--help"], Request.HELP),
        (["-h"], Request.HELP),
        (["a.o", "-o", "x"], Request.LINK),
    ],
)
def test_requests(args: list[str], request_: Request) -> None:
    assert parse_link_line(args).request is request_


def test_verbose() -> None:
    assert parse_link_line(["-v", "a.o", "-o", "x"]).verbose


def test_decisions_follow_the_line() -> None:
    line = parse_link_line(["-m64", "a.o", "-Wl,--as-needed", "-no-pie", "b.o", "-o", "x"])
    assert [d.argument.split(" (")[0] for d in line.decisions] == [
        "-m64",
        "a.o",
        "--as-needed",
        "-no-pie",
        "b.o",
        "-o x",
    ]
