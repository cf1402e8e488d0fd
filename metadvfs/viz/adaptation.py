"""Adaptation-curve plot: moving-average reward vs environment steps per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def plot_adaptation(report: dict[str, Any], path: Path, title: str = "adaptation") -> None:
    """Plot the reward curves of an adaptation report, marking each method's ``steps_to_95``.

    Args:
        report: Output of :func:`metadvfs.meta.adapt.adapt` (``curves``, ``methods``, ``ma_width_rollouts``).
        path: PNG file to write.
        title: Plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from metadvfs.meta.adapt import moving_average

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    width = int(report.get("ma_width_rollouts", 1))
    for name, pts in report["curves"].items():
        a = np.asarray(pts, dtype=float)
        line = ax.plot(a[:, 0], moving_average(a[:, 1], width), label=name)[0]
        s95 = report["methods"][name]["steps_to_95"]
        if s95 is not None:
            ax.axvline(s95, color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("reward (moving average, 60 s)")
    ax.set_title(f"{title} (dotted: 95 % of converged)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
