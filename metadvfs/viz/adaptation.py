"""Adaptation plot: held-out quality (PPR normalised to stock, QoE) against phone-minutes, per method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metadvfs.meta.measure import QOE_TOLERANCE, QUALITY_FRACTION


def plot_adaptation(report: dict[str, Any], path: Path, title: str = "adaptation") -> None:
    """Plot the held-out curves of an adaptation report (:func:`metadvfs.meta.adapt.adapt`).

    Top: ``ppr_norm`` against phone-minutes, with the reference's 95 % line and the oracle; bottom: QoE with the
    stock governor's and the reference's - 0.01 (the QoE clause of ``minutes_to_95``). A dotted vertical line
    marks each method's ``minutes_to_95``.

    Args:
        report: The adaptation report (``methods[*].curve``, ``reference``, ``oracle``, ``stock``).
        path: PNG file to write.
        title: Plot title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, aq) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True, height_ratios=(2, 1))
    for name, m in report["methods"].items():
        c = m["curve"]
        x = [p[0] for p in c]
        line = ax.plot(x, [p[1] for p in c], marker=".", label=name)[0]
        aq.plot(x, [p[2] for p in c], marker=".", color=line.get_color())
        if m.get("minutes_to_95") is not None:
            ax.axvline(m["minutes_to_95"], color=line.get_color(), ls=":", lw=1)
    ref = report.get("reference")
    if ref:  # the two clauses of minutes_to_95 (metadvfs.meta.measure)
        ax.axhline(QUALITY_FRACTION * ref["ppr_norm"], color="k", ls="--", lw=1, label="95 % of reference")
        aq.axhline(ref["qoe"] - QOE_TOLERANCE, color="k", ls="--", lw=1, label="reference - 0.01")
    ax.axhline(report["oracle"]["ppr_norm"], color="grey", ls="-.", lw=1, label="oracle")
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    aq.axhline(report["stock"]["qoe"], color="grey", ls=":", lw=1, label="stock")
    ax.set_ylabel("PPR / stock (held-out)")
    aq.set_ylabel("QoE")
    aq.set_xlabel("adaptation cost (phone-minutes)")
    ax.set_title(title)
    ax.legend(fontsize=7)
    aq.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    plt.close(fig)
