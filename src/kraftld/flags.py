"""The one table of what kraftld does with each flag of a gcc-style link line, and why.

A link line has two layers, as in gcc: driver flags that gcc itself understands (`-o`, `-L`, `-pie`,
`-Wl,…`) and the linker words gcc hands on to ld (everything inside `-Wl,` and `-Xlinker`, plus
inputs and `-l`). Each layer has its own table. Every entry says how the flag is spelled (its
form), what kraftld does with it (forward to Unikraft's final link, drop, or reject with an error)
and why — `kraftld --explain-flags` prints the tables, and the README is written from them.

Order rules, written down because the link depends on them:
- kept items reach Unikraft's final link in the order the compiler gave them; nothing is sorted
  or de-duplicated, since archive order and `--start-group`/`--whole-archive` spans matter;
- `-L` directories apply to every `-l`, wherever they stand on the line (GNU ld's rule);
- a `-Wl,` group is split at its commas into linker words, and each word is judged on its own, so
  a group mixing kept and dropped options loses nothing that is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Action(Enum):
    FORWARD = "forward"
    DROP = "drop"
    REJECT = "reject"


class Form(Enum):
    FLAG = "flag"  # exactly the name: -shared
    JOINED = "joined"  # the name glued to its value: -O2, -Wl,a,b, -fuse-ld=lld
    SEPARATE = "separate"  # the value is the next argument: -Xlinker x
    JOINED_OR_SEPARATE = "joined-or-separate"  # -Ldir or -L dir
    EQUALS_OR_SEPARATE = "equals-or-separate"  # ld's --script=x or --script x


class Role(Enum):
    """What a flag means beyond forward/drop/reject: the parser acts on these."""

    PLAIN = "plain"
    OUTPUT = "output"  # -o: where the image goes
    LIBRARY = "library"  # -l: resolved by kraftld to a static archive
    SEARCH_DIR = "search-dir"  # -L: where -l looks
    LINKER_GROUP = "linker-group"  # -Wl,: linker words separated by commas
    LINKER_WORD = "linker-word"  # -Xlinker: one linker word
    SCRIPT = "script"  # -T: a linker script, an input file
    OUTPUT_FILE = "output-file"  # -Map: a file the linker writes beside the image
    Z_KEYWORD = "z-keyword"  # -z: judged by its keyword
    VERBOSE = "verbose"
    VERSION = "version"
    HELP = "help"


@dataclass(frozen=True)
class FlagRule:
    name: str
    form: Form
    action: Action
    why: str
    role: Role = Role.PLAIN

    @property
    def takes_value(self) -> bool:
        return self.form is not Form.FLAG


def _rules(*rules: FlagRule) -> dict[str, FlagRule]:
    return {rule.name: rule for rule in rules}


F, J, S, JS, ES = Form.FLAG, Form.JOINED, Form.SEPARATE, Form.JOINED_OR_SEPARATE, Form.EQUALS_OR_SEPARATE
FWD, DROP, REJ = Action.FORWARD, Action.DROP, Action.REJECT

_WHY_STATIC = "a unikernel is one static image: Unikraft's link is already static"
_WHY_FREESTANDING = "Unikraft's link is already -nostdlib; its libc is a Unikraft library"
_WHY_PIE = "Unikraft decides position independence itself (CONFIG_OPTIMIZE_PIE)"
_WHY_LLD = "Unikraft's -dT linker scripts need GNU ld; lld (and rustc's gcc-ld shim) cannot link them"
_WHY_COMPILE = "a compile-time flag; at link time gcc ignores it too"
_WHY_STRIP = "Unikraft strips the bootable image itself; the .dbg beside it is the unstripped copy a debugger needs"
_WHY_ENTRY = "a unikernel's entry point is Unikraft's boot code, which calls main; a program cannot choose another"
_WHY_SHARED = "a shared object cannot be booted: a unikernel is one static image"
_WHY_DYNAMIC = "shapes dynamic loading or the dynamic symbol table, which a unikernel does not have"
_WHY_ORDERED = "order-sensitive archive handling: kept in place"

DRIVER_RULES: dict[str, FlagRule] = _rules(
    FlagRule("-o", JS, FWD, "names the image; kraftld writes it and its .dbg", Role.OUTPUT),
    FlagRule("-l", JS, FWD, "kraftld resolves it to a static archive in the -L folders", Role.LIBRARY),
    FlagRule("-L", JS, FWD, "a folder -l searches", Role.SEARCH_DIR),
    FlagRule("-Wl,", J, FWD, "linker words, each judged by the linker table", Role.LINKER_GROUP),
    FlagRule("-Xlinker", S, FWD, "one linker word, judged by the linker table", Role.LINKER_WORD),
    FlagRule("-T", JS, FWD, "an extra linker script, added after Unikraft's own", Role.SCRIPT),
    FlagRule("-e", JS, REJ, _WHY_ENTRY),
    FlagRule("-u", JS, FWD, "forces a symbol to be pulled in from an archive"),
    FlagRule("-z", JS, FWD, "a linker keyword, judged by the linker table", Role.Z_KEYWORD),
    FlagRule("-shared", F, REJ, _WHY_SHARED),
    FlagRule("-r", F, REJ, "a relocatable object is not a unikernel; link it into one instead"),
    FlagRule("-c", F, REJ, "kraftld links; compile with your compiler first"),
    FlagRule("-S", F, REJ, "kraftld links; compile with your compiler first"),
    FlagRule("-E", F, REJ, "kraftld links; preprocess with your compiler"),
    FlagRule("-x", JS, REJ, "kraftld links object files and archives, not sources"),
    FlagRule("-static", F, DROP, _WHY_STATIC),
    FlagRule("-static-pie", F, DROP, _WHY_PIE),
    FlagRule("-pie", F, DROP, _WHY_PIE),
    FlagRule("-no-pie", F, DROP, _WHY_PIE),
    FlagRule("-rdynamic", F, DROP, _WHY_DYNAMIC),
    FlagRule("-nodefaultlibs", F, DROP, _WHY_FREESTANDING),
    FlagRule("-nostdlib", F, DROP, _WHY_FREESTANDING),
    FlagRule("-nostartfiles", F, DROP, _WHY_FREESTANDING),
    FlagRule("-nolibc", F, DROP, _WHY_FREESTANDING),
    FlagRule("-static-libgcc", F, DROP, _WHY_STATIC),
    FlagRule("-static-libstdc++", F, DROP, _WHY_STATIC),
    FlagRule("-shared-libgcc", F, DROP, "the shared libgcc is a host library; nothing links dynamically"),
    FlagRule("-pthread", F, DROP, "threads come from the unikernel's own libc and scheduler"),
    FlagRule("-s", F, DROP, _WHY_STRIP),
    FlagRule("-fuse-ld=", J, DROP, _WHY_LLD),
    FlagRule("-B", JS, DROP, "only tells gcc where to find another linker (rustc's gcc-ld for lld)"),
    FlagRule("--sysroot=", J, DROP, "kraftld never searches system folders: host libraries are not unikernel code"),
    FlagRule("--sysroot", S, DROP, "kraftld never searches system folders: host libraries are not unikernel code"),
    FlagRule("-fsanitize=", J, REJ, "sanitizer runtimes are host libraries; Unikraft has its own (ubsan, kasan)"),
    FlagRule("--coverage", F, REJ, "the gcov runtime is a host library; Unikraft has its own (ukgcov)"),
    FlagRule("-fprofile-arcs", F, REJ, "the gcov runtime is a host library; Unikraft has its own (ukgcov)"),
    FlagRule("-f", J, FWD, "code-generation flag: harmless at link time, used by gcc for -flto"),
    FlagRule("-m64", F, FWD, "the unikernel targets x86_64"),
    FlagRule("-m32", F, REJ, "kraftld builds x86_64 unikernels; 32-bit objects cannot join them"),
    FlagRule("-mx32", F, REJ, "kraftld builds x86_64 unikernels; x32 objects cannot join them"),
    FlagRule("-m", J, FWD, "target flag: harmless at link time, used by gcc for -flto"),
    FlagRule("-O", J, FWD, "optimisation level: harmless at link time, used by gcc for -flto"),
    FlagRule("-g", J, FWD, "debug-info flag: harmless at link time"),
    FlagRule("-std=", J, DROP, _WHY_COMPILE),
    FlagRule("-W", J, DROP, "a warning flag: " + _WHY_COMPILE),
    FlagRule("-I", JS, DROP, _WHY_COMPILE),
    FlagRule("-isystem", JS, DROP, _WHY_COMPILE),
    FlagRule("-D", JS, DROP, _WHY_COMPILE),
    FlagRule("-U", JS, DROP, _WHY_COMPILE),
    FlagRule("-v", F, DROP, "kraftld's own: report each decision and every command", Role.VERBOSE),
    FlagRule("--verbose", F, DROP, "kraftld's own: report each decision and every command", Role.VERBOSE),
    FlagRule("--version", F, DROP, "kraftld's own: print its version", Role.VERSION),
    FlagRule("--help", F, DROP, "kraftld's own: print usage", Role.HELP),
    FlagRule("-h", F, DROP, "kraftld's own: print usage", Role.HELP),
)

# Keywords of `-z` that only matter to a dynamic loader; any other keyword is forwarded.
Z_DROPPED = {
    "relro": _WHY_DYNAMIC,
    "norelro": _WHY_DYNAMIC,
    "now": _WHY_DYNAMIC,
    "lazy": _WHY_DYNAMIC,
    "origin": _WHY_DYNAMIC,
    "combreloc": _WHY_DYNAMIC,
    "nocombreloc": _WHY_DYNAMIC,
    "nodlopen": _WHY_DYNAMIC,
    "nodelete": _WHY_DYNAMIC,
}
Z_FORWARD_WHY = "a linker keyword that applies to a static image as well"

LINKER_RULES: dict[str, FlagRule] = _rules(
    FlagRule("-o", JS, FWD, "names the image; kraftld writes it and its .dbg", Role.OUTPUT),
    FlagRule("--output", ES, FWD, "names the image; kraftld writes it and its .dbg", Role.OUTPUT),
    FlagRule("-l", JS, FWD, "kraftld resolves it to a static archive in the -L folders", Role.LIBRARY),
    FlagRule("--library", ES, FWD, "kraftld resolves it to a static archive in the -L folders", Role.LIBRARY),
    FlagRule("-L", JS, FWD, "a folder -l searches", Role.SEARCH_DIR),
    FlagRule("--library-path", ES, FWD, "a folder -l searches", Role.SEARCH_DIR),
    FlagRule("-T", JS, FWD, "an extra linker script, added after Unikraft's own", Role.SCRIPT),
    FlagRule("--script", ES, FWD, "an extra linker script, added after Unikraft's own", Role.SCRIPT),
    FlagRule("-dT", JS, REJ, "would replace Unikraft's own default linker script"),
    FlagRule("--default-script", ES, REJ, "would replace Unikraft's own default linker script"),
    FlagRule("-Map", ES, FWD, "writes a link map beside the image", Role.OUTPUT_FILE),
    FlagRule("-z", JS, FWD, "judged by its keyword", Role.Z_KEYWORD),
    FlagRule("--as-needed", F, DROP, "decides which shared libraries are recorded as needed; a unikernel has none"),
    FlagRule("--no-as-needed", F, DROP, "decides which shared libraries are recorded as needed; a unikernel has none"),
    FlagRule("-Bstatic", F, DROP, "kraftld resolves every -l to a static archive itself"),
    FlagRule("-Bdynamic", F, DROP, "kraftld resolves every -l to a static archive itself; nothing links dynamically"),
    FlagRule("-dn", F, DROP, "kraftld resolves every -l to a static archive itself"),
    FlagRule("-dy", F, DROP, "kraftld resolves every -l to a static archive itself; nothing links dynamically"),
    FlagRule("-static", F, DROP, _WHY_STATIC),
    FlagRule("-non_shared", F, DROP, _WHY_STATIC),
    FlagRule(
        "-call_shared", F, DROP, "kraftld resolves every -l to a static archive itself; nothing links dynamically"
    ),
    FlagRule("--eh-frame-hdr", F, FWD, "Unikraft's linker scripts place .eh_frame_hdr, which unwinders use"),
    FlagRule("-O", J, FWD, "optimises the link's output; harmless"),
    FlagRule("--gc-sections", F, FWD, "drops unreferenced sections; Unikraft's scripts KEEP what boot needs"),
    FlagRule("--no-gc-sections", F, FWD, "the default"),
    FlagRule("--strip-debug", F, DROP, _WHY_STRIP),
    FlagRule("-S", F, DROP, _WHY_STRIP),
    FlagRule("--strip-all", F, DROP, _WHY_STRIP),
    FlagRule("-s", F, DROP, _WHY_STRIP),
    FlagRule("-pie", F, DROP, _WHY_PIE),
    FlagRule("--pic-executable", F, DROP, _WHY_PIE),
    FlagRule("-no-pie", F, DROP, _WHY_PIE),
    FlagRule("--no-pie", F, DROP, _WHY_PIE),
    FlagRule("-shared", F, REJ, _WHY_SHARED),
    FlagRule("--shared", F, REJ, _WHY_SHARED),
    FlagRule("-Bshareable", F, REJ, _WHY_SHARED),
    FlagRule("-r", F, REJ, "a relocatable object is not a unikernel"),
    FlagRule("--relocatable", F, REJ, "a relocatable object is not a unikernel"),
    FlagRule("-rpath", ES, DROP, "a run-time search path is for a dynamic loader; a unikernel has none"),
    FlagRule("-rpath-link", ES, DROP, "only locates shared libraries' dependencies"),
    FlagRule("--dynamic-linker", ES, DROP, "names the program interpreter; a unikernel has none"),
    FlagRule("-I", JS, DROP, "names the program interpreter; a unikernel has none"),
    FlagRule("-soname", ES, DROP, "names a shared object"),
    FlagRule("-h", JS, DROP, "names a shared object"),
    FlagRule("--export-dynamic", F, DROP, _WHY_DYNAMIC),
    FlagRule("-E", F, DROP, _WHY_DYNAMIC),
    FlagRule("--no-export-dynamic", F, DROP, _WHY_DYNAMIC),
    FlagRule("--dynamic-list", ES, DROP, _WHY_DYNAMIC),
    FlagRule("--version-script", ES, DROP, _WHY_DYNAMIC),
    FlagRule("--undefined-version", F, DROP, "only checks version scripts, which kraftld drops"),
    FlagRule("--no-undefined-version", F, DROP, "only checks version scripts, which kraftld drops"),
    FlagRule("--hash-style", ES, DROP, _WHY_DYNAMIC),
    FlagRule("--enable-new-dtags", F, DROP, _WHY_DYNAMIC),
    FlagRule("--disable-new-dtags", F, DROP, _WHY_DYNAMIC),
    FlagRule("--build-id", F, FWD, "records an id in the image"),
    FlagRule("--build-id=", J, FWD, "records an id in the image"),
    FlagRule("--start-group", F, FWD, _WHY_ORDERED),
    FlagRule("-(", F, FWD, _WHY_ORDERED),
    FlagRule("--end-group", F, FWD, _WHY_ORDERED),
    FlagRule("-)", F, FWD, _WHY_ORDERED),
    FlagRule("--whole-archive", F, FWD, _WHY_ORDERED),
    FlagRule("--no-whole-archive", F, FWD, _WHY_ORDERED),
    FlagRule("--push-state", F, FWD, _WHY_ORDERED),
    FlagRule("--pop-state", F, FWD, _WHY_ORDERED),
    FlagRule("--defsym", ES, FWD, "defines a symbol"),
    FlagRule("-u", JS, FWD, "forces a symbol to be pulled in from an archive"),
    FlagRule("--undefined", ES, FWD, "forces a symbol to be pulled in from an archive"),
    FlagRule("--require-defined", ES, FWD, "checks a symbol is defined"),
    FlagRule("--wrap", ES, FWD, "redirects a symbol"),
    FlagRule("-e", JS, REJ, _WHY_ENTRY),
    FlagRule("--entry", ES, REJ, _WHY_ENTRY),
    FlagRule("-m", JS, DROP, "Unikraft selects the linker emulation for its target"),
    FlagRule("-nostdlib", F, DROP, _WHY_FREESTANDING),
    FlagRule("--color-diagnostics", F, DROP, "an lld option; Unikraft links with GNU ld"),
    FlagRule("--no-color-diagnostics", F, DROP, "an lld option; Unikraft links with GNU ld"),
    FlagRule("-plugin", S, FWD, "gcc's LTO plugin"),
    FlagRule("-plugin-opt", ES, FWD, "an option for gcc's LTO plugin"),
)

UNKNOWN_LINKER_WHY = "not in kraftld's table: passed on for GNU ld to judge"

# `-l` names that are the C runtime a hosted program expects: the unikernel brings its own
# (nolibc or lib-musl), and the host's copies are dynamic glibc objects that would boot into a
# jump to address 0.
LIBC_LIBRARIES = {
    "c": "the C library is the unikernel's own (nolibc or lib-musl)",
    "m": "the math library is part of the unikernel's libc",
    "pthread": "threads come from the unikernel's libc and scheduler",
    "dl": "a unikernel loads no shared objects",
    "rt": "part of the unikernel's libc",
    "util": "part of the unikernel's libc",
    "resolv": "part of the unikernel's libc",
    "crypt": "part of the unikernel's libc",
    "gcc_s": "the shared libgcc is a host library; nothing links dynamically",
}
# `-lgcc` is freestanding compiler support (128-bit division and the like): gcc finds its own copy.
COMPILER_LIBRARIES = {"gcc": "freestanding compiler support; gcc finds it for Unikraft's link"}


def lookup_linker(word: str) -> FlagRule | None:
    """Find the rule for a linker word the way GNU ld's getopt_long_only reads it.

    ld takes a single-dash word as a long option first (`-gc-sections` is `--gc-sections`) and
    only then as a short option with its value glued on (`-lfoo`, `-znoexecstack`).
    """
    exact = _lookup_named(LINKER_RULES, word)
    if exact is not None:
        return exact
    if word.startswith("-") and not word.startswith("--") and len(word) > 2:
        as_long = _lookup_named(LINKER_RULES, "-" + word)
        if as_long is not None:
            return as_long
    return _lookup_prefix(LINKER_RULES, word)


def lookup_driver(arg: str) -> FlagRule | None:
    """Find the rule for a driver argument: its exact name first, then the longest prefix."""
    return _lookup_named(DRIVER_RULES, arg) or _lookup_prefix(DRIVER_RULES, arg)


def _lookup_named(table: dict[str, FlagRule], arg: str) -> FlagRule | None:
    rule = table.get(arg)
    if rule is not None:
        return rule
    if "=" in arg:
        rule = table.get(arg.split("=", 1)[0])
        if rule is not None and rule.form is Form.EQUALS_OR_SEPARATE:
            return rule
    return None


def _lookup_prefix(table: dict[str, FlagRule], arg: str) -> FlagRule | None:
    best: FlagRule | None = None
    for name, candidate in table.items():
        if candidate.form not in (Form.JOINED, Form.JOINED_OR_SEPARATE):
            continue
        if arg.startswith(name) and (best is None or len(name) > len(best.name)):
            best = candidate
    return best


def split_value(rule: FlagRule, arg: str) -> str | None:
    """The value glued to an argument, or None when the value is the next argument."""
    name = rule.name
    if name.startswith("--") and not arg.startswith("--"):
        arg = "-" + arg  # ld's single-dash spelling of a long option

    if rule.form is Form.JOINED:
        return arg[len(name) :]  # -g, -O: the value may be empty, never the next argument
    if arg == name:
        return None
    if rule.form is Form.EQUALS_OR_SEPARATE:
        return arg[len(name) + 1 :]
    return arg[len(name) :]
