"""ADB device layer: connect to a (rooted) phone, discover its DVFS interfaces, read and write them.

Modules:

* :mod:`~metadvfs.adb.keys`: the host's ADB RSA key (created once, 0600).
* :mod:`~metadvfs.adb.link`: one ADB connection (TCP or USB) with timeouts on every call and root detection.
* :mod:`~metadvfs.adb.shellsafe`: quoting and validation of everything that reaches a device shell.
* :mod:`~metadvfs.adb.sections`: one-round-trip compound commands with sectioned output.
* :mod:`~metadvfs.adb.parsers`: parsers of sysfs, procfs and ``dumpsys`` output (validated, one-line errors).
* :mod:`~metadvfs.adb.discovery`: find cpufreq policies, the GPU, thermal zones and power meters.
* :mod:`~metadvfs.adb.binding`: map a discovered phone onto a device profile's domains and codec constants.
* :mod:`~metadvfs.adb.apps`: Android package names of the catalog apps.
* :mod:`~metadvfs.adb.agents`: on-phone frame poller and root applier (keep ``dumpsys`` and ``su`` out of a step).
* :mod:`~metadvfs.adb.sampler`: one read per control step, turned into a :class:`~metadvfs.environment.codec.Reading`.
* :mod:`~metadvfs.adb.control`: frequency writes, snapshots and restores.

Interfaces and their sources: ``docs/deploy.md``.
"""
