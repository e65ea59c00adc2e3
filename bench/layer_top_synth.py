"""Open-flow synthesis (Yosys synth_xilinx) of the single generated top of one BitNet decoder layer
(`hwgen llm layer --top`, kind bitnet_layer: every member kernel instantiated once, TLMMs of one design shared,
tensor buffers, the stage sequencer), prefill. Shapes: the hidden-256 test layer (4 heads / 2 K/V heads, FFN 512,
relu2, the tests' checkpoint shape) and, with --model, a full-size config (e.g. designs/models/bitnet-0.73b).
Kernel parameters are the generator's target defaults (hwgen/llm/layer.py TARGET_DEFAULTS); the formats are the
planning ones (no weights needed: the hardware is the same, only the constants' binary point moves).

Resumable: a shape's report stays in build/bench/layer_top_synth/<name>/report.json and is reused while its RTL
is unchanged. Writes bench/results/layer_top_synth.md (+ .json). Usage:
    python bench/layer_top_synth.py [--m-max 16] [--model designs/models/bitnet-0.73b] [--timeout 7200]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

from hwgen.flows.report import CAPACITY_KEYS, Report
from hwgen.kernels import parse_spec
from hwgen.llm.config import load_config, parse_config
from hwgen.llm.layer import kernel_params, layer_program, layer_top_spec
from hwgen.render import render_files
from hwgen.spec import canonical_json
from hwgen.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "layer_top_synth.md"
WORK = ROOT / "build" / "bench" / "layer_top_synth"
# the tests' small checkpoint (hwgen.llm.testing.make_checkpoint defaults)
SMALL = {"model_type": "bitnet", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
         "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "relu2", "vocab_size": 256,
         "max_position_embeddings": 256, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}


def top_spec(cfg, name: str, target: str, M_max: int, L_max: int | None):
    prog = layer_program(cfg, None, M_max=M_max, L_max=L_max, params=kernel_params(target), mode="prefill")
    for step in prog.steps:
        step.spec = {**step.spec, "name": f"{name}_{step.name}", "target": target}
    return parse_spec(layer_top_spec(prog, f"{name}_layer", target))


def synth(spec, name: str, timeout_s: float) -> Report:
    from hwgen.flows.synth import run_synth
    out = WORK / name
    files = render_files(spec, "rtl")
    digest = hashlib.sha256(canonical_json({k: v for k, v in files.items() if "/tb_" not in k}).encode()).hexdigest()
    if (out / "report.json").exists():
        rep = Report.read(out / "report.json")
        if rep.status == "ok" and rep.extra.get("rtl_sha256") == digest:
            return rep
    t0 = time.monotonic()
    rep = run_synth(spec, out, "open", timeout_s)
    rep.runtime_s = rep.runtime_s or time.monotonic() - t0
    rep.extra["rtl_sha256"] = digest
    rep.write(out / "report.json")
    return rep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="also a full-size config folder (config.json)")
    ap.add_argument("--target", default="kv260")
    ap.add_argument("--m-max", type=int, default=16)
    ap.add_argument("--l-max", type=int, default=None, help="full-size model's L_max (default 2048)")
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--no-synth-model", action="store_true",
                    help="the full-size config: only the tensor-buffer table (no synthesis)")
    ap.add_argument("--buffer-m", default="16,64", help="M_max values of the tensor-buffer table")
    args = ap.parse_args()
    shapes = [("h256", parse_config(SMALL), None)]
    if args.model:
        shapes.append((Path(args.model).name.replace("-", "_").replace(".", "_"), load_config(args.model),
                       args.l_max or 2048))
    cap = get_target(args.target).capacity()
    rows, res = [], {"target": args.target, "m_max": args.m_max, "shapes": {}}
    # the tensor buffers the top needs (from its plan: physical RAMs after lifetime sharing), per M_max
    brows, res["buffers"] = [], {}
    for name, cfg, L_max in shapes:
        for M in [int(v) for v in args.buffer_m.split(",")]:
            from hwgen.kernels import get
            m = get("bitnet_layer").model(top_spec(cfg, f"{name}_m{M}", args.target, M, L_max))
            rams = [b for b in m.rams if b.kind == "ram"]
            bits = sum(b.nb * b.w * b.depth for b in rams)
            uram = sum(b.nb * math.ceil(b.w / 72) * math.ceil(b.depth / 4096) for b in rams)
            bram = sum(b.nb * math.ceil(b.w / 72) * math.ceil(b.depth / 512) for b in rams)
            res["buffers"][f"{name}_m{M}"] = {"rams": len(rams), "mbit": bits / 1e6, "uram": uram, "bram36": bram}
            brows.append(f"| {name} | {M} | {len(rams)} | {bits / 1e6:.2f} | {uram} | {bram} |")
    for name, cfg, L_max in shapes:
        if name != "h256" and args.no_synth_model:
            continue
        spec = top_spec(cfg, f"{name}_m{args.m_max}", args.target, args.m_max, L_max)
        rep = synth(spec, f"{name}_m{args.m_max}", args.timeout)
        r = rep.resources
        used = {"lut": (r.lut or 0) + (r.lutram or 0), "ff": r.ff or 0, "dsp": r.dsp or 0, "bram36": r.bram36 or 0,
                "uram": r.uram or 0}
        util = {k: 100.0 * used[k] / cap[k] for k in CAPACITY_KEYS if cap.get(k)}
        res["shapes"][name] = {"config": {"hidden": cfg.hidden_size, "ffn": cfg.intermediate_size,
                                          "heads": cfg.num_attention_heads, "kv_heads": cfg.num_key_value_heads,
                                          "act": cfg.hidden_act},
                               "status": rep.status, "resources": r.model_dump(), "used": used, "utilization": util,
                               "fits": all(used[k] <= cap[k] for k in CAPACITY_KEYS if cap.get(k)),
                               "lut_depth": rep.lut_depth, "fmax_mhz_est": rep.fmax_mhz_est,
                               "latency_cycles_at_m_max": rep.latency_cycles, "runtime_s": rep.runtime_s,
                               "error": rep.error}
        s = res["shapes"][name]
        rows.append(f"| {name} ({cfg.hidden_size} hidden, {cfg.intermediate_size} FFN, {cfg.num_attention_heads}/"
                    f"{cfg.num_key_value_heads} heads, {cfg.hidden_act}) | {rep.status} | {used['lut']:,.0f} | "
                    f"{r.lutram or 0:,.0f} | {used['ff']:,.0f} | {used['dsp']:.0f} | {used['bram36']:g} | "
                    f"{used['uram']:.0f} | " + "/".join(f"{util.get(k, 0):.0f}" for k in CAPACITY_KEYS)
                    + f" | {s['fits']} | {rep.lut_depth} | {rep.fmax_mhz_est or 0:.0f} | {rep.latency_cycles or 0:,} | "
                    f"{rep.runtime_s or 0:.0f} |")
    OUT.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    lines = [f"# The single layer top (kind bitnet_layer, prefill) on {args.target}: open-flow synthesis", "",
             f"Generated by `python bench/layer_top_synth.py --m-max {args.m_max}"
             + (f" --model {args.model}" if args.model else "") + f"` on {time.strftime('%Y-%m-%d')} (Yosys "
             f"`synth_xilinx` of the whole top: every member kernel, TLMMs of one design shared, the tensor "
             f"buffers for M_max {args.m_max} tokens, the sequencer). Kernel parameters {kernel_params(args.target)}.",
             "", "| shape | status | LUT+LUTRAM | LUTRAM | FF | DSP | BRAM36 | URAM | utilization % (LUT/FF/DSP/BRAM/URAM) "
             "| fits | LUT depth | Fmax est. (MHz) | cycles per call at M_max (model) | synth s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---:|---:|", *rows, "",
             "Tensor buffers of the top (its plan: tensors of disjoint lifetimes share a RAM; every element at its "
             "stream width), and the RAM blocks they take as 72-bit-wide URAM (4K deep) or BRAM36 (512 x 72) columns "
             f"({args.target}: {cap.get('uram', 0):.0f} URAM, {cap.get('bram36', 0):.0f} BRAM36; the member kernels' own "
             "buffers come on top):", "",
             "| shape | M_max | RAMs | Mbit | as URAM | as BRAM36 |", "|---|---:|---:|---:|---:|---:|", *brows]
    OUT.write_text("\n".join(lines) + "\n")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
