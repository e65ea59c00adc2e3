"""The surrogate's structural timing anchor (Kernel.timing_estimate) against the stored synthesis records: per
dataset and kernel group, how often its lut_depth equals the record's (exact, within one level) and the mean
absolute error of its crit_ns. No training, no synthesis (seconds).

    python bench/timing_anchor.py [--out bench/results/timing_anchor.md]
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

from hwgen import kernels
from hwgen.datasets.store import load_records
from hwgen.flows.report import write_bench_results
from hwgen.kernels import parse_spec

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["tlmm", "attention", "layer_kernels", "holdout_tlmm", "holdout_attention", "fresh_s4242_tlmm",
            "fresh_s4242_attention"]


def groups(spec) -> list[str]:
    """The design's rows: its kernel group, for TLMM also its table style over all G, and "all"."""
    if spec.kind == "tlmm":
        style = f"tlmm {spec.table_style}" + (" stream" if spec.weight_memory == "stream" else "")
        if spec.weight_memory == "stream":
            return [style, "all"]
        return [f"{style} G={spec.G}", f"{style} (all)", "all"]
    if spec.kind == "attention_prefill":
        return [spec.kind + (" reversed" if spec.reversed else " forward"), "all"]
    return [spec.kind, "all"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "timing_anchor.md")
    args = ap.parse_args()
    lines = ["# The structural timing anchor against the stored records", "",
             "`python bench/timing_anchor.py`: `Kernel.timing_estimate` (docs/timing.md section 4) for every stored "
             "design of a kernel that has one, against the record's `lut_depth` and `extra.critical_path.crit_ns` "
             "(open flow, Yosys 0.23). Kernels without an estimate (the layer kernels but the TLMM) are not "
             "listed.", ""]
    data = {}
    for name in DATASETS:
        stats = collections.defaultdict(lambda: [0, 0, 0, 0.0])
        for r in load_records(ROOT / "datasets" / name, status="ok"):
            spec = parse_spec(r.extra["spec"])
            est = kernels.get(spec.kind).timing_estimate(spec)
            crit = (r.extra.get("critical_path") or {}).get("crit_ns")
            if est is None or r.lut_depth is None or not crit:
                continue
            for g in groups(spec):
                s = stats[g]
                s[0] += 1
                s[1] += est["lut_depth"] == r.lut_depth
                s[2] += abs(est["lut_depth"] - r.lut_depth) <= 1
                s[3] += abs(est["crit_ns"] - crit) / crit
        if not stats:
            continue
        lines += [f"## datasets/{name}", "", "| group | n | lut_depth exact | within 1 | crit_ns MAPE % |",
                  "|---|---:|---:|---:|---:|"]
        data[name] = {}
        for g in sorted(stats, key=lambda g: (g != "all", g)):
            n, exact, within1, ape = stats[g]
            data[name][g] = {"n": n, "depth_exact": exact / n, "depth_within1": within1 / n, "crit_mape": 100 * ape / n}
            label = f"**{g}**" if g == "all" else g
            lines.append(f"| {label} | {n} | {exact / n:.0%} | {within1 / n:.0%} | {100 * ape / n:.1f} |")
        lines.append("")
    write_bench_results(args.out, lines, data)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
