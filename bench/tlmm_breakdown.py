"""Where a TLMM's LUTs go: Yosys 0.23 `synth_xilinx -family xcup` with the hierarchy kept, cells attributed to the
generated design's modules (each module synthesized once, counted once per instance).

Parts: tables (the lanes' LUTRAM table replicas), lookup (table read muxing above 64 entries, mirror XOR, sign
count), table build (the T builder adders and activation muxes, and the build-walk ROM), lane trees (the lanes'
adder trees with their pipeline registers), accumulators (lane-sum register, partial-sum LUTRAM and adder), weight
banks (BRAM and their load/read logic) and control (the controller, the output pipeline and the top's glue).

Kept hierarchy stops some cross-module optimisation, so the parts sum to a little more or less than the flattened
build the benchmarks quote; both totals are in the table.

    python bench/tlmm_breakdown.py [--sizes 96 192 384 768] [--clocks 250 300] [--adder behavioral ternary]
                                   [--breakdown-sizes 768]

Designs: G=3 full and G=4 mirror tables, K=768, N=128, Q=8 lanes, 8-bit activations, BRAM weights, kv260 part (the
shape of bench/tlmm_vs_naive.py), `pipeline: auto` at each clock, with each `adder`. Cached per RTL in
build/bench/tlmm_breakdown/ (one Yosys run at a time).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from hwgen import kernels
from hwgen.flows.report import Report
from hwgen.flows.synth_open import LUT_CELLS, LUTRAM_LUTS, FF_CELLS, CARRY_CELLS, run_open_synth
from hwgen.flows.tools import content_key, require, run_tool
from hwgen.kernels import parse_spec
from hwgen.kernels.tlmm import placement_fmax
from hwgen.render import render_files, write_project

ROOT = Path(__file__).resolve().parents[1]
Q, K, N = 8, 768, 128
PARTS = ("tables", "lookup", "table build", "lane trees", "accumulators", "weight banks", "control")


def part_of(module: str, top: str, parent: str) -> str:
    """The part a module's own cells belong to; the primitive adders count where they are instantiated."""
    if "hwgen_add3" in module or "hwgen_carry_chain" in module:
        return parent
    if "hwgen_tlmm_lookup" in module:
        return "lookup"
    if "hwgen_tlmm_build" in module or module.endswith(f"{top}_walk"):
        return "table build"
    if module.endswith(f"{top}_tree"):
        return "lane trees"
    if "hwgen_lane_acc" in module:
        return "accumulators"
    if "hwgen_weight_banks" in module:
        return "weight banks"
    return "control"


def designs(sizes, adders):
    for p in sizes:
        for adder in adders:
            for g, style in ((3, "full"), (4, "mirror")):
                if p % (Q * g) == 0:
                    yield p, f"G={g} {style}", {"kind": "tlmm", "name": f"tlmm_p{p}_g{g}_{style}", "G": g,
                                                 "T": p // (Q * g), "Q": Q, "table_style": style, "adder": adder}


def hier_synth(project: Path, top: str, out: Path) -> dict:
    """synth_xilinx without -flatten (the flow's other options) -> stat -json of every module."""
    out.mkdir(parents=True, exist_ok=True)
    files = sorted(p for p in (project / "rtl").glob("*.v") if not p.name.startswith("tb_"))
    script = "".join(f'read_verilog -sv "{f.resolve()}"\n' for f in files)
    script += (f"synth_xilinx -family xcup -top {top} -noiopad -noclkbuf -nowidelut\n"
               f"tee -q -o stat_hier.json stat -json -top {top}\n")
    (out / "hier.ys").write_text(script)
    res = run_tool([require("yosys"), "-s", "hier.ys"], out, 3600, out / "hier.log", tail_lines=30)
    if not res.ok:
        raise RuntimeError(f"yosys failed: {res.log_tail}")
    text = (out / "stat_hier.json").read_text()
    # Yosys 0.23 prints the hierarchy of a design with nested submodules as text inside the "design" object: read
    # only the per-module object.
    at = text.index("{", text.index('"modules"'))
    return {"modules": json.JSONDecoder().raw_decode(text[at:])[0]}


def attribute(stat: dict, top: str) -> dict:
    """Cells per part: each module's own primitive cells times its instance count below the top."""
    mods = stat["modules"]
    top_name = next(m for m in mods if m.lstrip("\\") == top)
    totals = {p: {"lut": 0, "lutram": 0, "ff": 0, "carry": 0} for p in PARTS}

    def walk(name: str, times: int, parent: str = "control"):
        cells = mods[name].get("num_cells_by_type", {})
        part = part_of(name, top, parent)
        for ctype, n in cells.items():
            sub = next((m for m in mods if m == ctype or m.lstrip("\\") == ctype.lstrip("\\")), None)
            if sub is not None:
                walk(sub, times * n, part)
                continue
            if ctype in LUT_CELLS:
                totals[part]["lut"] += n * times
            elif ctype in LUTRAM_LUTS:
                totals["tables" if part == "lookup" else part]["lutram"] += LUTRAM_LUTS[ctype] * n * times
            elif ctype in FF_CELLS:
                totals[part]["ff"] += n * times
            elif ctype in CARRY_CELLS:
                totals[part]["carry"] += n * times

    walk(top_name, 1)
    return totals


def measure(p: int, label: str, data: dict, clock: float, work: Path, hier: bool) -> dict:
    """The flattened build (and with `hier` the per-part build) of one design at `pipeline: auto` for `clock`;
    builds are cached per RTL, so a design with the same stages at two clocks is synthesized once."""
    spec = parse_spec({**data, "K": K, "N": N, "target": "kv260", "weight_memory": "bram", "clock_mhz": clock,
                       "pipeline": "auto"})
    rtl = "".join(text for path, text in sorted(render_files(spec, "rtl").items()) if path.startswith("rtl/"))
    folder = work / f"{spec.design_name}-{content_key(rtl)[:12]}"
    if not (folder / "project").exists():
        write_project(spec, folder / "project", "rtl")
    report = folder / "yosys" / "report.json"
    flat = Report.read(report) if report.exists() else run_open_synth(folder / "project", folder / "yosys",
                                                                        timeout_s=3600)
    parts = None
    if hier:
        cached = folder / "parts.json"
        if not cached.exists():
            cached.write_text(json.dumps(attribute(hier_synth(folder / "project", spec.design_name, folder / "hier"),
                                                   spec.design_name)))
        parts = json.loads(cached.read_text())
    r = flat.resources
    kernel = kernels.get("tlmm")
    return {"P": p, "design": label, "adder": data["adder"], "clock_mhz": clock, "status": flat.status,
            "pipeline": kernel.model(spec).pipeline,
            "flat": {"lut": r.lut, "lutram": r.lutram, "ff": r.ff, "carry": r.carry},
            "flat_lut_eq_per_mac": ((r.lut or 0) + (r.lutram or 0)) / p, "ff_per_mac": (r.ff or 0) / p,
            "fmax": flat.fmax_mhz_est, "lane_path_est": placement_fmax(spec, kernel.model(spec)), "depth": flat.lut_depth,
            "meets": flat.fmax_mhz_est is not None and flat.fmax_mhz_est >= clock, "parts": parts}


def table(rows: list[dict]) -> list[str]:
    lines = ["| MACs/cycle | design | adder | stages | part | LUT | LUTRAM | LUT-eq | LUT-eq/MAC | share | FF | carry |",
             "|---:|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        parts = r["parts"]
        total = sum(v["lut"] + v["lutram"] for v in parts.values())
        for name in PARTS:
            v = parts[name]
            eq = v["lut"] + v["lutram"]
            lines.append(f"| {r['P']} | {r['design']} | {r['adder']} | {r['pipeline']} | {name} | {v['lut']} | "
                         f"{v['lutram']} | {eq} | {eq / r['P']:.2f} | {100 * eq / total:.0f} % | {v['ff']} | "
                         f"{v['carry']} |")
        ff = sum(v["ff"] for v in parts.values())
        lines.append(f"| {r['P']} | {r['design']} | {r['adder']} | {r['pipeline']} | **sum (hierarchy kept)** | "
                     f"{sum(v['lut'] for v in parts.values())} | {sum(v['lutram'] for v in parts.values())} | {total} | "
                     f"**{total / r['P']:.2f}** | | {ff} | {sum(v['carry'] for v in parts.values())} |")
        f = r["flat"]
        lines.append(f"| {r['P']} | {r['design']} | {r['adder']} | {r['pipeline']} | flattened build (the benchmarks' "
                     f"number; Fmax est. {r['fmax']:.0f} MHz, meets {r['clock_mhz']:g}: "
                     f"{'yes' if r['meets'] else '**no**'}) | {f['lut']:.0f} | {f['lutram']:.0f} | "
                     f"{f['lut'] + f['lutram']:.0f} | **{r['flat_lut_eq_per_mac']:.2f}** | | {f['ff']:.0f} | "
                     f"{f['carry']:.0f} |")
    return lines


def summary(rows: list[dict]) -> list[str]:
    """Behavioural vs ternary lane trees per size, design and clock."""
    by = {(r["P"], r["design"], r["clock_mhz"], r["adder"]): r for r in rows}
    lines = ["| MACs/cycle | design | clock MHz | adder | stages | LUT | LUTRAM | FF | LUT-eq/MAC | FF/MAC | LUT depth | "
             "Fmax est. MHz | lane-path estimate MHz | meets | LUT-eq/MAC change vs behavioral |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        base = by.get((r["P"], r["design"], r["clock_mhz"], "behavioral"))
        change = (f"{100 * (r['flat_lut_eq_per_mac'] / base['flat_lut_eq_per_mac'] - 1):+.1f} %"
                  if base and r["adder"] != "behavioral" else "")
        f = r["flat"]
        lines.append(f"| {r['P']} | {r['design']} | {r['clock_mhz']:g} | {r['adder']} | {r['pipeline']} | "
                     f"{f['lut']:.0f} | {f['lutram']:.0f} | {f['ff']:.0f} | **{r['flat_lut_eq_per_mac']:.2f}** | "
                     f"{r['ff_per_mac']:.2f} | {r['depth']} | {r['fmax']:.0f} | {r['lane_path_est']:.0f} | "
                     f"{'yes' if r['meets'] else '**no**'} | {change} |")
    return lines


def goal(rows: list[dict]) -> list[str]:
    """Issue 16's goal: <= 8 LUT-eq per MAC/cycle at >= 768 MACs/cycle while meeting 250 MHz."""
    ok = [r for r in rows if r["P"] >= 768 and r["clock_mhz"] == 250 and r["meets"]]
    if not ok:
        return []
    best = min(ok, key=lambda r: r["flat_lut_eq_per_mac"])
    verdict = "met" if best["flat_lut_eq_per_mac"] <= 8 else f"not met ({best['flat_lut_eq_per_mac'] - 8:.2f} over)"
    return [f"Goal (<= 8 LUT-eq per MAC/cycle at >= 768 MACs/cycle meeting 250 MHz on xcup): **{verdict}** by "
            f"{best['P']} MACs/cycle {best['design']}, `adder: {best['adder']}`: {best['flat_lut_eq_per_mac']:.2f} "
            f"LUT-eq/MAC at a {best['fmax']:.0f} MHz estimate.", ""]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[96, 192, 384, 768])
    ap.add_argument("--clocks", type=float, nargs="+", default=[250.0, 300.0])
    ap.add_argument("--adder", nargs="+", default=["behavioral", "ternary"])
    ap.add_argument("--breakdown-sizes", type=int, nargs="+", default=[768],
                    help="sizes whose parts are attributed (a second, hierarchy-kept build at the first clock)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "tlmm_breakdown")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "tlmm_breakdown")
    args = ap.parse_args()
    rows, parts = [], []
    for p, label, data in designs(args.sizes, args.adder):
        for clock in args.clocks:
            hier = p in args.breakdown_sizes and clock == args.clocks[0]
            rows.append(measure(p, label, data, clock, args.work, hier))
            r = rows[-1]
            if hier:
                parts.append(r)
            print(f"{p} {label} {data['adder']} {clock:g} MHz: stages {r['pipeline']} {r['flat_lut_eq_per_mac']:.2f} "
                  f"LUT-eq/MAC, Fmax {r['fmax']}", file=sys.stderr, flush=True)
    rows.sort(key=lambda r: (r["clock_mhz"], r["P"], r["design"], r["adder"]))
    cmd = (f"python bench/tlmm_breakdown.py --sizes {' '.join(map(str, args.sizes))} --clocks "
           f"{' '.join(f'{c:g}' for c in args.clocks)} --adder {' '.join(args.adder)} --breakdown-sizes "
           f"{' '.join(map(str, args.breakdown_sizes))}")
    lines = ["# TLMM lane adder trees: behavioural vs ternary primitives, and where the LUTs go", "",
             f"Generated by `{cmd}` (Yosys 0.23 `synth_xilinx -family xcup`; K={K}, N={N}, Q={Q} lanes, 8-bit "
             "activations, BRAM weights, kv260 part, `pipeline: auto` for each clock). LUT-eq = LUT + LUTRAM sites "
             "(LUT6_2 = one site). `adder: ternary` = lane trees of instantiated 3-input adders (one LUT6_2 per bit "
             "+ CARRY8; templates/lib/rtl/hwgen_add3.v) and table builders whose add/subtract/zero is one LUT6_2 per "
             "bit on a CARRY8 chain (hwgen_tlmm_build_prim.v). Fmax est. = the open flow's delay model on the synthesized "
             "netlist (docs/timing.md), not Vivado's; lane-path estimate = the pre-synthesis estimate `pipeline: "
             "auto` places its stages with.", ""] + goal(rows) + ["## LUT-eq per MAC/cycle", ""] + summary(rows) + [
             "", f"## Where the LUTs go (`pipeline: auto` for {args.clocks[0]:g} MHz)", "",
             "Parts: bench/tlmm_breakdown.py's docstring. The per-part rows come from a second build that keeps the "
             "module hierarchy; the flattened build below them is the number of the table above (for mirror tables "
             "the flattened build folds the lookup's sign XOR into the behavioural tree's LUTs, which the kept "
             "hierarchy cannot).", ""] + table(parts) + [""]
    args.out.with_suffix(".md").write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
