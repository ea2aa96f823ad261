"""Chooses the Unikraft libraries and options a link needs from the symbols its inputs leave undefined.

The rules are data (`rules`): symbols that call for libraries and Kconfig options, each row with
its why (`kraftld --explain-libraries` prints them). Beyond the rules, every symbol must be
exported by some available library: a core library's `exportsyms.uk` (whose library is then
enabled), nolibc when that suffices, else lib-musl (`selection`, pure). `choose` reads what a
choice needs — the link's symbols (`kraftld.symbols`), what kraftld's runtime object defines,
what the sources at hand export (`kraftld.exports`) — and `report` tells a person what was
chosen and why. The choice is expressed as a Kraftfile (`selection.apply`), so it keys the build
cache like any configuration and `--print-kraftfile` can write it out.
"""
