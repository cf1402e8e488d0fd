"""ADB device twin: a simulated, rooted Pixel behind a real ADB endpoint (see docs/twin.md)."""

from metadvfs.twin.clock import Clock, ManualClock, RealTimeClock
from metadvfs.twin.server import FAULTS, TwinServer

__all__ = ["FAULTS", "Clock", "ManualClock", "RealTimeClock", "TwinServer"]
