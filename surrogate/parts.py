"""Tops over member kernels (Kernel.part_specs: compositions, decoder layers), predicted by parts.

A top's graph is the union of its member instances' graphs plus the top's glue (stream adapters, tensor buffers,
the sequencer), and the GNN can take it whole. That asks a network trained mostly on one-kernel graphs to pool a
graph of 2-20 kernels it has never seen the like of: on held-out compositions the whole-graph GNN was worse than
the analytical formula (docs/surrogate_eval.md, split c). The decomposition the union expresses is used instead:

    resource r of a top = f_r * (sum over member instances of the GNN's prediction for the member as a design of
                                 its own  +  glue_r)

glue_r = the top graph's analytical r minus its members' (what the top adds). f_r is fitted per top kind on the
tops in the training data (their measured total over the predicted one, clipped to FACTOR_RANGE; 1 without any):
the measured tops are smaller than their members' predictions plus the glue (the shipped model's fitted LUT factor,
`parts` in models/surrogate_v1/config.json: 0.953 for the 40 compositions of datasets/composed, 0.988 for the 4
layer tops; the split (c) report shows the unfitted sum 4.97 % off against 2.86 % fitted). Most of that composed
shortfall was the stream adapter's estimate (a phantom LUT per buffer bit, surrogate/compose.py adapter_features):
without it the measured compositions are 0.996 x their members' analytical anchors plus the glue (was 0.961), so the
next training's composed factor should come out near 1 and the LUT glue ~10 % smaller. The FF glue also subtracts
the producer's output-register bits that the adapter never reads (IN_N x SHIFT per stream), which the members'
predictions as designs of their own include. The exactly
counted targets (DSP, BRAM36, URAM) add the members' rounded predictions and the glue's formula unscaled. Latency,
II and timing stay the whole graph's (the top's cycle model; its deepest path with the glue's levels).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .costs import RES, TARGETS

EXACT = ("dsp", "bram36", "uram")
FACTOR_RANGE = (0.8, 1.25)
UNFITTED_GLUE_SIGMA = 0.1      # without fitted tops: ~10 % of the glue's share as added spread


def _kind(spec) -> str | None:
    return spec.get("kind") if isinstance(spec, dict) else getattr(spec, "kind", None)


def has_parts(spec) -> bool:
    """Whether the design is a top the surrogate predicts by parts (its kernel has part_specs)."""
    from hwgen import kernels

    k = kernels.REGISTRY.get(_kind(spec))
    return k is not None and k.has_parts


def part_specs(spec) -> list:
    from hwgen import kernels

    sp = kernels.parse_spec(spec) if isinstance(spec, dict) else spec
    return kernels.get(sp.kind).part_specs(sp)


def member_sums(ens, specs: Sequence, ana_top: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per top: sum of its members' predicted means [n, T] (discrete targets rounded per member), the summed linear
    std [n, T] (one surrogate's errors are correlated: no quadrature) and the glue's estimate [n, R]; `ana_top`: the
    tops' analytical rows [n, T] (their graphs' GraphArrays.ana, which the caller's batch already holds)."""
    from .model import round_discrete
    from .predict import feature_cache

    parts = [part_specs(s) for s in specs]
    flat = [m for p in parts for m in p]
    data, inverse = feature_cache().batch_distinct(flat)
    mu, sigma, _ = ens.predict_log(data)
    mu, sigma, ana_m = mu[inverse], sigma[inverse], data.ana.numpy()[inverse]
    mean = np.expm1(mu)
    std = (mean + 1.0) * sigma          # the delta-method linear std, as outputs_from_log
    for j, t in enumerate(TARGETS):
        if t in EXACT:
            mean[:, j] = [round_discrete(t, v) for v in mean[:, j]]
    n, R = len(specs), len(RES)
    sums, stds, glue = np.zeros((n, len(TARGETS))), np.zeros((n, len(TARGETS))), np.zeros((n, R))
    o = 0
    for i, p in enumerate(parts):
        sums[i] = mean[o: o + len(p)].sum(0)
        stds[i] = std[o: o + len(p)].sum(0)
        glue[i] = np.maximum(ana_top[i, :R] - ana_m[o: o + len(p), :R].sum(0), 0.0)
        o += len(p)
    return sums, stds, glue


def fit_factors(ens, specs: Sequence, y: np.ndarray, ana: np.ndarray) -> dict:
    """{top kind: {"factor": [f_r], "sigma": [rms log residual after the factor, or None]}} from tops with
    measurements y [n, T] (NaN: unknown) and analytical rows ana [n, T]."""
    if not len(specs):
        return {}
    sums, _, glue = member_sums(ens, specs, ana)
    kinds = np.array([_kind(s) for s in specs])
    out = {}
    for kind in sorted(set(kinds)):
        sel = kinds == kind
        factor, sig = [1.0] * len(RES), [None] * len(RES)
        for j, r in enumerate(RES):
            if r in EXACT:
                continue
            pred = sums[sel, j] + glue[sel, j]
            ok = np.isfinite(y[sel, j]) & (pred > 0)
            if not ok.any():
                continue
            f = float(np.clip(y[sel, j][ok].sum() / pred[ok].sum(), *FACTOR_RANGE))
            factor[j] = round(f, 4)
            if ok.sum() >= 2:
                res = np.log1p(y[sel, j][ok]) - np.log1p(f * pred[ok])
                sig[j] = float(np.sqrt(np.mean(res ** 2)))
        out[str(kind)] = {"factor": factor, "sigma": sig, "tops": int(sel.sum())}
    return out


def apply_parts(ens, specs: Sequence, mu: np.ndarray, sigma: np.ndarray, ana: np.ndarray, fitted: dict | None = None) -> None:
    """In place: the resource columns of mu / sigma (log1p space, rows aligned with specs and with their analytical
    rows `ana`) of every top predicted by parts; other rows untouched. `fitted`: the per-kind factors to use instead
    of the model's (cfg.parts); {} scores the unfitted sum."""
    rows = [i for i, s in enumerate(specs) if has_parts(s)]
    if not rows:
        return
    tops = [specs[i] for i in rows]
    sums, stds, glue = member_sums(ens, tops, np.asarray(ana)[rows])
    if fitted is None:
        fitted = getattr(ens.cfg, "parts", None) or {}
    min_sigma = math.exp(ens.cfg.min_log_sigma)
    for k, i in enumerate(rows):
        fit = fitted.get(_kind(tops[k]), {})
        for j, r in enumerate(RES):
            f = 1.0 if r in EXACT else fit.get("factor", [1.0] * len(RES))[j]
            total = f * (sums[k, j] + glue[k, j])
            extra = (fit.get("sigma") or [None] * len(RES))[j]
            if extra is None:
                extra = UNFITTED_GLUE_SIGMA * glue[k, j] / max(total, 1e-9)
            mu[i, j] = math.log1p(max(total, 0.0))
            sigma[i, j] = max(min_sigma, f * stds[k, j] / (total + 1.0) + extra)
