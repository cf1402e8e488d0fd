"""The untethered on-phone runner: a static C program that runs an exported governor on the phone by itself.

Sources in ``csrc/`` (C11, libc only), built with Zig's C toolchain (:mod:`metadvfs.runner.build`); the run plan it
reads is written by :mod:`metadvfs.runner.plan`; :mod:`metadvfs.runner.decide` drives its ``decide`` and ``bench``
modes from Python (parity tests, ``bench-governor``).
"""
