"""Bind a discovered phone to a device profile: canonical domains (little, mid, big, gpu) <-> sysfs nodes.

A profile cluster with CPUs ``a-b`` is served by cpufreq ``policy<a>``; the GPU is the discovered GPU.
ODPM rails are matched to domains by schematic name (``..._VDD_CPUCL<k>`` is the k-th cluster from the
smallest, ``..._VDD_G3D``/``GPU`` is the GPU; ``G3D_L2`` and other rails only count in the total).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from metadvfs.adb.discovery import Layout, PolicyInfo
from metadvfs.catalog.types import CPU_DOMAINS, DeviceProfile
from metadvfs.environment.codec import CodecSpec
from metadvfs.errors import MetaDVFSError

_GPU_RAIL = re.compile(r"(?i)(?:^|_)(G3D|GPU)$")
_CPU_RAIL = re.compile(r"(?i)_VDD_CPUCL(\d)$")


def profile_codec_spec(profile: DeviceProfile) -> CodecSpec:
    """The codec constants of a profile, built exactly as the simulated env builds them (``EnvBatch``).

    Returns:
        A :class:`~metadvfs.environment.codec.CodecSpec` with arrays of shape (1, 4) / (1,).
    """
    from metadvfs.sim.device_arrays import compile_devices

    return CodecSpec.of(compile_devices([profile]))


def profile_for_codename(codename: str) -> DeviceProfile:
    """The catalog profile listing ``codename`` (``ro.product.device``).

    Raises:
        MetaDVFSError: No shipped profile has it (the message lists the known codenames).
    """
    from metadvfs.catalog.devices import list_devices, load_device

    known: list[str] = []
    for name in list_devices():
        prof = load_device(name)
        if codename in prof.codenames:
            return prof
        known.extend(prof.codenames)
    raise MetaDVFSError(
        f"no device profile for codename {codename!r} (known: {', '.join(sorted(known))}); pass --device PROFILE"
    )


@dataclass(frozen=True)
class Binding:
    """A phone bound to a profile.

    Attributes:
        layout: What was discovered.
        profile: The device profile.
        policies: cpufreq policy per CPU domain (little, mid, big), ``None`` if the profile lacks the domain.
        tables_khz: The phone's frequency table per domain (empty for absent domains).
        mask: (4,) 1 where the domain exists.
        rail_domain: ``{ODPM rail: domain index}`` for rails attributed to a domain.
        spec: Codec constants from the profile (as the simulated env).
    """

    layout: Layout
    profile: DeviceProfile
    policies: tuple[PolicyInfo | None, ...]
    tables_khz: tuple[tuple[int, ...], ...]
    mask: np.ndarray
    rail_domain: dict[str, int]
    spec: CodecSpec

    def domain_cpus(self, d: int) -> tuple[int, ...]:
        """CPUs of CPU domain ``d`` (empty for the GPU or absent domains)."""
        p = self.policies[d] if d < 3 else None
        return p.cpus if p is not None else ()


def bind(layout: Layout, profile: DeviceProfile) -> Binding:
    """Bind ``layout`` to ``profile``.

    Raises:
        MetaDVFSError: The phone lacks a policy the profile needs (names the policy and the phone's policies).
    """
    pols: list[PolicyInfo | None] = []
    tables: list[tuple[int, ...]] = []
    for dom in CPU_DOMAINS:
        c = profile.cluster(dom)
        if c is None:
            pols.append(None)
            tables.append(())
            continue
        name = f"policy{c.first_cpu}"
        p = layout.policy(name)
        if p is None:
            have = ", ".join(x.name for x in layout.policies)
            raise MetaDVFSError(
                f"phone has no cpufreq {name} for the {dom} cluster (cpus {c.cpus}) of profile {profile.name}; "
                f"phone policies: {have}"
            )
        pols.append(p)
        tables.append(p.freqs_khz)
    tables.append(layout.gpu.freqs_khz)
    mask = np.array([1.0 if p is not None else 0.0 for p in pols] + [1.0])
    rail_domain: dict[str, int] = {}
    present = [i for i in range(3) if pols[i] is not None]
    for rail in layout.power.rails:
        m = _CPU_RAIL.search(rail)
        if m and int(m.group(1)) < len(present):
            rail_domain[rail] = present[int(m.group(1))]
        elif _GPU_RAIL.search(rail):
            rail_domain[rail] = 3
    return Binding(
        layout=layout,
        profile=profile,
        policies=tuple(pols),
        tables_khz=tuple(tables),
        mask=mask,
        rail_domain=rail_domain,
        spec=profile_codec_spec(profile),
    )
