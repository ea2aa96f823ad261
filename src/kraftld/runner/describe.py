"""Reads what libtest holds about each should_panic test — any panic, or the text its message
must contain — from the guest's memory, through QEMU's gdb stub and the image's debug information.

Why it is needed: a `#[should_panic(expected = "...")]` test passes on the host only when its
panic message contains the text; libtest compares the two after the test unwinds
(library/test/src/test_result.rs, calc_result). On this panic=abort target the panic ends the
binary first, so the runner must compare them itself, and the text is in the binary only.
libtest's own `-Zpanic-abort-tests` protocol (env `__RUST_TEST_INVOKE=NAME` runs one test and
judges it in its panic hook) does it in the guest, and aborted.py uses it, but only a binary
compiled with `-Zpanic-abort-tests` has it: rustc's harness
(compiler/rustc_builtin_macros/src/test_harness.rs) calls `test_main_static_abort` then, and
otherwise — a target whose own strategy is abort, with plain `cargo test` — `test_main_static`,
which ignores the variable. For those, this module.

How: one boot of the image stopped at its first instruction (`-S`, its gdb stub on a Unix
socket); gdb attaches, breaks where libtest's entry receives the test table
(`test_main_static(tests: &[&TestDescAndFn])`, or `test_main_static_abort`), reads each
`TestDesc`'s `name` and `should_panic` by their debug information (so no layout of libtest's
types is assumed), prints them as JSON lines and kills the guest. The boot's own QEMU comes from
the caller (boot.py starts QEMU); gdb runs through process.run_tool.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable

from ..process import stop_process_group
from .process import run_tool

# Every should_panic test's expected text, None for "any panic" (ShouldPanic::Yes).
Expectations = dict[str, "str | None"]
# Start QEMU for the image with its gdb stub on this Unix socket, the guest stopped (the caller
# boots it). A socket rather than a TCP port: no port to race for, and it works where loopback
# is down (cargo under `unshare -n`).
LaunchStopped = Callable[[str], "subprocess.Popen[bytes]"]

GDB_TIMEOUT = 120.0  # seconds for gdb to attach, reach libtest's entry and read the table
_LINE = "kraftld-test "
_END = "kraftld-tests-end"

# Run inside gdb (its Python). The socket is filled in; QEMU may still be starting, so attaching
# is retried. Strings are read as bytes from the guest's memory, not from gdb's quoting.
GDB_SCRIPT = r"""
import json, time
import gdb

def attach():
    for _ in range(200):
        try:
            gdb.execute("target remote %(socket)s", to_string=True)
            return
        except gdb.error:
            time.sleep(0.05)
    raise gdb.GdbError("could not attach to QEMU's gdb stub")

def text(expression):
    value = gdb.parse_and_eval(expression)
    data = gdb.selected_inferior().read_memory(int(value["data_ptr"]), int(value["length"]))
    return data.tobytes().decode("utf-8", "replace")

attach()
gdb.execute("set breakpoint pending off", to_string=True)
entries = 0
for entry in ("test::test_main_static", "test::test_main_static_abort"):
    try:
        gdb.execute("break " + entry, to_string=True)
        entries += 1
    except gdb.error:
        pass
if not entries:
    raise gdb.GdbError("the image has no libtest entry with debug information")
gdb.execute("continue", to_string=True)
count = int(gdb.parse_and_eval("tests.length"))
for index in range(count):
    desc = "(*tests.data_ptr[%%d]).desc" %% index
    should_panic = str(gdb.parse_and_eval(desc + ".should_panic"))
    variant = should_panic.split("(", 1)[0].rsplit("::", 1)[-1]
    if variant == "No":
        continue
    try:
        name = text(desc + ".name.0")
    except gdb.error:
        continue  # a dynamic test's name: no static test of this harness
    expected = text(desc + ".should_panic.0") if variant == "YesWithMessage" else None
    print("%(line)s" + json.dumps({"name": name, "variant": variant, "expected": expected}))
print("%(end)s")
gdb.execute("kill", to_string=True)
"""


def read_dump(text: str) -> Expectations | None:
    """The expectations gdb printed, or None when its dump did not reach its end."""
    found: Expectations = {}
    for line in text.splitlines():
        if line == _END:
            return found
        if line.startswith(_LINE):
            record = json.loads(line[len(_LINE) :])
            found[record["name"]] = record["expected"]
    return None


def read_expectations(symbols: str, launch: LaunchStopped, gdb: str | None = None) -> tuple[Expectations | str, int]:
    """Each should_panic test's expected text, read from one stopped boot, or why it could not
    be; and the boots it took (0 or 1)."""
    gdb = gdb or shutil.which("gdb")
    if gdb is None:
        return "gdb is not installed (Debian: apt-get install gdb)", 0
    with tempfile.TemporaryDirectory(prefix="kraftld-describe-") as folder:
        script = os.path.join(folder, "describe.py")
        stub = os.path.join(folder, "gdb.socket")
        with open(script, "w") as handle:
            handle.write(GDB_SCRIPT % {"socket": stub, "line": _LINE, "end": _END})
        qemu = launch(stub)
        try:
            done = run_tool([gdb, "-nx", "-batch", "-x", script, symbols], folder, GDB_TIMEOUT)
        finally:
            stop_process_group(qemu)
    if done is None:
        return f"gdb did not read the test table within {GDB_TIMEOUT:.0f} s", 1
    found = read_dump(done.stdout)
    if found is None:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return f"gdb could not read the test table from {symbols} ({last})", 1
    return found, 1
