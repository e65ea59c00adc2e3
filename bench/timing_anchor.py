"""The surrogate's structural timing anchor against the stored synthesis records: per dataset and kernel group, how
often its lut_depth equals the record's (exact, within one level), the mean absolute error of its crit_ns, and the
SMAPE of the Fmax it implies (hwgen.timing.fmax_from_arrival of the anchor crit_ns, with the family and the anchor's
BRAM/URAM caps) against the record's fmax_mhz_est. No training, no synthesis (seconds).

The anchor is the one the GNN is given (HwGraph.analytical(): Kernel.timing_estimate, a composition's from its
members'); designs whose graph has no structural anchor (the layer kernels but the TLMM) are not listed.

    python bench/timing_anchor.py [--current] [--by-t] [--baseline OLD.json] [--out bench/results/timing_anchor.md]

--current: only the records whose RTL digest matches today's render (datasets.refresh.is_current); --by-t: TLMM rows
per table style and T as well.

--baseline: a .json this script wrote at another commit (the anchor before a change); the tables then show
before -> after. The committed baseline, timing_anchor_v5.json, is this script run on commit 6fbd233 (graph
features v5: crit_ns charged two levels per binary adder level, no adapter level in compositions):
    mkdir /tmp/v5 && git archive 6fbd233 | tar -x -C /tmp/v5 && cp bench/timing_anchor.py /tmp/v5/bench/ &&
    (cd /tmp/v5 && python bench/timing_anchor.py --out $OLDPWD/bench/results/timing_anchor_v5.md)
timing_anchor_current_v6.json, the baseline of timing_anchor_current.md, is the same on commit a3a97ec (graph
features v6) with `--current --by-t --out $OLDPWD/bench/results/timing_anchor_current_v6.md`.
The script imports the code of the checkout it sits in (surrogate_anchor_bias.bind_checkout).
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ["tlmm", "tlmm_adder", "composed", "attention", "layer_kernels", "bitnet_layer", "holdout_tlmm",
            "holdout_attention", "fresh_s4242_tlmm", "fresh_s4242_attention", "fresh_s7171_adder"]


def groups(spec) -> list[str]:
    """The design's rows: its kernel group (TLMM: table style, adder, per G and over all G), and "all"."""
    if spec.kind == "tlmm":
        style = f"tlmm {spec.table_style}" + (" stream" if spec.weight_memory == "stream" else "") + \
            (f" {spec.adder}" if spec.adder != "behavioral" else "")
        if spec.weight_memory == "stream":
            return [style, "all"]
        return [f"{style} G={spec.G}", f"{style} (all)", "all"]
    if spec.kind == "tlmm_naive":
        return ["tlmm_naive" + (f" {spec.adder}" if spec.adder != "behavioral" else ""), "all"]
    if spec.kind == "attention_prefill":
        return [spec.kind + (" reversed" if spec.reversed else " forward"), "all"]
    if spec.kind == "composed":
        return ["composed " + "+".join(sorted({m["kind"] for m in spec.kernels})), "all"]
    return [spec.kind, "all"]


def smape(y: float, p: float) -> float:
    """evaluate.smape's per-design term (percent)."""
    return 200.0 * abs(y - p) / (abs(y) + abs(p) + 1.0)


def measure(names: list[str], current: bool = False, by_t: bool = False) -> dict:
    """current: only records whose RTL digest matches today's render (a stale record's labels belong to older
    Verilog; datasets.refresh); by_t: TLMM groups per table style and T as well."""
    from hwgen import timing
    from hwgen.datasets import refresh
    from hwgen.datasets.refresh import current_digests
    from hwgen.datasets.store import load_records
    from hwgen.kernels import parse_spec
    from hwgen.surrogate.features import build_ir

    # a baseline checkout from before is_current was public (a3a97ec: timing_anchor_current_v6) names it _is_current
    is_current = getattr(refresh, "is_current", None) or refresh._is_current
    data = {}
    for name in names:
        stats = collections.defaultdict(lambda: {"n": 0, "exact": 0, "within1": 0, "crit_ape": 0.0, "nf": 0,
                                                 "fmax_smape": 0.0})
        for r in load_records(ROOT / "datasets" / name, status="ok"):
            if current and not is_current(r.extra, current_digests(r.extra["spec"])):
                continue
            spec = parse_spec(r.extra["spec"])
            g = build_ir(spec)
            crit = (r.extra.get("critical_path") or {}).get("crit_ns")
            if not g.timing or r.lut_depth is None or not crit:
                continue
            ana = g.analytical()
            fmax = timing.fmax_from_arrival(ana["crit_ns"], g.family, ana["bram36"] > 0, ana["uram"] > 0)
            keys = groups(spec)
            if by_t and spec.kind == "tlmm":   # the kernel group (keys[-2]: "... (all)", streams "...") per T
                style = keys[-2].removesuffix(" (all)")
                keys.append(f"{style} T={spec.T}" if spec.T < 10 else f"{style} T>=10")
            for key in keys:
                s = stats[key]
                s["n"] += 1
                s["exact"] += ana["lut_depth"] == r.lut_depth
                s["within1"] += abs(ana["lut_depth"] - r.lut_depth) <= 1
                s["crit_ape"] += abs(ana["crit_ns"] - crit) / crit
                if r.fmax_mhz_est:
                    s["nf"] += 1
                    s["fmax_smape"] += smape(r.fmax_mhz_est, fmax)
        if stats:
            data[name] = {k: {"n": s["n"], "depth_exact": s["exact"] / s["n"], "depth_within1": s["within1"] / s["n"],
                              "crit_mape": 100 * s["crit_ape"] / s["n"],
                              "fmax_smape": s["fmax_smape"] / s["nf"] if s["nf"] else None}
                          for k, s in stats.items()}
    return data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "timing_anchor.md")
    ap.add_argument("--baseline", type=Path, default=None, help="a .json of this script at another commit")
    ap.add_argument("--current", action="store_true", help="only records whose RTL digest matches today's render")
    ap.add_argument("--by-t", action="store_true", help="TLMM groups per table style and T as well")
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from surrogate_anchor_bias import bind_checkout

    commit = bind_checkout()
    from hwgen.errors import UserError
    from hwgen.flows.report import write_bench_results
    from hwgen.surrogate.features import FEATURE_VERSION

    base = {}
    if args.baseline:
        try:
            base = json.loads(args.baseline.read_text())
        except (OSError, ValueError) as e:
            raise UserError("baseline", f"cannot read {args.baseline}: {e}") from None
    data = measure(DATASETS, args.current, args.by_t)
    cmd = ("python bench/timing_anchor.py" + (" --current" if args.current else "") + (" --by-t" if args.by_t else "")
           + (f" --out {args.out}" if args.out != ap.get_default("out") else "")
           + (f" --baseline {args.baseline}" if base else ""))
    lines = ["# The structural timing anchor against the stored records", "",
             f"`{cmd}` (commit {commit}, graph features v{FEATURE_VERSION}): the surrogate's timing anchor "
             "(HwGraph.analytical(): `Kernel.timing_estimate`, docs/timing.md section 4; a composition's from its "
             "members' and its stream adapters) for every stored design that has one, against the record's "
             "`lut_depth`, `extra.critical_path.crit_ns` and `fmax_mhz_est` (open flow, Yosys 0.23). Fmax SMAPE: the "
             "anchor's crit_ns through `hwgen.timing.fmax_from_arrival` (family, the anchor's BRAM/URAM caps). "
             "Layer kernels without an estimate are not listed."
             + (" Only records whose RTL digest matches today's render (`--current`; datasets.refresh.is_current)."
                if args.current else "")]
    if base:
        lines[-1] += (f" Before -> after: {args.baseline.name} (commit {base.get('commit', '?')}, graph features "
                      f"v{base.get('feature_version', '?')}) -> this checkout.")
    lines.append("")
    for name, rows in data.items():
        old = base.get("datasets", {}).get(name, {})
        lines += [f"## datasets/{name}", "", "| group | n | lut_depth exact | within 1 | crit_ns MAPE % | Fmax SMAPE % |",
                  "|---|---:|---:|---:|---:|---:|"]
        for g in sorted(rows, key=lambda g: (g != "all", g)):
            r, o = rows[g], old.get(g)
            o = o if o and o["n"] == r["n"] else None

            def cell(key, fmt):
                now = "-" if r[key] is None else format(r[key], fmt)
                if not base:
                    return now
                was = "-" if o is None or o.get(key) is None else format(o[key], fmt)
                return f"{was} -> {now}"
            label = f"**{g}**" if g == "all" else g
            lines.append(f"| {label} | {r['n']} | {cell('depth_exact', '.0%')} | {cell('depth_within1', '.0%')} | "
                         f"{cell('crit_mape', '.1f')} | {cell('fmax_smape', '.2f')} |")
        lines.append("")
    write_bench_results(args.out, lines, {"commit": commit, "feature_version": FEATURE_VERSION, "datasets": data})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
