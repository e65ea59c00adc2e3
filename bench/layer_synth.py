"""Open-flow synthesis (Yosys synth_xilinx) of one full-size BitNet decoder layer for a board: every distinct
kernel of the layer's chain, resources per kernel and for the whole layer (one instance per step), LUT depth and
Fmax estimate, and whether it fits. Decode (one token, attention over L_max keys) and prefill (M_max tokens per
call) variants; kernel parameters are the generator's target defaults (hwgen/llm/layer.py TARGET_DEFAULTS).

Resumable: each kernel's report stays in build/bench/layer_synth/<design>/report.json and is reused.
Writes bench/results/layer_synth.md (+ .json). Usage:
    python bench/layer_synth.py [--model designs/models/bitnet-0.73b] [--target kv260] [--jobs 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from hwgen.flows.report import CAPACITY_KEYS, Report
from hwgen.kernels import parse_spec
from hwgen.llm.config import load_config
from hwgen.llm.layer import kernel_params, layer_program
from hwgen.spec import canonical_json
from hwgen.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "layer_synth.md"
WORK = ROOT / "build" / "bench" / "layer_synth"


def rtl_digest(spec) -> str:
    from hwgen.render import render_files
    files = render_files(spec, "rtl")
    return hashlib.sha256(canonical_json({k: v for k, v in files.items() if "/tb_" not in k}).encode()).hexdigest()


def synth_one(spec_data: dict, timeout_s: float) -> dict:
    from hwgen.flows.synth import run_synth
    spec = parse_spec(spec_data)
    out = WORK / spec.design_name
    digest = rtl_digest(spec)
    if (out / "report.json").exists():
        rep = Report.read(out / "report.json")
        if rep.status == "ok" and rep.extra.get("rtl_sha256") == digest:     # the same RTL, synthesized before
            return rep.model_dump()
    t0 = time.monotonic()
    rep = run_synth(spec, out, "open", timeout_s)
    rep.runtime_s = rep.runtime_s or time.monotonic() - t0
    rep.extra["rtl_sha256"] = digest
    rep.write(out / "report.json")
    return rep.model_dump()


def _used(tot: dict) -> dict:
    return {"lut": tot["lut"] + tot["lutram"], "ff": tot["ff"], "dsp": tot["dsp"], "bram36": tot["bram36"],
            "uram": tot["uram"]}


def _util(tot: dict, cap: dict) -> dict:
    used = _used(tot)
    return {k: 100.0 * used[k] / cap[k] for k in CAPACITY_KEYS if cap.get(k)}


def _fits(tot: dict, cap: dict) -> bool:
    used = _used(tot)
    return all(used[k] <= cap[k] for k in CAPACITY_KEYS if cap.get(k))


def distinct_steps(cfg, target: str, mode: str, M_max: int, L_max: int):
    prog = layer_program(cfg, None, M_max=M_max, L_max=L_max, params=kernel_params(target), mode=mode)
    designs, uses = {}, []
    for step in prog.steps:
        spec = parse_spec({**step.spec, "name": f"{mode}_{step.name}", "target": target})
        key = canonical_json(spec.identity())
        designs.setdefault(key, spec)
        uses.append((step.name, key))
    return designs, uses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "designs/models/bitnet-0.73b"))
    ap.add_argument("--target", default="kv260")
    ap.add_argument("--prefill-m-max", type=int, default=16)
    ap.add_argument("--l-max", type=int, default=2048)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=7200)
    ap.add_argument("--variants", default="decode,prefill", help="which variants to synthesize")
    ap.add_argument("--out", default=str(OUT), help="the markdown table (and .json beside it)")
    args = ap.parse_args()
    out_md = Path(args.out)
    cfg = load_config(args.model)
    t = get_target(args.target)
    # the per-token kernels are the same hardware in both variants (decode sizes only the TLMMs for one token)
    variants = {v: distinct_steps(cfg, args.target, v, args.prefill_m_max, args.l_max)
                for v in args.variants.split(",")}
    all_specs = {}
    for designs, _ in variants.values():
        for key, spec in designs.items():
            all_specs.setdefault(key, spec)
    t0 = time.monotonic()
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {key: pool.submit(synth_one, spec.model_dump(mode="json"), args.timeout) for key, spec in all_specs.items()}
        reports = {key: Report.model_validate(f.result()) for key, f in futures.items()}
    cap = t.capacity()
    res = {"model": args.model, "target": args.target, "l_max": args.l_max, "prefill_m_max": args.prefill_m_max,
           "seconds": round(time.monotonic() - t0, 1),
           "synth_seconds": round(sum(r.runtime_s or 0 for r in reports.values()), 1), "kernels": [], "variants": {}}
    for key, rep in reports.items():
        r = rep.resources
        res["kernels"].append({"design": rep.design, "kind": rep.kernel, "status": rep.status, "lut": r.lut,
                               "lutram": r.lutram, "ff": r.ff, "dsp": r.dsp, "bram36": r.bram36, "uram": r.uram,
                               "lut_depth": rep.lut_depth, "fmax_mhz_est": rep.fmax_mhz_est, "runtime_s": rep.runtime_s,
                               "key": key})
    by_key = {k["key"]: k for k in res["kernels"]}
    for mode, (designs, uses) in variants.items():
        tot = {r: 0.0 for r in ("lut", "lutram", "ff", "dsp", "bram36", "uram")}
        for _, key in uses:
            for r in tot:
                tot[r] += by_key[key][r] or 0.0
        fmax = min(by_key[k]["fmax_mhz_est"] or 1e9 for _, k in uses)
        # A shared engine (the sequential schedule runs one kernel at a time, as TeLLMe's engine does): one instance
        # per kernel kind, as large as that kind's largest step (an upper bound for a kind shared across shapes)
        eng = {r: 0.0 for r in tot}
        for kind in {by_key[k]["kind"] for _, k in uses}:
            for r in eng:
                eng[r] += max(by_key[k][r] or 0.0 for _, k in uses if by_key[k]["kind"] == kind)
        res["variants"][mode] = {"steps": len(uses), "total": tot, "engine": eng,
                                 "utilization": _util(tot, cap), "fits": _fits(tot, cap),
                                 "engine_fits": _fits(eng, cap), "fmax_mhz_est": fmax, "uses": uses}
    out_md.with_suffix(".json").write_text(json.dumps(res, indent=1, default=str))
    lines = [f"# One BitNet decoder layer on {args.target}: open-flow synthesis per kernel", "",
             f"Generated by `python bench/layer_synth.py --model {Path(args.model).relative_to(ROOT) if Path(args.model).is_relative_to(ROOT) else args.model} "
             f"--target {args.target}"
             + (f" --prefill-m-max {args.prefill_m_max}" if args.prefill_m_max != 16 else "")
             + (f" --variants {args.variants}" if args.variants != "decode,prefill" else "")
             + (f" --out {args.out}" if out_md != OUT else "") + f"` on {time.strftime('%Y-%m-%d')} (Yosys `synth_xilinx`, {res['synth_seconds']:.0f} s "
             f"of synthesis over all kernels, reports reused when their RTL is unchanged). Config {cfg.hidden_size} hidden, {cfg.intermediate_size} FFN, "
             f"{cfg.num_attention_heads}/{cfg.num_key_value_heads} heads; decode L_max {args.l_max}, prefill "
             f"M_max {args.prefill_m_max}; kernel parameters {kernel_params(args.target)}.", "",
             "| design | kind | LUT | LUTRAM | FF | DSP | BRAM36 | URAM | LUT depth | Fmax est. (MHz) | synth s |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for k in sorted(res["kernels"], key=lambda k: k["design"]):
        lines.append(f"| {k['design']} | {k['kind']} | {k['lut']:,.0f} | {k['lutram']:,.0f} | {k['ff']:,.0f} | "
                     f"{k['dsp']:.0f} | {k['bram36']:g} | {k['uram']:.0f} | {k['lut_depth']} | "
                     f"{k['fmax_mhz_est'] or 0:.0f} | {k['runtime_s'] or 0:.0f} |" if k["status"] == "ok" else
                     f"| {k['design']} | {k['kind']} | {k['status']} | | | | | | | | |")
    lines += ["", "Whole layer (one kernel instance per step of the chain; TeLLMe v2's whole engine on the KV260: "
                  "98k LUT, 610 DSP, 60 URAM):", "",
              "| variant | steps | LUT+LUTRAM | FF | DSP | BRAM36 | URAM | utilization % (LUT/FF/DSP/BRAM/URAM) | fits | "
              "Fmax est. (lowest kernel) |", "|---|---|---:|---:|---:|---:|---:|---|---|---:|"]
    for mode, v in res["variants"].items():
        for label, tt, fits in ((f"{mode}, one instance per step", v["total"], v["fits"]),
                                (f"{mode}, shared engine (one per kind)", v["engine"], v["engine_fits"])):
            u = _util(tt, cap)
            lines.append(f"| {label} | {v['steps']} | {tt['lut'] + tt['lutram']:,.0f} | {tt['ff']:,.0f} | "
                         f"{tt['dsp']:.0f} | {tt['bram36']:g} | {tt['uram']:.0f} | "
                         + "/".join(f"{u.get(k, 0):.0f}" for k in CAPACITY_KEYS) + f" | {fits} | {v['fmax_mhz_est']:.0f} |")
    out_md.write_text("\n".join(lines) + "\n")
    print(out_md.read_text())


if __name__ == "__main__":
    main()
