"""kraftld-cc: a gcc-compatible compiler driver for the unikernel (compiles against the configured
Unikraft build's libc headers with Unikraft's flags; links through kraftld)."""
