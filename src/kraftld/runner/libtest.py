"""libtest's side of a test binary, read and written as text: its arguments, its progress lines,
its `--list` and its summary. Pure functions; aborted.py runs the boots.

On this panic=abort target the first panicking test ends the whole test binary (a host's
`-Zpanic-abort-tests` runs each test in a process of its own instead). To finish such a run the
runner must know, from what libtest printed, which tests are done, which one was running, and
how to ask for the rest; these are libtest's formats (library/test/src/formatters/pretty.rs and
cli.rs of Rust 1.96):
- `running N tests` opens a run; `test NAME ... ok|FAILED|ignored[, reason]` reports a test, and
  `test NAME - should panic ... ` names a should_panic test; with one test thread the name is
  printed when the test starts, so an abort leaves the running test's name last, unfinished;
- `failures:` sections, then `test result: ok|FAILED. P passed; F failed; I ignored; M measured;
  X filtered out; finished in Ts` close it;
- `--list` prints `NAME: test` (or `: benchmark`) per test left by the filters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

# libtest's options that take a value (cli.rs: optopt/optmulti); every other option is a flag.
VALUE_OPTIONS = frozenset({"--logfile", "--test-threads", "--skip", "--color", "--format", "-Z", "--shuffle-seed"})
# Options after which the run is no plain test run: nothing to finish.
NOT_A_RUN = frozenset({"--list", "--bench", "-h", "--help"})
# The output formats whose progress lines name the tests: terse prints one character per test,
# json and junit their own documents.
NAMING_FORMATS = frozenset({"pretty"})
RUN_HEADER = re.compile(r"^running ([0-9]+) tests?(?: \(shuffle seed: [0-9]+\))?$")
# `test NAME[ - MODE] ... RESULT[ <TIME>]`; MODE from TestDesc::test_mode().
_TEST_LINE = re.compile(r"^test (?P<name>.+?)(?P<mode> - (?:should panic|compile fail|compile))? \.\.\. (?P<rest>.*)$")
_RESULT = re.compile(r"^(?P<word>ok|FAILED(?: \(time limit exceeded\))?|ignored(?:, .*)?|bench: .*)(?: <[^>]*>)?$")
SUMMARY = re.compile(r"^test result: (?:ok|FAILED)\. .*; ([0-9]+) filtered out(?:;.*)?$")
# What lib-musl's abort() prints (its own abort.c: UK_CRASH("abort called")): the binary's last
# words, not the test's.
ABORT_NOTICE = re.compile(r"\[ *[0-9.]+\] CRIT: \[libmusl\] <abort\.c @ *[0-9]+> abort called\n?")
# Where libtest's image holds its own words: a binary without them is no libtest harness.
HARNESS_SIGNATURE = b"test result: "


@dataclass(frozen=True)
class HarnessArgs:
    """A test binary's arguments, split by what the runner must keep, replace or drop."""

    flags: tuple[str, ...]  # kept as given on every boot (--ignored, --nocapture, --color=never, ...)
    filters: tuple[str, ...]  # positional FILTERs, --skip and --exact: what selects tests
    threads: tuple[str, ...]  # --test-threads, replaced by one thread on later boots
    fmt: str  # pretty, terse, json or junit
    runs_tests: bool  # not --list, --bench or --help
    nocapture: bool


def split_args(args: Sequence[str]) -> HarnessArgs:
    flags: list[str] = []
    filters: list[str] = []
    threads: list[str] = []
    fmt = "pretty"
    runs = True
    nocapture = False
    words = list(args)
    at = 0
    while at < len(words):
        word = words[at]
        at += 1
        if word == "--":
            filters += words[at:]
            break
        if not word.startswith("-") or word == "-":
            filters.append(word)
            continue
        name, value = word, None
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
        elif word.startswith("-Z") and word != "-Z":
            name, value = "-Z", word[2:]
        group = [word]
        if name in VALUE_OPTIONS and value is None and at < len(words):
            value = words[at]
            group.append(value)
            at += 1
        if name in NOT_A_RUN:
            runs = False
        if name in ("-q", "--quiet"):
            fmt = "terse"
        if name == "--format" and value is not None:
            fmt = value
        if name in ("--nocapture", "--no-capture"):
            nocapture = True
        if name == "--test-threads":
            threads += group
        elif name in ("--skip", "--exact"):
            filters += group
        else:
            flags += group
    return HarnessArgs(tuple(flags), tuple(filters), tuple(threads), fmt, runs, nocapture)


@dataclass(frozen=True)
class Report:
    name: str
    should_panic: bool
    result: str | None  # "ok", "FAILED", "ignored, why", ... or None: started, not finished


@dataclass(frozen=True)
class Progress:
    """What one boot's output says about its test run."""

    started: int | None  # N of `running N tests`, None if libtest never started a run
    results: tuple[Report, ...]  # finished tests, in the order printed
    running: Report | None  # the test started last and not finished (one test thread)
    finished: bool  # the `test result:` line was printed: the binary did not abort
    filtered_out: int | None  # from that line
    failures: tuple[tuple[str, str], ...]  # (name, captured output) of its failures section
    region: str  # the run's own lines: from after `running N tests` up to its failures/summary


def read_progress(text: str) -> Progress:
    lines = text.split("\n")
    header = next((i for i, line in enumerate(lines) if RUN_HEADER.match(line)), None)
    if header is None:
        return Progress(None, (), None, False, None, (), "")
    started = int(RUN_HEADER.match(lines[header]).group(1))  # type: ignore[union-attr]
    results: list[Report] = []
    running: Report | None = None
    end = len(lines)
    finished = False
    filtered_out: int | None = None
    for index in range(header + 1, len(lines)):
        line = lines[index]
        summary = SUMMARY.match(line)
        if summary is not None or (line == "failures:" and index > 0 and lines[index - 1] == ""):
            end = index - 1 if lines[index - 1] == "" else index
            break
        match = _TEST_LINE.match(line)
        if match is not None:
            test = Report(match["name"], match["mode"] == " - should panic", None)
            result = _RESULT.match(match["rest"])
            if result is not None:
                results.append(Report(test.name, test.should_panic, result["word"]))
                running = None
            else:
                running = test  # started; what follows on the line is the test's own output
            continue
        result = _RESULT.match(line)
        if running is not None and result is not None:  # --nocapture: the result after the output
            results.append(Report(running.name, running.should_panic, result["word"]))
            running = None
    tail = lines[end:]
    for line in tail:
        summary = SUMMARY.match(line)
        if summary is not None:
            finished = True
            filtered_out = int(summary.group(1))
    failures = _failures(tail) if finished else ()
    region = "\n".join(lines[header + 1 : end])
    if finished:
        running = None
    return Progress(started, tuple(results), running, finished, filtered_out, failures, region)


def _failures(lines: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """The `---- NAME stdout ----` blocks of a failures section."""
    found: list[tuple[str, str]] = []
    name: str | None = None
    body: list[str] = []
    for line in lines:
        block = re.match(r"^---- (.+) stdout ----$", line)
        if block is not None or line == "failures:" or line.startswith("test result: "):
            if name is not None:
                found.append((name, "\n".join(body).rstrip("\n") + "\n"))
            name, body = (block.group(1), []) if block is not None else (None, [])
            continue
        if name is not None:
            body.append(line)
    return tuple(found)


def without_abort_notice(text: str) -> str:
    """`text` without lib-musl's `abort called` line (it follows whatever was printed last, on
    the same line): what the program itself printed."""
    return ABORT_NOTICE.sub("", text)


_STARTED_PREFIX = re.compile(r"^test .+? \.\.\. ")


def ending_newline(region: str) -> str:
    """A run's progress lines as they go on the output; an unfinished last line stays open."""
    if not region or region.endswith(" ... ") or region.endswith("\n"):
        return region
    return region + "\n"


class RegionStream:
    """A boot's progress lines shown as they arrive: in pieces, exactly what
    `ending_newline(read_progress(without_abort_notice(stdout)).region)` gives at the end, each
    line looked at once (a test printing megabytes under --nocapture stays linear).

    Only what cannot change any more is let out: complete lines (lib-musl's abort notice taken
    out: it ends a line, and what follows it continues that line), and of an unfinished line its
    `test NAME ... ` (libtest prints it when the test starts). Blank lines wait for the next
    line: the one before `failures:` or the summary is not the run's."""

    def __init__(self) -> None:
        self._raw = ""  # received after the last newline
        self._carry = ""  # a line's start whose newline went with the abort notice
        self._phase = "before"  # before the `running N tests` line, in the run, or done
        self._blanks = 0  # blank lines held
        self._partial = ""  # the start of the unfinished line already shown
        self._any = False  # a line of the run was shown
        self._owed = False  # the last line shown ends in ` ... `: its newline waits, as a blank does

    def feed(self, chunk: str) -> str:
        if self._phase == "done":
            return ""
        self._raw += chunk
        out: list[str] = []
        while self._phase != "done" and "\n" in self._raw:
            raw, self._raw = self._raw.split("\n", 1)
            clean = without_abort_notice(raw + "\n")
            if not clean.endswith("\n"):
                self._carry += clean
                continue
            line, self._carry = self._carry + clean[:-1], ""
            out.append(self._line(line))
        if self._phase == "in":
            started = _STARTED_PREFIX.match(self._carry + self._raw)
            if started and len(started[0]) > len(self._partial):
                out.append(self._flush_blanks() + started[0][len(self._partial) :])
                self._partial = started[0]
        return "".join(out)

    def finish(self) -> str:
        """The rest, once the boot has ended."""
        if self._phase != "in":
            return ""
        self._phase = "done"
        last = self._carry + without_abort_notice(self._raw)
        if SUMMARY.match(last):
            self._phase = "in"
            return self._line(last)
        ending = "\n" if last and not last.endswith(" ... ") else ""
        return self._flush_blanks() + last[len(self._partial) :] + ending if last else self._flush_blanks()

    def _line(self, line: str) -> str:
        if self._phase == "before":
            if RUN_HEADER.match(line):
                self._phase = "in"
            return ""
        if SUMMARY.match(line) or (line == "failures:" and self._blanks):
            # The blank line before the end is not the run's; the ones before it are, and the
            # run's last line gets its newline (ending_newline) unless it ends in ` ... `.
            self._phase = "done"
            if self._owed:
                return "\n" * max(self._blanks - 1, 0)
            return "\n" * max(self._blanks - 2, 0)
        if not line:
            self._blanks += 1
            return ""
        text = self._flush_blanks() + line[len(self._partial) :]
        self._partial = ""
        self._owed = line.endswith(" ... ")
        return text if self._owed else text + "\n"

    def _flush_blanks(self) -> str:
        """The held blank lines (and a newline owed), now that a line follows them."""
        blanks = "\n" * (self._blanks + self._owed)
        self._blanks = 0
        self._owed = False
        self._any = True
        return blanks


def read_list(text: str) -> tuple[str, ...]:
    """The test names `--list` printed, in its order."""
    names = []
    for line in text.split("\n"):
        for kind in (": test", ": benchmark"):
            if line.endswith(kind):
                names.append(line[: -len(kind)])
                break
    return tuple(names)


def list_args(harness: HarnessArgs) -> tuple[str, ...]:
    """The user's selection, listed: which tests the run was to run."""
    return (*harness.flags, *harness.filters, "--list")


def exact_args(harness: HarnessArgs, names: Sequence[str], nocapture: bool = False) -> tuple[str, ...]:
    """Run exactly `names`, one at a time, with the user's other options."""
    extra = ("--nocapture",) if nocapture and not harness.nocapture else ()
    return (*harness.flags, *extra, "--test-threads=1", "--exact", *names)


@dataclass(frozen=True)
class Tally:
    passed: int = 0
    failed: int = 0
    ignored: int = 0
    measured: int = 0


def tally(results: Sequence[Report]) -> Tally:
    passed = sum(1 for r in results if r.result == "ok")
    failed = sum(1 for r in results if r.result is not None and r.result.startswith("FAILED"))
    ignored = sum(1 for r in results if r.result is not None and r.result.startswith("ignored"))
    measured = sum(1 for r in results if r.result is not None and r.result.startswith("bench"))
    return Tally(passed, failed, ignored, measured)


def render_summary(
    results: Sequence[Report], failures: Sequence[tuple[str, str]], filtered_out: int, seconds: float
) -> str:
    """libtest's closing lines for the whole run (PrettyFormatter::write_run_finish)."""
    counts = tally(results)
    text = ""
    if counts.failed:
        text += "\nfailures:\n"
        stdouts = "".join(f"---- {name} stdout ----\n{output}\n" for name, output in failures if output)
        if stdouts:
            text += "\n" + stdouts
        text += "\nfailures:\n"
        text += "".join(f"    {r.name}\n" for r in sorted(results, key=lambda r: r.name) if _failed(r))
    word = "FAILED" if counts.failed else "ok"
    text += (
        f"\ntest result: {word}. {counts.passed} passed; {counts.failed} failed; {counts.ignored} ignored; "
        f"{counts.measured} measured; {filtered_out} filtered out; finished in {seconds:.2f}s\n\n"
    )
    return text


def _failed(result: Report) -> bool:
    return result.result is not None and result.result.startswith("FAILED")


def aborted_result(test: Report) -> Report:
    """A test that ended the binary: a should_panic test did what it should; any other failed."""
    return Report(test.name, test.should_panic, "ok" if test.should_panic else "FAILED")


def line_of(test: Report) -> str:
    mode = " - should panic" if test.should_panic else ""
    return f"test {test.name}{mode} ... {test.result}\n"


# std's default panic hook (library/std/src/panicking.rs, default_hook) writes
# `\nthread 'NAME' (ID) panicked at FILE:LINE:COL:\nMESSAGE\n` and then its backtrace note, or
# the backtrace itself when RUST_BACKTRACE asks; MESSAGE is the payload when it is a &str or a
# String, `Box<dyn Any>` otherwise (payload_as_str).
_PANIC_HEADER = re.compile(r"^thread '.*'(?: \([0-9]+\))? panicked at .*:$", re.MULTILINE)
_PANIC_TAILS = ("\nnote: run with `RUST_BACKTRACE=", "\nstack backtrace:\n")
NON_STRING_PAYLOAD = "Box<dyn Any>"


def panic_message(stderr: str) -> str | None:
    """The message of the last panic std's hook reported in `stderr` (on this target the panic
    that ended the binary), or None when there is none (a hook of the test's own, say)."""
    headers = list(_PANIC_HEADER.finditer(stderr))
    if not headers:
        return None
    body = stderr[headers[-1].end() + 1 :]
    cut = min((at for at in (body.find(tail) for tail in _PANIC_TAILS) if at != -1), default=None)
    if cut is not None:
        return body[:cut]
    return body[:-1] if body.endswith("\n") else body


@dataclass(frozen=True)
class PanicVerdict:
    result: str  # ok or FAILED
    note: str  # what libtest says of a failure (its TrFailedMsg), empty when ok


def judge_panic(expected: str, message: str) -> PanicVerdict:
    """libtest's verdict on a should_panic(expected = ...) test that panicked with `message`
    (test_result.rs, calc_result): the message must contain the expected text."""
    if expected in message:
        return PanicVerdict("ok", "")
    if message == NON_STRING_PAYLOAD:
        # std's hook prints this for a payload that is no string; libtest then names the
        # payload's TypeId, which the guest's output does not tell.
        return PanicVerdict(
            "FAILED",
            f"expected panic with string value,\n found non-string value: `{NON_STRING_PAYLOAD}`\n"
            f"     expected substring: {rust_debug_str(expected)}",
        )
    return PanicVerdict(
        "FAILED",
        "panic did not contain expected string\n"
        f"      panic message: {rust_debug_str(message)}\n"
        f" expected substring: {rust_debug_str(expected)}",
    )


_DEBUG_ESCAPES = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"'}


def rust_debug_str(text: str) -> str:
    """`text` as Rust's `{:?}` writes a str (core's char::escape_debug_ext): quoted, the few
    named escapes, `\\u{..}` for what is not printable or combines with the char before it.
    Python's isprintable() and combining() stand in for core's own Unicode tables."""
    out = []
    for char in text:
        if char in _DEBUG_ESCAPES:
            out.append(_DEBUG_ESCAPES[char])
        elif (char.isprintable() or char == " ") and not unicodedata.combining(char):
            out.append(char)
        else:
            out.append(f"\\u{{{ord(char):x}}}")
    return '"' + "".join(out) + '"'
