"""Fuzzing the argument parser and the response-file reader: only kraftld's own errors escape.

Properties, each checked on generated input:
- `parse_link_line` either parses or raises a `UsageError` with a hint, for any argv (text,
  flags from kraftld's own tables with odd values, and non-UTF-8 bytes as Python decodes argv);
- kept inputs keep the compiler's order among dropped flags;
- `split_response_text` never fails, and without quotes or backslashes splits on white space;
- what rustc writes (one argument per line, `\\` and space escaped) reads back as it was written,
  and so does gcc's own quoting (libiberty's writeargv), through bytes that need not be UTF-8;
- `expand_response_files` over an in-memory file system agrees with a model of gcc's rules and
  raises nothing but `ResponseFileError`;
- `kraftld.cli.main`, as a dry run on generated argv and settings, returns 0 or 1 and, for 1,
  prints exactly one `kraftld: error:` line and its hint.

Argv never holds NUL (the kernel cannot pass it, and a response file with NUL is refused before
it is split), so no strategy generates it there.

CI runs a short profile (300 examples per property). The dedicated run sets
KRAFTLD_FUZZ_EXAMPLES to the examples per property, for example 12500 for more than 100,000 in
all; the module prints how many cases each property saw (use `-s` to see it).
"""

from __future__ import annotations

import io
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kraftld import flags
from kraftld.cli import main
from kraftld.errors import KraftldError, ResponseFileError, UsageError
from kraftld.linkline import DriverFlag, InputFile, LibraryRef, LinkerOption, LinkerOutputFile, LinkerScript
from kraftld.response import expand_response_files, split_response_text
from support import FakeRunner

# --- profiles ------------------------------------------------------------------------------

EXAMPLES_VARIABLE = "KRAFTLD_FUZZ_EXAMPLES"
CI_EXAMPLES = 300


def _dedicated_examples() -> int | None:
    value = os.environ.get(EXAMPLES_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{EXAMPLES_VARIABLE}={value!r}: give the number of examples per property")
    return int(value)


settings.register_profile(
    "kraftld-fuzz-ci",
    max_examples=CI_EXAMPLES,
    deadline=None,
    database=None,  # no .hypothesis folder in the checkout
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "kraftld-fuzz-dedicated",
    max_examples=_dedicated_examples() or CI_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = settings.get_profile("kraftld-fuzz-dedicated" if _dedicated_examples() else "kraftld-fuzz-ci")

# Generated cases per property, printed when the module is done.
GENERATED: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    lines = [f"  {name}: {count}" for name, count in sorted(GENERATED.items())]
    report = "\n".join(
        [
            f"kraftld fuzz: {sum(GENERATED.values())} generated cases in {elapsed:.1f} s "
            f"(profile {'dedicated' if _dedicated_examples() else 'ci'}, max_examples={PROFILE.max_examples})",
            *lines,
        ]
    )
    capture: Any = request.config.pluginmanager.getplugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            sys.stderr.write("\n" + report + "\n")
    else:
        sys.stderr.write(report + "\n")


# --- strategies -------------------------------------------------------------------------

NO_NUL = st.text(alphabet=st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=16)
# What a non-UTF-8 byte in argv becomes in Python (surrogate escapes), never NUL.
ARGV_BYTES = st.binary(max_size=12).filter(lambda b: b"\0" not in b).map(os.fsdecode)

VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            "main.o",
            "lib.a",
            "x.ld",
            "app",
            "-",
            "c",
            "m",
            "gcc_s",
            "foo",
            ":libfoo.a",
            "noexecstack",
            "relro",
            "now",
            "/tmp/kraftld-fuzz-nowhere",
            "a,b",
            "=x",
            "$(shell touch PWNED)",
            "lld",
        ]
    ),
    NO_NUL,
    ARGV_BYTES,
)
DRIVER_NAMES = sorted(flags.DRIVER_RULES)
LINKER_NAMES = sorted(flags.LINKER_RULES)
Z_KEYWORDS = [*sorted(flags.Z_DROPPED), "noexecstack", "max-page-size=4096"]


def _joined(names: list[str]) -> st.SearchStrategy[str]:
    return st.tuples(st.sampled_from(names), VALUES).map(lambda pair: pair[0] + pair[1])


LINKER_WORD = st.one_of(
    st.sampled_from(LINKER_NAMES),
    _joined(LINKER_NAMES),
    st.sampled_from(Z_KEYWORDS),
    VALUES.filter(lambda v: "," not in v),
)
DRIVER_ARG = st.one_of(
    st.sampled_from(DRIVER_NAMES),
    _joined(DRIVER_NAMES),
    st.lists(LINKER_WORD, max_size=5).map(lambda words: "-Wl," + ",".join(words)),
    st.sampled_from(["-Xlinker", "-z", "-l", "-L", "-o", "-T", "-u", "-e", "-B", "--sysroot", "-x"]),
    VALUES,
)
ARGV = st.lists(DRIVER_ARG, max_size=24)


def _count(name: str) -> None:
    GENERATED[name] += 1


# --- the parser ---------------------------------------------------------------------------


@PROFILE
@given(ARGV)
def test_parse_link_line_raises_only_usage_errors(argv: list[str]) -> None:
    from kraftld.linkline import parse_link_line

    _count("parse_link_line")
    try:
        line = parse_link_line(argv)
    except KraftldError as error:
        assert isinstance(error, UsageError), type(error)
        assert error.message and error.hint
        assert "\n" not in error.hint
        return
    assert line.output is None or (isinstance(line.output, str) and line.output)
    for item in line.items:
        assert isinstance(item, (InputFile, LibraryRef, LinkerScript, LinkerOption, LinkerOutputFile, DriverFlag))
    for decision in line.decisions:
        assert isinstance(decision.argument, str) and decision.why


@PROFILE
@given(st.lists(st.one_of(NO_NUL, ARGV_BYTES), max_size=16))
def test_parse_link_line_on_any_text(argv: list[str]) -> None:
    from kraftld.linkline import parse_link_line

    _count("parse_link_line (any text)")
    try:
        parse_link_line(argv)
    except UsageError as error:
        assert error.hint


INPUT_NAME = st.builds(
    lambda first, rest, suffix: first + rest + suffix,
    st.sampled_from("abcxyz"),
    st.text(alphabet="abcxyz0189_", max_size=8),
    st.sampled_from([".o", ".a", ".rlib"]),
)
DROPPED = st.sampled_from(
    ["-static", "-pie", "-no-pie", "-Wl,--as-needed", "-lc", "-lm", "-lgcc_s", "-Wl,-z,relro", "-nostdlib", "-s"]
)


@PROFILE
@given(st.lists(st.one_of(INPUT_NAME.map(lambda n: ("input", n)), DROPPED.map(lambda f: ("flag", f))), max_size=20))
def test_kept_inputs_keep_their_order(parts: list[tuple[str, str]]) -> None:
    from kraftld.linkline import parse_link_line

    _count("input order")
    argv = [arg for _, arg in parts] + ["-o", "image"]
    line = parse_link_line(argv)
    assert [item.path for item in line.inputs] == [arg for kind, arg in parts if kind == "input"]
    assert line.output == "image"
    assert not [item for item in line.items if not isinstance(item, InputFile)], "every flag here is dropped"


# --- response files: splitting and round trips -------------------------------------------

SEPARATORS = " \t\n\r\f\v"


@PROFILE
@given(st.text())
def test_split_response_text_never_fails(text: str) -> None:
    _count("split_response_text")
    args = split_response_text(text)
    assert all(isinstance(arg, str) for arg in args)
    if not set(text) & set("'\"\\"):
        assert args == [word for word in re.split(r"[ \t\n\r\f\v]+", text) if word]


def rustc_style(args: list[str]) -> str:
    """What rustc writes for a GNU-like linker: one argument a line, `\\` and space escaped."""
    return "".join(arg.replace("\\", "\\\\").replace(" ", "\\ ") + "\n" for arg in args)


# rustc's format has no way to write an empty argument, a line break or tab inside one, or a
# quote (rustc leaves quotes as they are, and gcc, like kraftld, reads them as quoting). An
# argument starting with @ names a nested file in any response file, as gcc reads them.
RUSTC_ARG = st.text(
    alphabet=st.characters(exclude_characters="\0\t\n\r\f\v'\"", exclude_categories=["Cs"]), min_size=1, max_size=24
)


@PROFILE
@given(st.lists(RUSTC_ARG, max_size=12))
def test_rustc_style_round_trips(args: list[str]) -> None:
    _count("rustc round trip")
    text = rustc_style(args)
    assert split_response_text(text) == args
    if not any(arg.startswith("@") and arg != "@" for arg in args):
        files = {"args.rsp": os.fsencode(text)}
        assert expand_response_files(["@args.rsp"], read=lambda path: files[path]) == args


def writeargv(args: list[str]) -> str:
    """libiberty's writeargv, as gcc writes @files: every special character escaped; "" for empty."""
    words = []
    for arg in args:
        if not arg:
            words.append('""')
            continue
        words.append("".join("\\" + c if c in SEPARATORS + "\\'\"" else c for c in arg))
    return " ".join(words)


def double_quoted(args: list[str], separator: str) -> str:
    return separator.join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' for a in args)


def single_quoted(args: list[str], separator: str) -> str:
    return separator.join("'" + a.replace("\\", "\\\\").replace("'", "\\'") + "'" for a in args)


ANY_ARGS = st.lists(st.text(max_size=24), max_size=12)


@PROFILE
@given(ANY_ARGS, st.sampled_from([" ", "\n", "\t", " \r\n", "\f\v"]))
def test_gcc_style_quoting_round_trips(args: list[str], separator: str) -> None:
    _count("gcc quoting round trip")
    assert split_response_text(writeargv(args)) == args
    assert split_response_text(double_quoted(args, separator)) == args
    assert split_response_text(single_quoted(args, separator)) == args


def writeargv_bytes(args: list[bytes]) -> bytes:
    special = set((SEPARATORS + "\\'\"").encode())
    out = bytearray()
    for index, arg in enumerate(args):
        if index:
            out += b" "
        if not arg:
            out += b'""'
        for byte in arg:
            if byte in special:
                out += b"\\"
            out.append(byte)
    return bytes(out)


NOT_A_REFERENCE = st.binary(max_size=24).filter(lambda b: b"\0" not in b and (not b.startswith(b"@") or b == b"@"))


@PROFILE
@given(st.lists(NOT_A_REFERENCE, max_size=12))
def test_bytes_that_are_not_utf8_survive_a_response_file(args: list[bytes]) -> None:
    _count("bytes round trip")
    files = {"bytes.rsp": writeargv_bytes(args)}
    expanded = expand_response_files(["@bytes.rsp"], read=lambda path: files[path])
    # Decoded as Python decodes argv: re-encoding gives the very bytes back, for the child's argv.
    assert [os.fsencode(arg) for arg in expanded] == args


# --- response files: expansion over an in-memory file system ------------------------------

FILE_NAMES = [f"f{i}" for i in range(5)]
UNREADABLE = {"dir": IsADirectoryError, "denied": PermissionError, "broken": OSError}
REFERENCES = [f"@{name}" for name in [*FILE_NAMES, *UNREADABLE, "missing"]] + ["@"]

TOKEN = st.one_of(
    st.sampled_from(REFERENCES),
    st.sampled_from(["main.o", "-o", "app", "'quoted arg'", '"dq \\" arg"', "back\\ slash", "-Wl,--gc-sections"]),
    st.text(alphabet=st.characters(exclude_characters="\0", exclude_categories=["Cs"]), max_size=8),
)
CONTENT = st.one_of(
    st.lists(TOKEN, max_size=6).flatmap(
        lambda tokens: st.sampled_from([" ", "\n", "\t", " \n "]).map(lambda sep: sep.join(tokens).encode())
    ),
    st.binary(max_size=32),  # junk, NUL bytes, bytes that are not UTF-8
)
FILES = st.dictionaries(st.sampled_from(FILE_NAMES), CONTENT, max_size=len(FILE_NAMES))


class ModelError(Exception):
    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def model_expand(args: list[str], files: dict[str, bytes], chain: tuple[str, ...] = ()) -> list[str]:
    """gcc's @file rules, written plainly: the reference kraftld's reader must agree with."""
    out: list[str] = []
    for arg in args:
        if not arg.startswith("@") or arg == "@":
            out.append(arg)
            continue
        name = arg[1:]
        identity = os.path.realpath(name)
        if identity in chain:
            raise ModelError("includes itself")
        if name in UNREADABLE:
            raise ModelError("unreadable")
        if name not in files:
            raise ModelError("not found")
        if b"\0" in files[name]:
            raise ModelError("NUL")
        out.extend(model_expand(split_response_text(os.fsdecode(files[name])), files, (*chain, identity)))
    return out


def kind_of(error: ResponseFileError) -> str:
    for kind, words in (
        ("includes itself", "includes itself"),
        ("not found", "not found"),
        ("NUL", "NUL bytes"),
        ("unreadable", "directory"),
        ("unreadable", "cannot read"),
    ):
        if words in error.message:
            return kind
    raise AssertionError(f"an error of no known kind: {error.message}")


@PROFILE
@given(FILES, st.lists(TOKEN, max_size=8))
def test_expansion_agrees_with_gcc_rules(files: dict[str, bytes], argv: list[str]) -> None:
    _count("expand_response_files")

    def read(path: str) -> bytes:
        if path in UNREADABLE:
            raise UNREADABLE[path](f"{path}: cannot read")
        try:
            return files[path]
        except KeyError:
            raise FileNotFoundError(path) from None

    try:
        expected: list[str] | str = model_expand(argv, files)
    except ModelError as error:
        expected = error.kind
    try:
        actual: list[str] | str = expand_response_files(argv, read=read)
    except ResponseFileError as error:
        assert error.hint
        actual = kind_of(error)
    assert actual == expected


# --- the whole command, as a dry run --------------------------------------------------------


@dataclass(frozen=True)
class World:
    folder: Path
    project: Path  # a folder with a Kraftfile of two targets
    environ: dict[str, str]
    response_files: tuple[str, ...]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, object_bytes: bytes, archive_bytes: bytes) -> World:
    folder = tmp_path_factory.mktemp("fuzz")
    tree = folder / "unikraft"
    (tree / "support" / "build").mkdir(parents=True)
    (tree / "Config.uk").write_text("")
    (tree / "Makefile").write_text("# UK_LDEPS - explicit link-time dependencies\n")
    (tree / "version.mk").write_text("UK_VERSION = 0\nUK_SUBVERSION = 17\nUK_EXTRAVERSION = 0\n")
    work = folder / "work"
    project = folder / "project"
    for place in (work, project):
        (place / "lib").mkdir(parents=True)
        (place / "main.o").write_bytes(object_bytes)
        (place / "lib" / "libfoo.a").write_bytes(archive_bytes)
        (place / "libdyn.so").write_bytes(object_bytes[:16] + b"\x03\x00" + object_bytes[18:64])
        (place / "script.ld").write_text("/* a linker script */\n")
        (place / "dir").mkdir()
    (project / "Kraftfile").write_text(
        "spec: v0.6\nname: fuzz\ntargets:\n  - {name: one, plat: qemu, arch: x86_64}\n  - fc/x86_64\n"
    )
    rsp = folder / "rsp"
    rsp.mkdir()
    (rsp / "good.rsp").write_text("main.o -o app")
    (rsp / "empty.rsp").write_text("")
    (rsp / "binary.rsp").write_bytes(b"main.o\0")
    (rsp / "self.rsp").write_text(f"@{rsp / 'self.rsp'}")
    (rsp / "nested.rsp").write_text(f"-v @{rsp / 'good.rsp'}")
    environ = {
        "KRAFTLD_UNIKRAFT": str(tree),
        "KRAFTLD_CACHE": str(folder / "cache"),
        "KRAFTLD_DRY_RUN": "1",
        "HOME": str(folder),
        "PATH": os.environ.get("PATH", ""),
    }
    response_files = (*(f"@{p}" for p in sorted(rsp.iterdir())), f"@{rsp / 'missing.rsp'}")
    return World(work, project, environ, response_files)


FILE_ARGS = st.sampled_from(
    ["main.o", "lib/libfoo.a", "libdyn.so", "script.ld", "dir", "missing.o", "-Llib", "-lfoo", "-ldyn", "-lc"]
)
SETTINGS = st.fixed_dictionaries(
    {},
    optional={
        "KRAFTLD_TARGET": st.sampled_from(["", "one", "qemu/x86_64", "fc/x86_64", "nope"]),
        "KRAFTLD_LOG": st.sampled_from(["", "debug", "info", "error", "loud"]),
        "KRAFTLD_DRY_RUN": st.sampled_from(["1", "yes", " TRUE ", "on", "maybe"]),  # never off: nothing is built
    },
)


def _tame(arg: str) -> str:
    # A generated `@…` could name any file on the machine (/dev/zero); @files come from the world.
    # Line breaks in names break the one-line error (test_hostile has that case); here they are
    # spaces, so the property below can read the error's lines.
    arg = arg.replace("\n", " ").replace("\r", " ")
    return "x" + arg if arg.startswith("@") else arg


@PROFILE
@given(
    st.data(),
    st.lists(st.one_of(DRIVER_ARG.map(_tame), FILE_ARGS, FILE_ARGS), max_size=16),
    SETTINGS,
    st.booleans(),
)
def test_main_dry_run_answers_with_status_0_or_one_error(
    world: World, data: st.DataObject, argv: list[str], overrides: dict[str, str], in_project: bool
) -> None:
    _count("cli.main dry run")
    if data.draw(st.booleans()):
        argv = [*argv, "-o", data.draw(st.sampled_from(["app", "out/app", "dir", ""]))]
    if data.draw(st.booleans()):
        position = data.draw(st.integers(0, len(argv)))
        argv.insert(position, data.draw(st.sampled_from(world.response_files)))
    out, err = io.StringIO(), io.StringIO()
    status = main(
        argv,
        environ={**world.environ, **overrides},
        cwd=str(world.project if in_project else world.folder),
        runner=FakeRunner(),
        stdout=out,
        stderr=err,
    )
    assert status in (0, 1)
    assert "Traceback" not in err.getvalue()
    if status == 1:
        lines = err.getvalue().split("\n")  # a terminal's lines: other control characters do not break them
        errors = [i for i, line in enumerate(lines) if line.startswith("kraftld: error: ")]
        assert len(errors) == 1, err.getvalue()
        assert lines[errors[0] + 1].startswith("hint: "), err.getvalue()
        assert out.getvalue() == ""
    else:
        assert out.getvalue().startswith(("kraftld dry run: nothing is built", "kraftld ", "usage: kraftld"))
    assert not (world.folder / "app").exists() and not (world.project / "app").exists()
