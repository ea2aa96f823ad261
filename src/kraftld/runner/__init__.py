"""kraftld-run, the second program: boots an image linked by kraftld under QEMU.

settings (argv + environment, once) -> devices (what the guest gets, checked against the image)
-> qemu (the command, pure) -> boot (the accelerator choice and the one place QEMU starts, via
process) -> console (the program's output and status) -> cli (errors and signals to statuses).
"""
