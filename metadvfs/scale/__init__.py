"""Scale-out: run independent units (trainings, evaluation shards, folds, sweeps) serially or on Ray.

Ray is optional (``pip install metadvfs[ray]``); without it every command runs serially and only ``--ray`` /
``metadvfs sweep`` ask for it. Modules:

- :mod:`metadvfs.scale.backend`: the ``--ray auto|local[:N]|ADDRESS`` option, connecting to Ray.
- :mod:`metadvfs.scale.runner`: :class:`Unit`, the serial and the Ray runner (retries of killed workers).
- :mod:`metadvfs.scale.storage`: the storage root every worker writes to (checked, atomic JSON).
- :mod:`metadvfs.scale.units`: the unit functions (resumable training, evaluation shard, guard).
- :mod:`metadvfs.scale.jobs`: several trainings / a sharded evaluation through a runner.
- :mod:`metadvfs.scale.sweep`: ``metadvfs sweep`` (Ray Tune + ASHA).
"""
