"""Whole decoder layers (kind bitnet_layer) from a surrogate trained on single kernels, by parts.

The layer top's graph is the union of its member instances' graphs plus the top's glue
(hwgen/kernels/bitnet_layer_graph.py), and the GNN can take it whole. That asks a network trained on one-kernel
graphs to pool a 20-instance graph it has never seen the like of (its graph-level correction extrapolates). The
decomposition the union expresses can also be used directly:

    resource r of a layer = sum over member instances of the GNN's prediction for that member as a design of its
                            own  +  g_r * (the glue's analytical estimate)

with g_r fitted on the layer tops in the training data (the measured layer minus its members' predictions, over
the glue's estimate; 1 without any). Discrete targets (DSP, BRAM36, URAM) add the members' rounded predictions and
the glue's formula unscaled (its memories are counted exactly); latency and II are the layer's cycle model; timing
targets (when the model has them) are the slowest member's.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .costs import RES, TARGETS

EXACT = ("dsp", "bram36", "uram")
GLUE_FACTOR_RANGE = (0.25, 4.0)


def by_parts(spec: dict) -> bool:
    """Whether the design is a top over member instances plus glue (Kernel.by_parts, e.g. a decoder layer)."""
    from hwgen import kernels

    return kernels.get(spec.get("kind")).by_parts


def layer_parts(spec: dict) -> tuple[list, dict, dict]:
    """(member instance specs, the glue's analytical estimate, the layer's analytical totals) of a layer spec."""
    from hwgen import kernels

    sp = kernels.parse_spec(spec)
    k = kernels.get(sp.kind)
    members = k.members(sp)
    m = k.model(sp)
    g = k.graph(sp)
    glue = {r: 0.0 for r in RES}
    for n in g.nodes:
        if n["name"].startswith("glue."):
            for r in RES:
                glue[r] += n["est"].get(r, 0.0)
    return [members[i["member"]] for i in m.instances], glue, g.analytical()


def _member_sums(ens, specs: Sequence[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per layer: sum of the members' predicted means [n, 8] (discrete targets rounded per member), the summed
    std [n, 8] (one surrogate's errors are correlated: no quadrature), and the glue estimate [n, 6]."""
    from .features import arrays, build_ir, collate
    from .model import round_discrete

    parts = [layer_parts(s) for s in specs]
    flat = [mem for p in parts for mem in p[0]]
    data = collate([arrays(build_ir(mem)) for mem in flat])
    mu, sigma, _ = ens.predict_log(data)
    mean = np.expm1(mu)
    std = mean * sigma          # first order: d expm1(mu) = (1 + y) dmu ~ y sigma
    for j, t in enumerate(TARGETS):
        if t in EXACT:
            mean[:, j] = [round_discrete(t, v) for v in mean[:, j]]
    sums, stds, glue = np.zeros((len(specs), len(TARGETS))), np.zeros((len(specs), len(TARGETS))), []
    o = 0
    for i, (mems, g, ana) in enumerate(parts):
        sums[i] = mean[o: o + len(mems)].sum(0)
        stds[i] = std[o: o + len(mems)].sum(0)
        for t in TARGETS[TARGETS.index("ii") + 1:]:     # timing (depth, critical path): the slowest member's
            j = TARGETS.index(t)
            k = o + int(np.argmax(mean[o: o + len(mems), j]))
            sums[i, j], stds[i, j] = mean[k, j], std[k, j]
        sums[i, TARGETS.index("latency_cycles")] = ana["latency_cycles"]
        sums[i, TARGETS.index("ii")] = ana["ii"]
        glue.append([g[r] for r in RES])
        o += len(mems)
    return sums, stds, np.array(glue)


def fit_glue(ens, specs: Sequence[dict], y: np.ndarray) -> list[float]:
    """g_r per resource from layers with measurements y [n, 8] (NaN: unknown): sum of (y - members) over sum of
    the glue estimate, clipped to GLUE_FACTOR_RANGE; 1 for the exactly counted targets and without data."""
    out = [1.0] * len(RES)
    if not len(specs):
        return out
    sums, _, glue = _member_sums(ens, specs)
    for j, r in enumerate(RES):
        ok = np.isfinite(y[:, j])
        if r in EXACT or not ok.any() or glue[ok, j].sum() <= 0:
            continue
        f = float((y[ok, j] - sums[ok, j]).sum() / glue[ok, j].sum())
        out[j] = float(np.clip(f, *GLUE_FACTOR_RANGE))
    return out


def predict_layers(ens, specs: Sequence[dict], glue_factor: Sequence[float] | None = None):
    """-> (mu log1p [n, 8], sigma [n, 8]) of whole layers by parts (the same space as Ensemble.predict_log)."""
    sums, stds, glue = _member_sums(ens, specs)
    gf = np.asarray(glue_factor if glue_factor is not None else [1.0] * len(RES))
    total = sums.copy()
    total[:, : len(RES)] += glue * gf
    sigma = np.where(total > 0, stds / np.maximum(total, 1e-9), 0.0)
    # the glue's share carries the spread of its fitted factor: ~10 % of the glue
    sigma[:, : len(RES)] += 0.1 * glue * gf / np.maximum(total[:, : len(RES)], 1e-9)
    sigma = np.maximum(sigma, math.exp(ens.cfg.min_log_sigma))
    return np.log1p(np.clip(total, 0, None)), sigma
