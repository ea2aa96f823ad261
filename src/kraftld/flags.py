"""The one table of what kraftld does with each flag of a gcc-style line, and why.

A link line has two layers, as in gcc: driver flags that gcc itself understands (`-o`, `-L`, `-pie`,
`-Wl,…`) and the linker words gcc hands on to ld (everything inside `-Wl,` and `-Xlinker`, plus
inputs and `-l`). Each layer has its own table. Every entry says how the flag is spelled (its
form), what kraftld does with it (forward to Unikraft's final link, drop, or reject with an error)
and why — `kraftld --explain-flags` prints the tables, and the README is written from them.

gcc's table is read from both of kraftld's sides: kraftld's link judges a row by its action, and
kraftld-cc sends a row to the compile, the link or both by its phase (`GCC_OPTIONS`; the link's
view of it is `DRIVER_RULES`). A row only compiling reads (`-MD`, `-include`) has no link action:
kraftld-cc never hands it to the link, and kraftld, given one, refuses it as an unknown flag.

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


class Phase(Enum):
    """Which of kraftld-cc's two steps one of gcc's options goes to."""

    COMPILE = "compile"  # given to gcc when compiling or preprocessing, never to the link
    LINK = "link"  # given to kraftld, never to gcc's compile
    BOTH = "both"  # gcc judges it when compiling, kraftld when linking


@dataclass(frozen=True)
class FlagRule:
    """What kraftld's link does with a flag: a row of ld's table, or the link's view of a row of gcc's."""

    name: str
    form: Form
    action: Action
    why: str
    role: Role = Role.PLAIN

    @property
    def takes_value(self) -> bool:
        return self.form is not Form.FLAG


@dataclass(frozen=True)
class GccOption:
    """One of gcc's own options, seen from both sides: the phase says which of kraftld-cc's steps
    get it, the action what kraftld's link does with it (None: the link does not take it)."""

    name: str
    form: Form
    phase: Phase
    action: Action | None
    why: str
    role: Role = Role.PLAIN


def _rules(*rules: FlagRule) -> dict[str, FlagRule]:
    return {rule.name: rule for rule in rules}


F, J, S, JS, ES = Form.FLAG, Form.JOINED, Form.SEPARATE, Form.JOINED_OR_SEPARATE, Form.EQUALS_OR_SEPARATE
FWD, DROP, REJ = Action.FORWARD, Action.DROP, Action.REJECT
C, L, B = Phase.COMPILE, Phase.LINK, Phase.BOTH

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

_WHY_PRE = "a preprocessor option: only compiling reads it"
_WHY_DEP = "dependency output (make's .d files): written while compiling"
_WHY_WARN = "a warning option: only compiling warns"
_WHY_STANDARD = "the language standard: only compiling reads it"

# gcc's options, in the order `kraftld --explain-flags` lists those the link judges. Matched by
# exact name first, then by the longest name a joined value starts with ("-MF" before "-M",
# "-Wl," before "-W"): kraftld's link among the rows with an action, kraftld-cc among them all.
# An option in no row goes to both of kraftld-cc's steps, and kraftld's link refuses it.
GCC_OPTIONS: tuple[GccOption, ...] = (
    GccOption("-o", JS, B, FWD, "names the image; kraftld writes it and its .dbg", Role.OUTPUT),
    GccOption("-l", JS, L, FWD, "kraftld resolves it to a static archive in the -L folders", Role.LIBRARY),
    GccOption("-L", JS, L, FWD, "a folder -l searches", Role.SEARCH_DIR),
    GccOption("-Wl,", J, L, FWD, "linker words, each judged by the linker table", Role.LINKER_GROUP),
    GccOption("-Xlinker", S, L, FWD, "one linker word, judged by the linker table", Role.LINKER_WORD),
    GccOption("-T", JS, L, FWD, "an extra linker script, added after Unikraft's own", Role.SCRIPT),
    GccOption("-e", JS, L, REJ, _WHY_ENTRY),
    GccOption("-u", JS, L, FWD, "forces a symbol to be pulled in from an archive"),
    GccOption("-z", JS, L, FWD, "a linker keyword, judged by the linker table", Role.Z_KEYWORD),
    GccOption("-shared", F, L, REJ, _WHY_SHARED),
    GccOption("-r", F, L, REJ, "a relocatable object is not a unikernel; link it into one instead"),
    # -c, -S and -E are kraftld-cc's modes (cc/arguments.py): the words go to the compile.
    GccOption("-c", F, C, REJ, "kraftld links; compile with your compiler first"),
    GccOption("-S", F, C, REJ, "kraftld links; compile with your compiler first"),
    GccOption("-E", F, C, REJ, "kraftld links; preprocess with your compiler"),
    # kraftld-cc follows -x to tell sources from link inputs; each source's compile names it again.
    GccOption("-x", JS, C, REJ, "kraftld links object files and archives, not sources"),
    GccOption("-static", F, L, DROP, _WHY_STATIC),
    GccOption("-static-pie", F, L, DROP, _WHY_PIE),
    GccOption("-pie", F, L, DROP, _WHY_PIE),
    GccOption("-no-pie", F, L, DROP, _WHY_PIE),
    GccOption("-rdynamic", F, L, DROP, _WHY_DYNAMIC),
    GccOption("-nodefaultlibs", F, L, DROP, _WHY_FREESTANDING),
    GccOption("-nostdlib", F, L, DROP, _WHY_FREESTANDING),
    GccOption("-nostartfiles", F, L, DROP, _WHY_FREESTANDING),
    GccOption("-nolibc", F, B, DROP, _WHY_FREESTANDING),
    GccOption("-static-libgcc", F, L, DROP, _WHY_STATIC),
    GccOption("-static-libstdc++", F, B, DROP, _WHY_STATIC),
    GccOption("-shared-libgcc", F, L, DROP, "the shared libgcc is a host library; nothing links dynamically"),
    GccOption("-pthread", F, B, DROP, "threads come from the unikernel's own libc and scheduler"),
    GccOption("-s", F, L, DROP, _WHY_STRIP),
    GccOption("-fuse-ld=", J, L, DROP, _WHY_LLD),
    GccOption("-B", JS, B, DROP, "only tells gcc where to find another linker (rustc's gcc-ld for lld)"),
    GccOption("--sysroot=", J, B, DROP, "kraftld never searches system folders: host libraries are not unikernel code"),
    GccOption("--sysroot", S, B, DROP, "kraftld never searches system folders: host libraries are not unikernel code"),
    GccOption("-fsanitize=", J, B, REJ, "sanitizer runtimes are host libraries; Unikraft has its own (ubsan, kasan)"),
    GccOption("--coverage", F, B, REJ, "the gcov runtime is a host library; Unikraft has its own (ukgcov)"),
    GccOption("-fprofile-arcs", F, B, REJ, "the gcov runtime is a host library; Unikraft has its own (ukgcov)"),
    GccOption("-f", J, B, FWD, "code-generation flag: harmless at link time, used by gcc for -flto"),
    GccOption("-m64", F, B, FWD, "the unikernel targets x86_64"),
    GccOption("-m32", F, B, REJ, "kraftld builds x86_64 unikernels; 32-bit objects cannot join them"),
    GccOption("-mx32", F, B, REJ, "kraftld builds x86_64 unikernels; x32 objects cannot join them"),
    GccOption("-m", J, B, FWD, "target flag: harmless at link time, used by gcc for -flto"),
    GccOption("-O", J, B, FWD, "optimisation level: harmless at link time, used by gcc for -flto"),
    GccOption("-g", J, B, FWD, "debug-info flag: harmless at link time"),
    GccOption("-std=", J, C, DROP, _WHY_COMPILE),
    GccOption("-ansi", F, C, None, _WHY_STANDARD),
    GccOption("-W", J, C, DROP, "a warning flag: " + _WHY_COMPILE),
    GccOption("-w", F, C, None, "silences warnings: only compiling warns"),
    GccOption("-pedantic", F, C, None, _WHY_WARN),
    GccOption("-pedantic-errors", F, C, None, _WHY_WARN),
    GccOption("-Wp,", J, C, None, "words for the preprocessor"),
    GccOption("-Wa,", J, C, None, "words for the assembler"),
    GccOption("-Xpreprocessor", S, C, None, "a word for the preprocessor"),
    GccOption("-Xassembler", S, C, None, "a word for the assembler"),
    GccOption("-I", JS, C, DROP, _WHY_COMPILE),
    GccOption("-isystem", JS, C, DROP, _WHY_COMPILE),
    GccOption("-D", JS, C, DROP, _WHY_COMPILE),
    GccOption("-U", JS, C, DROP, _WHY_COMPILE),
    GccOption("-iquote", JS, C, None, _WHY_PRE),
    GccOption("-idirafter", JS, C, None, _WHY_PRE),
    GccOption("-iprefix", JS, C, None, _WHY_PRE),
    GccOption("-iwithprefix", JS, C, None, _WHY_PRE),
    GccOption("-iwithprefixbefore", JS, C, None, _WHY_PRE),
    GccOption("-isysroot", JS, C, None, _WHY_PRE),
    GccOption("-imultilib", JS, C, None, _WHY_PRE),
    GccOption("-include", JS, C, None, _WHY_PRE),
    GccOption("-imacros", JS, C, None, _WHY_PRE),
    GccOption("-undef", F, C, None, _WHY_PRE),
    GccOption("-C", F, C, None, _WHY_PRE),
    GccOption("-CC", F, C, None, _WHY_PRE),
    GccOption("-P", F, C, None, _WHY_PRE),
    GccOption("-H", F, C, None, _WHY_PRE),
    GccOption("-dD", F, C, None, _WHY_PRE),
    GccOption("-dM", F, C, None, "prints the predefined macros (with -E)"),
    GccOption("-nostdinc", F, C, None, "kraftld-cc gives the unikernel's headers in place of the host's already"),
    GccOption("-M", F, C, None, "prints dependencies instead of compiling (preprocessing only)"),
    GccOption("-MM", F, C, None, "prints dependencies but the system headers' instead of compiling"),
    GccOption("-MF", JS, C, None, _WHY_DEP),
    GccOption("-MT", JS, C, None, _WHY_DEP),
    GccOption("-MQ", JS, C, None, _WHY_DEP),
    GccOption("-MD", F, C, None, _WHY_DEP),
    GccOption("-MMD", F, C, None, _WHY_DEP),
    GccOption("-MP", F, C, None, _WHY_DEP),
    GccOption("-MG", F, C, None, _WHY_DEP),
    GccOption("--param", S, C, None, "tunes gcc's optimiser: only compiling reads it"),
    GccOption("-pipe", F, C, None, "pipes between gcc's own compile stages"),
    GccOption("-save-temps", F, C, None, "keeps gcc's intermediate files"),
    GccOption("-v", F, B, DROP, "kraftld's own: report each decision and every command", Role.VERBOSE),
    GccOption("--verbose", F, B, DROP, "kraftld's own: report each decision and every command", Role.VERBOSE),
    GccOption("--version", F, B, DROP, "kraftld's own: print its version", Role.VERSION),
    GccOption("--help", F, B, DROP, "kraftld's own: print usage", Role.HELP),
    GccOption("-h", F, B, DROP, "kraftld's own: print usage", Role.HELP),
)
# The rows kraftld's link judges, by name, as its parser reads them.
DRIVER_RULES: dict[str, FlagRule] = _rules(
    *(FlagRule(o.name, o.form, o.action, o.why, o.role) for o in GCC_OPTIONS if o.action is not None)
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
