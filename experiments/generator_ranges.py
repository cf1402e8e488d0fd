"""Ranges of the device generator per SoC family, and whether they contain each real phone.

Two checks: (1) the family ranges over all catalog phones (what ``generated:`` samples in training) contain
every catalog phone (by construction); (2) leave-one-phone-out: ranges built from the *other* phones of the
family (what a LODO fold's generator sees) - which parameters of the held-out phone fall outside them. Also
the min/max of the parameters over 200 generated phones per family.

Run from the repository root::

    python experiments/generator_ranges.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C


def main() -> None:
    """Write experiments/results/generator_ranges/results.md and results.json."""
    from metadvfs.catalog.devices import list_devices, load_device
    from metadvfs.tasks.generator import _scalars, family_ranges, generate_device

    t0 = time.perf_counter()
    names = list_devices()
    profs = {n: load_device(n) for n in names}
    fams = sorted({p.metadata.soc_family for p in profs.values()})
    md = ["# Device generator: ranges and the real phones", ""]
    data: dict = {"families": {}, "loo": {}}
    for fam in fams:
        members = [n for n in names if profs[n].metadata.soc_family == fam]
        rng = family_ranges(list(profs.values()), fam)
        gen = [generate_device(members, i, 0) for i in range(200)]
        seen: dict[str, list[float]] = {}
        for g in gen:
            for k, v in _scalars(g).items():
                seen.setdefault(k, []).append(v)
        rows = []
        for k, (lo, hi) in rng.items():
            real = ", ".join(f"{n} {_scalars(profs[n]).get(k, float('nan')):g}" for n in members)
            rows.append([k, f"{lo:g} .. {hi:g}", f"{min(seen[k]):g} .. {max(seen[k]):g}", real])
        md += [f"## {fam} ({', '.join(members)})", ""]
        md += C.md_table(["parameter", "sampling range", "200 generated: min .. max", "real phones"], rows)
        md.append("")
        data["families"][fam] = {k: list(v) for k, v in rng.items()}
    md += [
        "## Leave one phone out",
        "",
        "Ranges from the *other* phones (as a leave-one-device-out fold's generator sees them): parameters of "
        "the held-out phone outside them, for the `family` pool with a 10 % margin and the `all` pool (every "
        "other phone, any family) with 25 % (the `generated:` default).",
        "",
    ]
    for pool, margin in (("family", 0.10), ("all", 0.25)):
        rows = []
        tot_in = tot = 0
        for n in names:
            fam = profs[n].metadata.soc_family
            others = [profs[m] for m in names if m != n and (pool == "all" or profs[m].metadata.soc_family == fam)]
            if not others:
                rows.append([n, "-", "no other phone of the family"])
                continue
            rng = family_ranges(others, fam if pool == "family" else None, margin)
            sc = _scalars(profs[n])
            out = [
                f"{k} {v:g} ({rng[k][0]:g}..{rng[k][1]:g})"
                for k, v in sc.items()
                if k in rng and not rng[k][0] <= v <= rng[k][1]
            ]
            missing = [k for k in sc if k not in rng]
            data["loo"][f"{pool}-{n}"] = {"outside": out, "no_range": missing}
            tot_in += len(sc) - len(out) - len(missing)
            tot += len(sc)
            rows.append(
                [
                    n,
                    f"{len(sc) - len(out) - len(missing)}/{len(sc)}",
                    "; ".join(out + [f"{k}: no other phone has it" for k in missing]) or "all inside",
                ]
            )
        md += [f"### pool `{pool}`, margin {margin:.0%}: {tot_in}/{tot} parameters inside", ""]
        md += C.md_table(["held-out phone", "inside", "outside"], rows)
        md.append("")
    C.write_report(C.RESULTS / "generator_ranges", md, data, time.perf_counter() - t0)


if __name__ == "__main__":
    C.no_options(__doc__)
    main()
