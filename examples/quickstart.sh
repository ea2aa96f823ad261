#!/usr/bin/env bash
# From a fresh Debian or Ubuntu machine to a booted unikernel in one command: installs the build
# tools and QEMU, installs kraftld into .venv, links the C example on kraftld's embedded default
# (qemu/x86_64) and boots it. Without KRAFTLD_UNIKRAFT or KRAFTLD_SOURCES, kraftld clones
# Unikraft into its cache on the first link.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
$sudo apt-get update -qq
$sudo apt-get install -y -qq gcc make flex bison git qemu-system-x86 python3-venv >/dev/null
python3 -m venv "$root/.venv"
"$root/.venv/bin/pip" install -q -e "$root"
export PATH="$root/.venv/bin:$PATH"
make -C "$root/examples/c" --no-print-directory run ARGS="${*:-hello unikernel}"
