"""Library selection: symbols read from real objects, the rule table, the error, the equivalent Kraftfile."""

from __future__ import annotations

import io
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from kraftld import exports
from kraftld.cli import main
from kraftld.errors import ConfigError
from kraftld.exports import CoreExports
from kraftld.kraftfile import DEFAULT_KRAFTFILE, parse_kraftfile
from kraftld.kraftfile_text import render_kraftfile
from kraftld.libraries.choose import gc_sections
from kraftld.libraries.rules import RULES, explain
from kraftld.libraries.selection import Available, Selection, apply, select
from kraftld.process import run_process
from kraftld.symbols.inputs import read_file_symbols
from kraftld.symbols.needed import Needed, resolve_needed
from kraftld.symbols.objects import InputSymbols
from support import FakeRunner

CORE = CoreExports(
    {
        "nolibc": frozenset({"printf", "malloc", "memcpy", "strlen", "exit"}),
        "vfscore": frozenset({"open", "read", "write", "close", "mkdir"}),
        "posix-socket": frozenset({"socket", "bind"}),
        "posix-environ": frozenset({"getenv", "environ"}),
        "posix-process": frozenset({"exit", "getpid"}),
    }
)
MUSL = frozenset({"printf", "malloc", "memcpy", "strlen", "open", "read", "write", "close", "mkdir", "socket", "bind"})
MUSL |= frozenset({"pthread_create", "pthread_join", "epoll_create1", "epoll_ctl", "eventfd", "poll", "getaddrinfo"})
AVAILABLE = Available(CORE, MUSL, frozenset({"musl", "lwip"}), frozenset({"__init_array_start"}))


def needed(*names: str, user: str = "main.o") -> Needed:
    return Needed({name: (user,) for name in names}, ())


def option_keys(selection: Selection) -> set[str]:
    return {key for key, _ in selection.kconfig}


@pytest.mark.parametrize(
    ("names", "libc", "libs", "with_options", "without_options"),
    [
        (("printf", "strlen"), "nolibc", (), set(), {"CONFIG_LIBVFSCORE", "CONFIG_LIBUKBOOT_MAINTHREAD"}),
        (("printf", "ukplat_terminate", "__init_array_start"), "nolibc", (), set(), {"CONFIG_LIBVFSCORE"}),
        (("printf", "getpid"), "nolibc", (), {"CONFIG_LIBPOSIX_PROCESS"}, set()),
        (("exit",), "nolibc", (), set(), {"CONFIG_LIBPOSIX_PROCESS"}),  # nolibc's own exit first
        (
            ("open", "write"),
            "nolibc",
            (),
            {"CONFIG_LIBVFSCORE", "CONFIG_LIBRAMFS", "CONFIG_LIBVFSCORE_AUTOMOUNT_CI"},
            set(),
        ),
        (("pthread_create", "printf"), "musl", ("musl",), {"CONFIG_LIBUKBOOT_MAINTHREAD"}, {"CONFIG_LIBVFSCORE"}),
        (("socket", "printf"), "musl", ("musl", "lwip"), set(), {"CONFIG_LIBVFSCORE"}),
        (("poll", "pthread_join"), "musl", ("musl",), set(), {"CONFIG_LIBPOSIX_POLL", "CONFIG_LIBUKBOOT_MAINTHREAD"}),
        (("epoll_create1", "eventfd"), "musl", ("musl",), {"CONFIG_LIBPOSIX_POLL", "CONFIG_LIBPOSIX_EVENTFD"}, set()),
        (("getaddrinfo", "getenv"), "musl", ("musl", "lwip"), {"CONFIG_LIBPOSIX_ENVIRON_LIBPARAM"}, set()),
    ],
)
def test_selection_table(
    names: tuple[str, ...], libc: str, libs: tuple[str, ...], with_options: set[str], without_options: set[str]
) -> None:
    selection = select(needed(*names), AVAILABLE)
    assert (selection.libc, selection.libraries) == (libc, libs)
    assert with_options <= option_keys(selection)
    assert not without_options & option_keys(selection)


def test_every_reason_names_its_symbols_and_input() -> None:
    selection = select(needed("pthread_create", "socket", user="app.a(net.o)"), AVAILABLE)
    reasons = {reason.what: reason for reason in selection.reasons}
    assert reasons["rule threads"].needed_by == {"app.a(net.o)": ("pthread_create",)}
    assert reasons["rule sockets"].needed_by == {"app.a(net.o)": ("socket",)}
    assert reasons["rule sockets"].libraries == ("musl", "lwip")


def test_symbols_nothing_provides_are_an_error_naming_them_their_inputs_and_a_library_elsewhere() -> None:
    with pytest.raises(ConfigError) as raised:
        select(needed("SSL_new", "printf", user="tls.o"), AVAILABLE)
    text = raised.value.render()
    assert "no available Unikraft library provides SSL_new" in text
    assert "tls.o needs SSL_new" in text
    assert "lib-openssl" in text


def test_a_library_missing_from_the_mirror_is_an_error() -> None:
    without_lwip = Available(CORE, MUSL, frozenset({"musl"}))
    with pytest.raises(ConfigError, match="needs lib-lwip"):
        select(needed("socket"), without_lwip)


def test_without_musls_table_the_symbols_beyond_the_core_are_left_to_musl() -> None:
    unknown = Available(CORE, None, frozenset({"musl"}))
    selection = select(needed("qsort_r", "printf"), unknown)
    assert (selection.libc, selection.unprovided) == ("musl", ("qsort_r",))


def test_explain_lists_every_rule_with_its_why_and_options() -> None:
    text = explain()
    for rule in RULES:
        assert rule.why in text
        assert all(f"{key}={value}" in text for key, value in rule.kconfig)
    assert "lib-lwip brings: CONFIG_LIBUKNETDEV=y" in text  # the net preset, as a Kraftfile naming lwip gets


def test_the_networked_choice_builds_with_lwips_preset() -> None:
    from kraftld.config import render_defconfig

    chosen = apply(DEFAULT_KRAFTFILE, select(needed("socket"), AVAILABLE))
    defconfig = render_defconfig(chosen, chosen.targets[0])
    for option in ("CONFIG_LIBLWIP=y", "CONFIG_LWIP_SOCKET=y", "CONFIG_LIBVIRTIO_NET=y", "CONFIG_LWIP_DHCP=y"):
        assert option in defconfig


# Symbols read from real objects made by gcc and ar.


def compile_c(folder: Path, name: str, source: str, *flags: str) -> Path:
    (folder / f"{name}.c").write_text(source)
    subprocess.run(
        ["gcc", "-c", "-O1", "-fno-pic", *flags, "-o", str(folder / f"{name}.o"), str(folder / f"{name}.c")], check=True
    )
    return folder / f"{name}.o"


def read(path: Path, archive: bool = False) -> InputSymbols:
    return read_file_symbols(str(path), path.name, archive, None, run_process)


def test_archive_members_are_pulled_only_for_what_is_undefined(tmp_path: Path) -> None:
    main_o = compile_c(tmp_path, "main", "int used(void); int main(void) { return used(); }\n")
    used = compile_c(tmp_path, "used", "int socket(int, int, int); int used(void) { return socket(1, 2, 3); }\n")
    unused = compile_c(tmp_path, "unused", "int pthread_create(void); int unused(void) { return pthread_create(); }\n")
    subprocess.run(["ar", "rcs", str(tmp_path / "libx.a"), str(used), str(unused)], check=True)
    result = resolve_needed([read(main_o), read(tmp_path / "libx.a", archive=True)])
    assert result.symbols == {"socket": ("libx.a(used.o)",)}
    assert result.pulled == ("libx.a(used.o)",)


def test_with_gc_sections_only_references_reachable_from_main_count(tmp_path: Path) -> None:
    source = (
        "int socket(int, int, int); int puts(const char *);\n"
        "__attribute__((weak)) int statx(void);\n"
        "int never_called(void) { return socket(1, 2, 3); }\n"
        'static void setup(void) { puts("ctor"); }\n'
        '__attribute__((section(".init_array"), used)) static void (*ctor)(void) = setup;\n'
        "int main(void) { return statx ? statx() : 0; }\n"
    )
    obj = compile_c(tmp_path, "prog", source, "-ffunction-sections", "-fdata-sections")
    everything = resolve_needed([read(obj)], gc_sections=False)
    reachable = resolve_needed([read(obj)], gc_sections=True)
    assert set(everything.symbols) == {"socket", "puts"}  # statx is weak: it never fails a link
    assert set(reachable.symbols) == {"puts"}  # from the constructor; never_called is dropped


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ((), False),
        (("--gc-sections",), True),
        (("--gc-sections", "--no-gc-sections"), False),
        (("-gc-sections",), True),
    ],
)
def test_gc_sections_is_the_last_word_of_the_line(words: tuple[str, ...], expected: bool, tmp_path: Path) -> None:
    from kraftld.linkline import LinkerOption
    from kraftld.resolve import ResolvedLink

    link = ResolvedLink(str(tmp_path / "app"), tuple(LinkerOption((word,)) for word in words))
    assert gc_sections(link) is expected


def test_symbols_provided_outside_the_inputs_are_not_needed(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, "m", "void exit(int); int main(void) { exit(3); }\n")
    assert resolve_needed([read(obj)], provided={"exit"}).symbols == {}


def test_symbols_are_cached_by_the_files_identity(tmp_path: Path) -> None:
    obj = compile_c(tmp_path, "m", 'int printf(const char *, ...); int main(void) { return printf("x"); }\n')
    cache = tmp_path / "cache"
    first = read_file_symbols(str(obj), "m.o", False, str(cache), run_process)
    assert list((cache / "symbols").glob("*.json"))
    runner = FakeRunner()
    again = read_file_symbols(str(obj), "m.o", False, str(cache), runner)
    assert again == first
    compile_c(tmp_path, "m", 'int puts(const char *); int main(void) { return puts("x"); }\n')
    changed = read_file_symbols(str(obj), "m.o", False, str(cache), run_process)
    assert changed.members[0].undefined == frozenset({"puts"})
    assert len(list((cache / "symbols").glob("*.json"))) == 1  # the rebuilt object replaced its entry


# What the libraries export.


def test_exportsyms_lists_names_and_skips_comments() -> None:
    assert exports.parse_exportsyms("# malloc\nmalloc\n\n  free  \n# end\n") == frozenset({"malloc", "free"})


@pytest.mark.parametrize(
    ("source", "found", "absent"),
    [
        ("int socket(int domain, int type, int protocol)\n{\n\treturn 0;\n}\n", {"socket"}, set()),
        ("static int helper(void)\n{\n}\nint api(void)\n{\n\treturn helper();\n}\n", {"api"}, {"helper"}),
        ("FILE *fopen(const char *restrict f,\n\tconst char *restrict m)\n{\n}\n", {"fopen"}, set()),
        (
            "int __lseek(int fd)\n{\n}\nweak_alias(__lseek, lseek);\nweak_alias(__lseek, lseek64);\n",
            {"__lseek", "lseek", "lseek64"},
            set(),
        ),
        ("int optind=1, opterr=1, optopt, __optpos;\nchar *optarg;\n", {"optind", "opterr", "optopt", "optarg"}, set()),
        ("int foo(int);\nextern int bar;\nstatic int baz = 3;\n", set(), {"foo", "bar", "baz"}),
    ],
)
def test_musl_sources_are_scanned_for_what_they_define(source: str, found: set[str], absent: set[str]) -> None:
    names = exports.scan_c(source)
    assert found <= names
    assert not absent & names


def test_musl_assembly_globals() -> None:
    assert exports.scan_asm(".global memcpy\n.type memcpy,@function\nmemcpy:\n") == {"memcpy"}


# The whole link: a mirror with a core library list and a small musl release.


@pytest.fixture
def mirror(tmp_path: Path, fake_unikraft: Path) -> Path:
    root = tmp_path / "mirror"
    root.mkdir()
    fake_unikraft.rename(root / "unikraft")
    for name, listed in {"nolibc": "printf\nputs\nputchar\nstrlen\n", "vfscore": "open\nwrite\n"}.items():
        (root / "unikraft" / "lib" / name).mkdir(parents=True)
        (root / "unikraft" / "lib" / name / "exportsyms.uk").write_text(listed)
    musl = root / "lib-musl"
    musl.mkdir()
    (musl / "Makefile.uk").write_text("LIBMUSL_VERSION=1.2.3\n")
    (musl / "Makefile.uk.musl.thread").write_text("LIBMUSL_THREAD_SRCS-y += $(LIBMUSL)/src/thread/pthread_create.c\n")
    (root / "archives").mkdir()
    with tarfile.open(root / "archives" / "musl-1.2.3.tar.gz", "w:gz") as archive:
        data = b"int __pthread_create(void)\n{\n}\nweak_alias(__pthread_create, pthread_create);\n"
        info = tarfile.TarInfo("musl-1.2.3/src/thread/pthread_create.c")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return root


def link(args: list[str], environ: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(args, environ=environ, cwd=str(cwd), runner=FakeRunner(), stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def cache_folder(plan: str) -> str:
    (line,) = re.findall(r"^cache folder: (.*)$", plan, re.MULTILINE)
    return str(line)


def test_print_kraftfile_fed_back_builds_the_same_configuration(tmp_path: Path, mirror: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    compile_c(
        work,
        "main",
        "int pthread_create(void); int printf(const char *, ...);\n"
        'int main(void) { printf("x"); return pthread_create(); }\n',
    )
    environ = {
        "KRAFTLD_SOURCES": str(mirror),
        "KRAFTLD_CACHE": str(tmp_path / "cache"),
        "HOME": str(tmp_path),
        "KRAFTLD_DRY_RUN": "1",
    }
    status, chosen, err = link(["main.o", "-o", "app"], environ, work)
    assert (status, err) == (0, "")
    assert "libraries: musl at" in chosen and "CONFIG_LIBUKBOOT_MAINTHREAD=y" in chosen
    status, kraftfile, err = link(["--print-kraftfile", "main.o", "-o", "app"], environ, work)
    assert (status, err) == (0, "")
    assert "musl:" in kraftfile and "CONFIG_LIBUKBOOT_MAINTHREAD: y" in kraftfile
    (work / "Kraftfile").write_text(kraftfile)
    status, again, err = link(["main.o", "-o", "app"], environ, work)
    assert (status, err) == (0, "")
    assert "libraries chosen" not in again  # the Kraftfile decides now
    assert cache_folder(again) == cache_folder(chosen)


def test_libraries_auto_in_a_kraftfile_chooses_and_keeps_the_kraftfiles_own_options(
    tmp_path: Path, mirror: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    compile_c(work, "main", 'int open(const char *, int); int main(void) { return open("/f", 0); }\n')
    (work / "Kraftfile").write_text(
        "spec: v0.6\nname: app\nunikraft:\n  kconfig:\n    CONFIG_LIBRAMFS: n\n"
        "libraries: auto\ntargets: [qemu/x86_64]\n"
    )
    environ = {"KRAFTLD_SOURCES": str(mirror), "KRAFTLD_CACHE": str(tmp_path / "cache"), "KRAFTLD_DRY_RUN": "1"}
    status, plan, err = link(["main.o", "-o", "app", "-v"], environ, work)
    assert status == 0, err
    assert "kraftld: libraries chosen from the link's symbols: nolibc" in err
    assert "needed by main.o: open" in err
    assert "CONFIG_LIBVFSCORE=y" in plan and "# CONFIG_LIBRAMFS is not set" in plan  # the Kraftfile's own wins


def test_rendered_kraftfile_reads_back_the_same() -> None:
    selection = select(needed("socket", "pthread_create", "open"), AVAILABLE)
    chosen = apply(DEFAULT_KRAFTFILE, selection)
    text = render_kraftfile(chosen, selection)
    back = parse_kraftfile(text, "/somewhere/Kraftfile")
    assert (back.name, back.libraries, back.unikraft, back.targets) == (
        chosen.name,
        chosen.libraries,
        chosen.unikraft,
        chosen.targets,
    )
    assert "  # sockets are used: lwIP" in text and "  lwip: {}" in text
