"""kraftld: a gcc-compatible linker driver that turns a compiler's link line into a Unikraft image."""

__version__ = "0.1.0"
