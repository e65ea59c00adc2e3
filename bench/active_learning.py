"""Uniform vs uncertainty sampling (`hwgen dataset build --acquire uncertainty`) at equal synthesis budgets.

Pool-based and replayed on synthesized data: the shipped TLMM dataset (datasets/tlmm, 1,000 Yosys designs) is the
pool whose labels are revealed only when a strategy "synthesizes" a design; a fixed test set (a random part of the
pool that no strategy may pick, plus datasets/holdout_tlmm) scores each surrogate. Both strategies start from the
same uniform seed set. Uncertainty: train a surrogate on what it has, score the rest of the pool by the predicted
LUT log-sigma (datasets/acquire.py, the same scorer the builder uses) and add the top ones; uniform: add random
ones. The surrogates here are smaller than the shipped one (members and epochs below) so the curve runs in
minutes on 2 cores; both strategies use the same config.

Writes bench/results/active_learning.md, .json and .png. Usage:
    python bench/active_learning.py [--budgets 50 100 200 400] [--repeats 2] [--epochs 150] [--members 3]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "active_learning.md"
TARGETS_SHOWN = ("lut", "ff")


def smape_by_target(ens, test) -> dict:
    from hwgen.surrogate.evaluate import smape
    from hwgen.surrogate.model import TARGETS, round_discrete
    from hwgen.surrogate.train import predict_examples

    mean, _, _ = predict_examples(ens, test)
    out = {}
    for t in TARGETS_SHOWN:
        j = TARGETS.index(t)
        y = np.array([ex.y[t] for ex in test], float)
        p = np.array([round_discrete(t, float(np.expm1(m))) for m in mean[:, j]])
        out[t] = smape(y, p)
    return out


def run(budgets, repeats: int, epochs: int, members: int, test_size: int, log=print) -> dict:
    from hwgen.surrogate.model import TARGETS, ModelConfig
    from hwgen.surrogate.train import load_examples, predict_examples, train_ensemble

    pool_all = load_examples([ROOT / "datasets" / "tlmm"])
    holdout = load_examples([ROOT / "datasets" / "holdout_tlmm"])
    lut = TARGETS.index("lut")
    rows = []
    for rep in range(repeats):
        rng = np.random.default_rng(1000 + rep)
        perm = rng.permutation(len(pool_all))
        test = [pool_all[i] for i in perm[:test_size]] + holdout
        pool = [pool_all[i] for i in perm[test_size:]]
        seed_set = list(range(budgets[0]))          # pool order is already random
        for strategy in ("uniform", "uncertainty"):
            chosen = list(seed_set)
            srng = np.random.default_rng(2000 + rep)
            for b in budgets:
                if len(chosen) < b:
                    rest = np.setdiff1d(np.arange(len(pool)), chosen)
                    need = b - len(chosen)
                    if strategy == "uniform":
                        chosen += srng.choice(rest, need, replace=False).tolist()
                    else:                                   # the model trained on the previous budget decides
                        _, sigma, _ = predict_examples(ens, [pool[i] for i in rest])
                        order = np.lexsort((rest, -sigma[:, lut]))
                        chosen += rest[order[:need]].tolist()
                t0 = time.time()
                cfg = ModelConfig(members=members, epochs=epochs, seed=rep)
                ens = train_ensemble([pool[i] for i in chosen], cfg)
                row = {"repeat": rep, "strategy": strategy, "designs": len(chosen), "train_s": round(time.time() - t0, 1),
                       **{f"{t}_smape": v for t, v in smape_by_target(ens, test).items()},
                       "chosen_mean_lut": float(np.mean([pool[i].y["lut"] for i in chosen])),
                       "synthesis_s": float(sum(pool[i].runtime_s or 0.0 for i in chosen))}
                rows.append(row)
                log(json.dumps(row))
    return {"budgets": list(budgets), "repeats": repeats, "epochs": epochs, "members": members,
            "test_designs": test_size + len(holdout), "pool_designs": len(pool_all) - test_size, "rows": rows}


def summarize(res: dict) -> list[dict]:
    out = []
    for strategy in ("uniform", "uncertainty"):
        for b in res["budgets"]:
            sel = [r for r in res["rows"] if r["strategy"] == strategy and r["designs"] == b]
            out.append({"strategy": strategy, "designs": b,
                        **{f"{t}_smape": float(np.mean([r[f"{t}_smape"] for r in sel])) for t in TARGETS_SHOWN},
                        "synthesis_h": float(np.mean([r["synthesis_s"] for r in sel])) / 3600,
                        **{f"{t}_smape_min": float(np.min([r[f"{t}_smape"] for r in sel])) for t in TARGETS_SHOWN},
                        **{f"{t}_smape_max": float(np.max([r[f"{t}_smape"] for r in sel])) for t in TARGETS_SHOWN}})
    return out


def write(res: dict, cmd: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summ = summarize(res)
    lines = ["# Active learning: uniform vs uncertainty sampling at equal synthesis budgets", "",
             f"Generated by `{cmd}` on {time.strftime('%Y-%m-%d')} (see the script's docstring for the method). "
             f"Pool: {res['pool_designs']} synthesized TLMM/naive designs of datasets/tlmm; test: "
             f"{res['test_designs']} designs no strategy can pick (a random part of datasets/tlmm plus "
             f"datasets/holdout_tlmm); {res['repeats']} repeats with different test splits and seed sets; surrogate "
             f"ensembles of {res['members']} members x {res['epochs']} epochs (smaller than the shipped model's 5 x 300, "
             "the same for both strategies).", "",
             "| designs synthesized | LUT SMAPE uniform | LUT SMAPE uncertainty | FF SMAPE uniform | FF SMAPE uncertainty "
             "| Yosys hours uniform | Yosys hours uncertainty |",
             "|---|---|---|---|---|---|---|"]
    by = {(r["strategy"], r["designs"]): r for r in summ}
    for b in res["budgets"]:
        u, a = by[("uniform", b)], by[("uncertainty", b)]
        lines.append(f"| {b} | {u['lut_smape']:.2f} % ({u['lut_smape_min']:.2f}-{u['lut_smape_max']:.2f}) | "
                     f"{a['lut_smape']:.2f} % ({a['lut_smape_min']:.2f}-{a['lut_smape_max']:.2f}) | "
                     f"{u['ff_smape']:.2f} % | {a['ff_smape']:.2f} % | {u['synthesis_h']:.2f} | {a['synthesis_h']:.2f} |")
    lines += ["", "Mean over repeats (range in parentheses). Yosys hours: the stored synthesis time of the designs each "
              "strategy picked (the cost of the budget in tool time, which differs from the design count when a "
              "strategy favours larger or smaller designs). Plot: `active_learning.png`."]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    OUT.with_suffix(".json").write_text(json.dumps({**res, "summary": summ}, indent=1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, style in (("uniform", "o--"), ("uncertainty", "s-")):
        xs = res["budgets"]
        ax.plot(xs, [by[(strategy, b)]["lut_smape"] for b in xs], style, label=f"{strategy} (mean)")
        pts = [r for r in res["rows"] if r["strategy"] == strategy]
        ax.scatter([r["designs"] for r in pts], [r["lut_smape"] for r in pts], s=10, alpha=0.4)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("designs synthesized (training set size)")
    ax.set_ylabel("LUT SMAPE on the test set, %")
    ax.set_title("Surrogate accuracy vs synthesis budget")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=120)


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budgets", type=int, nargs="+", default=[50, 100, 200, 400])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=150)
    ap.add_argument("--members", type=int, default=3)
    ap.add_argument("--test-size", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rerender", action="store_true", help="rewrite the table and plot from the stored .json")
    args = ap.parse_args()
    if args.rerender:
        res = json.loads(OUT.with_suffix(".json").read_text())
        write(res, res["command"])
        return
    torch.set_num_threads(args.threads)
    res = run(sorted(args.budgets), args.repeats, args.epochs, args.members, args.test_size)
    cmd = "python bench/active_learning.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in vars(args).items())
    res["command"] = cmd
    write(res, cmd)
    print(OUT.read_text())


if __name__ == "__main__":
    main()
