"""Running a governor on a phone: ``metadvfs record`` and ``metadvfs deploy``.

* :mod:`~metadvfs.deploy.services`: the platform services and properties that override frequency writes, per
  device family, and how they are stopped and restored.
* :mod:`~metadvfs.deploy.watchdog`: the on-device watchdog script that restores the stock settings when the
  host's heartbeat stops.
* :mod:`~metadvfs.deploy.session`: :class:`~metadvfs.deploy.session.ControlSession`, which owns the phone while a
  governor runs (snapshot, take-over, heartbeat, restore on every exit path).
* :mod:`~metadvfs.deploy.record`: sample a phone under its stock governor into a ``metadvfs.trace/1`` trace.
* :mod:`~metadvfs.deploy.run`: the ``deploy`` control loop.
* :mod:`~metadvfs.deploy.bench`: control-loop and decision latency benchmarks on the loopback twin.

User documentation: ``docs/deploy.md``.
"""
