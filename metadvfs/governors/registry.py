"""Governor names -> governor objects.

Names: ``stock`` (the device's own Android stack: schedutil with the vendor tunables, PowerHAL boosts and the
stock GPU governor; see :mod:`metadvfs.governors.vendor_stack`), ``performance``, ``powersave``, ``schedutil``,
``ondemand``, ``conservative`` (CPU governors paired with the device's stock GPU governor), ``fixed`` or
``fixed:<fraction>``, ``oracle``, and explicit pairs ``<cpu>/<gpu>`` with a GPU governor from
``simple_ondemand``, ``mali``, ``performance``, ``powersave``.
"""

from __future__ import annotations

from collections.abc import Callable

from metadvfs.errors import MetaDVFSError, unknown_name
from metadvfs.governors.base import Governor
from metadvfs.governors.oracle import Oracle
from metadvfs.governors.stock import (
    CPU,
    GPU_DOM,
    Composite,
    Conservative,
    Fixed,
    MaliQuickstep,
    Ondemand,
    Performance,
    Powersave,
    Schedutil,
)

CPU_GOVERNORS: dict[str, Callable[[], Governor]] = {
    "schedutil": Schedutil,
    "ondemand": Ondemand,
    "conservative": Conservative,
    "performance": lambda: Performance(CPU),
    "powersave": lambda: Powersave(CPU),
}
GPU_GOVERNORS: dict[str, Callable[[], Governor]] = {
    # "stock": the device's own: Mali quickstep on Tensor, simple_ondemand (msm-adreno-tz stand-in) on Adreno.
    "stock": MaliQuickstep,
    "mali": MaliQuickstep,
    "performance": lambda: Performance(GPU_DOM),
    "powersave": lambda: Powersave(GPU_DOM),
}
STOCK_NAMES: tuple[str, ...] = (
    "stock",
    "performance",
    "powersave",
    "schedutil",
    "ondemand",
    "conservative",
    "fixed",
)
GOVERNOR_NAMES: tuple[str, ...] = (*STOCK_NAMES, "oracle")


def _simple() -> Governor:
    from metadvfs.governors.stock import SimpleOndemand

    return SimpleOndemand()


GPU_GOVERNORS["simple_ondemand"] = _simple


def make_governor(name: str) -> Governor:
    """Build a governor from its name.

    Args:
        name: See the module docstring.

    Returns:
        A fresh governor (call ``reset`` before use).
    """
    name = name.strip()
    if name == "performance":
        return Performance()
    if name == "powersave":
        return Powersave()
    if name == "oracle":
        return Oracle()
    if name == "stock":
        from metadvfs.governors.vendor_stack import VendorStock

        return VendorStock()
    if name == "fixed" or name.startswith("fixed:"):
        frac = 0.5
        if ":" in name:
            try:
                frac = float(name.split(":", 1)[1])
            except ValueError:
                raise MetaDVFSError(f"governor {name!r}: fixed:<fraction> needs a number in [0, 1]") from None
        return Fixed(frac)
    cpu_name, _, gpu_name = name.partition("/")
    if cpu_name not in CPU_GOVERNORS:
        raise unknown_name("governor", name, [*GOVERNOR_NAMES, "fixed:<0..1>", "<cpu>/<gpu>"])
    gpu_key = gpu_name or "stock"
    if gpu_key not in GPU_GOVERNORS:
        raise unknown_name("GPU governor", gpu_key, list(GPU_GOVERNORS))
    return Composite(CPU_GOVERNORS[cpu_name](), GPU_GOVERNORS[gpu_key]())
