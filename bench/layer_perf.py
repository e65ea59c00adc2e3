"""Cycles of one BitNet decoder layer from the kernels' cycle models (each exact against RTL cosim; the layer's
cosim test checks all of them on a small layer), against the memory floor.

Decode: one token at context L (the layer's kernels sized for one token, attention over L keys, every TLMM
streams its ternary weights at the board's bandwidth x efficiency). Prefill: M tokens per call (each TLMM streams
its weights once per call and reuses them for all M tokens). Cycles are "sequential": each kernel starts when the
previous one has finished (the layer as the chain `hwgen llm layer` generates); "overlapped" is the bound a
dataflow top would reach (the slowest kernel, plus the others' latencies). The memory floor is the weight bytes
(as packed by the TLMM index words) plus the K/V cache bytes read, divided by the bandwidth.

Writes bench/results/layer_perf.md (+ .json). Usage: python bench/layer_perf.py [--efficiency 0.8]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from hwgen.kernels import get, parse_spec
from hwgen.llm.config import load_config
from hwgen.llm.layer import kernel_params, layer_program
from hwgen.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "layer_perf.md"
MODELS = {"BitNet b1.58 0.73B": ROOT / "designs/models/bitnet-0.73b", "BitNet b1.58 2B-4T": ROOT / "designs/models/bitnet-2b4t"}


def step_cycles(step, tokens: int, bytes_per_cycle: float) -> dict:
    kernel, spec = get(step.kind), parse_spec(step.spec)
    perf = kernel.performance(spec)
    row = {"step": step.name, "kind": step.kind, "weight_bytes": 0.0, "latency": perf.latency_cycles}
    if getattr(kernel, "streaming", None) and kernel.streaming(spec):
        sc = kernel.stream_cycles(spec, tokens, bytes_per_cycle, calls=1)
        row.update(cycles=sc["total_cycles"], compute_cycles=sc["compute_cycles"], memory_cycles=sc["memory_cycles"],
                   memory_bound=sc["memory_bound"], weight_bytes=sc["weight_bytes_per_call"])
    elif perf.unit == "token":
        row["cycles"] = perf.latency_cycles + (tokens - 1) * perf.ii
    else:                          # one call at the spec's max length (attention: L or M)
        row["cycles"] = perf.latency_cycles
    if step.name == "attention" and spec.kind == "attention_decode":
        # the K/V cache streams from off-chip memory: the sweep cannot beat the bandwidth
        kv = perf.bytes["k"] + perf.bytes["v"]
        row["kv_bytes"] = kv
        row["memory_cycles"] = round(kv / bytes_per_cycle)
        row["memory_bound"] = row["memory_cycles"] > row["cycles"]
        row["cycles"] = max(row["cycles"], row["memory_cycles"])
    return row


def layer_cycles(cfg, target: str, mode: str, tokens: int, L: int, eff: float, clock: float) -> dict:
    t = get_target(target)
    bpc = t.mem_bw_gbps * 1e9 * eff / (clock * 1e6)
    prog = layer_program(cfg, None, M_max=tokens if mode == "prefill" else 1, L_max=L if mode == "decode" else max(L, tokens),
                         params=kernel_params(target), mode=mode)
    rows = [step_cycles(s, tokens, bpc) for s in prog.steps]
    seq = sum(r["cycles"] for r in rows)
    wbytes = sum(r["weight_bytes"] for r in rows)
    kv_bytes = sum(r.get("kv_bytes", 0) for r in rows)          # the K/V cache the decode attention streams
    floor = (wbytes + kv_bytes) / bpc
    # overlapped kernels still share one memory: never below the floor
    overlapped = max(max(r["cycles"] for r in rows) + sum(r["latency"] for r in rows) - max(r["latency"] for r in rows),
                     round(floor))
    return {"mode": mode, "tokens": tokens, "L": L, "clock_mhz": clock, "bytes_per_cycle": round(bpc, 2),
            "cycles_sequential": seq, "cycles_overlapped": overlapped, "memory_floor_cycles": round(floor),
            "weight_bytes": wbytes, "kv_bytes": kv_bytes,
            "us_per_layer_sequential": seq / clock, "steps": rows}


def layer_clock(target: str) -> tuple[float, str]:
    """min(target clock, the lowest Fmax estimate of the layer's synthesized kernels) when the synthesis
    benchmark has run (bench/layer_synth.py), else the target clock, said so."""
    clock = get_target(target).default_clock_mhz
    path = OUT.with_name("layer_synth.json")
    if path.exists():
        synth = json.loads(path.read_text())
        fmax = [k["fmax_mhz_est"] for k in synth.get("kernels", []) if k.get("fmax_mhz_est")]
        if fmax and synth.get("target") == target:
            return min(clock, min(fmax)), f"min(target clock {clock:g}, lowest kernel Fmax estimate {min(fmax):.0f}) MHz"
    return clock, f"target clock {clock:g} MHz (no synthesis results: Fmax not applied)"


def run(target: str, eff: float) -> dict:
    out = {}
    clock, why = layer_clock(target)
    for label, path in MODELS.items():
        cfg = load_config(path)
        res = [layer_cycles(cfg, target, "decode", 1, L, eff, clock) for L in (128, 512, 1024, 2048)]
        res += [layer_cycles(cfg, target, "prefill", M, M, eff, clock) for M in (64, 128)]
        out[label] = {"layers": cfg.num_hidden_layers, "rows": res, "clock_mhz": clock, "clock_source": why}
        print(label, [(r["mode"], r["L"], r["cycles_sequential"], r["memory_floor_cycles"]) for r in res], flush=True)
    return out


def write(res: dict, target: str, eff: float, cmd: str) -> None:
    t = get_target(target)
    lines = ["# BitNet decoder layer: cycles per layer (cycle models) and the memory floor", "",
             f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d')}. Target {target}: {t.mem_desc}, efficiency {eff} "
             f"(a stated assumption for sustained DDR reads), clock {next(iter(res.values()))['clock_source']}. "
             "Kernel parameters: the generator's target defaults "
             f"({kernel_params(target)}).", "",
             "Per token (decode) or per call of M tokens (prefill), one layer. tok/s for the whole model = clock / "
             "(cycles x layers); the LM head and embedding are not included.", "",
             "| model | mode | L or M | cycles, sequential | cycles, overlapped bound | memory floor | "
             "weight MB | KV MB | tok/s (whole model, sequential) | tok/s at the memory floor |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, r in res.items():
        for row in r["rows"]:
            per_tok = row["tokens"]
            tps = r["clock_mhz"] * 1e6 * per_tok / (row["cycles_sequential"] * r["layers"])
            tps_floor = r["clock_mhz"] * 1e6 * per_tok / (max(row["memory_floor_cycles"], 1) * r["layers"])
            lines.append(f"| {label} | {row['mode']} | {row['L'] if row['mode'] == 'decode' else row['tokens']} | "
                         f"{row['cycles_sequential']:,} | {row['cycles_overlapped']:,} | {row['memory_floor_cycles']:,} | "
                         f"{row['weight_bytes'] / 1e6:.2f} | {row['kv_bytes'] / 1e6:.2f} | {tps:,.1f} | {tps_floor:,.1f} |")
    lines += ["", "Where the cycles go (0.73B, decode at L = 1024):", "", "| step | kind | cycles | memory-bound |",
              "|---|---|---|---|"]
    first = next(iter(res.values()))["rows"][2]
    for s in first["steps"]:
        lines.append(f"| {s['step']} | {s['kind']} | {s['cycles']:,} | {s.get('memory_bound', '')} |")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    OUT.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="kv260")
    ap.add_argument("--efficiency", type=float, default=0.8, help="sustained fraction of the peak memory bandwidth")
    args = ap.parse_args()
    res = run(args.target, args.efficiency)
    write(res, args.target, args.efficiency, f"python bench/layer_perf.py --target {args.target} --efficiency {args.efficiency}")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
