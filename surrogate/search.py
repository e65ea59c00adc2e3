"""Surrogate-guided design search: predict every candidate, prune what cannot fit or cannot win, and
spend the synthesis budget on the most promising and the most uncertain-but-possibly-best designs.

    hwgen search --config designs/search_kv260_tlmm.yaml --target kv260 --objective throughput --budget 10 --out build/search
    python -m hwgen.surrogate.search --config ... (same options)

Loop (one synthesis per round):
  1. enumerate the free parameters (validated specs), predict all 8 targets with uncertainty;
  2. prune: a candidate whose optimistic resource use (mean - z*sigma) breaks a limit cannot fit;
     one that cannot beat a synthesized feasible design is dominated;
  3. acquisition = objective gain x P(fits) (throughput/latency) or expected hypervolume gain
     (pareto): high when a design is predicted good and likely to fit, and still positive when it is
     uncertain but could be the best; with pareto, the last run of the budget goes to the
     throughput challenger so that the best design is synthesized, not only predicted;
  4. synthesize it (vendor flow when present, else Yosys), append the report to OUT/records.jsonl,
     correct the surrogate with the observed residuals (kernel regression on the parameters), repeat.
A rerun with the same OUT resumes: synthesized designs are read back, not rebuilt.
"""
from __future__ import annotations

import itertools
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal, Optional, Sequence

import click
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hwgen.errors import UserError, validation_error_to_user_error
from hwgen.flows.report import Report
from hwgen.spec import read_yaml

RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")   # capacity-checked (lut counts logic + LUTRAM)
Objective = Literal["throughput", "latency", "pareto"]


class SearchConstraints(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_util: dict[str, float] = Field(default_factory=dict)   # percent per resource, default 85
    z: float = Field(2.0, ge=0, le=5, description="uncertainty margin in standard deviations")
    meet_clock: bool = Field(True, description="a design must reach its clock (Fmax estimate >= clock_mhz); false: "
                                               "throughput at min(clock, Fmax estimate), e.g. with clock_mhz free")

    def limit(self, resource: str) -> float:
        return self.max_util.get(resource, 85.0)


class SearchConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    name: Optional[str] = None
    target: str = "kv260"
    fixed: dict = Field(default_factory=dict)          # the problem: K, N, L_max, ...
    free: dict[str, list] = Field(default_factory=dict)
    constraints: SearchConstraints = Field(default_factory=SearchConstraints)
    objective: Objective = "throughput"


def load_config(path: Path) -> SearchConfig:
    data = read_yaml(path, "config")
    try:
        cfg = SearchConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error_to_user_error(err, SearchConfig) from None
    for key, values in cfg.free.items():
        if not values:
            raise UserError(f"free.{key}", "needs at least one value")
    for res, pct in cfg.constraints.max_util.items():
        if res not in RESOURCES or not 0 < pct <= 100:
            raise UserError(f"constraints.max_util.{res}", f"allowed resources {', '.join(RESOURCES)}, percent 0..100")
    return cfg


def enumerate_candidates(cfg: SearchConfig, target: str) -> list:
    """Every valid spec of the space (invalid combinations are skipped, not errors)."""
    from hwgen.kernels import parse_spec

    names = sorted(cfg.free)
    specs = []
    for combo in itertools.product(*(cfg.free[n] for n in names)):
        data = {"kind": cfg.kind, "target": target, **cfg.fixed, **dict(zip(names, combo))}
        if cfg.name:
            data["name"] = cfg.name
        try:
            specs.append(parse_spec(data))
        except UserError:
            continue
    if not specs:
        raise UserError("free", "no valid design in the space (every combination is rejected by the kernel)")
    return specs


def spec_key(spec) -> str:
    """The design key (hwgen.spec.KernelSpec.design_key): the same identity datasets use."""
    return spec.design_key()


# ----------------------------------------------------------------------------- predictors

Prediction = dict[str, tuple[float, float]]   # target -> (mean, std), linear scale


class SurrogatePredictor:
    """The shipped GNN ensemble (mean and spread of the members)."""

    name = "gnn"

    def __init__(self, model_dir: Optional[Path] = None):
        self.model_dir = model_dir

    def predict(self, specs) -> list[Prediction]:
        """All targets, plus `fmax_mhz_est` as (the conservative Fmax, std) where the model predicts timing (a model
        without timing heads leaves the kernels' own Fmax estimate in place: make_space)."""
        from .predict import predict_specs
        rows = predict_specs(list(specs), self.model_dir)
        out = []
        for r in rows:
            p = {t: (float(v["raw"] if "raw" in v else v["mean"]), float(v["std"])) for t, v in r.items()
                 if t != "fmax_mhz_est"}
            f = r["fmax_mhz_est"]
            if not f.get("anchor_only"):
                p["fmax_mhz_est"] = (float(f["conservative"]), float(f["std"]))
            out.append(p)
        return out


class AnalyticalPredictor:
    """FINN-style formulas; a fixed 15 % relative uncertainty (no learned spread)."""

    name = "analytical"

    def predict(self, specs) -> list[Prediction]:
        from .analytical import estimate_many
        return [{t: (float(v), 0.15 * abs(float(v)) + 1.0) for t, v in est.items()} for est in estimate_many(specs)]


def param_vectors(specs, names: Sequence[str]) -> np.ndarray:
    """Normalized numeric/categorical parameter vectors, the metric for the residual correction."""
    cols = []
    for n in names:
        vals = [getattr(s, n, None) for s in specs]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            x = np.log2(np.maximum(np.array(vals, dtype=float), 1e-9))
        else:
            x = np.array([hash(str(v)) % 997 for v in vals], dtype=float)
            x = (x[:, None] == np.unique(x)[None, :]).astype(float).argmax(1) * 2.0   # categories 2 apart
        span = x.max() - x.min()
        cols.append((x - x.min()) / span if span > 0 else np.zeros_like(x))
    return np.stack(cols, axis=1) if cols else np.zeros((len(specs), 1))


def corrected(pred: list[Prediction], X: np.ndarray, observed: dict[int, Report], bandwidth: float = 0.35,
              prior: float = 1.0) -> list[Prediction]:
    """Refine predictions with observed synthesis results: per target, the log residual of nearby
    synthesized designs (Gaussian kernel in parameter space, shrunk towards 0 by `prior`) is added;
    the spread shrinks where observations are close; observed designs become exact."""
    if not observed:
        return pred
    idx = np.array(sorted(observed))
    out = [dict(p) for p in pred]
    d2 = ((X[:, None, :] - X[None, idx, :]) ** 2).sum(-1)
    w = np.exp(-d2 / (2 * bandwidth**2))                      # [candidates, observed]
    for t in pred[0]:
        actual = np.array([_actual(observed[i], t) for i in idx], dtype=float)
        valid = ~np.isnan(actual)
        if not valid.any():
            continue
        mean_obs = np.array([pred[i][t][0] for i in idx])
        resid = np.where(valid, np.log1p(np.maximum(actual, 0)) - np.log1p(np.maximum(mean_obs, 0)), 0.0)
        wv = w * valid[None, :]
        corr = (wv * resid[None, :]).sum(1) / (wv.sum(1) + prior)
        near = wv.sum(1) / (wv.sum(1) + prior)                 # 0 far from data, -> 1 next to it
        for c in range(len(pred)):
            m, s = pred[c][t]
            out[c][t] = (max(0.0, (1 + m) * math.exp(corr[c]) - 1), s * (1 - 0.7 * near[c]))
    for i, rep in observed.items():
        for t in pred[0]:
            a = _actual(rep, t)
            if not math.isnan(a):
                out[i][t] = (a, 0.0)
    return out


def _actual(rep: Report, target: str) -> float:
    if target in ("latency_cycles", "ii", "lut_depth", "fmax_mhz_est"):
        v = getattr(rep, target)
    elif target == "crit_ns":
        v = (rep.extra.get("critical_path") or {}).get("crit_ns")
    else:
        v = getattr(rep.resources, target, None)
    return float("nan") if v is None else float(v)


# ----------------------------------------------------------------------------- objectives

@dataclass
class SearchSpace:
    specs: list
    capacity: dict[str, float]
    limits: dict[str, float]          # absolute resource limits (capacity * max_util)
    clock_mhz: list[float]
    z: float
    # Timing: None ignores Fmax (replays of ground-truth tables); "constraint": a design must reach its clock;
    # "achieved": throughput at min(clock, Fmax). fmax_mhz: per candidate, the kernel's pre-synthesis delay-model
    # estimate (Kernel.fmax_estimate; None: the kernel models none, the clock is assumed); replaced by the
    # predictor's Fmax where it has one (the GNN's conservative estimate, predict.FMAX_SIGMAS below its mean, refined
    # by nearby synthesized designs: use_predicted_fmax), and by the synthesized fmax_mhz_est once a design is
    # synthesized.
    timing: Optional[str] = None
    fmax_mhz: list = field(default_factory=list)

    def achieved_clock(self, i: int) -> float:
        f = self.fmax_mhz[i] if self.timing and i < len(self.fmax_mhz) else None
        return _achieved_clock(self.clock_mhz[i], f)

    def meets_clock(self, i: int) -> bool:
        return self.timing != "constraint" or self.achieved_clock(i) >= self.clock_mhz[i] - 1e-9

    def use_predicted_fmax(self, pred: list[Prediction], observed) -> None:
        if not self.timing:
            return
        for i, p in enumerate(pred):
            if i not in observed and "fmax_mhz_est" in p and i < len(self.fmax_mhz):
                self.fmax_mhz[i] = p["fmax_mhz_est"][0]

    def observe_timing(self, i: int, rep: Report) -> None:
        if self.timing and rep.fmax_mhz_est is not None and i < len(self.fmax_mhz):
            self.fmax_mhz[i] = rep.fmax_mhz_est

    def lut_eq(self, p: Prediction) -> tuple[float, float]:
        (m1, s1), (m2, s2) = p["lut"], p.get("lutram", (0.0, 0.0))
        return m1 + m2, math.hypot(s1, s2)

    def usage(self, p: Prediction) -> dict[str, tuple[float, float]]:
        return {r: (self.lut_eq(p) if r == "lut" else p.get(r, (0.0, 0.0))) for r in RESOURCES}

    def p_fit(self, p: Prediction, i: Optional[int] = None) -> float:
        """P(all resources within their limits), and 0 when timing is a constraint the design misses."""
        if i is not None and not self.meets_clock(i):
            return 0.0
        prob = 1.0
        for r, (m, s) in self.usage(p).items():
            lim = self.limits[r]
            if s <= 1e-9:
                prob *= 1.0 if m <= lim + 1e-9 else 0.0
            else:
                prob *= 0.5 * (1 + math.erf((lim - m) / (s * math.sqrt(2))))
        return prob

    def possibly_fits(self, p: Prediction, i: Optional[int] = None) -> bool:
        if i is not None and not self.meets_clock(i):
            return False
        return all(m - self.z * s <= self.limits[r] + 1e-9 for r, (m, s) in self.usage(p).items())

    def throughput(self, i: int, p: Prediction) -> float:
        """Tokens (or calls) per second at the achieved clock min(clock, Fmax) / cycles per token."""
        ii = p["ii"][0] or p["latency_cycles"][0]
        return self.achieved_clock(i) * 1e6 / max(ii, 1.0)

    def latency_us(self, i: int, p: Prediction) -> float:
        return p["latency_cycles"][0] / self.achieved_clock(i)


def _achieved_clock(clock_mhz: float, fmax_mhz: Optional[float]) -> float:
    return clock_mhz if fmax_mhz is None else min(clock_mhz, fmax_mhz)


def objective_value(space: SearchSpace, objective: str, i: int, p: Prediction) -> float:
    """Larger is better."""
    return -space.latency_us(i, p) if objective == "latency" else space.throughput(i, p)


def pareto_front(points: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
    """Non-dominated (cost, value, id): minimize cost, maximize value."""
    front, best = [], -math.inf
    for c, v, i in sorted(points, key=lambda t: (t[0], -t[1])):
        if v > best:
            front.append((c, v, i))
            best = v
    return front


def hypervolume(points: list[tuple[float, float]], cost_ref: float, value_ref: float = 0.0) -> float:
    """Area dominated by the front in (cost <= cost_ref, value >= value_ref)."""
    front = pareto_front([(c, v, 0) for c, v in points if c <= cost_ref and v >= value_ref])
    area, prev_c = 0.0, cost_ref
    for c, v, _ in reversed(front):          # from the most expensive (best value) down
        area += (prev_c - c) * (v - value_ref)
        prev_c = c
    return area


# ----------------------------------------------------------------------------- the loop

@dataclass
class SearchResult:
    log: list[dict] = field(default_factory=list)
    observed: dict[int, Report] = field(default_factory=dict)
    counts: dict = field(default_factory=dict)
    best: list[int] = field(default_factory=list)
    front: list[int] = field(default_factory=list)


def run_search(space: SearchSpace, objective: str, budget: int, predictor, synthesize: Callable[[int], Report],
               observed: Optional[dict[int, Report]] = None, rng: Optional[np.random.Generator] = None,
               names: Sequence[str] = (), progress: Callable[[str], None] = lambda s: None) -> SearchResult:
    """The search loop, independent of how synthesis happens (real tools or a ground-truth table)."""
    res = SearchResult(observed=dict(observed or {}))
    base = predictor.predict(space.specs)
    X = param_vectors(space.specs, names or _free_names(space.specs))
    synth_count = len(res.observed)
    space.use_predicted_fmax(base, res.observed)
    for i, rep in res.observed.items():
        space.observe_timing(i, rep)
    if not any(space.possibly_fits(p, i) for i, p in enumerate(base)):
        raise UserError("constraints", _infeasible_message(space, base))
    while True:
        pred = corrected(base, X, res.observed)
        space.use_predicted_fmax(pred, res.observed)
        pool = [i for i in range(len(pred)) if i not in res.observed and space.possibly_fits(pred[i], i)]
        feasible_obs = [i for i, rep in res.observed.items() if rep.status == "ok" and space.p_fit(pred[i], i) == 1.0]
        acq = {}
        if objective == "pareto" and budget >= 3 and synth_count == budget - 1:
            # The front is mapped; the last run goes to the throughput challenger, so the best design
            # near the resource limit is synthesized rather than predicted.
            acq = _acquisition(space, "throughput", pred, pool, feasible_obs)
        acq = acq or _acquisition(space, objective, pred, pool, feasible_obs)
        if synth_count >= budget or not acq:
            break
        pick = max(acq, key=acq.get)
        t0 = time.monotonic()
        rep = synthesize(pick)
        res.observed[pick] = rep
        space.observe_timing(pick, rep)
        synth_count += 1
        m = pred[pick]
        res.log.append({"index": pick, "spec": space.specs[pick].model_dump(), "status": rep.status,
                        "acquisition": acq[pick], "p_fit_predicted": space.p_fit(m),
                        "fmax_mhz_est": rep.fmax_mhz_est, "clock_mhz": space.clock_mhz[pick],
                        "predicted": {t: {"mean": v[0], "std": v[1]} for t, v in m.items()},
                        "actual": {t: _actual(rep, t) for t in m}, "synth_s": rep.runtime_s or (time.monotonic() - t0)})
        progress(f"[{synth_count}/{budget}] synthesized #{pick}: status {rep.status}, "
                 f"LUT-eq {_fmt(space.lut_eq({t: (_actual(rep, t), 0) for t in m})[0])} "
                 f"(predicted {_fmt(space.lut_eq(m)[0])})")
    pred = corrected(base, X, res.observed)
    feasible_obs = [i for i, rep in res.observed.items() if rep.status == "ok" and space.p_fit(pred[i], i) == 1.0]
    pruned_timing = sum(1 for i in range(len(pred)) if i not in res.observed and not space.meets_clock(i))
    pruned_fit = sum(1 for i in range(len(pred)) if i not in res.observed and not space.possibly_fits(pred[i], i)) \
        - pruned_timing
    res.counts = {"candidates": len(space.specs), "synthesized": len(res.observed),
                  "pruned_cannot_fit": pruned_fit, "pruned_misses_clock": pruned_timing,
                  "pruned_dominated_or_not_chosen": len(space.specs) - len(res.observed) - pruned_fit - pruned_timing,
                  "feasible_synthesized": len(feasible_obs),
                  "synthesized_missing_clock": sum(1 for i, r in res.observed.items()
                                                   if r.status == "ok" and not space.meets_clock(i))}
    if feasible_obs:
        vals = {i: objective_value(space, objective, i, pred[i]) for i in feasible_obs}
        front = pareto_front([(space.lut_eq(pred[i])[0], space.throughput(i, pred[i]), i) for i in feasible_obs])
        res.front = [i for _, _, i in front]
        res.best = res.front if objective == "pareto" else [max(vals, key=vals.get)]
    return res


def _acquisition(space: SearchSpace, objective: str, pred, pool, feasible_obs) -> dict[int, float]:
    if not pool:
        return {}
    if objective == "pareto":
        front = [(space.lut_eq(pred[i])[0], space.throughput(i, pred[i])) for i in feasible_obs]
        ref_cost = space.limits["lut"]
        hv0 = hypervolume(front, ref_cost)
        out = {}
        for i in pool:
            pf = space.p_fit(pred[i], i)
            # optimistic cost (mean - sigma) so uncertain designs near the front still get a chance
            cost = max(0.0, space.lut_eq(pred[i])[0] - space.lut_eq(pred[i])[1])
            gain = hypervolume(front + [(cost, space.throughput(i, pred[i]))], ref_cost) - hv0
            if gain > 0:
                out[i] = gain * max(pf, 0.05)
        return out
    best = max((objective_value(space, objective, i, pred[i]) for i in feasible_obs), default=None)
    out = {}
    for i in pool:
        v = objective_value(space, objective, i, pred[i])
        if best is not None and v <= best + 1e-9 * abs(best):
            continue   # cannot beat a synthesized feasible design
        # Gain over the incumbent (or the value itself), discounted by the chance the design fits;
        # cheaper designs win ties so the fitting frontier is found before the overshoot.
        gain = abs(v) if best is None else v - best
        pf = space.p_fit(pred[i], i)
        out[i] = gain * pf + 1e-12 * pf / (1 + space.lut_eq(pred[i])[0])
    return out


def _free_names(specs) -> list[str]:
    dumps = [s.model_dump() for s in specs]
    return [k for k in dumps[0] if k not in ("name",) and len({str(d.get(k)) for d in dumps}) > 1]


def _infeasible_message(space: SearchSpace, pred) -> str:
    worst = []
    for r in RESOURCES:
        best = min((space.usage(p)[r][0] - space.z * space.usage(p)[r][1] for p in pred), default=0.0)
        if best > space.limits[r]:
            cap = space.capacity[r]
            worst.append(f"{r} <= {100 * space.limits[r] / cap:.0f}% of {cap:,.0f} "
                         f"(smallest candidate needs ~{100 * best / cap:.0f}%)")
    if not worst and space.timing == "constraint" and not any(space.meets_clock(i) for i in range(len(pred))):
        worst = [f"the clock: no candidate's Fmax estimate reaches it (best {max(space.fmax_mhz or [0]):.0f} MHz; "
                 f"set constraints.meet_clock: false or a lower clock_mhz)"]
    if not worst:
        worst = ["the limits together (each is met by some candidate, none meets all)"]
    return "no candidate can meet " + "; ".join(worst)


def _fmt(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.0f}"


def make_space(cfg: SearchConfig, target: str) -> SearchSpace:
    from hwgen.targets import get_target

    specs = enumerate_candidates(cfg, target)
    tgt = get_target(target)
    cap = {k: float(v) for k, v in tgt.capacity().items()}
    limits = {r: cap[r] * cfg.constraints.limit(r) / 100.0 for r in RESOURCES}
    from hwgen import kernels

    fmax = [kernels.get(s.kind).fmax_estimate(s) for s in specs]
    return SearchSpace(specs, cap, limits, [s.clock for s in specs], cfg.constraints.z,
                       "constraint" if cfg.constraints.meet_clock else "achieved", fmax)


# ----------------------------------------------------------------------------- real synthesis + outputs

def _synthesizer(space: SearchSpace, out: Path, flow: str, timeout_s: float) -> Callable[[int], Report]:
    from hwgen.datasets.store import append_record
    from hwgen.flows.synth import run_synth

    def synth(i: int) -> Report:
        spec = space.specs[i]
        key = spec_key(spec)
        try:
            rep = run_synth(spec, out / "designs" / key[:12], flow, timeout_s)
        except UserError:
            raise
        except Exception as err:  # a crashed tool is a recorded failure, never a traceback
            rep = Report(design=spec.design_name, kernel=spec.kind, target=spec.target, status="failed",
                         error=f"{type(err).__name__}: {err}")
        rep.extra["key"] = key
        rep.extra["spec"] = spec.model_dump()
        append_record(out, rep)
        return rep

    return synth


def _resume(space: SearchSpace, out: Path) -> dict[int, Report]:
    from hwgen.datasets.store import load_records

    if not (out / "records.jsonl").exists():
        return {}
    by_key = {spec_key(s): i for i, s in enumerate(space.specs)}
    found = {}
    for rep in load_records(out, latest=True):
        i = by_key.get(rep.extra.get("key"))
        if i is not None:
            found[i] = rep
    return found


def _fmax_source(log: list, predictor_name: str) -> str:
    from .predict import FMAX_SIGMAS

    if any("fmax_mhz_est" in e.get("predicted", {}) for e in log):
        return (f"GNN-predicted crit_ns -> Fmax through hwgen.timing, {FMAX_SIGMAS:g} sigma below the mean, refined by "
                "nearby synthesized designs")
    return "Kernel.fmax_estimate (hwgen/timing.py delay model)"


def write_outputs(out: Path, cfg: SearchConfig, space: SearchSpace, res: SearchResult, objective: str,
                  predictor_name: str, verify: Optional[dict]) -> dict:
    synth_s = [e["synth_s"] for e in res.log if e.get("synth_s")]
    mean_s = float(np.mean(synth_s)) if synth_s else float(np.mean(
        [r.runtime_s for r in res.observed.values() if r.runtime_s] or [0.0]))

    def row(i):
        rep = res.observed[i]
        r = rep.resources
        return {"index": i, "params": {k: v for k, v in space.specs[i].model_dump().items() if k in cfg.free},
                "lut": r.lut, "lutram": r.lutram, "ff": r.ff, "dsp": r.dsp, "bram36": r.bram36, "uram": r.uram,
                "latency_cycles": rep.latency_cycles, "ii_cycles": rep.ii,
                # quoted at min(clock, Fmax estimate): a design is never credited with a clock it does not reach
                "units_per_s": _achieved_clock(space.clock_mhz[i], rep.fmax_mhz_est) * 1e6 / rep.ii if rep.ii else None,
                "utilization": rep.utilization, "fmax_mhz_est": rep.fmax_mhz_est, "clock_mhz": space.clock_mhz[i],
                "achieved_clock_mhz": _achieved_clock(space.clock_mhz[i], rep.fmax_mhz_est),
                "meets_timing": None if rep.fmax_mhz_est is None else bool(rep.fmax_mhz_est >= space.clock_mhz[i])}

    summary = {
        "objective": objective, "target": space.specs[0].target, "predictor": predictor_name,
        # before synthesis a candidate carries the predicted Fmax (or the kernel's own estimate), then the synthesized one
        "timing": {"mode": space.timing, "fmax_before_synthesis": _fmax_source(res.log, predictor_name)},
        "best": [row(i) for i in res.best], "pareto_front": [row(i) for i in res.front],
        "counts": res.counts,
        "synthesis_seconds_spent": round(float(sum(synth_s)), 1),
        "synthesis_seconds_exhaustive_estimate": round(mean_s * len(space.specs), 1),
        "verification": verify,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    (out / "search_log.json").write_text(json.dumps(res.log, indent=1, default=str))
    lines = [f"# Search: {cfg.kind} on {summary['target']}, objective {objective}", "",
             "| # | params | LUT | LUTRAM | FF | BRAM36 | URAM | II (cycles) | Fmax est. / clock (MHz) | units/s at min(clock, Fmax) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in summary["pareto_front"]:
        lines.append(f"| {r['index']} | {r['params']} | {_fmt(r['lut'])} | {_fmt(r['lutram'])} | {_fmt(r['ff'])} | "
                     f"{r['bram36']} | {r['uram']} | {_fmt(r['ii_cycles'])} | {_fmt(r['fmax_mhz_est'])} / {_fmt(r['clock_mhz'])} | "
                     f"{_fmt(r['units_per_s'])} |")
    (out / "pareto.md").write_text("\n".join(lines) + "\n")
    _plot(out / "pareto.png", space, res)
    return summary


def _plot(path: Path, space: SearchSpace, res: SearchResult) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    pts = [(space.lut_eq({t: (_actual(r, t), 0) for t in ("lut", "lutram")})[0],
            _achieved_clock(space.clock_mhz[i], r.fmax_mhz_est) * 1e6 / r.ii, i)
           for i, r in res.observed.items() if r.status == "ok" and r.ii]
    if pts:
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], c="tab:gray", label="synthesized")
        front = [p for p in pts if p[2] in res.front]
        front.sort()
        ax.plot([p[0] for p in front], [p[1] for p in front], "o-", c="tab:red", label="Pareto front (feasible)")
    ax.axvline(space.limits["lut"], ls="--", c="k", lw=0.8, label="LUT limit")
    ax.set_xlabel("LUT-equivalents (logic + LUTRAM)")
    ax.set_ylabel("tokens / s at min(clock, Fmax est.)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _verify(space: SearchSpace, i: int, out: Path) -> dict:
    """Bit-exact cosim of the chosen design on random data (2 tokens)."""
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.simulate import FlowFailed

    key = spec_key(space.specs[i])
    try:
        return run_cosim(out / "designs" / key[:12] / "project", vectors=2, seed=1)
    except FlowFailed as err:
        return {"pass": False, "error": str(err)[-2000:]}


@click.command("search")
@click.option("--config", "config", required=True, type=click.Path(dir_okay=False), help="search space YAML")
@click.option("--target", default=None, help="board (default: the config's)")
@click.option("--objective", default=None, type=click.Choice(["throughput", "latency", "pareto"]))
@click.option("--budget", default=10, show_default=True, type=int, help="real syntheses to spend")
@click.option("--out", default="build/search", show_default=True, type=click.Path(file_okay=False))
@click.option("--model", "model_dir", default=None, type=click.Path(file_okay=False), help="surrogate model folder")
@click.option("--predictor", default="gnn", show_default=True, type=click.Choice(["gnn", "analytical"]))
@click.option("--flow", default="auto", show_default=True, type=click.Choice(["auto", "open", "vendor"]))
@click.option("--timeout", "timeout_s", default=3600, show_default=True, type=float)
@click.option("--no-verify", is_flag=True, help="skip the bit-exact cosim of the best design")
def search(config, target, objective, budget, out, model_dir, predictor, flow, timeout_s, no_verify) -> None:
    """Pick a kernel configuration for a board with a few real syntheses (surrogate-guided)."""
    cfg = load_config(Path(config))
    if budget < 1:
        raise UserError("budget", f"must be >= 1 (got {budget})")
    objective = objective or cfg.objective
    space = make_space(cfg, target or cfg.target)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pred = SurrogatePredictor(Path(model_dir) if model_dir else None) if predictor == "gnn" else AnalyticalPredictor()
    observed = _resume(space, out)
    if observed:
        click.echo(f"resuming: {len(observed)} designs already synthesized in {out}", err=True)
    click.echo(f"{len(space.specs)} candidates; budget {budget} syntheses; objective {objective}", err=True)
    res = run_search(space, objective, budget, pred, _synthesizer(space, out, flow, timeout_s), observed,
                     names=sorted(cfg.free), progress=lambda s: click.echo(s, err=True))
    verify = None
    if res.best and not no_verify:
        verify = _verify(space, res.best[0], out)
    summary = write_outputs(out, cfg, space, res, objective, pred.name, verify)
    click.echo(json.dumps({k: summary[k] for k in ("best", "counts", "synthesis_seconds_spent",
                                                   "synthesis_seconds_exhaustive_estimate")}, indent=2, default=str))
    if not res.best:
        click.echo("no synthesized design met the constraints within the budget; raise --budget", err=True)
        sys.exit(1)
    if verify is not None and not verify.get("pass"):
        sys.exit(1)


def main() -> None:
    from hwgen.cliutil import run_command
    run_command(search, "hwgen-search")


if __name__ == "__main__":
    main()
