"""hwgen's TLMM versus hls4ml's ternary Dense, per layer, through the open flow (Yosys synth_xilinx, kv260).

Layers: a 3-layer ternary QKeras MLP (256-256-256-64, int8 input, 7-bit ReLU activations) converted with hls4ml
(io_stream) with hwgen.hls4ml loaded, whose TLMM specs (G, T, Q picked by the extension's default: the
analytical estimate's smallest (LUT + LUTRAM) x cycles) come from the project's hwgen/layers.json; and a
0.73B-shaped projection (1536 x 1536, int8) planned by the same code (hwgen.hls4ml.plan.tlmm_spec).

Method: hls4ml's ternary Dense is C++ (nnet::dense with the weight_ternary product: per MAC a select of
0 / +x / -x, then adder trees), which only Vitis HLS can synthesize. Its RTL equivalent here is hwgen's
`tlmm_naive` kernel, the same select-and-add, at the TLMM's parallelism (P_k = T*G activations x P_n = Q
lanes per cycle, the same cycles per token up to the TLMM's table-build cycles), same weight memory, same
target. Both are synthesized with Yosys (one at a time) and predicted by the shipped surrogate.
LUT-eq = logic LUTs + LUTs used as LUTRAM.

    python bench/hls4ml_tlmm.py [--out bench/results/hls4ml_tlmm.md]      # ~10-20 min, resumes from build/
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MLP = [256, 256, 256, 64]


def mlp_specs(work: Path) -> list[tuple[str, dict]]:
    """Convert the ternary MLP with hls4ml + hwgen.hls4ml and read the TLMM specs it wrote."""
    import numpy as np
    import tensorflow as tf
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu, ternary

    import hls4ml
    import hwgen.hls4ml  # noqa: F401

    rng = np.random.default_rng(0)
    inp = tf.keras.Input((MLP[0],), name="x")
    x = QActivation(quantized_bits(8, 7, alpha=1), name="q_in")(inp)
    for i, n in enumerate(MLP[1:]):
        x = QDense(n, kernel_quantizer=ternary(alpha=1), name=f"fc{i + 1}")(x)
        if i < len(MLP) - 2:
            x = QActivation(quantized_relu(7, 7), name=f"relu{i + 1}")(x)
    model = tf.keras.Model(inp, x)
    for layer in model.layers:
        if isinstance(layer, QDense):
            w = layer.get_weights()
            w[0] = rng.integers(-1, 2, size=w[0].shape).astype(np.float32)
            layer.set_weights(w)
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis")
    hls_model = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, io_type="io_stream",
                                                           backend="Vitis", output_dir=str(work / "mlp_prj"))
    hls_model.write()
    rows = json.loads((work / "mlp_prj" / "hwgen" / "layers.json").read_text())["layers"]
    return [(r["layer"], r["spec"]) for r in rows if r["tlmm"]]


def projection_spec() -> tuple[str, dict]:
    from hwgen.hls4ml.plan import tlmm_spec

    return "proj_1536", tlmm_spec("proj_1536", 1536, 1536, 8, {}, "kv260")


def naive_of(spec: dict) -> dict:
    return {"kind": "tlmm_naive", "name": spec["name"].replace("tlmm_", "naive_"), "target": spec["target"],
            "K": spec["K"], "N": spec["N"], "M_max": spec["M_max"], "act_bits": spec["act_bits"],
            "weight_memory": spec["weight_memory"], "P_k": spec["T"] * spec["G"], "P_n": spec["Q"]}


def synth(data: dict, work: Path):
    from hwgen.flows.report import Report
    from hwgen.flows.synth import run_synth
    from hwgen.flows.tools import content_key
    from hwgen.kernels import parse_spec
    from hwgen.render import render_files

    spec = parse_spec(data)
    rtl = "".join(text for path, text in sorted(render_files(spec, "rtl").items()) if path.startswith("rtl/"))
    out = work / f"{spec.design_name}-{content_key(rtl)[:12]}"       # a changed generator re-synthesizes
    if (out / "report.json").exists():
        return spec, Report.read(out / "report.json")
    t0 = time.time()
    report = run_synth(spec, out, flow="open", timeout_s=3600)
    print(f"  {spec.design_name}: {report.status} in {time.time() - t0:.0f} s", file=sys.stderr)
    return spec, report


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "hls4ml_tlmm.md")
    ap.add_argument("--work", type=Path, default=ROOT / "build" / "bench" / "hls4ml_tlmm")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    from hwgen.kernels import get
    from hwgen.surrogate.predict import predict_specs

    layers = mlp_specs(args.work) + [projection_spec()]
    rows = []
    for name, tlmm in layers:
        pair = []
        for data in (tlmm, naive_of(tlmm)):
            spec, rep = synth(data, args.work)
            pair.append((spec, rep))
        preds = predict_specs([s for s, _ in pair])
        for (spec, rep), pred in zip(pair, preds):
            perf = get(spec.kind).performance(spec)
            res = rep.resources.model_dump()
            lut_eq = (res.get("lut") or 0) + (res.get("lutram") or 0)
            rows.append({"layer": name, "K": spec.K, "N": spec.N, "act_bits": spec.act_bits, "kernel": spec.kind,
                         "params": ({"G": spec.G, "T": spec.T, "Q": spec.Q} if spec.kind == "tlmm"
                                    else {"P_k": spec.P_k, "P_n": spec.P_n}),
                         "macs_per_cycle": perf.macs_per_cycle, "cycles_per_token": perf.ii, "status": rep.status,
                         "lut": res.get("lut"), "lutram": res.get("lutram"), "ff": res.get("ff"),
                         "bram36": res.get("bram36"), "uram": res.get("uram"), "lut_eq": lut_eq,
                         "fmax_mhz_est": rep.fmax_mhz_est, "runtime_s": rep.runtime_s,
                         "pred_lut": pred["lut"]["mean"], "pred_lutram": pred["lutram"]["mean"],
                         "pred_lut_eq_lo_hi": [pred["lut"]["lo"] + pred["lutram"]["lo"],
                                               pred["lut"]["hi"] + pred["lutram"]["hi"]]})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    args.out.write_text(render(rows))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def render(rows: list[dict]) -> str:
    lines = [
        "# hwgen TLMM vs hls4ml's ternary Dense, per layer (open flow, kv260)",
        "",
        "Generated by `python bench/hls4ml_tlmm.py`. " + __doc__.split("Method: ")[1].split("\n\n")[0].replace("\n", " "),
        "",
        "TLMM parameters are hwgen.hls4ml's defaults for each layer (no `TLMM:` config given). Predicted = the "
        "shipped surrogate (`models/surrogate_v1`), LUT + LUTRAM mean and its +/-2 sigma band.",
        "",
        "| layer | K x N | act | kernel | params | MACs/cyc | cycles/token | LUT | LUTRAM | LUT-eq | FF | BRAM36 | URAM "
        "| Fmax est MHz | LUT-eq / MAC/cyc | predicted LUT-eq [band] | naive / TLMM LUT-eq | naive / TLMM LUT-eq x cycles |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_layer: dict[str, dict] = {}
    for r in rows:
        by_layer.setdefault(r["layer"], {})[r["kernel"]] = r
    for r in rows:
        pair = by_layer[r["layer"]]
        ratio = ratio_at = ""
        if r["kernel"] == "tlmm_naive" and pair.get("tlmm", {}).get("lut_eq"):
            t = pair["tlmm"]
            ratio = f"{r['lut_eq'] / t['lut_eq']:.2f}x"
            ratio_at = f"{r['lut_eq'] * r['cycles_per_token'] / (t['lut_eq'] * t['cycles_per_token']):.2f}x"
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        lo, hi = r["pred_lut_eq_lo_hi"]
        lines.append(
            f"| {r['layer']} | {r['K']} x {r['N']} | {r['act_bits']} | {'TLMM' if r['kernel'] == 'tlmm' else 'select-add (naive)'} "
            f"| {params} | {r['macs_per_cycle']} | {r['cycles_per_token']} | {r['lut']:.0f} | {r['lutram']:.0f} "
            f"| {r['lut_eq']:.0f} | {r['ff']:.0f} | {r['bram36']:g} | {r['uram']:g} | {r['fmax_mhz_est']:.0f} "
            f"| {r['lut_eq'] / r['macs_per_cycle']:.1f} | {r['pred_lut'] + r['pred_lutram']:.0f} [{lo:.0f}, {hi:.0f}] | {ratio} | {ratio_at} |")
    lines += ["", "The TLMM spends 3^G cycles per chunk building its tables, so it needs more cycles per token than "
              "the select-add at the same MACs/cycle; the last column charges it for them (area x time).",
              "", "Status of every synthesis: " + ", ".join(sorted({r["status"] for r in rows})) + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
