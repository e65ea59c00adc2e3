"""Streaming attention performance: cycle model (validated against RTL cosim), memory floor, resources.

Decode: cycles per token per layer (all H heads) at L in {512, 1024, 2048} against the memory floor
(bytes of K and V read per token / off-chip bandwidth, in cycles at the target clock), kv260 and u280.
Prefill: cycles for M in {64, 128} with the forward schedule and the reversed (TeLLMe) schedule.
Resources: Yosys 0.23 via flows/synth_open.py (`synth_xilinx`, numbers are Yosys', not Vivado's).

    python bench/attention_perf.py [--no-synth] [--synth-timeout 1800] [--work DIR] [--synth NAME ...]

Writes bench/results/attention_perf.md; synthesis reports are cached in build/bench/attention/<name>/ (or --work):
a rerun reuses them, so the table can be filled one design at a time.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hwgen import kernels
from hwgen.render import write_project
from hwgen.kernels import parse_spec

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "attention_perf.md"
WORK = ROOT / "build" / "bench" / "attention"

# BitNet b1.58 0.73B-like attention: hidden 1536 = 16 heads x 96
H, D = 16, 96
DECODE = [
    ("kv260_dec_l32", {"kind": "attention_decode", "target": "kv260", "H": H, "d": D, "lanes": 32, "L_max": 2048}),
    ("kv260_dec_l48", {"kind": "attention_decode", "target": "kv260", "H": H, "d": D, "lanes": 48, "L_max": 2048}),
    ("u280_dec_hp2", {"kind": "attention_decode", "target": "u280", "H": H, "d": D, "lanes": 96, "head_par": 2,
                      "L_max": 2048}),
    ("u280_dec_hp8", {"kind": "attention_decode", "target": "u280", "H": H, "d": D, "lanes": 96, "head_par": 8,
                      "L_max": 2048}),
]
PREFILL = [
    ("kv260_pre16_fwd", {"kind": "attention_prefill", "target": "kv260", "H": H, "d": D, "lanes": 16, "N_pe": 16,
                         "M_max": 128, "reversed": False}),
    ("kv260_pre16_rev", {"kind": "attention_prefill", "target": "kv260", "H": H, "d": D, "lanes": 16, "N_pe": 16,
                         "M_max": 128, "reversed": True}),
    ("kv260_pre8_fwd", {"kind": "attention_prefill", "target": "kv260", "H": H, "d": D, "lanes": 8, "N_pe": 8,
                        "M_max": 128, "reversed": False}),
    ("kv260_pre8_rev", {"kind": "attention_prefill", "target": "kv260", "H": H, "d": D, "lanes": 8, "N_pe": 8,
                        "M_max": 128, "reversed": True}),
]
# synthesized with Yosys by default (--synth NAME ... picks others); the rest say why in the table
NOT_SYNTHESIZED = {
    "u280_dec_hp8": "not synthesized by default: 8 units x 96 lanes (768 S.V lanes and output multipliers) is 4x "
                    "u280_dec_hp2, and Yosys time and memory grow about linearly with them (measured: head_par 2: "
                    "340 s CPU, 1.8 GB; head_par 4: 763 s CPU, 3.3 GB, LUT 92120 + LUTRAM 110, FF 123922, DSP 3084), "
                    "so this one needs ~1600 s CPU and ~6.5 GB. Extrapolated: LUT ~184k (14%), FF ~248k, DSP ~6170 "
                    "(68%), fits. Run it alone with --synth u280_dec_hp8",
}
SYNTH = [name for name, _ in DECODE + PREFILL if name not in NOT_SYNTHESIZED]
VALIDATE = [
    ({"kind": "attention_decode", "name": "v_dec", "H": 4, "d": 16, "lanes": 4, "head_par": 2, "L_max": 32}, [32, 5]),
    ({"kind": "attention_decode", "name": "v_dec1", "H": 2, "d": 32, "lanes": 32, "L_max": 40}, [40]),
    ({"kind": "attention_prefill", "name": "v_pre_r", "H": 2, "d": 16, "lanes": 8, "N_pe": 4, "M_max": 16}, [16, 7]),
    ({"kind": "attention_prefill", "name": "v_pre_f", "H": 2, "d": 16, "lanes": 8, "N_pe": 4, "M_max": 16,
      "reversed": False}, [16, 7]),
]


def model_of(cfg):
    spec = parse_spec(cfg)
    k = kernels.get(spec.kind)
    return spec, k, k.model(spec)


def floor_cycles(spec, k, m, length) -> float:
    t = spec.target_info
    return k.memory_bytes(m, length) / (t.mem_bw_gbps * 1e9) * spec.clock * 1e6


def validate(tmp: Path) -> list[str]:
    from hwgen.flows.cosim import run_cosim

    rows = ["| config | length | model cycles | cosim latency (stall 0) | match |", "|---|---|---|---|---|"]
    for cfg, lens in VALIDATE:
        spec, k, m = model_of(cfg)
        prj = tmp / cfg["name"]
        write_project(spec, prj, "rtl")
        inputs = k.random_inputs(spec, np.random.default_rng(1), len(lens))
        inputs = k.prepare(spec, inputs["q"], inputs["k"], inputs["v"], np.array(lens), False)
        np.savez(tmp / "in.npz", q=inputs["q"][0] if not m.causal else inputs["q"][0, :lens[0]],
                 k=inputs["k"][0, :lens[0]], v=inputs["v"][0, :lens[0]])
        s = run_cosim(prj, tmp / "in.npz", None, simulator="icarus")
        desc = ", ".join(f"{k_}={v}" for k_, v in cfg.items() if k_ not in ("kind", "name"))
        rows.append(f"| {cfg['kind']} {desc} | {lens[0]} | {s['model_cycles']} | {s['latency_cycles']} | "
                    f"{'yes' if s['model_cycles'] == s['latency_cycles'] and s['pass'] else 'NO'} |")
    return rows


def synth(name, cfg, timeout_s, work: Path):
    from hwgen.flows.report import Report
    from hwgen.flows.synth_open import run_open_synth

    folder = work / name
    rep_path = folder / "yosys" / "report.json"
    if rep_path.exists():
        return Report.read(rep_path)
    spec = parse_spec({**cfg, "name": name})
    write_project(spec, folder / "project", "rtl")
    return run_open_synth(folder / "project", folder / "yosys", timeout_s=timeout_s)


def res_cell(rep, name: str = "") -> str:
    if rep is None:
        return NOT_SYNTHESIZED.get(name, "not synthesized in this run (--no-synth, no Yosys, or not in --synth)")
    if rep.status != "ok":
        return f"synthesis {rep.status} after {rep.runtime_s:.0f} s"
    r = rep.resources
    u = rep.utilization or {}
    crit = (rep.extra or {}).get("critical_path", {}).get("crit_ns")
    fmax = f"; critical path {crit:.2f} ns (~{1000 / crit:.0f} MHz)" if crit else ""
    return (f"LUT {r.lut:.0f} + LUTRAM {r.lutram:.0f} ({u.get('lut', 0):.1f}%), FF {r.ff:.0f}, DSP {r.dsp:.0f} "
            f"({u.get('dsp', 0):.1f}%), BRAM36 {r.bram36:g}, URAM {r.uram:g}, CARRY {r.carry:.0f}{fmax}; "
            f"{'fits' if rep.fits else 'DOES NOT FIT'}; Yosys {rep.runtime_s:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-synth", action="store_true")
    ap.add_argument("--no-cosim", action="store_true")
    ap.add_argument("--synth-timeout", type=float, default=1800)
    ap.add_argument("--work", type=Path, default=WORK, help="where synthesis runs are kept (resumable)")
    ap.add_argument("--synth", nargs="+", default=SYNTH, metavar="NAME", help="designs to synthesize")
    args = ap.parse_args()
    t0 = time.time()
    reports = {}
    if not args.no_synth and shutil.which("yosys"):
        for name, cfg in DECODE + PREFILL:
            if name in args.synth:
                reports[name] = synth(name, cfg, args.synth_timeout, args.work)
                print(f"{name}: {res_cell(reports[name])}", flush=True)
    lines = ["# Streaming attention performance (generated by bench/attention_perf.py)", "",
             f"Attention of one layer of a BitNet-0.73B-like model: H={H} heads, d={D}, int8 K/V. Cycles come from "
             "the kernel's cycle model (`expected_cycles`), which matches Icarus cosimulation of the Verilog twin "
             "exactly at zero stalls (validation table below). The memory floor is the K+V bytes streamed per call "
             "divided by the target's off-chip bandwidth, in cycles at the target clock; a design whose K/V demand "
             "(2 x lanes x head_par bytes/cycle) exceeds the bandwidth runs at the floor, not at its cycle count.", ""]
    lines += ["## Decode: cycles per token per layer", "",
              "| design | target | clock MHz | lanes x head_par | K/V demand B/cycle | memory B/cycle | L | kernel cycles "
              "| memory floor cycles | kernel / floor | bound | us per token-layer |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, cfg in DECODE:
        spec, k, m = model_of(cfg)
        t = spec.target_info
        bpc = t.mem_bw_gbps * 1e9 / (spec.clock * 1e6)
        for L in (512, 1024, 2048):
            cyc = k.call_cycles(m, L)
            fl = floor_cycles(spec, k, m, L)
            bound = max(cyc, fl)
            lines.append(f"| {name} | {spec.target} | {spec.clock:g} | {m.lanes} x {m.head_par} | "
                         f"{2 * m.lanes * m.head_par} | {bpc:.1f} | {L} | {cyc} | {fl:.0f} | {cyc / fl:.2f} | "
                         f"{'memory' if fl > cyc else 'kernel'} | {bound / spec.clock:.1f} |")
    lines += ["", "## Prefill: cycles per layer, forward vs reversed schedule", "",
              "| design | N_pe | lanes | M | forward cycles | reversed cycles | saving | forward ms | reversed ms "
              "| K/V sweeps fwd / rev (tokens) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, cfg in PREFILL:
        if not cfg["reversed"]:
            continue
        spec, k, m = model_of(cfg)
        _, _, mf = model_of({**cfg, "reversed": False})
        for M in (64, 128):
            cr, cf = k.call_cycles(m, M), k.call_cycles(mf, M)
            sr = sum(sw for _, _, sw in k.schedule(m, M))
            sf = sum(sw for _, _, sw in k.schedule(mf, M))
            lines.append(f"| {name[:-4]} | {m.npe} | {m.lanes} | {M} | {cf} | {cr} | {100 * (1 - cr / cf):.1f}% | "
                         f"{cf / spec.clock / 1e3:.3f} | {cr / spec.clock / 1e3:.3f} | {sf} / {sr} |")
    lines += ["", "TeLLMe (2nd-hand figure) reports 7.6 ms vs 14.3 ms naive at 128 tokens for its whole prefill; "
              "the reversed schedule here saves the masked part of every block's K/V sweep.", ""]
    lines += ["## Resources (open flow: Yosys 0.23 synth_xilinx -family xcup)", "",
              "| design | resources |", "|---|---|"]
    for name, _ in DECODE + PREFILL:
        lines.append(f"| {name} | {res_cell(reports.get(name), name)} |")
    lines += ["", "Forward and reversed prefill share the datapath; only the block sequencing differs. Yosys numbers: "
              "its DSP48E2 mapping keeps every multiplier register in fabric (FF counts include them), adders map to "
              "CARRY4, and the critical path is the flow's structural estimate with a 2 ns unregistered DSP "
              "(`crit_ns`; the report's `fmax_mhz_est` counts a DSP as one LUT level and reads higher). "
              "Memories: q buffers, accumulators and the (p, alpha) FIFO in LUTRAM (registers when B = d/lanes = 1), "
              "exp ROMs in block RAM (two units per RAMB18) for exp_index_bits >= 8. Yosys times are wall clock on 2 "
              "CPU cores shared with other jobs (load 3-5); on a quiet machine kv260_dec_l32 takes ~40 s, "
              "u280_dec_hp2 ~6 min.", ""]
    if not args.no_cosim and shutil.which("iverilog"):
        with tempfile.TemporaryDirectory() as tmp:
            lines += ["## Cycle model vs RTL cosimulation (Icarus, no stalls)", ""] + validate(Path(tmp)) + [""]
    lines.append(f"Runtime {time.time() - t0:.0f} s.")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
