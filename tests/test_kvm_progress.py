"""The terminal progress line (KVM detection is in test_runner_kvm.py)."""

from __future__ import annotations

import io

import pytest

from kraftld.progress import TerminalProgress


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
