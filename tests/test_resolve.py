"""The resolve stage called directly: which inputs a unikernel link refuses, by content and by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from kraftld.errors import InputError
from kraftld.linkline import parse_link_line
from kraftld.resolve import StagedFile, resolve_link


@pytest.mark.parametrize(
    ("name", "content", "args"),
    [
        # The README promises `.so` inputs are errors: ld would read a non-ELF one as a linker script.
        ("libfoo.so", b"", ["libfoo.so"]),
        ("libfoo.so", b"GROUP ( /lib/libc.so.6 )\n", ["libfoo.so"]),
        ("libfoo.so.1.2", b"not elf at all", ["libfoo.so.1.2"]),
        ("libfoo.so", b"", ["-L.", "-l:libfoo.so"]),
    ],
)
def test_a_shared_library_by_name_is_refused_whatever_it_holds(
    tmp_path: Path, object_bytes: bytes, name: str, content: bytes, args: list[str]
) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(InputError, match="is a shared object"):
        resolve_link(parse_link_line(["main.o", *args, "-o", "app"]), str(tmp_path))


@pytest.mark.parametrize("name", ["script.ld", "foo.sock.o", "libfoo.so.o", "libsomething.a"])
def test_names_that_only_look_alike_are_judged_by_content(tmp_path: Path, object_bytes: bytes, name: str) -> None:
    (tmp_path / "main.o").write_bytes(object_bytes)
    (tmp_path / name).write_bytes(object_bytes if name.endswith(".o") else b"/* a linker script */\n")
    if name.endswith(".a"):
        (tmp_path / name).write_bytes(b"!<arch>\n")
    link = resolve_link(parse_link_line(["main.o", name, "-o", "app"]), str(tmp_path))
    staged = [item for item in link.items if isinstance(item, StagedFile)]
    assert [Path(item.path).name for item in staged] == ["main.o", name]
