"""Polling helper shared by the tests that wait on a twin, a watchdog or a background process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(cond: Callable[[], object], timeout: float, step: float = 0.05) -> bool:
    """Poll ``cond`` every ``step`` s until it is truthy or ``timeout`` s have passed; the last check decides."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return bool(cond())
