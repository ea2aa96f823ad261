#!/usr/bin/env python3
"""Measures how many small Lua tables fit in a guest of a given memory, side by side with the host, in one run.

    KRAFTLD_SOURCES=~/unikraft-mirror python3 bench/lua_tables.py --lua ~/lua-5.4.4
    python3 bench/lua_tables.py --host-lua hostlua/src/lua --guest-lua guestlua/src/lua

With --lua (a Lua 5.4 source tree, e.g. Debian's lua5.4 orig tarball unpacked) it builds Lua twice
in temporary copies: `make posix` with the host's gcc, and `make posix CC="kraftld-cc -std=gnu99"`
(kraftld-cc's default lib-musl configuration; a cold configuration builds first: minutes). Or give
both binaries already built. Then both run the same script: 200,000 live tables `{}`, and tables
`{i}` added until Lua reports "not enough memory" — the guest under kraftld-run --memory, the host
under an address-space limit of the same size (which also counts the host's binary and libc).
kraftld-run, kraftld-cc and gcc on PATH are used. It prints the figures and the ratio and asserts
nothing.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
from pathlib import Path

SCRIPT = """
local t = {}
for i = 1, 200000 do t[i] = {} end
print(string.format("200000 tables {}: Lua's count %.1f MiB", collectgarbage("count") / 1024))
t = {}
collectgarbage()
local ok, err = pcall(function() for i = 1, 1e9 do t[i] = {i} end end)
local n = #t
t = nil
collectgarbage() -- room to print in
print(string.format("tables {i} until failure: %d (%s)", n, tostring(err)))
"""


def parse_memory(text: str) -> int:
    match = re.fullmatch(r"(\d+)([MG])", text)
    if not match:
        raise SystemExit(f"--memory {text}: give it as 128M or 2G")
    return int(match.group(1)) << (20 if match.group(2) == "M" else 30)


def build(source: Path, folder: Path, cc: str) -> Path:
    tree = folder / "lua"
    shutil.copytree(source, tree)
    subprocess.run(["make", "-j2", "posix", f"CC={cc}"], cwd=tree, check=True, stdout=subprocess.DEVNULL)
    return tree / "src" / "lua"


def run_host(lua: Path, limit: int) -> str:
    def bound() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    completed = subprocess.run([str(lua), "-e", SCRIPT], capture_output=True, text=True, preexec_fn=bound)
    return completed.stdout + completed.stderr


def run_guest(lua: Path, memory: str) -> str:
    completed = subprocess.run(
        ["kraftld-run", "--memory", memory, str(lua), "-e", SCRIPT], capture_output=True, text=True, timeout=600
    )
    return completed.stdout + completed.stderr


def count(output: str) -> int | None:
    match = re.search(r"tables \{i\} until failure: (\d+)", output)
    return int(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lua", type=Path, help="a Lua 5.4 source tree to build for both")
    parser.add_argument("--host-lua", type=Path, help="a Lua built for the host")
    parser.add_argument("--guest-lua", type=Path, help="a Lua image built with kraftld-cc")
    parser.add_argument("--memory", default="128M")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kraftld-lua-bench-") as name:
        folder = Path(name)
        host, guest = options.host_lua, options.guest_lua
        if not (host and guest):
            if not options.lua:
                raise SystemExit("give --lua SOURCE, or both --host-lua and --guest-lua")
            host = host or build(options.lua, folder / "host", "gcc")
            guest = guest or build(options.lua, folder / "guest", "kraftld-cc -std=gnu99")
        host_output = run_host(host, parse_memory(options.memory))
        guest_output = run_guest(guest, options.memory)
    print(f"host, address space limited to {options.memory}:")
    print("  " + host_output.strip().replace("\n", "\n  "))
    print(f"guest, kraftld-run --memory {options.memory}:")
    print("  " + guest_output.strip().replace("\n", "\n  "))
    host_count, guest_count = count(host_output), count(guest_output)
    if host_count and guest_count:
        print(f"tables until failure: guest / host {guest_count / host_count:5.2f}")


if __name__ == "__main__":
    main()
