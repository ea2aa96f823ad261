"""Finishing an aborted libtest run: libtest's arguments and output read as text, and the further
boots planned against a fake test binary that behaves as libtest does on a panic=abort target."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kraftld.runner import aborted, libtest
from kraftld.runner.libtest import Report
from kraftld.runner.qemu import CRASH_STATUS, Ending, Outcome

EXITED_0 = Outcome(Ending.EXITED, 0, None)
CRASHED = Outcome(Ending.CRASHED, CRASH_STATUS, "the unikernel crashed (a fault, abort or panic)")

# How each fake test behaves: it passes, is ignored, panics (aborting the binary, as every panic
# does on this target), or is a should_panic test (which panics too, and so aborts).
SUITE = {
    "a_ok": "ok",
    "b_should_panic": "should_panic",
    "c_ok": "ok",
    "d_fails": "panics",
    "e_ignored": "ignored",
    "f_ok": "ok",
    "g_should_panic": "should_panic",
}


class FakeHarness:
    """A libtest binary in miniature: filters, --skip, --exact, --list, --ignored and one test
    thread's pretty output, aborting at the first panic. Records every boot's arguments."""

    def __init__(self, suite: dict[str, str], last_words: str = "", expected: dict[str, str] | None = None) -> None:
        self.suite = suite
        self.last_words = last_words  # what the crash prints after the program's output
        self.expected = expected or {}  # should_panic tests' expected texts
        self.boots: list[tuple[str, ...]] = []
        self.environments: list[aborted.Environment] = []
        self.errors = ""

    def secondary(self, name: str) -> tuple[Outcome, str]:
        """libtest's secondary mode (a -Zpanic-abort-tests binary): one test, judged in its hook."""
        kind = self.suite[name]
        message = f"boom in {name}"
        self.errors = ""
        if kind == "ok" or (kind == "should_panic" and self.expected.get(name, "") in message):
            return Outcome(Ending.EXITED, aborted.TR_OK, None), ""
        if kind == "should_panic":
            self.errors = f'panic did not contain expected string\n      panic message: "{message}"\n'
        self.errors += f"\nthread 'main' (0) panicked at src/lib.rs:1:1:\n{message}\n"
        return CRASHED, ""

    def boot(
        self,
        args: tuple[str, ...],
        out: aborted.Write | None = None,
        err: aborted.Write | None = None,
        env: aborted.Environment = (),
    ) -> tuple[Outcome, str, str]:
        self.boots.append(args)
        self.environments.append(env)
        invoked = dict(env).get(aborted.INVOKE_VARIABLE)
        outcome, text = self.run(args) if invoked is None else self.secondary(invoked)
        # As a console delivers it: in pieces that cut lines (and lib-musl's notice) anywhere.
        for live, whole in ((out, text), (err, self.errors)):
            for at in range(0, len(whole), 7):
                if live is not None:
                    live(whole[at : at + 7])
        return outcome, text, self.errors

    def run(self, args: Sequence[str]) -> tuple[Outcome, str]:
        """The boot's outcome and stdout; its stderr is left in self.errors."""
        self.errors = ""
        harness = libtest.split_args(args)
        filters = [w for w in harness.filters if w not in ("--exact", "--skip")]
        skips = [harness.filters[i + 1] for i, w in enumerate(harness.filters) if w == "--skip"]
        for skip in skips:
            filters.remove(skip)
        exact = "--exact" in harness.filters

        def matches(name: str, pattern: str) -> bool:
            return name == pattern if exact else pattern in name

        names = sorted(
            name
            for name in self.suite
            if (not filters or any(matches(name, f) for f in filters)) and not any(matches(name, s) for s in skips)
        )
        if "--ignored" in args:
            names = [name for name in names if self.suite[name].startswith("ignored")]
        if "--list" in args:
            return EXITED_0, "".join(f"{name}: test\n" for name in names) + f"\n{len(names)} tests, 0 benchmarks\n"
        out = f"\nrunning {len(names)} tests\n"
        passed = ignored = 0
        for name in names:
            kind = self.suite[name]
            if kind.startswith("ignored") and "--ignored" not in args:
                out += f"test {name} ... ignored\n"
                ignored += 1
                continue
            kind = kind.removeprefix("ignored_")
            mode = " - should panic" if kind == "should_panic" else ""
            out += f"test {name}{mode} ... "
            if kind == "ignored":
                out += "ok\n"
                passed += 1
            elif kind in ("should_panic", "panics"):
                if "--nocapture" in args:  # the panic message goes to stderr
                    self.errors = f"\nthread '{name}' panicked at src/lib.rs:1:1:\nboom in {name}\n"
                return CRASHED, out + self.last_words
            else:
                out += "ok\n"
                passed += 1
        out += (
            f"\ntest result: ok. {passed} passed; 0 failed; {ignored} ignored; 0 measured; "
            f"{len(self.suite) - len(names)} filtered out; finished in 0.01s\n\n"
        )
        return EXITED_0, out


def finish(
    suite: dict[str, str], args: tuple[str, ...] = (), fits: aborted.Fits = lambda _: True
) -> tuple[Outcome, str, FakeHarness]:
    fake = FakeHarness(suite)
    first_outcome, first = fake.run(args)
    assert aborted.should_finish(args, first_outcome, first)
    shown: list[str] = [first]
    outcome = aborted.finish_run(args, first, fake.boot, fits, shown.append, lambda: 1.5)
    return outcome, "".join(shown), fake


def test_a_run_is_finished_as_libtest_would_report_it() -> None:
    outcome, shown, fake = finish(SUITE)
    assert shown == (
        "\nrunning 7 tests\n"
        "test a_ok ... ok\n"
        "test b_should_panic - should panic ... ok\n"
        "test c_ok ... ok\n"
        "test d_fails ... FAILED\n"
        "test e_ignored ... ignored\n"
        "test f_ok ... ok\n"
        "test g_should_panic - should panic ... ok\n"
        "\nfailures:\n\n"
        "---- d_fails stdout ----\n"
        "---- d_fails stderr ----\n\nthread 'd_fails' panicked at src/lib.rs:1:1:\nboom in d_fails\n\n"
        "\nfailures:\n    d_fails\n"
        "\ntest result: FAILED. 5 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.50s\n\n"
    )
    assert (outcome.ending, outcome.status) == (Ending.EXITED, aborted.TEST_FAILED_STATUS)
    assert fake.boots == [
        ("--list",),
        ("--test-threads=1", "--exact", "c_ok", "d_fails", "e_ignored", "f_ok", "g_should_panic"),
        ("--test-threads=1", "--exact", "e_ignored", "f_ok", "g_should_panic"),
        ("--nocapture", "--test-threads=1", "--exact", "d_fails"),
    ]
    assert outcome.message is not None and "3 test(s) ended the test binary" in outcome.message
    assert "4 more boot(s)" in outcome.message


def test_lib_musls_abort_notice_is_left_out_of_later_boots() -> None:
    notice = "[    0.413823] CRIT: [libmusl] <abort.c @    7> abort called\n"
    fake = FakeHarness({"a": "should_panic", "b": "panics", "c": "ok"}, notice)
    _, first = fake.run(())
    shown = [first]
    outcome = aborted.finish_run((), first, fake.boot, lambda _: True, shown.append, lambda: 0.0)
    assert "".join(
        shown
    ).startswith(
        "\nrunning 3 tests\n"
        "test a - should panic ... " + notice + "test a - should panic ... ok\n"  # the first boot, as shown
        "test b ... FAILED\n"
        "test c ... ok\n"
        "\nfailures:\n\n---- b stdout ----\n---- b stderr ----\n\nthread 'b' panicked at src/lib.rs:1:1:\nboom in b\n\n"
    )
    assert outcome.status == 101


def test_only_should_panic_aborts_give_status_0() -> None:
    outcome, shown, fake = finish({"a": "should_panic", "b": "ok"})
    assert outcome.status == 0
    assert shown.endswith(
        "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.50s\n\n"
    )
    assert len(fake.boots) == 2  # the list, then b


@pytest.mark.parametrize(
    ("args", "listed", "later", "filtered_out"),
    [
        # A substring filter: the two should_panic tests; the first aborted in the first boot.
        (("panic",), ("panic", "--list"), ("--test-threads=1", "--exact", "g_should_panic"), 7),
        # --skip selects; the user's thread count is replaced by one thread.
        (
            ("--skip", "a_ok", "--test-threads", "4"),
            ("--skip", "a_ok", "--list"),
            (
                "--test-threads=1",
                "--exact",
                "c_ok",
                "d_fails",
                "e_ignored",
                "f_ok",
                "g_should_panic",
                "y_ignored",
                "z_ignored",
            ),
            1,
        ),
        # --ignored stays, so the ignored tests run; the others count as filtered out.
        (("--ignored",), ("--ignored", "--list"), ("--ignored", "--test-threads=1", "--exact", "z_ignored"), 6),
    ],
)
def test_the_users_selection_is_kept(
    args: tuple[str, ...], listed: tuple[str, ...], later: tuple[str, ...], filtered_out: int
) -> None:
    # Under --ignored the ignored tests run: y_ignored then aborts as a should_panic test does.
    fake = FakeHarness(SUITE | {"y_ignored": "ignored_should_panic", "z_ignored": "ignored"})
    first_outcome, first = fake.run(args)
    assert aborted.should_finish(args, first_outcome, first)
    shown = [first]
    outcome = aborted.finish_run(args, first, fake.boot, lambda _: True, shown.append, lambda: 0.0)
    assert fake.boots[0] == listed
    assert fake.boots[1] == later
    assert f"; {filtered_out} filtered out;" in "".join(shown), "".join(shown)
    assert outcome.ending is Ending.EXITED


def test_the_kernel_command_line_limits_each_boot() -> None:
    suite = {f"t{i:02}": "ok" for i in range(10)} | {"a_panics": "should_panic"}
    outcome, shown, fake = finish(suite, fits=lambda args: sum(1 for a in args if a.startswith("t")) <= 3)
    assert outcome.status == 0
    assert [len(boot) - 2 for boot in fake.boots[1:]] == [3, 3, 3, 1]
    assert shown.count(" ... ok\n") == 11


def test_nocapture_shows_the_panic_at_once_and_needs_no_extra_boot() -> None:
    outcome, shown, fake = finish({"a": "panics", "b": "ok"}, ("--nocapture",))
    assert "\nrunning 2 tests\ntest a ... FAILED\ntest b ... ok\n" in shown  # the panic went to stderr at once
    assert outcome.status == 101
    assert len(fake.boots) == 2
    assert "---- a stdout ----" not in shown and "failures:\n    a\n" in shown


def test_a_binary_crashing_before_its_tests_is_not_finished_forever() -> None:
    fake = FakeHarness({"a": "should_panic", "b": "ok"})
    _, first = fake.run(())

    def broken(
        args: tuple[str, ...],
        out: aborted.Write | None = None,
        err: aborted.Write | None = None,
        env: aborted.Environment = (),
    ) -> tuple[Outcome, str, str]:
        if "--list" in args:
            return fake.boot(args)
        return CRASHED, "early crash\n", ""

    outcome = aborted.finish_run((), first, broken, lambda _: True, lambda _: None, lambda: 0.0)
    assert (outcome.ending, outcome.status) == (Ending.CRASHED, CRASH_STATUS)
    assert outcome.message is not None and "stopped before running its tests" in outcome.message


@pytest.mark.parametrize(
    ("args", "outcome", "output", "finish_it"),
    [
        ((), CRASHED, "\nrunning 2 tests\ntest a - should panic ... ", True),
        (
            (),
            CRASHED,
            "\nrunning 2 tests\ntest a ... ok\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; "
            "0 measured; 0 filtered out; finished in 0.00s\n\n",
            False,
        ),
        ((), EXITED_0, "\nrunning 2 tests\ntest a ... ok\n", False),
        ((), CRASHED, "a plain program crashed\n", False),
        (("-q",), CRASHED, "\nrunning 2 tests\n.", False),
        (("--format=json",), CRASHED, "\nrunning 2 tests\n", False),
        (("--list",), CRASHED, "\nrunning 2 tests\n", False),
    ],
)
def test_which_runs_are_finished(args: tuple[str, ...], outcome: Outcome, output: str, finish_it: bool) -> None:
    assert aborted.should_finish(args, outcome, output) is finish_it


@pytest.mark.parametrize(
    ("args", "flags", "filters", "threads", "fmt"),
    [
        (["foo", "--exact"], (), ("foo", "--exact"), (), "pretty"),
        (["--skip", "a", "--skip=b", "x"], (), ("--skip", "a", "--skip=b", "x"), (), "pretty"),
        (["--test-threads", "2", "--nocapture"], ("--nocapture",), (), ("--test-threads", "2"), "pretty"),
        (
            ["--format", "terse", "-Z", "unstable-options"],
            ("--format", "terse", "-Z", "unstable-options"),
            (),
            (),
            "terse",
        ),
        (
            ["-Zunstable-options", "--quiet", "--", "--weird"],
            ("-Zunstable-options", "--quiet"),
            ("--weird",),
            (),
            "terse",
        ),
        (["--color=never", "--test-threads=1"], ("--color=never",), (), ("--test-threads=1",), "pretty"),
    ],
)
def test_split_args(
    args: list[str], flags: tuple[str, ...], filters: tuple[str, ...], threads: tuple[str, ...], fmt: str
) -> None:
    harness = libtest.split_args(args)
    assert (harness.flags, harness.filters, harness.threads, harness.fmt) == (flags, filters, threads, fmt)


@pytest.mark.parametrize(
    ("text", "results", "running", "finished"),
    [
        ("\nrunning 1 test\ntest x::y ... ok\n", [Report("x::y", False, "ok")], None, False),
        (
            "running 2 tests\ntest a ... ignored, slow\ntest b - should panic ... ",
            [Report("a", False, "ignored, slow")],
            Report("b", True, None),
            False,
        ),
        (
            "running 1 test\ntest a ... printed by the test\nok\n",  # --nocapture
            [Report("a", False, "ok")],
            None,
            False,
        ),
        ("running 1 test\ntest a ... ok <0.001s>\n", [Report("a", False, "ok")], None, False),
        (
            "running 2 tests\ntest a ... FAILED\ntest b ... ok\n\nfailures:\n\n---- a stdout ----\nError: x\n\n"
            "\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; "
            "finished in 0.00s\n\n",
            [Report("a", False, "FAILED"), Report("b", False, "ok")],
            None,
            True,
        ),
    ],
)
def test_read_progress(text: str, results: list[Report], running: Report | None, finished: bool) -> None:
    progress = libtest.read_progress(text)
    assert (list(progress.results), progress.running, progress.finished) == (results, running, finished)


def test_read_progress_keeps_the_failures_section() -> None:
    text = (
        "running 1 test\ntest a ... FAILED\n\nfailures:\n\n---- a stdout ----\nError: x\nmore\n\n"
        "\nfailures:\n    a\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; "
        "finished in 0.00s\n\n"
    )
    progress = libtest.read_progress(text)
    assert progress.failures == (("a", "Error: x\nmore\n"),)
    assert progress.filtered_out == 3
    assert progress.region == "test a ... FAILED"


def test_read_list() -> None:
    text = "tests::a: test\nb: benchmark\n\n2 tests, 1 benchmark\n"
    assert libtest.read_list(text) == ("tests::a", "b")


def finish_expecting(
    suite: dict[str, str], expected: dict[str, str | None] | str
) -> tuple[Outcome, str, FakeHarness, list[int]]:
    """finish() with the binary's should_panic expectations (or why there are none) on offer;
    the fake's panic messages read `boom in NAME`. The last item counts the reads."""
    fake = FakeHarness(suite)
    first_outcome, first = fake.run(())
    assert aborted.should_finish((), first_outcome, first)
    reads: list[int] = []

    def read() -> tuple[dict[str, str | None] | str, int]:
        reads.append(1)
        return expected, 1

    shown: list[str] = [first]
    outcome = aborted.finish_run((), first, fake.boot, lambda _: True, shown.append, lambda: 1.5, expectations=read)
    return outcome, "".join(shown), fake, reads


def test_should_panic_with_expected_text_passes_only_when_the_message_contains_it() -> None:
    suite = {"a_matches": "should_panic", "b_differs": "should_panic", "c_any": "should_panic", "d_ok": "ok"}
    outcome, shown, fake, reads = finish_expecting(
        suite, {"a_matches": "boom in a", "b_differs": "bang", "c_any": None}
    )
    assert "test a_matches - should panic ... ok\n" in shown
    assert "test b_differs - should panic ... FAILED\n" in shown
    assert "test c_any - should panic ... ok\n" in shown
    # libtest's note, then the panic hook's lines, in the test's stderr block (-Zpanic-abort-tests).
    assert (
        "---- b_differs stdout ----\n---- b_differs stderr ----\n"
        "panic did not contain expected string\n"
        '      panic message: "boom in b_differs"\n'
        ' expected substring: "bang"\n'
        "\nthread 'b_differs' panicked at src/lib.rs:1:1:\nboom in b_differs\n"
    ) in shown
    assert "\nfailures:\n    b_differs\n" in shown
    assert "test result: FAILED. 3 passed; 1 failed; 0 ignored;" in shown
    assert outcome.status == aborted.TEST_FAILED_STATUS
    assert reads == [1]  # read once for the whole run
    # One --nocapture boot per test with an expected text, none for c_any, none more for b_differs.
    alone = [boot for boot in fake.boots if "--nocapture" in boot]
    assert alone == [
        ("--nocapture", "--test-threads=1", "--exact", "a_matches"),
        ("--nocapture", "--test-threads=1", "--exact", "b_differs"),
    ]
    assert outcome.message is not None and "2 should_panic message(s) compared" in outcome.message
    assert "not checked" not in outcome.message


def test_expectations_that_cannot_be_read_leave_should_panic_tests_ok_and_say_why() -> None:
    outcome, shown, fake, reads = finish_expecting(
        {"a": "should_panic", "b": "should_panic", "c": "ok"}, "gdb is not installed"
    )
    assert "test a - should panic ... ok\n" in shown and "test b - should panic ... ok\n" in shown
    assert outcome.status == 0 and reads == [1]
    assert not any("--nocapture" in boot for boot in fake.boots)
    assert outcome.message is not None
    assert "expected text not checked for 2 test(s): gdb is not installed" in outcome.message


def test_no_expectations_are_read_when_no_should_panic_test_aborts() -> None:
    outcome, _, _, reads = finish_expecting({"a": "panics", "b": "ok"}, {})
    assert reads == [] and outcome.status == 101


@pytest.mark.parametrize(
    ("stderr", "message"),
    [
        (
            "\nthread 'a' (3) panicked at tests/x.rs:1:5:\nboom\nnote: run with `RUST_BACKTRACE=1` environment "
            "variable to display a backtrace\n",
            "boom",
        ),
        ("\nthread 'a' panicked at src/lib.rs:1:1:\ntwo\nlines\n", "two\nlines"),  # no backtrace support
        ("\nthread 'main' (1) panicked at a.rs:2:3:\nboom\nstack backtrace:\n   0: x\n", "boom"),
        # The test's own earlier output, and the last panic counts.
        (
            "printed\n\nthread 'x' (2) panicked at a.rs:1:1:\nfirst\n\nthread 'x' (2) panicked at a.rs:9:9:\n"
            "second\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
            "second",
        ),
        ("\nthread 'a' (3) panicked at a.rs:1:1:\n\nnote: run with `RUST_BACKTRACE=1` ...\n", ""),
        ("a hook of the test's own printed this\n", None),
    ],
)
def test_panic_message(stderr: str, message: str | None) -> None:
    assert libtest.panic_message(stderr) == message


@pytest.mark.parametrize(
    ("expected", "message", "result", "note"),
    [
        ("boom", "a big boom here", "ok", ""),
        ("", "anything", "ok", ""),
        ("index out of bounds", "index out of bounds: the len is 0 but the index is 1", "ok", ""),
        (
            "Boom",
            "boom",
            "FAILED",
            'panic did not contain expected string\n      panic message: "boom"\n expected substring: "Boom"',
        ),
        (
            "zz",
            "Box<dyn Any>",
            "FAILED",
            'expected panic with string value,\n found non-string value: `Box<dyn Any>`\n     expected substring: "zz"',
        ),
    ],
)
def test_judge_panic_as_libtests_calc_result(expected: str, message: str, result: str, note: str) -> None:
    assert libtest.judge_panic(expected, message) == libtest.PanicVerdict(result, note)


@pytest.mark.parametrize(
    ("text", "debug"),
    [
        ("plain", '"plain"'),
        ('say "hi"\\', '"say \\"hi\\"\\\\"'),
        ("a\nb\tc\r\0", '"a\\nb\\tc\\r\\0"'),
        ("it's ünïcödé ✓", '"it\'s ünïcödé ✓"'),
        ("\x07\u200b", '"\\u{7}\\u{200b}"'),
        ("e\u0301", '"e\\u{301}"'),  # a combining accent is escaped, as core does for Grapheme_Extend
    ],
)
def test_rust_debug_str(text: str, debug: str) -> None:
    assert libtest.rust_debug_str(text) == debug


NOTICE = "[    0.413823] CRIT: [libmusl] <abort.c @    7> abort called\n"
STREAMED = [
    # A batch that aborted in its second test, lib-musl's notice after the started line.
    "\nrunning 3 tests\ntest a ... ok\ntest b - should panic ... " + NOTICE,
    # --nocapture: the test's own lines between its name and its result, blank lines among them.
    "\nrunning 2 tests\ntest a ... printed\n\nmore\nok\ntest b ... ok\n\ntest result: ok. 2 passed; 0 failed; "
    "0 ignored; 0 measured; 5 filtered out; finished in 0.01s\n\n",
    # A finished batch with a failure: its failures section is not the run's progress.
    "\nrunning 2 tests\ntest a ... FAILED\ntest b ... ok\n\nfailures:\n\n---- a stdout ----\nError: x\n\n"
    "\nfailures:\n    a\n\ntest result: FAILED. 1 passed; 1 failed; 0 ignored; 0 measured; 3 filtered out; "
    "finished in 0.00s\n\n",
    "\nrunning 1 test\ntest a ... ",  # the boot ended in the middle of a test
    "a crash before libtest's first line\n",
    # Blank lines: at the start of the run, at its end, before the summary; a last line unended.
    "\nrunning 1 test\n\n\ntest a ... ok\n\n\n\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; "
    "0 filtered out; finished in 0.01s\n",
    "\nrunning 1 test\n\n",
    "\nrunning 1 test\n\n\n\nfailures:\n",
    "\nrunning 1 test\ntest a ... ok\n\nfailures:\n",
    "\nrunning 1 test\ntest a ... printed, no newline",
    "\nrunning 1 test\n\ntest a ... ",
    # The notice ends a line; what follows it goes on that line, as in the whole text.
    "\nrunning 2 tests\ntest a ... " + NOTICE + "ok\ntest b ... " + NOTICE.rstrip("\n"),
    "\nrunning 1 test\ntest a ... " + NOTICE + "\n\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; "
    "0 measured; 0 filtered out; finished in 0.01s\n",
]


@pytest.mark.parametrize("text", STREAMED)
@pytest.mark.parametrize("size", [1, 2, 5, 13, 1000])
def test_a_boots_progress_is_streamed_as_it_would_be_shown_at_its_end(text: str, size: int) -> None:
    stream = libtest.RegionStream()
    shown = "".join(stream.feed(text[at : at + size]) for at in range(0, len(text), size)) + stream.finish()
    assert shown == libtest.ending_newline(libtest.read_progress(libtest.without_abort_notice(text)).region)


def test_a_started_test_and_finished_lines_are_shown_before_the_boot_ends() -> None:
    stream = libtest.RegionStream()
    assert stream.feed("\nrunning 2 tests\ntest a ... o") == "test a ... "  # its name as it starts
    assert stream.feed("k\ntest b ... ok\n") == "ok\ntest b ... ok\n"
    assert stream.feed("\n") == ""  # a blank line may be the one before the summary
    assert stream.feed("test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; ") == ""
    assert stream.finish() == ""


def test_later_boots_are_shown_while_they_run() -> None:
    fake = FakeHarness({"a": "should_panic", "b": "ok", "c": "ok"})
    _, first = fake.run(())
    shown: list[str] = []
    seen_during: list[str] = []

    def boot(
        args: tuple[str, ...],
        out: aborted.Write | None = None,
        err: aborted.Write | None = None,
        env: aborted.Environment = (),
    ) -> tuple[Outcome, str, str]:
        result = fake.boot(args, out, err, env)
        seen_during.append("".join(shown))  # before finish_run has the boot's result
        return result

    aborted.finish_run((), first, boot, lambda _: True, shown.append, lambda: 0.0)
    assert "test b ... ok\ntest c ... ok\n" in seen_during[-1]


def test_a_panic_abort_tests_binary_judges_its_should_panic_tests_itself() -> None:
    """Built with -Zpanic-abort-tests, the binary has libtest's secondary mode: one boot with
    __RUST_TEST_INVOKE=NAME per aborting should_panic test, and no reading of expectations."""
    suite = {"a_matches": "should_panic", "b_differs": "should_panic", "c_ok": "ok"}
    fake = FakeHarness(suite, expected={"a_matches": "boom", "b_differs": "bang"})
    _, first = fake.run(())
    shown = [first]

    def never() -> tuple[dict[str, str | None] | str, int]:
        raise AssertionError("expectations read for a binary that judges itself")

    outcome = aborted.finish_run(
        (), first, fake.boot, lambda _: True, shown.append, lambda: 0.0, expectations=never, invoke=True
    )
    text = "".join(shown)
    assert "test a_matches - should panic ... ok\n" in text
    assert "test b_differs - should panic ... FAILED\n" in text
    assert (
        "---- b_differs stdout ----\n---- b_differs stderr ----\npanic did not contain expected string\n"
        '      panic message: "boom in b_differs"\n'
    ) in text
    assert "test result: FAILED. 2 passed; 1 failed;" in text and outcome.status == 101
    invoked = [dict(env)[aborted.INVOKE_VARIABLE] for env in fake.environments if env]
    assert invoked == ["a_matches", "b_differs"]
    assert outcome.message is not None and "2 should_panic test(s) judged by libtest in the guest" in outcome.message


@pytest.mark.parametrize(
    ("args", "env", "in_process_args", "in_process_env"),
    [
        ((), (), aborted.IN_PROCESS_ARGS, (aborted.IN_PROCESS_ENV,)),
        # Options go first: after a `--` every word is a filter.
        (
            ("--", "--exact"),
            (("A", "1"),),
            (*aborted.IN_PROCESS_ARGS, "--", "--exact"),
            (("A", "1"), aborted.IN_PROCESS_ENV),
        ),
        ((), (("RUSTC_BOOTSTRAP", "yes"),), aborted.IN_PROCESS_ARGS, (("RUSTC_BOOTSTRAP", "yes"),)),
        (("--list",), (), ("--list",), ()),  # listing spawns nothing
    ],
)
def test_in_process(
    args: tuple[str, ...],
    env: aborted.Environment,
    in_process_args: tuple[str, ...],
    in_process_env: aborted.Environment,
) -> None:
    assert aborted.in_process(args, env) == (in_process_args, in_process_env)


# Pieces a boot's console carries: libtest's lines, a test's own output, blank lines, lib-musl's
# notice (which ends a line), a summary, a failures heading, and text without a newline.
_PIECES = st.sampled_from(
    [
        "\nrunning 2 tests\n",
        "test a ... ",
        "test b - should panic ... ",
        "ok\n",
        "FAILED\n",
        "\n",
        "printed by the test",
        "failures:\n",
        NOTICE,
        NOTICE.rstrip("\n"),
        "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=14), cuts=st.lists(st.integers(1, 40), min_size=1, max_size=8))
def test_any_console_output_streams_as_its_end_would_show_it(pieces: list[str], cuts: list[int]) -> None:
    text = "".join(pieces)
    stream = libtest.RegionStream()
    shown, at, turn = [], 0, 0
    while at < len(text):
        size = cuts[turn % len(cuts)]
        shown.append(stream.feed(text[at : at + size]))
        at, turn = at + size, turn + 1
    shown.append(stream.finish())
    assert "".join(shown) == libtest.ending_newline(libtest.read_progress(libtest.without_abort_notice(text)).region)
