"""Evaluate the surrogate-guided design search against exhaustive ground truth.

Each space in SPACES was synthesized point by point offline (`hwgen dataset build` on
datasets/spaces/search_*.yaml -> datasets/search_*/records.jsonl). The search runs with "synthesis"
answered from that table, so every budget and seed is replayed exactly. The surrogate must not have
seen these points: its training data (--train) is checked for overlapping keys.

    python bench/search_eval.py [--model models/surrogate_v1] [--seeds 5] [--out bench/results/search_eval.md]

Methods at the same synthesis budget N in {5, 10, 20} and N = 10% of the space:
  gnn        surrogate-guided search, objective pareto (GNN ensemble mean + uncertainty, refined with
             each result; the last run goes to the throughput challenger)
  analytical the same loop guided by the analytical (FINN-style) model
  random     N designs drawn uniformly without replacement
  oracle     the best any N runs could do: the N points of the exhaustive front with the largest
             hypervolume (an upper bound, not a method)
Metrics: best found / true best for the throughput objective (feasible designs only; 0 if none found),
and hypervolume of the feasible (LUT-eq, tokens/s) front found / exhaustive front.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hwgen.datasets.store import load_records
from hwgen.kernels import kinds
from hwgen.kernels import parse_spec
from hwgen.surrogate.search import (AnalyticalPredictor, SearchSpace, SurrogatePredictor, hypervolume, pareto_front,
                                    run_search, spec_key)
from hwgen.targets import get_target

ROOT = Path(__file__).resolve().parents[1]
# name -> (records, resource limits in percent of the device): limits chosen so that they bind.
SPACES = {
    "kv260_tlmm": (ROOT / "datasets" / "search_kv260_tlmm", {"lut": 5.0}),
    "pynq_mixed": (ROOT / "datasets" / "search_pynq_mixed", {"lut": 10.0}),
}
BUDGETS = (5, 10, 20, "10%")


class Jittered:
    """Predictor wrapper: break exact ties differently per seed (the loop itself is deterministic)."""

    def __init__(self, inner, seed):
        self.inner, self.seed, self.name = inner, seed, inner.name

    def predict(self, specs):
        rng = np.random.default_rng(self.seed)
        out = self.inner.predict(specs)
        return [{t: (m * (1 + 1e-6 * rng.standard_normal()), s) for t, (m, s) in p.items()} for p in out]


def load_space(folder: Path, limits_pct: dict):
    reps = [r for r in load_records(folder, latest=True) if r.status == "ok"]
    specs = [parse_spec(r.extra["spec"]) for r in reps]
    target = get_target(specs[0].target)
    cap = {k: float(v) for k, v in target.capacity().items()}
    limits = {r: cap[r] * limits_pct.get(r, 85.0) / 100 for r in ("lut", "ff", "dsp", "bram36", "uram")}
    return SearchSpace(specs, cap, limits, [s.clock for s in specs], 2.0), reps


def truth(space: SearchSpace, reps):
    """Exact feasibility, throughput and LUT-eq of every point."""
    rows = []
    for i, r in enumerate(reps):
        lut_eq = (r.resources.lut or 0) + (r.resources.lutram or 0)
        use = {"lut": lut_eq, "ff": r.resources.ff or 0, "dsp": r.resources.dsp or 0,
               "bram36": r.resources.bram36 or 0, "uram": r.resources.uram or 0}
        fits = all(use[k] <= space.limits[k] + 1e-9 for k in use)
        rows.append((fits, space.clock_mhz[i] * 1e6 / r.ii, lut_eq))
    return rows


def score(found: set[int], rows, hv_ref) -> tuple[float, float]:
    feas = [rows[i] for i in found if rows[i][0]]
    best_all = max(t for f, t, _ in rows if f)
    best = max((t for _, t, _ in feas), default=0.0) / best_all
    hv_all = hypervolume([(c, t) for f, t, c in rows if f], hv_ref)
    hv = hypervolume([(c, t) for _, t, c in feas], hv_ref) / hv_all
    return best, hv


def oracle_hv(rows, hv_ref, n: int) -> float:
    """Largest hypervolume of any n feasible points (dynamic programming over the exhaustive front)."""
    front = pareto_front([(c, t, i) for i, (f, t, c) in enumerate(rows) if f and c <= hv_ref])
    cost = [c for c, _, _ in front]
    val = [t for _, t, _ in front]
    k_max = min(n, len(front))
    # g[k][m]: best area of m chosen points, the cheapest of which is front[k]
    g = [[0.0] * (k_max + 1) for _ in front]
    for k in reversed(range(len(front))):
        g[k][1] = (hv_ref - cost[k]) * val[k]
        for m in range(2, k_max + 1):
            g[k][m] = max(((cost[j] - cost[k]) * val[k] + g[j][m - 1] for j in range(k + 1, len(front))),
                          default=0.0)
    best = max((g[k][m] for k in range(len(front)) for m in range(1, k_max + 1)), default=0.0)
    return best / hypervolume([(c, t) for f, t, c in rows if f], hv_ref)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "surrogate_v1")
    ap.add_argument("--train", type=Path, nargs="*", default=[ROOT / "datasets" / "tlmm"],
                    help="the model's training data, checked for overlap with the ground-truth spaces")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "search_eval.md")
    args = ap.parse_args()
    train_keys = {spec_key(parse_spec(r.extra["spec"])) for d in args.train for r in load_records(d)
                  if r.extra.get("spec", {}).get("kind") in kinds()}   # composed designs cannot coincide
    results = {}
    lines = ["# Surrogate-guided search vs. exhaustive synthesis", "",
             f"Generated by `python bench/search_eval.py --model {args.model.relative_to(ROOT) if args.model.is_relative_to(ROOT) else args.model}"
             f" --seeds {args.seeds}`. Synthesis is replayed from exhaustive ground truth (open Yosys flow);",
             "search objective pareto under the LUT limit shown; best = highest throughput (tokens/s at the target",
             "clock) among feasible synthesized designs / the true best; hypervolume of the feasible (LUT-eq, tokens/s)",
             "front found / exhaustive. Mean over seeds (min in parentheses). Oracle: the best hypervolume any N runs",
             "could reach (the N best points of the exhaustive front), an upper bound for every method.", ""]
    for name, (folder, limits_pct) in SPACES.items():
        space, reps = load_space(folder, limits_pct)
        overlap = sum(spec_key(s) in train_keys for s in space.specs)
        rows = truth(space, reps)
        hv_ref = space.limits["lut"]
        n_feasible = sum(f for f, _, _ in rows)
        lines += [f"## {name}: {len(space.specs)} designs, {n_feasible} feasible under "
                  f"{', '.join(f'{k} <= {v}%' for k, v in limits_pct.items())} of {space.specs[0].target} "
                  f"(training-set overlap: {overlap})", "",
                  f"Exhaustive front: {len(pareto_front([(c, t, i) for i, (f, t, c) in enumerate(rows) if f]))} designs.", "",
                  "| budget (% of space) | method | best / true best | hypervolume / exhaustive |",
                  "|---|---|---|---|"]
        for budget in BUDGETS:
            if budget == "10%":
                budget = max(1, round(0.1 * len(space.specs)))
            for method in ("gnn", "analytical", "random", "oracle"):
                if method == "oracle":
                    hv = oracle_hv(rows, hv_ref, budget)
                    results[(name, budget, method)] = (1.0, hv)
                    lines.append(f"| {budget} ({100 * budget / len(space.specs):.0f}%) | oracle | 1.000 | {hv:.3f} |")
                    continue
                bests, hvs = [], []
                for seed in range(args.seeds):
                    if method == "random":
                        rng = np.random.default_rng(seed)
                        found = set(rng.choice(len(space.specs), size=min(budget, len(space.specs)), replace=False).tolist())
                    else:
                        base = SurrogatePredictor(args.model) if method == "gnn" else AnalyticalPredictor()
                        res = run_search(space, "pareto", budget, Jittered(base, seed), lambda i: reps[i])
                        found = set(res.observed)
                    b, h = score(found, rows, hv_ref)
                    bests.append(b)
                    hvs.append(h)
                results[(name, budget, method)] = (float(np.mean(bests)), float(np.mean(hvs)))
                lines.append(f"| {budget} ({100 * budget / len(space.specs):.0f}%) | {method} | "
                             f"{np.mean(bests):.3f} ({min(bests):.3f}) | {np.mean(hvs):.3f} ({min(hvs):.3f}) |")
                print(name, budget, method, f"{np.mean(bests):.3f}", f"{np.mean(hvs):.3f}", file=sys.stderr, flush=True)
        lines.append("")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps({"|".join(map(str, k)): v for k, v in results.items()}, indent=1))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
