"""TLMM versus the naive select-and-add baseline at equal MACs per cycle and matched timing (open Yosys flow, xcup).

For each throughput P in {96, 192, 384, 768} MACs/cycle: TLMM with G in {2, 3, 4}, full and mirror tables, Q = 8
lanes and T = P / (8 G) tables; the naive kernel with P_n = 8 lanes and P_k = P / 8, behavioural (`adder:
behavioral`) and as an expert writes it (`adder: expert`: LUT6_2 + CARRY8, hwgen/kernels/naive_expert.py). Same K/N
shape, weights in BRAM (not counted), so the LUT difference is the datapath. LUT-equivalents = logic LUTs + LUTs
used as LUTRAM (each LUTRAM cell counted in LUT sites).

The da4ml floor (hwgen/baselines/da4ml.py; needs the `baselines` extra, skipped without it): a random ternary
(P/8) x 8 matrix fixed at synthesis time as da4ml's constant-matrix adder graph, the per-cycle work of the kernels
with the weights as wiring: registered inputs and outputs, no accumulator, no weight memory. Checked bit-exactly
against numpy (x @ W) in Icarus, then pipelined (da4ml `latency_cutoff`, adder levels per stage) with the largest
cutoff whose Fmax estimate meets the clock.

TLMM variants: `--tlmm-variant 'key=value,key=value'` (repeatable) adds every TLMM design once more with those spec
options (e.g. a new lookup-tree option), labelled with them.

Every design is built three times: unpipelined (`pipeline: 0`, the RTL before the pipeline parameter) and with
`pipeline: auto` for 250 MHz and for 300 MHz (the kv260 part, UltraScale+ -2). The FF cost of pipelining is the FF
difference to the unpipelined build. Fmax is the open flow's delay-model estimate (docs/timing.md), not Vivado's.

    python bench/tlmm_vs_naive.py [--sizes 96 192 384 768] [--clocks 250 300] [--out bench/results/tlmm_vs_naive.md]
                                  [--tlmm-variant 'key=value,...'] [--no-da4ml]

Results are cached per design in build/bench/tlmm_vs_naive/<name>-<rtl hash>/; rerunning resumes, and builds with
identical RTL (e.g. the same stages at both clocks) are synthesized once. One Yosys run at a time.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from hwgen import kernels, timing
from hwgen.baselines import da4ml
from hwgen.flows.report import Report, write_bench_results
from hwgen.flows.synth_open import run_open_synth
from hwgen.flows.tools import content_key
from hwgen.kernels import parse_spec
from hwgen.kernels.tlmm import placement_fmax
from hwgen.render import render_files, write_project

ROOT = Path(__file__).resolve().parents[1]
Q = 8
K, N = 768, 128   # shape shared by every design: nblocks = N / lanes accumulator entries per lane


def designs(sizes, tlmm_variants=({},)):
    for p in sizes:
        yield p, "naive", {"kind": "tlmm_naive", "name": f"naive_p{p}", "P_k": p // Q, "P_n": Q}
        yield p, "naive expert", {"kind": "tlmm_naive", "name": f"naive_x_p{p}", "P_k": p // Q, "P_n": Q,
                                  "adder": "expert"}
        for variant in tlmm_variants:
            tag = "".join(f" {k}={v}" for k, v in variant.items())
            for g in (2, 3, 4):
                if p % (Q * g):
                    continue
                for style in ("full", "mirror"):
                    yield p, f"tlmm G={g} {style}{tag}", {"kind": "tlmm", "name": f"tlmm_p{p}_g{g}_{style}", "G": g,
                                                          "T": p // (Q * g), "Q": Q, "table_style": style, **variant}


def parse_variant(text: str) -> dict:
    """'key=value,key=value' -> spec options (values YAML-typed: numbers stay numbers)."""
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        if "=" not in item:
            raise SystemExit(f"--tlmm-variant: {item!r} is not key=value")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


# da4ml: latency cutoffs (adder levels per register stage) tried from the largest down; 0: one stage (I/O
# registers only), the unpipelined build
DA4ML_CUTOFFS = (0, 8, 6, 5, 4, 3, 2, 1)
DA4ML_SEED = 16


def da4ml_build(p: int, cutoff: int, work: Path) -> dict:
    """The da4ml design of a random ternary (p / Q) x Q matrix at one cutoff: simulated bit-exactly against numpy,
    synthesized; cached as result.json."""
    folder = work / f"da4ml_p{p}_cut{cutoff}_s{DA4ML_SEED}"
    cached = folder / "result.json"
    if cached.exists():
        return json.loads(cached.read_text())
    rng = np.random.default_rng(DA4ML_SEED + p)
    w = rng.integers(-1, 2, size=(p // Q, Q))
    t0 = time.monotonic()
    design = da4ml.generate(w, 8, folder / "prj", latency_cutoff=cutoff if cutoff else 1e6)
    x = rng.integers(-128, 128, size=(64, p // Q))
    x[0], x[1] = -128, 127
    exact = bool(np.array_equal(da4ml.simulate(design, x), x @ w))
    res, depth, cells, ok, log = da4ml.synthesize(design)
    out = {"P": p, "cutoff": cutoff, "stages": design.stages, "latency": design.latency, "sim_exact": exact,
           "status": "ok" if ok and exact else ("mismatch" if ok else "failed"), "resources": res, "depth": depth,
           "cells": cells, "da4ml_cost": design.cost, "seconds": round(time.monotonic() - t0, 1),
           "fmax": timing.fmax_from_arrival(depth["crit_ns"], "xcup") if ok else None, "log": "" if ok else log}
    cached.write_text(json.dumps(out, indent=1))
    return out


def da4ml_row(p: int, clock: float, pipelined: bool, work: Path) -> dict:
    """Unpipelined: I/O registers only. Pipelined: the largest cutoff whose Fmax estimate meets the clock."""
    for cutoff in (DA4ML_CUTOFFS if pipelined else (0,)):
        r = da4ml_build(p, cutoff, work)
        if r["status"] != "ok" or r["fmax"] >= clock:
            break
    res = r["resources"] or {}
    lut_eq = res.get("lut", 0) + res.get("lutram", 0)
    ok = r["status"] == "ok"
    return {"P": p, "design": "da4ml fixed weights", "status": r["status"], "clock_mhz": clock,
            "pipeline": r["stages"], "cutoff": r["cutoff"], "lut": res.get("lut"), "lutram": res.get("lutram"),
            "ff": res.get("ff"), "carry": res.get("carry"), "lut_eq": lut_eq, "lut_eq_per_mac": lut_eq / p,
            "ff_per_mac": (res.get("ff") or 0) / p, "depth": (r["depth"] or {}).get("depth"),
            "depth_per_mac": ((r["depth"] or {}).get("depth") or 0) / p, "fmax": r["fmax"], "fmax_lane_est": None,
            "meets": ok and r["fmax"] >= clock, "yosys_s": r["seconds"], "sim_exact": r["sim_exact"]}


def build(data: dict, clock: float, pipeline, work: Path):
    spec = parse_spec({**data, "K": K, "N": N, "target": "kv260", "weight_memory": "bram", "clock_mhz": clock,
                       "pipeline": pipeline})
    rtl = "".join(text for path, text in sorted(render_files(spec, "rtl").items()) if path.startswith("rtl/"))
    folder = work / f"{spec.design_name}-{content_key(rtl)[:12]}"   # a changed generator re-synthesizes
    cached = folder / "yosys" / "report.json"
    if cached.exists():
        rep = Report.read(cached)
    else:
        write_project(spec, folder / "project", "rtl")
        rep = run_open_synth(folder / "project", folder / "yosys", timeout_s=3600)
    return spec, rep


def row(p: int, label: str, spec, rep: Report, clock: float) -> dict:
    r = rep.resources
    lut_eq = (r.lut or 0) + (r.lutram or 0)
    return {"P": p, "design": label, "status": rep.status, "clock_mhz": clock,
            "pipeline": kernels.get(spec.kind).model(spec).pipeline, "lut": r.lut, "lutram": r.lutram, "ff": r.ff,
            "carry": r.carry, "lut_eq": lut_eq, "lut_eq_per_mac": lut_eq / p, "ff_per_mac": (r.ff or 0) / p,
            "depth": rep.lut_depth, "depth_per_mac": (rep.lut_depth or 0) / p, "fmax": rep.fmax_mhz_est,
            "fmax_lane_est": placement_fmax(spec, kernels.get(spec.kind).model(spec)),
            "meets": rep.fmax_mhz_est is not None and rep.fmax_mhz_est >= clock, "yosys_s": rep.runtime_s}


def table(rows: list[dict], base: dict, title: str) -> list[str]:
    def per_mac(design):
        return {r["P"]: r["lut_eq_per_mac"] for r in rows if r["design"] == design and r["status"] == "ok"}
    refs = [per_mac("naive"), per_mac("naive expert"), per_mac("da4ml fixed weights")]
    lines = [f"## {title}", "",
             "| MACs/cycle | design | stages | LUT | LUTRAM | FF | LUT-eq/MAC | ratio vs naive | ratio vs expert naive | "
             "ratio vs da4ml | FF/MAC | FF/MAC added by the stages | LUT depth | Fmax est. MHz | lane-path estimate MHz | "
             "meets | Yosys s |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['P']} | {r['design']} | {r['pipeline']} | {r['status']} |" + " |" * 13)
            continue
        b = base.get((r["P"], r["design"]))
        added = f"{(r['ff'] - b['ff']) / r['P']:.2f}" if b and b["status"] == "ok" else "-"
        ratios = " | ".join(f"{r['lut_eq_per_mac'] / ref[r['P']]:.2f}" if ref.get(r["P"]) else "-" for ref in refs)
        lane = f"{r['fmax_lane_est']:.0f}" if r["fmax_lane_est"] else "-"
        lines.append(f"| {r['P']} | {r['design']} | {r['pipeline']} | {r['lut']:.0f} | {r['lutram']:.0f} | "
                     f"{r['ff']:.0f} | {r['lut_eq_per_mac']:.2f} | {ratios} | {r['ff_per_mac']:.2f} | {added} | "
                     f"{r['depth']} | {r['fmax']:.0f} | {lane} | {'yes' if r['meets'] else '**no**'} | "
                     f"{r['yosys_s']:.0f} |")
    return lines + [""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 192, 384, 768])
    ap.add_argument("--clocks", type=float, nargs="+", default=[250.0, 300.0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tlmm_vs_naive.md")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "tlmm_vs_naive")
    ap.add_argument("--tlmm-variant", action="append", default=[], metavar="KEY=VALUE,...",
                    help="TLMM spec options for one more row per TLMM design (repeatable)")
    ap.add_argument("--no-da4ml", action="store_true", help="leave out the da4ml rows")
    args = ap.parse_args()
    variants = [{}] + [parse_variant(v) for v in args.tlmm_variant]
    use_da4ml = not args.no_da4ml and da4ml.available()
    if not args.no_da4ml and not use_da4ml:
        print("da4ml is not installed (pip install -e '.[baselines]'): no da4ml rows", file=sys.stderr)
    t_start = time.monotonic()
    configs = [("unpipelined (`pipeline: 0`), Fmax judged against 250 MHz", args.clocks[0], 0)] + \
              [(f"`pipeline: auto` for {c:g} MHz", c, "auto") for c in args.clocks]
    results = {}
    for title, clock, pipeline in configs:
        rows = []
        for p, label, data in designs(args.sizes, variants):
            t0 = time.monotonic()
            spec, rep = build(data, clock, pipeline, args.work)
            rows.append(row(p, label, spec, rep, clock))
            r = rows[-1]
            print(f"{title[:24]:24s} {p:4d} {label:18s} {rep.status:6s} stages {r['pipeline']} LUT-eq/MAC "
                  f"{r['lut_eq_per_mac']:6.2f} FF/MAC {r['ff_per_mac']:5.2f} depth {rep.lut_depth} Fmax "
                  f"{rep.fmax_mhz_est} ({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
        for p in args.sizes if use_da4ml else ():
            t0 = time.monotonic()
            rows.append(da4ml_row(p, clock, pipeline == "auto", args.work))
            r = rows[-1]
            print(f"{title[:24]:24s} {p:4d} {'da4ml':18s} {r['status']:6s} stages {r['pipeline']} LUT-eq/MAC "
                  f"{r['lut_eq_per_mac']:6.2f} FF/MAC {r['ff_per_mac']:5.2f} depth {r['depth']} Fmax {r['fmax']} "
                  f"({time.monotonic() - t0:.0f} s)", file=sys.stderr, flush=True)
        rows.sort(key=lambda r: r["P"])     # stable: each size's rows together, in build order
        results[title] = rows
    base = {(r["P"], r["design"]): r for r in results[configs[0][0]]}
    lines = [
        "# TLMM vs naive ternary matmul at matched timing (Yosys 0.23 `synth_xilinx -family xcup`)",
        "",
        f"Generated by `python bench/tlmm_vs_naive.py --sizes {' '.join(map(str, args.sizes))} --clocks "
        f"{' '.join(f'{c:g}' for c in args.clocks)}"
        + "".join(f" --tlmm-variant '{v}'" for v in args.tlmm_variant) + ("` " if use_da4ml else " --no-da4ml` ")
        + f"(K={K}, N={N}, 8-bit activations, Q=P_n={Q} lanes, weights in BRAM, kv260 part; "
        f"{time.monotonic() - t_start:.0f} s on this run with cached builds; the builds themselves took "
        f"{sum(r['yosys_s'] or 0 for rows in results.values() for r in rows):.0f} s, each counted once per table "
        "it appears in).",
        "LUT-eq = logic LUTs + LUTRAM LUT sites; ratio = LUT-eq per MAC/cycle relative to naive at the same P and "
        "timing; stages = the lane path's pipeline registers (`pipeline`, docs/timing.md); FF/MAC added = (FF - FF "
        "of the unpipelined build) / P. Fmax est. is the open flow's delay model (docs/timing.md), not Vivado's; "
        "meets = Fmax est. >= the clock; lane-path estimate = the pre-synthesis estimate `pipeline: auto` places its "
        "stages with (hwgen.kernels.tlmm.placement_fmax: the lane path only).",
        "naive = the behavioural select-and-add (`adder: behavioral`, Yosys maps it to LUT full adders); naive expert "
        "= `adder: expert` (selects fused into the first carry-chain level with LUT6_2 + CARRY8 primitives, negation "
        "corrections as carry-ins, hwgen/kernels/naive_expert.py). da4ml fixed weights = da4ml's constant-matrix "
        "adder graph of one random ternary (P/8) x 8 matrix: the per-cycle datapath only (registered I/O, no "
        "accumulator, no weight memory, weights not loadable), bit-exact against numpy in Icarus; its stages are "
        "da4ml pipeline stages (the largest `latency_cutoff` that meets the clock), its Yosys s the whole build. "
        "ratio vs X = LUT-eq/MAC over X's at the same P and timing.",
        "",
    ]
    for title, _, _ in configs:
        lines += table(results[title], base, title)
    write_bench_results(args.out, lines, results)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
