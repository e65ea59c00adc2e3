"""Surrogate speed: predictions per second for a batch of 10,000 random designs on 2 CPU threads,
against Yosys synthesis seconds per design (from a dataset's records).

    .venv/bin/python bench/surrogate_speed.py --model models/surrogate_v1 --data /path/records.jsonl
    -> bench/results/surrogate_speed.md (+ .json)

--baseline JSON adds the stage times of an earlier run (e.g. this script run under another checkout's Python, whose
hwgen it then imports) as a "before" column; run both back to back, the machine's load skews the timings.

    (cd ../main && .venv/bin/python ../speed/bench/surrogate_speed.py --out /tmp/base.md)   # main's hwgen
    .venv/bin/python bench/surrogate_speed.py --baseline /tmp/base.json --baseline-label main --data ...

The OpenMP wait policy is part of the result (hwgen.surrogate sets PASSIVE where torch is not loaded yet; a checkout
without that runs spinning unless OMP_WAIT_POLICY is set): on a shared machine it changes the 2-thread forward 2-5x.

Timed separately: spec validation, graph construction + features (pure Python; with FeatureCache, a fresh one, so
only designs repeated within the 10,000 are reused, and designs with equal graphs by the kernels' graph_key, e.g. one
matmul on two targets of one family and clock, are built and predicted once), tensor batching (slicing the forward batches), and the GNN
ensemble forward (where the checkout has Ensemble.predict_log_batches, every batch at once with the torch threads as
batch workers, one batch per thread at a time); "end to end" is their sum. The designs mix tlmm (60%), tlmm_naive (25%) and
attention (15%) over the spec ranges the datasets use.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def random_specs(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    out = []
    targets = ["kv260", "zcu104", "zcu102", "u280", "u250", "pynq-z2"]
    while len(out) < n:
        r = rng.random()
        t = rng.choice(targets)
        if r < 0.6:
            d = {"kind": "tlmm", "K": rng.choice([256, 512, 1536, 4096]), "N": rng.choice([256, 1536, 4096]),
                 "G": rng.choice([2, 3, 4]), "T": rng.choice([4, 8, 16, 32]), "Q": rng.choice([2, 4, 8, 16, 32]),
                 "table_style": rng.choice(["full", "mirror"]), "act_bits": rng.choice([4, 6, 8])}
        elif r < 0.85:
            d = {"kind": "tlmm_naive", "K": rng.choice([256, 1536, 4096]), "N": rng.choice([256, 1536]),
                 "P_k": rng.choice([8, 16, 32, 64]), "P_n": rng.choice([2, 4, 8, 16])}
        else:
            dd = rng.choice([32, 64, 128])
            d = {"kind": rng.choice(["attention_decode", "attention_prefill"]), "H": 8, "d": dd,
                 "lanes": rng.choice([x for x in (4, 8, 16) if dd % x == 0])}
            if d["kind"] == "attention_prefill":
                d["N_pe"] = rng.choice([1, 2, 4, 8, 16])
        if t in ("zcu102", "pynq-z2") and d["kind"].startswith("tlmm"):
            d["weight_memory"] = "bram"
        d["target"] = t
        out.append(d)
    return out


def synth_seconds(paths) -> dict:
    from hwgen.surrogate.train import load_reports

    rt = [r.runtime_s for r in load_reports(paths) if r.runtime_s]
    if not rt:
        return {}
    return {"n": len(rt), "mean": statistics.mean(rt), "median": statistics.median(rt), "max": max(rt)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "surrogate_v1"))
    ap.add_argument("--data", nargs="*", default=[], help="dataset records for synthesis seconds per design")
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "surrogate_speed.md"))
    ap.add_argument("--batch", type=int, default=None,
                    help="designs per forward batch (default: predict.FORWARD_BATCH where it exists, else 4096)")
    ap.add_argument("--baseline", default=None, help="JSON of an earlier run, shown as the 'before' column")
    ap.add_argument("--baseline-label", default="before")
    a = ap.parse_args(argv)

    import hwgen.surrogate  # noqa: F401  (first: it picks torch's OpenMP wait policy where this checkout does)
    import numpy as np
    import torch

    from hwgen.kernels import parse_spec
    from hwgen.surrogate import features
    from hwgen.surrogate.features import arrays, build_ir, collate
    from hwgen.surrogate.model import Ensemble

    # the cached whole-request feature path where this checkout has it, else the batched one (collate_graphs per
    # forward batch), else per-graph arrays + collate
    cached = hasattr(features, "FeatureCache")
    fast = hasattr(features, "collate_graphs")
    if a.batch is None:
        from hwgen.surrogate import predict
        a.batch = getattr(predict, "FORWARD_BATCH", 4096)

    torch.set_num_threads(a.threads)
    ens = Ensemble.load(Path(a.model))
    import torch_geometric.data  # noqa: F401  (import outside the timed region)
    collate([arrays(build_ir(d)) for d in random_specs(64, seed=99)])   # warm-up (caches, lazy imports)
    if cached:   # warm-up of the new path on its own cache; the timed run starts from an empty one
        warm = features.FeatureCache().batch(random_specs(64, seed=99))
        ens.predict_log(features.slice_batch(warm, 0, 32))
    dicts = random_specs(a.n)
    load_before = os.getloadavg()[0]   # other jobs on the machine skew the timings
    t0 = time.perf_counter()
    specs = [parse_spec(d) for d in dicts]
    t1 = time.perf_counter()
    distinct = hasattr(features.FeatureCache, "batch_distinct") if cached else False
    if cached:
        cache = features.FeatureCache()
        whole, inverse = cache.batch_distinct(specs) if distinct else (cache.batch(specs), None)
        graphs = range(whole.u.shape[0])
        slices = features.batch_slices(whole, a.batch)
    else:
        graphs = [build_ir(s) for s in specs] if fast else [arrays(build_ir(s)) for s in specs]
    t2 = time.perf_counter()
    batch = a.batch
    t_collate = t_forward = 0.0
    nodes = 0
    outs = []
    # where the checkout has it, every forward batch at once (Ensemble.predict_log_batches: the torch threads as batch
    # workers); else one batch after the other
    workers = cached and hasattr(ens, "predict_log_batches")
    if workers:
        c0 = time.perf_counter()
        datas = list(slices)
        c1 = time.perf_counter()
        outs = [o[:2] for o in ens.predict_log_batches(datas)]
        t_collate, t_forward = c1 - c0, time.perf_counter() - c1
        nodes = sum(d.x.shape[0] for d in datas)
    for s in range(0, 0 if workers else len(graphs), batch):
        c0 = time.perf_counter()
        if cached:
            data = next(slices)
        else:
            data = features.collate_graphs(graphs[s: s + batch]) if fast else collate(graphs[s: s + batch])
        c1 = time.perf_counter()
        outs.append(ens.predict_log(data)[:2])
        c2 = time.perf_counter()
        t_collate += c1 - c0
        t_forward += c2 - c1
        nodes += data.x.shape[0]
    if distinct:   # every design of the request gets the prediction of its distinct design (counted as batching)
        c0 = time.perf_counter()
        mean, sigma = (np.concatenate([o[i] for o in outs])[inverse] for i in (0, 1))
        t_collate += time.perf_counter() - c0
    total = (t2 - t0) + t_collate + t_forward
    syn = synth_seconds(a.data) if a.data else {}
    res = {"designs": a.n, "feature_path": "FeatureCache.batch_distinct (build_ir + collate_graphs of the distinct "
           "designs), batch_slices per forward batch, the ensemble once per distinct design" if distinct else
           "FeatureCache.batch (build_ir + collate_graphs of the distinct designs), batch_slices per forward batch" if cached else "build_ir, then collate_graphs per batch" if fast else
           "arrays(build_ir) per design, then collate per batch",
           "forward": (f"PackedEnsemble, {a.threads} threads as batch workers (predict_log_batches)" if workers else
                       "PackedEnsemble" if hasattr(ens, "packed") else "fused_forward"), "threads": a.threads, "members": len(ens.members), "hidden": ens.cfg.hidden,
           "layers": ens.cfg.layers, "avg_nodes": nodes / len(graphs), "forward_designs": len(graphs), "parse_s": t1 - t0, "graph_s": t2 - t1,
           "collate_s": t_collate, "forward_s": t_forward, "total_s": total, "pred_per_s": a.n / total,
           "forward_pred_per_s": a.n / t_forward, "synth_seconds": syn,
           "speedup_vs_synth": (syn.get("mean", 0) * a.n / total) if syn else None,
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__, "load_before": load_before,
           "load_after": os.getloadavg()[0], "batch": batch, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset)"),
           "feature_split": ({**cache.seconds, "graphs_built": cache.built,
                              "by_kind": {k: {"built": n, "seconds": sec} for k, (n, sec) in sorted(cache.by_kind.items())}}
                             if cached else None), "hwgen": str(Path(__import__("hwgen").__file__).parent)}
    base = json.loads(Path(a.baseline).read_text()) if a.baseline else None
    lines = ["# Surrogate prediction speed", "",
             f"`{' '.join(['.venv/bin/python', 'bench/surrogate_speed.py'] + (argv if argv is not None else sys.argv[1:]))}`", "",
             f"{a.n} random designs (tlmm / tlmm_naive / attention mix, avg {res['avg_nodes']:.0f} graph nodes after "
             "merging identical lanes), "
             f"ensemble of {res['members']} GNNs (hidden {res['hidden']}, {res['layers']} layers), "
             f"torch {res['torch']} on {a.threads} CPU threads (1-minute load average before / after the run: "
             f"{res['load_before']:.2f} / {res['load_after']:.2f}; the machine is shared, so compare columns of runs "
             "made back to back).", ""]
    if max(res["load_before"], res["load_after"]) > a.threads:
        lines += [f"**The machine was oversubscribed during this run** (load above its {a.threads} threads): absolute "
                  "rates are several times below a quiet machine's, and multi-threaded torch suffers most; only "
                  "the ratio between columns measured back to back means something.", ""]
    if base:
        lines += [f"{a.baseline_label}: `{base.get('command', '')}` (hwgen from {base.get('hwgen', '?')}; load "
                  f"{base.get('load_before', float('nan')):.2f} / {base.get('load_after', float('nan')):.2f}, "
                  f"{base.get('batch', 2048)} designs per batch; features: {base.get('feature_path', '?')}; forward: "
                  f"{base.get('forward', 'fused_forward')}).", "",
                  f"now: hwgen from {res['hwgen']}, {batch} designs per batch; features: {res['feature_path']}; "
                  f"forward: {res['forward']}.", "",
                  f"OpenMP wait policy: {base.get('omp_wait_policy', '(unset)')} ({a.baseline_label}), "
                  f"{res['omp_wait_policy']} (now).", "",
                  f"| stage | {a.baseline_label}: seconds | designs/s | now: seconds | designs/s |", "|---|---|---|---|---|"]
    else:
        lines += ["| stage | seconds | designs/s |", "|---|---|---|"]
    for k, label in (("parse_s", "spec validation (pydantic)"), ("graph_s", "graph construction (+ features: cached path)"),
                     ("collate_s", "batching (+ features: collate_graphs path)"), ("forward_s", "ensemble forward"),
                     ("total_s", "**end to end**")):
        before = f"{base[k]:.2f} | {a.n / base[k]:,.0f} | " if base else ""
        lines.append(f"| {label} | {before}{res[k]:.2f} | {a.n / res[k]:,.0f} |")
    lines.append("")
    split = res["feature_split"]
    if split:
        us = lambda sec: 1e6 * sec / a.n  # noqa: E731  (microseconds per design of the 10,000)
        lines += ["Where the time goes (now; microseconds per design of the request, against the 100 us a design may "
                  "take in all at 10,000 predictions/s):", "",
                  "| part | seconds | us / design |", "|---|---|---|",
                  f"| spec validation | {res['parse_s']:.2f} | {us(res['parse_s']):.0f} |"]
        if "key" in split:   # FeatureCache with Kernel.graph_key: designs with equal graphs are built and predicted once
            lines.append(f"| graph keys (Kernel.graph_key of each distinct spec: the matmul model, performance and "
                         f"timing anchor) | {split['key']:.2f} | {us(split['key']):.0f} |")
        for kind, v in split["by_kind"].items():
            lines.append(f"| graph builder: {kind} ({v['built']} distinct graphs built, "
                         f"{1e6 * v['seconds'] / max(1, v['built']):.0f} us each) | {v['seconds']:.2f} | {us(v['seconds']):.0f} |")
        lines += [f"| feature encoding (collate_graphs of the {split['graphs_built']} distinct designs) | "
                  f"{split['encode']:.2f} | {us(split['encode']):.0f} |",
                  f"| gather from the cache (designs seen before) | {split['gather']:.2f} | "
                  f"{us(split['gather']):.0f} |",
                  f"| forward batches ({batch} designs each){', predictions spread to the repeats' if distinct else ''} | "
                  f"{res['collate_s']:.2f} | {us(res['collate_s']):.0f} |",
                  f"| ensemble forward ({res['forward_designs']} designs) | {res['forward_s']:.2f} | {us(res['forward_s']):.0f} |",
                  f"| **end to end** | {total:.2f} | {us(total):.0f} |", ""]
        parts = {"graph keys": split.get("key", 0.0), "graph builders": split["build"],
                 "feature encoding": split["encode"], "ensemble forward": res["forward_s"],
                 "spec validation": res["parse_s"], "gather + forward batches": split["gather"] + res["collate_s"]}
        top = sorted(parts.items(), key=lambda kv: -kv[1])
        verdict = "meets" if res["pred_per_s"] >= 10000 else "misses"
        lines += [f"This run {verdict} 10,000 predictions/s ({us(total):.0f} us per design against 100): "
                  + ", ".join(f"{name} {us(sec):.0f} us ({100 * sec / total:.0f} %)" for name, sec in top) + ". "
                  "The graph builders are per-design Python (each kernel's model, timing estimate and cost terms); "
                  "the forward is bound by memory traffic over the edge tensors.", ""]
    if syn:
        lines += [f"Yosys synthesis of the dataset designs ({syn['n']} records): mean {syn['mean']:.1f} s, median "
                  f"{syn['median']:.1f} s, max {syn['max']:.1f} s per design (one design at a time on this machine).", "",
                  f"**{res['pred_per_s']:,.0f} predictions/s end to end vs {1 / syn['mean']:.3f} syntheses/s: "
                  f"about {res['speedup_vs_synth']:,.0f}x faster** than the mean synthesis of these (mostly small) designs; "
                  "synthesis time grows with design size, the surrogate's cost barely does (identical lanes/units are "
                  "one node with a multiplicity).", ""]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    res["command"] = " ".join(["bench/surrogate_speed.py"] + (argv if argv is not None else sys.argv[1:]))
    if base:
        res["baseline"] = base
    out.with_suffix(".json").write_text(json.dumps(res, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
