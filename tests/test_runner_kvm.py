"""The accelerator decision, with fake QEMUs: KVM is left for TCG only when QEMU failed before the
guest wrote anything, the verdict is remembered atomically, and a guest that ran is never booted
twice."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from kraftld.runner import kvm
from kraftld.runner.boot import choose_accel, run_image
from kraftld.runner.kvm import BootFacts, Verdict
from kraftld.runner.process import Launch, start
from kraftld.runner.qemu import KRAFTLD_EXIT_CODE, UNIKRAFT_CRASH_CODE
from kraftld.runner.settings import RunSettings

MARK = "\\033]kraftld-exit-status;%s\\007"
ABORT_MESSAGE = (
    "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69\n"
    "qemu-system-x86_64: ../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: "
    "Assertion `ret == cpu->kvm_msr_buf->nmsrs' failed."
)

# Each fake QEMU logs its accelerator to $BOOTS, then behaves as the name says under KVM; under
# TCG it prints a line and exits through the debug-exit device with status 7.
KVM_BEHAVIOUR = {
    # This project's machines: QEMU aborts in kvm_buf_set_msrs before the guest runs.
    "aborts": 'cat "$0.message" >&2; kill -ABRT $$',
    # A QEMU that exits 1 and says nothing.
    "exits-silently": "exit 1",
    # KVM internal error: QEMU prints it and then sits there, the machine paused.
    "pauses": "echo 'KVM internal error. Suberror: 1' >&2; echo 'emulation failure' >&2; sleep 60",
    # The guest ran, wrote, and then QEMU failed: never booted twice.
    "ran-then-failed": "printf 'guest output\\r\\n'; exit 1",
    "ran-then-killed": "printf 'guest output\\r\\n'; kill -KILL $$",
    # The guest crashed through Unikraft's crash path, before writing anything: it ran.
    "crashed-silently": f"exit {UNIKRAFT_CRASH_CODE}",
    "works": f"printf 'under kvm\\r\\n{MARK % 5}'; exit {KRAFTLD_EXIT_CODE}",
}


def fake_qemu(folder: Path, kvm_behaviour: str, tcg_behaviour: str | None = None) -> Path:
    tcg = tcg_behaviour or f"printf 'under tcg\\r\\n{MARK % 7}'; exit {KRAFTLD_EXIT_CODE}"
    script = folder / "qemu-system-x86_64"
    (folder / "qemu-system-x86_64.message").write_text(ABORT_MESSAGE + "\n")
    script.write_text(
        "#!/bin/sh\n"
        'accel=tcg; case "$*" in *accel=kvm*) accel=kvm;; esac\n'
        'echo "$accel" >> "$BOOTS"\n'
        f'if [ "$accel" = kvm ]; then {kvm_behaviour}; fi\n'
        f"{tcg}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def settings_for(tmp_path: Path, qemu: Path) -> RunSettings:
    image = tmp_path / "app"
    image.write_bytes(b"not an ELF: the runner checks nothing it cannot read")
    return RunSettings(image=str(image), args=("a",), qemu=str(qemu), cache=str(tmp_path / "cache"))


def boot(tmp_path: Path, settings: RunSettings, monkeypatch: pytest.MonkeyPatch) -> tuple[int, bytes, list[str]]:
    boots = tmp_path / "boots"
    boots.write_text("")
    monkeypatch.setenv("BOOTS", str(boots))
    out = io.BytesIO()
    outcome = run_image(settings, out, lambda line: None, offers_kvm=lambda: True)
    return outcome.status, out.getvalue(), boots.read_text().split()


@pytest.mark.parametrize("behaviour", ["aborts", "exits-silently", "pauses"])
def test_kvm_failing_before_the_guest_runs_falls_back_to_tcg_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behaviour: str
) -> None:
    settings = settings_for(tmp_path, fake_qemu(tmp_path, KVM_BEHAVIOUR[behaviour]))
    assert boot(tmp_path, settings, monkeypatch) == (7, b"under tcg\n", ["kvm", "tcg"])
    remembered = kvm.remembered_verdict(kvm.verdict_path(settings.cache, settings.qemu))
    assert remembered is not None and not remembered.works
    # Later runs go straight to TCG.
    assert boot(tmp_path, settings, monkeypatch) == (7, b"under tcg\n", ["tcg"])


@pytest.mark.parametrize(
    ("behaviour", "status", "output"),
    [
        ("ran-then-failed", 125, b"guest output\n"),
        ("ran-then-killed", 125, b"guest output\n"),
        ("crashed-silently", 134, b""),
        ("works", 5, b"under kvm\n"),
    ],
)
def test_a_guest_that_ran_is_never_booted_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behaviour: str, status: int, output: bytes
) -> None:
    settings = settings_for(tmp_path, fake_qemu(tmp_path, KVM_BEHAVIOUR[behaviour]))
    assert boot(tmp_path, settings, monkeypatch) == (status, output, ["kvm"])
    remembered = kvm.remembered_verdict(kvm.verdict_path(settings.cache, settings.qemu))
    assert remembered is not None and remembered.works


def test_a_failure_tcg_shares_is_not_blamed_on_kvm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # QEMU fails the same way under TCG (a bad option, a busy port): KVM is not marked as failing.
    qemu = fake_qemu(tmp_path, "exit 1", tcg_behaviour="echo 'qemu: bad option' >&2; exit 1")
    settings = settings_for(tmp_path, qemu)
    status, _, boots = boot(tmp_path, settings, monkeypatch)
    assert (status, boots) == (125, ["kvm", "tcg"])
    assert kvm.remembered_verdict(kvm.verdict_path(settings.cache, settings.qemu)) is None


def test_no_kvm_device_boots_tcg_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_for(tmp_path, fake_qemu(tmp_path, KVM_BEHAVIOUR["works"]))
    boots = tmp_path / "boots"
    boots.write_text("")
    monkeypatch.setenv("BOOTS", str(boots))
    outcome = run_image(settings, io.BytesIO(), lambda line: None, offers_kvm=lambda: False)
    assert (outcome.status, boots.read_text().split()) == (7, ["tcg"])
    assert choose_accel(settings, lambda: False).why.startswith("/dev/kvm is missing")


def test_the_abort_is_a_real_sigabrt(tmp_path: Path) -> None:
    # The fake aborts as QEMU does here: killed by SIGABRT, the message on stderr.
    qemu = fake_qemu(tmp_path, KVM_BEHAVIOUR["aborts"])
    env = {**os.environ, "BOOTS": str(tmp_path / "boots")}
    done = subprocess.run([str(qemu), "-machine", "accel=kvm"], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGABRT
    assert "kvm_buf_set_msrs" in done.stderr


@pytest.mark.parametrize(
    ("facts", "failed"),
    [
        (BootFacts(-6, 0, False, False, ABORT_MESSAGE), "killed by SIGABRT"),
        (BootFacts(-6, 0, False, False, ""), "killed by SIGABRT"),
        (BootFacts(1, 0, False, False, ""), "status 1 and said nothing"),
        (BootFacts(1, 0, False, False, "some new message\n"), "status 1: some new message"),
        (BootFacts(-15, 0, False, True, "KVM internal error. Suberror: 1"), "KVM internal error"),
        (BootFacts(1, 3, False, False, ""), None),  # the guest wrote: it ran
        (BootFacts(-6, 3, False, False, ABORT_MESSAGE), None),
        (BootFacts(-9, 0, True, False, ""), None),  # a timeout: it may have run silently
        (BootFacts(KRAFTLD_EXIT_CODE, 0, False, False, ""), None),
        (BootFacts(UNIKRAFT_CRASH_CODE, 0, False, False, ""), None),
        (BootFacts(0, 0, False, False, ""), None),  # halted: the guest ran
    ],
)
def test_kvm_failure_rule(facts: BootFacts, failed: str | None) -> None:
    reason = kvm.kvm_failed_before_guest(facts)
    if failed is None:
        assert reason is None
    else:
        assert reason is not None and failed in reason


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        ("works\na guest ran\n", Verdict(True, "a guest ran")),
        ("fails\nQEMU was killed by SIGABRT\n", Verdict(False, "QEMU was killed by SIGABRT")),
        ("", None),
        ("fa", None),  # torn
        ("fails", None),  # torn before its line break
        ("fails\nQEMU was kil", None),
        ("maybe\n\n", None),
        (b"\xff\xfe", None),
    ],
)
def test_a_torn_or_unreadable_verdict_is_unknown(tmp_path: Path, content: str | bytes, verdict: Verdict | None) -> None:
    path = tmp_path / "verdict"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert kvm.remembered_verdict(str(path)) == verdict


def test_verdict_is_written_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = kvm.verdict_path(str(tmp_path), "/usr/bin/qemu-system-x86_64")
    assert kvm.remembered_verdict(path) is None
    kvm.remember_verdict(path, Verdict(True, "ran"))
    seen = []
    real_replace = os.replace

    def replace_watched(source: str, target: str) -> None:
        seen.append(kvm.remembered_verdict(target))  # the old verdict, whole, until the rename
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_watched)
    kvm.remember_verdict(path, Verdict(False, "QEMU exited\nwith status 1"))
    assert seen == [Verdict(True, "ran")]
    assert kvm.remembered_verdict(path) == Verdict(False, "QEMU exited with status 1")
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]


def test_unwritable_cache_costs_only_the_verdict(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    kvm.remember_verdict(str(blocker / "kvm" / "verdict"), Verdict(True, "ran"))  # no exception


def test_no_device_means_no_kvm(tmp_path: Path) -> None:
    assert not kvm.kernel_offers_kvm(str(tmp_path / "kvm"))
    (tmp_path / "not-kvm").write_text("")
    assert not kvm.kernel_offers_kvm(str(tmp_path / "not-kvm"))  # the ioctl fails on a plain file


def test_the_process_wrapper_logs_and_names_a_missing_qemu(tmp_path: Path) -> None:
    from kraftld.errors import RunError

    with pytest.raises(RunError, match="QEMU not found"):
        start(Launch((str(tmp_path / "no-qemu"),), str(tmp_path)))
