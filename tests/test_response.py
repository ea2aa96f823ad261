"""Response files: gcc's reading rules, rustc's format, nesting, and broken files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kraftld.errors import ResponseFileError
from kraftld.response import expand_response_files, split_response_text
from support import HOST_FACT

FIXTURES = Path(__file__).parent / "fixtures" / "rustc"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a b  c", ["a", "b", "c"]),
        ("a\nb\r\nc\t d", ["a", "b", "c", "d"]),
        ("'a b' \"c d\"", ["a b", "c d"]),
        ("a\\ b c\\\\d", ["a b", "c\\d"]),
        ("dir\\ with\\ space/x.o\nback\\\\slash\\ dir/y.o", ["dir with space/x.o", "back\\slash dir/y.o"]),
        ("'it''s'", ["its"]),
        ('"a\\"b"', ['a"b']),
        ("'a\\'b'", ["a'b"]),  # libiberty honours the backslash inside single quotes too
        ("''", [""]),
        ("", []),
        ("   \n\n ", []),
        ("-Wl,--as-needed\n-L\n/x", ["-Wl,--as-needed", "-L", "/x"]),
        ("a'b c'd", ["ab cd"]),
        ("trailing\\", ["trailing"]),
    ],
)
def test_split_follows_libiberty(text: str, expected: list[str]) -> None:
    assert split_response_text(text) == expected


def test_rustc_response_file_keeps_spaces_and_backslashes() -> None:
    args = split_response_text((FIXTURES / "rustc196-std-response-file.rsp").read_text())
    assert args[0] == "-m64"
    assert any(" " in a for a in args), "the fixture has -L folders with spaces"
    assert any("\\" in a for a in args), "the fixture has a folder with a backslash"
    assert all(a.strip() == a for a in args)


def test_expands_in_place_and_nested(tmp_path: Path) -> None:
    inner = tmp_path / "inner.rsp"
    inner.write_text("b c")
    outer = tmp_path / "outer.rsp"
    outer.write_text(f"a @{inner} d")
    assert expand_response_files(["x", f"@{outer}", "y"]) == ["x", "a", "b", "c", "d", "y"]


def test_relative_response_file_is_found_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "args").write_text("-o out")
    monkeypatch.chdir(tmp_path)
    assert expand_response_files(["@args"]) == ["-o", "out"]


def test_lone_at_sign_is_an_argument() -> None:
    assert expand_response_files(["@"]) == ["@"]


def test_non_utf8_bytes_survive(tmp_path: Path) -> None:
    rsp = tmp_path / "a.rsp"
    rsp.write_bytes(b"caf\xe9.o")
    (arg,) = expand_response_files([f"@{rsp}"])
    assert os.fsencode(arg) == b"caf\xe9.o"


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("missing", "response file not found"),
        ("directory", "is a directory"),
        ("binary", "contains NUL bytes"),
        ("self", "includes itself"),
        ("cycle", "includes itself"),
        ("unreadable", "cannot read"),
    ],
)
def test_broken_response_files(tmp_path: Path, setup: str, message: str) -> None:
    target = tmp_path / "f.rsp"
    if setup == "directory":
        target.mkdir()
    elif setup == "binary":
        target.write_bytes(b"-o\0out")
    elif setup == "self":
        target.write_text(f"a @{target}")
    elif setup == "cycle":
        other = tmp_path / "g.rsp"
        other.write_text(f"@{target}")
        target.write_text(f"@{other}")
    elif setup == "unreadable":
        target.write_text("a")
        target.chmod(0)
        if os.access(target, os.R_OK):
            pytest.skip(f"{HOST_FACT} running as root, who reads any file")
    with pytest.raises(ResponseFileError, match=message):
        expand_response_files([f"@{target}"])


def test_exponential_nesting_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kraftld.response.MAX_EXPANDED_ARGS", 1000)
    previous = tmp_path / "0.rsp"
    previous.write_text("x " * 10)
    for level in range(1, 12):
        current = tmp_path / f"{level}.rsp"
        current.write_text(f"@{previous} @{previous}")
        previous = current
    with pytest.raises(ResponseFileError, match="more than 1000"):
        expand_response_files([f"@{previous}"])
