"""Finishes a libtest run that a panicking test aborted, as `-Zpanic-abort-tests` would on a host:
the tests not yet done run in further boots, one test thread each, and the run ends with one
libtest summary and libtest's status (0, or 101 when a test failed).

On this target panic=abort holds for tests too: the first panic — a `#[should_panic]` test doing
what it should, a `catch_unwind` test, any failing assertion — ends the whole binary (status 134).
What happens then:
1. the first boot ran as the user asked, its output already shown; the test it printed last
   without a result (with one test thread libtest names a test when it starts) is the one that
   aborted: `FAILED` unless it was a should_panic test. A should_panic test is judged as
   libtest's calc_result would: `ok` for any panic, or — with `expected = "TEXT"` (read from
   the binary once per run, describe.py) — only when its panic message, from one more boot of
   it alone with `--nocapture`, contains TEXT; else `FAILED` with libtest's note. A binary built
   with -Zpanic-abort-tests judges it itself: one boot in libtest's secondary mode;
2. one boot with the user's filters and `--list` names the tests the run was to run;
3. the rest run by name (`--exact`, `--test-threads=1`), as many per boot as the kernel command
   line holds, again and again until none is left, each abort decided as in 1;
4. a test that failed by aborting printed nothing (libtest captured its panic message, and the
   abort lost it): it boots once more alone with `--nocapture`, and that output is its
   `---- NAME stdout ----` block (its stderr after `---- NAME stderr ----`), as libtest shows a
   failed test's output under `-Zpanic-abort-tests`.
Every boot goes through the `Boot` the caller gives (boot.py's real one, a fake in tests).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ..errors import RunError
from . import libtest
from .describe import Expectations
from .libtest import HarnessArgs, Progress, Report
from .qemu import CRASH_STATUS, Ending, Outcome

Write = Callable[[str], None]
Environment = tuple[tuple[str, str], ...]  # variables (name, value) for the guest


class Boot(Protocol):
    """A boot of the same image with other program arguments (and these variables more in its
    environment): its outcome, its stdout, its stderr; `out` and `err`, when given, receive the
    same text as it arrives."""

    def __call__(
        self,
        args: tuple[str, ...],
        out: Write | None = None,
        err: Write | None = None,
        env: Environment = (),
    ) -> tuple[Outcome, str, str]: ...


# libtest's secondary mode (lib.rs, test_main_static_abort): with this variable set to a test's
# name the binary runs that test alone, judges it in its panic hook and exits with TR_OK
# (test_result.rs), or aborts with libtest's note on stderr.
INVOKE_VARIABLE = "__RUST_TEST_INVOKE"
TR_OK = 50
# A binary built with -Zpanic-abort-tests runs each test in a child process, which the guest
# cannot spawn ("Failed to spawn ... as child for test"): libtest's unstable
# --force-run-in-process runs them in-process instead, and libtest takes unstable options only
# with RUSTC_BOOTSTRAP set in its own environment (cli.rs, is_nightly).
IN_PROCESS_ARGS = ("-Zunstable-options", "--force-run-in-process")
IN_PROCESS_ENV = ("RUSTC_BOOTSTRAP", "1")


def in_process(args: Sequence[str], env: Sequence[tuple[str, str]]) -> tuple[tuple[str, ...], Environment]:
    """The arguments and environment that make a -Zpanic-abort-tests binary run its tests in
    one process, as a plain test binary does, when it is to run tests at all."""
    if not libtest.split_args(args).runs_tests:
        return tuple(args), tuple(env)
    bootstrap = () if any(name == IN_PROCESS_ENV[0] for name, _ in env) else (IN_PROCESS_ENV,)
    return (*IN_PROCESS_ARGS, *args), (*env, *bootstrap)


# Whether these program arguments fit the image's kernel command line.
Fits = Callable[[tuple[str, ...]], bool]
# Each should_panic test's expected text (None: any panic will do), or why it cannot be known;
# and how many boots reading it took.
ReadExpectations = Callable[[], "tuple[Expectations | str, int]"]
TEST_FAILED_STATUS = 101  # libtest's status when a test failed


def should_finish(args: Sequence[str], outcome: Outcome, output: str) -> bool:
    """A libtest run in pretty format that started and ended in a crash before its summary."""
    harness = libtest.split_args(args)
    if outcome.ending is not Ending.CRASHED or not harness.runs_tests or harness.fmt not in libtest.NAMING_FORMATS:
        return False
    progress = libtest.read_progress(output)
    return progress.started is not None and not progress.finished


@dataclass
class _Run:
    """The run as it grows, boot by boot."""

    results: list[Report]
    failures: list[tuple[str, str]]
    aborted_failures: list[str]
    aborts: int = 0
    boots: int = 0
    expectations: Expectations | str | None = None  # read at the first should_panic abort
    checked: int = 0  # should_panic tests whose message was compared with their expected text
    unchecked: list[str] = field(default_factory=list)  # why a should_panic test's text was not


def finish_run(
    args: Sequence[str],
    first_output: str,
    boot: Boot,
    fits: Fits,
    write: Write,
    elapsed: Callable[[], float],
    write_err: Write = lambda _: None,
    expectations: ReadExpectations = lambda: ("the runner cannot read the test binary's expectations", 0),
    invoke: bool = False,
) -> Outcome:
    """Finish the run whose first boot printed `first_output` and aborted; `write` shows output,
    `write_err` what the further boots wrote to stderr.

    `elapsed()` gives the seconds since the first boot started, for libtest's `finished in`;
    `expectations()` reads the should_panic tests' expected texts, called once if need be;
    `invoke`: the binary has libtest's secondary mode, which judges a should_panic test itself."""
    harness = libtest.split_args(args)
    first = libtest.read_progress(first_output)
    run = _Run(list(first.results), [], [])
    judge = _Judge(run, boot, harness, expectations, invoke)
    done = {r.name for r in first.results}
    if first.running is not None:
        _record_abort(run, first, first_output, write, harness, judge)
        done.add(first.running.name)
    listed_outcome, listed_text, _ = _boot(run, boot, libtest.list_args(harness))
    if listed_outcome.ending is not Ending.EXITED or listed_outcome.status != 0:
        return _gave_up(run, write, "listing the tests with --list did not work", listed_outcome)
    selected = libtest.read_list(listed_text)
    remaining = [name for name in selected if name not in done]
    total: int | None = None
    while remaining:
        batch = _batch(harness, remaining, fits)
        stream = libtest.RegionStream()
        outcome, text, _ = _boot(run, boot, libtest.exact_args(harness, batch), _through(stream, write), write_err)
        text = libtest.without_abort_notice(text)
        progress = libtest.read_progress(text)
        if progress.started is None:
            return _gave_up(run, write, "the test binary stopped before running its tests", outcome)
        write(stream.finish())
        run.results += progress.results
        run.failures += progress.failures
        finished_here = {r.name for r in progress.results}
        if progress.running is not None:
            _record_abort(run, progress, text, write, harness, judge)
            finished_here.add(progress.running.name)
        elif not progress.finished:
            return _gave_up(run, write, "the test binary stopped between two tests", outcome)
        if progress.finished:
            if progress.filtered_out is not None:
                total = progress.filtered_out + len(batch)
            finished_here.update(batch)
        if not finished_here:
            return _gave_up(run, write, "a boot ran none of the tests left", outcome)
        remaining = [name for name in remaining if name not in finished_here]
    for name in run.aborted_failures:
        _, text, errors = _boot(run, boot, libtest.exact_args(harness, [name], nocapture=True))
        output = _output_of(libtest.read_progress(libtest.without_abort_notice(text)), name)
        if errors:
            # libtest's write_stderr_delimiter, as a failed test's output reads under -Zpanic-abort-tests
            output += ("" if not output or output.endswith("\n") else "\n") + f"---- {name} stderr ----\n{errors}"
        run.failures.append((name, output))
    if total is None:
        total = _total(run, boot, harness, len(selected))
    filtered_out = max(total - len(selected), 0)
    write(libtest.render_summary(run.results, run.failures, filtered_out, elapsed()))
    failed = libtest.tally(run.results).failed
    message = (
        f"{run.aborts} test(s) ended the test binary (panic=abort); the run was finished in {run.boots} more boot(s)"
    )
    if run.checked and invoke:
        message += f"; {run.checked} should_panic test(s) judged by libtest in the guest ({INVOKE_VARIABLE})"
    elif run.checked:
        message += f"; {run.checked} should_panic message(s) compared with their expected text"
    if run.unchecked:
        message += f"; should_panic's expected text not checked for {len(run.unchecked)} test(s): " + "; ".join(
            dict.fromkeys(run.unchecked)
        )
    return Outcome(Ending.EXITED, TEST_FAILED_STATUS if failed else 0, message)


def _through(stream: libtest.RegionStream, write: Write) -> Write:
    """What a boot prints, shown as `stream` lets it out."""

    def show(chunk: str) -> None:
        text = stream.feed(chunk)
        if text:
            write(text)

    return show


def _boot(
    run: _Run,
    boot: Boot,
    args: tuple[str, ...],
    out: Write | None = None,
    err: Write | None = None,
    env: Environment = (),
) -> tuple[Outcome, str, str]:
    run.boots += 1
    return boot(args, out, err, env)


@dataclass
class _Judge:
    """Decides a should_panic test that ended the binary, as libtest's calc_result would."""

    run: _Run
    boot: Boot
    harness: HarnessArgs
    read: ReadExpectations
    invoke: bool

    def should_panic(self, name: str) -> tuple[str, str | None]:
        """`ok` or `FAILED`, and for a failure its output block (None: boot it for one)."""
        if self.invoke:
            return self._by_the_guest(name)
        if self.run.expectations is None:
            self.run.expectations, boots = self.read()
            self.run.boots += boots
        expectations = self.run.expectations
        if isinstance(expectations, str):
            self.run.unchecked.append(expectations)
            return "ok", None
        if name not in expectations:
            self.run.unchecked.append(f"{name} is not in the test table gdb read")
            return "ok", None
        expected = expectations[name]
        if expected is None:
            return "ok", None
        _, text, errors = _boot(self.run, self.boot, libtest.exact_args(self.harness, [name], nocapture=True))
        message = libtest.panic_message(errors)
        if message is None:
            self.run.unchecked.append(f"{name} showed no panic message of std's hook")
            return "ok", None
        self.run.checked += 1
        verdict = libtest.judge_panic(expected, message)
        if verdict.result == "ok":
            return "ok", None
        # As the host's -Zpanic-abort-tests shows it: the test's stdout, then its stderr, where
        # libtest's child wrote its note before the panic hook's lines.
        output = _output_of(libtest.read_progress(libtest.without_abort_notice(text)), name)
        output += ("" if not output or output.endswith("\n") else "\n") + f"---- {name} stderr ----\n"
        return "FAILED", output + verdict.note + "\n" + errors

    def _by_the_guest(self, name: str) -> tuple[str, str | None]:
        """One boot in libtest's secondary mode: the guest's libtest judges the test, as its
        primary process would read the child's status (get_result_from_exit_code)."""
        outcome, text, errors = _boot(self.run, self.boot, (), env=((INVOKE_VARIABLE, name),))
        self.run.checked += 1
        if outcome.ending is Ending.EXITED and outcome.status == TR_OK:
            return "ok", None
        output = libtest.without_abort_notice(text)
        output += ("" if not output or output.endswith("\n") else "\n") + f"---- {name} stderr ----\n{errors}"
        if outcome.ending is not Ending.CRASHED:
            output += f"note: got unexpected return code {outcome.status}\n"
        return "FAILED", output


def _record_abort(run: _Run, progress: Progress, text: str, write: Write, harness: HarnessArgs, judge: _Judge) -> None:
    """The running test ended the binary: complete its line as libtest would have."""
    assert progress.running is not None
    if progress.running.should_panic:
        word, block = judge.should_panic(progress.running.name)
        result = Report(progress.running.name, True, word)
    else:
        result, block = libtest.aborted_result(progress.running), None
    run.aborts += 1
    run.results.append(result)
    if result.result == "ok":
        pass  # nothing for the failures section
    elif block is not None:
        run.failures.append((result.name, block))
    elif not harness.nocapture:
        run.aborted_failures.append(result.name)
    else:
        run.failures.append((result.name, ""))
    if text.endswith(" ... "):  # the started line is the last thing printed: finish it
        write(f"{result.result}\n")
    else:
        write(("" if text.endswith("\n") or not text else "\n") + libtest.line_of(result))


def _batch(harness: HarnessArgs, remaining: Sequence[str], fits: Fits) -> list[str]:
    batch: list[str] = []
    for name in remaining:
        if not fits(libtest.exact_args(harness, [*batch, name])):
            break
        batch.append(name)
    if not batch:
        raise RunError(
            f"the test name {remaining[0]!r} does not fit the kernel command line",
            "raise CONFIG_LIBUKBOOT_CMDLINE_MAX_LEN in the Kraftfile, or run that test alone",
        )
    return batch


def _output_of(progress: Progress, name: str) -> str:
    """What a test printed, from its `--nocapture` boot: everything after its `test NAME ... `."""
    region = progress.region
    for marker in (f"test {name} ... ", f"test {name} - should panic ... "):
        if marker in region:
            region = region.split(marker, 1)[1]
            break
    region = region.strip("\n")
    return region + "\n" if region else ""


def _total(run: _Run, boot: Boot, harness: HarnessArgs, selected: int) -> int:
    """How many tests the binary has, for `filtered out`: without a filter, the ones selected."""
    unfiltered = not harness.filters and not {"--ignored", "--exclude-should-panic"} & set(harness.flags)
    if unfiltered:
        return selected
    outcome, text, _ = _boot(run, boot, ("--list",))
    return len(libtest.read_list(text)) if outcome.ending is Ending.EXITED else selected


def _gave_up(run: _Run, write: Write, why: str, outcome: Outcome) -> Outcome:
    write(libtest.render_summary(run.results, run.failures, 0, 0.0) if run.results else "")
    return Outcome(
        Ending.CRASHED,
        CRASH_STATUS,
        f"a test aborted the test binary, and finishing the run failed: {why} "
        f"({outcome.message or outcome.ending.value})",
    )
