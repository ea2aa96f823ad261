"""Reads which symbols a link really needs from outside its inputs, as GNU ld would decide it.

Each object is read with pyelftools (`objects`; archives are unpacked with binutils' `ar`,
`archives`): its sections, the global symbols each defines, and what each section's relocations
refer to. What a file holds is kept by its identity (path, size, modification time) (`cache`), so
the large rlibs of a Rust toolchain are read once; `inputs` reads a link input through it. Then,
as ld does, archive members are pulled in for the symbols still undefined, and — when the line
asks for `--gc-sections`, as rustc's always does — only what is reachable from `main`, the
constructors and the sections Unikraft's linker scripts keep counts (`needed`): a std program's
objects mention sockets and files whether or not it uses them, and only the reachable mentions
are what it needs.
"""
