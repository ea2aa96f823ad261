"""KVM detection's pieces, and the terminal progress line."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from kraftld import kvm
from kraftld.progress import TerminalProgress


def test_no_device_means_no_kvm(tmp_path: Path) -> None:
    assert not kvm.kernel_offers_kvm(str(tmp_path / "kvm"))
    (tmp_path / "not-kvm").write_text("")
    assert not kvm.kernel_offers_kvm(str(tmp_path / "not-kvm"))  # the ioctl fails on a plain file


@pytest.mark.parametrize(
    ("stderr", "failed"),
    [
        ("KVM internal error. Suberror: 1\nemulation failure", True),
        ("qemu-system-x86_64: failed to initialize kvm: Permission denied", True),
        ("Could not access KVM kernel module: No such file or directory", True),
        ("qemu-system-x86_64: warning: host doesn't support requested feature", False),
        ("", False),
    ],
)
def test_kvm_failure_signs(stderr: str, failed: bool) -> None:
    assert kvm.shows_kvm_failure(stderr) is failed


def test_verdict_is_remembered(tmp_path: Path) -> None:
    path = kvm.verdict_path(str(tmp_path), "/usr/bin/qemu-system-x86_64")
    assert kvm.remembered_verdict(path) is None
    kvm.remember_verdict(path, False)
    assert kvm.remembered_verdict(path) is False
    kvm.remember_verdict(path, True)
    assert kvm.remembered_verdict(path) is True


def test_progress_is_quiet_for_a_quick_build_and_clears_its_line(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 0.5, 1.5, 1.55, 1.7, 3.0])
    monkeypatch.setattr("kraftld.progress.time.monotonic", lambda: next(clock))
    stream = io.StringIO()
    progress = TerminalProgress(stream, owned=False)
    progress.start("building")  # t=0
    progress.line("  CC libukboot: boot.o\n")  # t=0.5: within the first second, nothing shown
    assert stream.getvalue() == ""
    progress.line("  CC libukboot: early_init.o\n")  # t=1.5: shown
    progress.line("  CC libukboot: skipped.o\n")  # t=1.55: too soon after the last update
    progress.line("  LD app.dbg\n")  # t=1.7
    progress.finish()
    shown = stream.getvalue()
    assert "early_init.o" in shown and "skipped.o" not in shown and "LD app.dbg" in shown
    assert shown.endswith("\r\x1b[K")
