"""Parses a gcc-style link line into what the unikernel link needs, pure and table-driven.

The parser works in gcc's two layers. Driver arguments are judged by `flags.DRIVER_RULES`; what gcc
would hand to ld (inputs, `-l`, `-L`, the words of `-Wl,` and `-Xlinker`) becomes a stream of
linker words judged by `flags.LINKER_RULES`, so an option's value may come from the next `-Wl,`
group exactly as it would for ld. Nothing here touches the file system: checking that inputs exist
and resolving `-l` is the next stage's work (`resolve`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from . import flags
from .errors import UsageError
from .flags import Action, FlagRule, Role

# The line's values are importable from here too: the parser and its results are read together.
from .linkitems import (
    Decision,
    DriverFlag,
    InputFile,
    LibraryRef,
    LinkerOption,
    LinkerOutputFile,
    LinkerScript,
    LinkItem,
    LinkLine,
    Request,
)

__all__ = [
    "Decision",
    "DriverFlag",
    "InputFile",
    "LibraryRef",
    "LinkItem",
    "LinkLine",
    "LinkerOption",
    "LinkerOutputFile",
    "LinkerScript",
    "Request",
    "parse_link_line",
]


@dataclass(frozen=True)
class _LinkerWord:
    word: str
    origin: str  # the driver argument it came from, for messages
    position: int = -1  # the argument's index on the line, when the word is the whole argument


@dataclass
class _State:
    output: str | None = None
    items: list[LinkItem | _LinkerWord] = field(default_factory=list)
    search_dirs: list[str] = field(default_factory=list)
    # (position, decision): driver decisions are made in the first pass and linker decisions in
    # the second, so each is tagged with where it stands on the line and sorted at the end.
    decisions: list[tuple[float, Decision]] = field(default_factory=list)
    position: float = 0.0
    verbose: bool = False
    request: Request = Request.LINK

    def record(self, argument: str, action: Action, why: str) -> None:
        self.decisions.append((self.position, Decision(argument, action, why)))

    def decide(self, argument: str, rule: FlagRule) -> None:
        self.record(argument, rule.action, rule.why)

    def set_output(self, path: str, origin: str) -> None:
        if self.output is not None:
            raise UsageError(
                f"the output is named twice: {self.output!r} and {path!r} ({origin})",
                "give -o once: kraftld writes one image per link",
            )
        if not path:
            raise UsageError("-o names an empty path", "give -o the image's path")
        self.output = path


def parse_link_line(args: Sequence[str]) -> LinkLine:
    """Parse an expanded link line (no `@file` left) into a LinkLine."""
    state = _State()
    _parse_driver(args, state)
    items = _parse_linker_words(state)
    return LinkLine(
        output=state.output,
        items=tuple(items),
        search_dirs=tuple(state.search_dirs),
        decisions=tuple(d for _, d in sorted(state.decisions, key=lambda pair: pair[0])),
        verbose=state.verbose,
        request=state.request,
    )


def _reject(argument: str, rule: FlagRule) -> UsageError:
    return UsageError(
        f"{argument}: not supported in a unikernel link: {rule.why}",
        f"remove {rule.name.rstrip('=,')} from the link line (`kraftld --explain-flags` lists every decision)",
    )


def _take_value(rule: FlagRule, arg: str, rest: Iterator[str]) -> tuple[str, tuple[str, ...]]:
    """Return the flag's value and the arguments it was spelled with, consuming the next if needed."""
    value = flags.split_value(rule, arg)
    if value is not None:
        return value, (arg,)
    try:
        value = next(rest)
    except StopIteration:
        raise UsageError(f"{arg} needs a value and none follows", f"put the value after {arg}") from None
    return value, (arg, value)


def _parse_driver(args: Sequence[str], state: _State) -> None:
    rest = iter(enumerate(args))
    for index, arg in rest:
        if arg == "-" or not arg.startswith("-"):
            if arg == "-":
                raise UsageError(
                    "reading an input from standard input (-) is not supported",
                    "write the object to a file and name it",
                )
            state.items.append(_LinkerWord(arg, arg, index))
            continue
        rule = flags.lookup_driver(arg)
        if rule is None:
            raise UsageError(
                f"unknown flag {arg}",
                "pass linker options as -Wl,OPTION; `kraftld --explain-flags` lists the flags kraftld knows",
            )
        if rule.action is Action.REJECT:
            raise _reject(arg, rule)
        value, spelled = _take_value(rule, arg, (word for _, word in rest)) if rule.takes_value else ("", (arg,))
        _apply_driver_rule(rule, value, spelled, state)


def _apply_driver_rule(rule: FlagRule, value: str, spelled: tuple[str, ...], state: _State) -> None:
    role = rule.role
    shown = " ".join(spelled)
    state.position = len(state.items) - 0.5
    if role is Role.LINKER_GROUP:
        # gcc splits -Wl, at every comma; each word is judged on its own later.
        state.items.extend(_LinkerWord(word, shown) for word in value.split(",") if word)
        return
    if role is Role.LINKER_WORD:
        state.items.append(_LinkerWord(value, shown))
        return
    if role in (Role.OUTPUT, Role.SCRIPT, Role.Z_KEYWORD):
        # The same meaning as ld's own option: hand it to the linker layer.
        name = {Role.OUTPUT: "-o", Role.SCRIPT: "-T", Role.Z_KEYWORD: "-z"}[role]
        state.items.extend((_LinkerWord(name, shown), _LinkerWord(value, shown)))
        return
    if role is Role.LIBRARY:
        if not value:
            raise UsageError(f"{shown}: -l needs a library name", "write -lNAME or -l:FILE")
        state.items.append(_LinkerWord(f"-l{value}", shown))
        return
    if role is Role.SEARCH_DIR:
        state.items.extend((_LinkerWord("-L", shown), _LinkerWord(value, shown)))
        return
    state.decide(shown, rule)
    if role is Role.VERBOSE:
        state.verbose = True
    elif role is Role.VERSION:
        state.request = Request.VERSION
    elif role is Role.HELP:
        state.request = Request.HELP
    elif rule.action is Action.FORWARD:
        state.items.append(DriverFlag(spelled))


def _parse_linker_words(state: _State) -> list[LinkItem]:
    items: list[LinkItem] = []
    stream = state.items
    index = 0
    while index < len(stream):
        entry = stream[index]
        state.position = index
        index += 1
        if not isinstance(entry, _LinkerWord):
            items.append(entry)
            continue
        word = entry.word
        if not word.startswith("-") or word == "-":
            items.append(InputFile(word, entry.position))
            state.record(word, Action.FORWARD, "an input: staged for Unikraft's final link")
            continue
        rule = flags.lookup_linker(word)
        if rule is None:
            items.append(LinkerOption((word,)))
            state.record(_shown(word, entry), Action.FORWARD, flags.UNKNOWN_LINKER_WHY)
            continue
        if rule.action is Action.REJECT:
            raise _reject(_shown(word, entry), rule)
        value = ""
        shown = word
        if rule.takes_value:
            glued = flags.split_value(rule, word)
            if glued is not None:
                value = glued
            else:
                index = _next_linker_word(stream, index)
                if index >= len(stream):
                    raise UsageError(
                        f"linker option {word} needs a value and none follows ({entry.origin})",
                        f"pass its value too, as -Wl,{word},VALUE",
                    )
                next_entry = stream[index]
                assert isinstance(next_entry, _LinkerWord)
                value = next_entry.word
                shown = f"{word} {value}"
                index += 1
        _apply_linker_rule(rule, word, value, _shown(shown, entry), state, items)
    return items


def _next_linker_word(stream: Sequence[LinkItem | _LinkerWord], index: int) -> int:
    while index < len(stream) and not isinstance(stream[index], _LinkerWord):
        index += 1
    return index


def _shown(text: str, entry: _LinkerWord) -> str:
    return text if entry.origin in (text, entry.word) else f"{text} (from {entry.origin})"


def _apply_linker_rule(rule: FlagRule, word: str, value: str, shown: str, state: _State, items: list[LinkItem]) -> None:
    role = rule.role
    if role is Role.OUTPUT:
        state.set_output(value, shown)
        state.decide(shown, rule)
    elif role is Role.LIBRARY:
        _add_library(value, shown, state, items)
    elif role is Role.SEARCH_DIR:
        state.search_dirs.append(value)
        state.decide(shown, rule)
    elif role is Role.SCRIPT:
        items.append(LinkerScript(value))
        state.decide(shown, rule)
    elif role is Role.OUTPUT_FILE:
        items.append(LinkerOutputFile(rule.name, value))
        state.decide(shown, rule)
    elif role is Role.Z_KEYWORD:
        why = flags.Z_DROPPED.get(value)
        if why is None:
            items.append(LinkerOption(("-z", value)))
            state.record(shown, Action.FORWARD, flags.Z_FORWARD_WHY)
        else:
            state.record(shown, Action.DROP, why)
    else:
        state.decide(shown, rule)
        if rule.action is Action.FORWARD:
            glued = flags.split_value(rule, word) is not None if rule.takes_value else True
            items.append(LinkerOption((word,) if glued else (word, value)))


def _add_library(spec: str, shown: str, state: _State, items: list[LinkItem]) -> None:
    if not spec:
        raise UsageError(f"{shown}: -l needs a library name", "write -lNAME or -l:FILE")
    if spec.startswith(":"):
        items.append(LibraryRef(spec[1:], verbatim=True))
        state.record(shown, Action.FORWARD, "resolved to the file of that name in the -L folders")
        return
    why = flags.LIBC_LIBRARIES.get(spec)
    if why is not None:
        state.record(shown, Action.DROP, why)
        return
    why = flags.COMPILER_LIBRARIES.get(spec)
    if why is not None:
        items.append(LinkerOption((f"-l{spec}",)))
        state.record(shown, Action.FORWARD, why)
        return
    items.append(LibraryRef(spec))
    state.record(shown, Action.FORWARD, "resolved to lib" + spec + ".a in the -L folders")
