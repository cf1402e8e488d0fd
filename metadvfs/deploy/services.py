"""Platform services and properties that override frequency writes, per device family.

Sources (see ``docs/deploy.md``):

- **Qualcomm Pixels (3/4/5)**: androidx ``benchmark/gradle-plugin/src/main/resources/scripts/lockClocks.sh``
  stops ``thermal-engine``, ``perfd``, ``vendor.thermal-engine``, ``vendor.perfd`` and ``mpdecision`` and sets
  ``vendor.powerhal.init 0`` followed by a power-HAL interface restart.
- **Tensor Pixels (6+)**: the AOSP "performance test setup" scripts for 2022/2023 devices set
  ``persist.vendor.disable.thermal.control 1`` (skin) and ``persist.vendor.disable.thermal.tj.control 1``
  (junction), then ``vendor.powerhal.init 0`` and ``ctl.restart vendor.power-hal-aidl``.

Only services that are running are stopped, and only they are started again; every property is set back to
the value it had. ``keep_thermal=True`` leaves the thermal daemons and properties alone (the platform may
then cap clocks, which the controller reports as throttling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metadvfs.adb.link import AdbLink
from metadvfs.adb.parsers import parse_getprop
from metadvfs.adb.sections import Script, parse_sections
from metadvfs.adb.shellsafe import check_name, check_prop, check_prop_value, q
from metadvfs.catalog.types import DeviceProfile
from metadvfs.errors import MetaDVFSError


@dataclass(frozen=True)
class ServicePlan:
    """What to stop and set on one device family.

    Attributes:
        family: ``qualcomm``, ``tensor`` or ``generic``.
        services: init services stopped when running.
        props: ``(property, value)`` set during the run.
        restarts: ``(ctl property, target)`` issued after setting and after restoring the properties
            (best effort: failures are ignored).
        source: Where the recipe comes from.
    """

    family: str
    services: tuple[str, ...] = ()
    props: tuple[tuple[str, str], ...] = ()
    restarts: tuple[tuple[str, str], ...] = ()
    source: str = ""


def family_of(profile: DeviceProfile) -> str:
    """``qualcomm`` (Snapdragon), ``tensor`` (Google Tensor) or ``generic``."""
    fam = profile.metadata.soc_family.lower()
    if fam == "snapdragon" or profile.metadata.vendor.lower() == "qualcomm":
        return "qualcomm"
    if fam == "tensor":
        return "tensor"
    return "generic"


def plan_for(profile: DeviceProfile, keep_thermal: bool = False) -> ServicePlan:
    """The service plan of a device profile's family."""
    fam = family_of(profile)
    if fam == "qualcomm":
        thermal = () if keep_thermal else ("thermal-engine", "vendor.thermal-engine")
        return ServicePlan(
            family=fam,
            services=(*thermal, "perfd", "vendor.perfd", "mpdecision"),
            props=(("vendor.powerhal.init", "0"),),
            restarts=(("ctl.interface_restart", "android.hardware.power@1.0::IPower/default"),),
            source="androidx benchmark lockClocks.sh",
        )
    if fam == "tensor":
        thermal_props: tuple[tuple[str, str], ...] = (
            ()
            if keep_thermal
            else (("persist.vendor.disable.thermal.control", "1"), ("persist.vendor.disable.thermal.tj.control", "1"))
        )
        return ServicePlan(
            family=fam,
            props=(*thermal_props, ("vendor.powerhal.init", "0")),
            restarts=(("ctl.restart", "vendor.power-hal-aidl"),),
            source="AOSP performance test setup for 2022/2023 devices",
        )
    return ServicePlan(family=fam, source="none (unknown device family)")


@dataclass
class ServiceState:
    """Stock state of the plan's services and properties.

    Attributes:
        running: Services that were running (they are stopped, then started again).
        props: ``{property: stock value}`` (empty string when unset).
        restart_ok: Restart targets present on the phone.
    """

    running: list[str] = field(default_factory=list)
    props: dict[str, str] = field(default_factory=dict)
    restart_ok: list[tuple[str, str]] = field(default_factory=list)


class Services:
    """Stops and restores a :class:`ServicePlan` on a phone."""

    def __init__(self, link: AdbLink, plan: ServicePlan) -> None:
        self.link = link
        self.plan = plan
        for svc in plan.services:
            check_name(svc, "service")
        for name, value in plan.props:
            check_prop(name)
            check_prop_value(value, name)
        for ctl, target in plan.restarts:
            check_prop(ctl)
            check_name(target.replace("::", "__").replace("/", "_"), "restart target")
        self.state: ServiceState | None = None

    def snapshot(self) -> ServiceState:
        """Read service states and property values (one round trip)."""
        st = ServiceState()
        if not self.plan.services and not self.plan.props and not self.plan.restarts:
            self.state = st
            return st
        s = Script()
        for i, svc in enumerate(self.plan.services):
            s.run(f"s{i}", f"getprop {q('init.svc.' + svc)}")
        for i, (name, _v) in enumerate(self.plan.props):
            s.run(f"p{i}", f"getprop {q(name)}")
        for i, (ctl, target) in enumerate(self.plan.restarts):
            if ctl == "ctl.restart":
                s.run(f"r{i}", f"getprop {q('init.svc.' + target)}")
        r = parse_sections(self.link.read_shell(s.text()), s)
        for i, svc in enumerate(self.plan.services):
            if parse_getprop(r[f"s{i}"].text, f"getprop init.svc.{svc}") == "running":
                st.running.append(svc)
        for i, (name, _v) in enumerate(self.plan.props):
            value = parse_getprop(r[f"p{i}"].text, f"getprop {name}")
            try:
                st.props[name] = check_prop_value(value, name)
            except MetaDVFSError:
                raise MetaDVFSError(f"getprop {name}: unexpected stock value {value[:60]!r}") from None
        for i, (ctl, target) in enumerate(self.plan.restarts):
            if ctl != "ctl.restart" or parse_getprop(r[f"r{i}"].text, f"getprop init.svc.{target}"):
                st.restart_ok.append((ctl, target))
        self.state = st
        return st

    def stop_commands(self) -> list[tuple[str, str, bool]]:
        """``(label, command, optional)`` that take the platform out of the way."""
        st = self.state or ServiceState()
        cmds: list[tuple[str, str, bool]] = [(f"stop {svc}", f"stop {q(svc)}", False) for svc in st.running]
        cmds += [(f"setprop {n}", f"setprop {q(n)} {q(v)}", False) for n, v in self.plan.props if n in st.props]
        cmds += [(f"{c} {t}", f"setprop {q(c)} {q(t)}", True) for c, t in st.restart_ok if self.plan.props]
        return cmds

    def restore_commands(self) -> list[tuple[str, str, bool]]:
        """``(label, command, optional)`` that put the platform back."""
        st = self.state
        if st is None:
            return []
        return platform_restore_commands(st.props, st.restart_ok if st.props else [], st.running)

    def verify(self) -> list[str]:
        """Compare services and properties with the snapshot (one round trip)."""
        st = self.state
        if st is None or (not st.running and not st.props):
            return []
        s = Script()
        add_state_reads(s, st.running, st.props)
        return state_differences(parse_sections(self.link.read_shell(s.text()), s), st.running, st.props)

    def describe(self) -> list[str]:
        """Human-readable list of what a run changes."""
        st = self.state or ServiceState()
        lines = [f"stop service {s} (running now; started again afterwards)" for s in st.running]
        lines += [f"setprop {n} {v} (stock {st.props.get(n, '?')!r})" for n, v in self.plan.props]
        lines += [f"{c} {t}" for c, t in st.restart_ok if self.plan.props]
        return lines


def platform_restore_commands(
    props: Mapping[str, str], restarts: Sequence[tuple[str, str]], running: Sequence[str]
) -> list[tuple[str, str, bool]]:
    """``(label, command, optional)`` that put the platform back: properties, restarts (optional), services.

    Shared by a live session's restore and the persisted stock snapshot's ``restore.sh`` (deploy/stock.py).

    Args:
        props: Property name -> stock value.
        restarts: ``(ctl.restart|ctl.start, target)`` pairs to run after the properties.
        running: Services that were running and are started again.
    """
    cmds: list[tuple[str, str, bool]] = [(f"setprop {n}", f"setprop {q(n)} {q(v)}", False) for n, v in props.items()]
    cmds += [(f"{c} {t}", f"setprop {q(c)} {q(t)}", True) for c, t in restarts]
    cmds += [(f"start {svc}", f"start {q(svc)}", False) for svc in running]
    return cmds


def add_state_reads(s: Script, running: Sequence[str], props: Mapping[str, str]) -> None:
    """Add the reads of the services' ``init.svc`` states (sections ``s<i>``) and the properties (``p<i>``)."""
    for i, svc in enumerate(running):
        s.run(f"s{i}", f"getprop {q('init.svc.' + svc)}")
    for i, name in enumerate(props):
        s.run(f"p{i}", f"getprop {q(name)}")


def state_differences(r: Mapping[str, Any], running: Sequence[str], props: Mapping[str, str]) -> list[str]:
    """``"<what>: <read> != stock <value>"`` for every service not running and every property not at its value.

    Args:
        r: Parsed sections of a script built with :func:`add_state_reads`.
        running: Services that must be running.
        props: Properties and their stock values.
    """
    bad = []
    for i, svc in enumerate(running):
        got = r[f"s{i}"].text.strip()
        if got != "running":
            bad.append(f"service {svc}: {got!r} != stock 'running'")
    for i, (name, want) in enumerate(props.items()):
        got = r[f"p{i}"].text.strip()
        if got != want:
            bad.append(f"property {name}: {got!r} != stock {want!r}")
    return bad
