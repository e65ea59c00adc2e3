"""Training: dataset records (hwgen.datasets.store) -> hardware graphs -> a seeded deep ensemble.

    from hwgen.surrogate.train import load_examples, train_ensemble
    ex = load_examples(["datasets/dev/records.jsonl"])
    ens = train_ensemble(ex, ModelConfig(members=5, seed=0))
    ens.save("models/tlmm_v1")

Only records with status "ok" and a spec in extra["spec"] are used; a target that a record lacks
(None) is masked out of the loss. Reproducible: same data, config and thread count -> same weights.
"""
from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .costs import TARGETS


@dataclass
class Example:
    spec: dict
    y: dict                  # target -> float or None
    arrays: tuple            # features.arrays(HwGraph)
    key: str = ""
    kind: str = ""
    macs: float = 0.0
    kernels: int = 1
    runtime_s: float | None = None


def report_targets(report) -> dict:
    res = report.resources
    return {"lut": res.lut, "lutram": res.lutram, "ff": res.ff, "dsp": res.dsp, "bram36": res.bram36,
            "uram": res.uram, "latency_cycles": report.latency_cycles, "ii": report.ii,
            "lut_depth": report.lut_depth, "crit_ns": (report.extra.get("critical_path") or {}).get("crit_ns"),
            "fmax_mhz_est": report.fmax_mhz_est}     # not a target: derived from crit_ns, kept for evaluation


def load_reports(paths: Sequence) -> list:
    """Reports with status ok from dataset folders / records.jsonl files."""
    from hwgen.datasets.store import load_records

    out = []
    for p in paths:
        out.extend(load_records(p, status="ok"))
    return out


def examples_from_reports(reports: Iterable, strict: bool = False) -> list[Example]:
    from .features import arrays, build_ir

    out, skipped = [], 0
    for r in reports:
        if r.status != "ok":
            continue
        spec = r.extra.get("spec")
        if not spec:
            skipped += 1
            continue
        try:
            ir = build_ir(spec)
        except Exception as err:   # a kind without a builder, or a spec the current code rejects
            if strict:
                raise
            skipped += 1
            print(f"warning: skipping {r.extra.get('key', r.design)}: {err}", file=sys.stderr)
            continue
        out.append(Example(spec=spec, y=report_targets(r), arrays=arrays(ir), key=str(r.extra.get("key", "")),
                           kind="+".join(ir.kinds) if ir.kinds else spec.get("kind", ""), macs=ir.macs,
                           kernels=ir.kernels, runtime_s=r.runtime_s))
    if skipped:
        print(f"note: {skipped} record(s) without a usable spec skipped", file=sys.stderr)
    return out


def load_examples(paths: Sequence) -> list[Example]:
    return examples_from_reports(load_reports(paths))


def _targets_matrix(examples: Sequence[Example]) -> np.ndarray:
    y = np.full((len(examples), len(TARGETS)), np.nan)
    for i, ex in enumerate(examples):
        for j, t in enumerate(TARGETS):
            v = ex.y.get(t)
            if v is not None:
                y[i, j] = float(v)
    return y


def fit_normalization(examples: Sequence[Example], cfg) -> None:
    xs = np.concatenate([ex.arrays[0] for ex in examples])
    es = np.concatenate([ex.arrays[2] for ex in examples])
    us = np.stack([ex.arrays[3] for ex in examples])
    anas = np.stack([ex.arrays[4] for ex in examples])
    y = _targets_matrix(examples)
    fl = lambda s: np.where(s < 1e-3, 1.0, s)  # noqa: E731
    from .features import node_features

    cfg.node_features = list(node_features())
    cfg.x_mean, cfg.x_std = xs.mean(0).tolist(), fl(xs.std(0)).tolist()
    cfg.e_mean, cfg.e_std = es.mean(0).tolist(), fl(es.std(0)).tolist()
    cfg.u_mean, cfg.u_std = us.mean(0).tolist(), fl(us.std(0)).tolist()
    cfg.u_min, cfg.u_max = us.min(0).tolist(), us.max(0).tolist()
    r = np.log1p(np.clip(y, 0, None)) - np.log1p(np.clip(anas, 0, None))
    r_std = np.array([np.nanstd(r[:, j]) if np.isfinite(r[:, j]).sum() > 1 else 0.0 for j in range(len(TARGETS))])
    cfg.r_std = np.maximum(np.nan_to_num(r_std), 0.02).tolist()


def _batch(examples: Sequence[Example], idx) -> object:
    from .features import collate

    return collate([examples[i].arrays for i in idx], [examples[i].y for i in idx])


def train_member(examples: Sequence[Example], cfg, seed: int, log=None, subset=None):
    import torch

    from .model import GNN

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = GNN(cfg)
    model.set_norm(cfg)
    if subset is not None:
        examples = [examples[i] for i in subset]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n = len(examples)
    bs = max(1, min(cfg.batch_size, n))
    steps_per_epoch = math.ceil(n / bs)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    # Pre-collate nothing: batches differ per epoch, collation is numpy concatenation (cheap).
    r_std = torch.tensor(cfg.r_std, dtype=torch.float32)
    model.train()
    for epoch in range(cfg.epochs):
        perm = rng.permutation(n)
        tot = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * bs: (s + 1) * bs]
            data = _batch(examples, idx)
            y = torch.log1p(data.y.clamp(min=0)).float()
            mask = torch.isfinite(y)
            y = torch.where(mask, y, torch.zeros_like(y))
            mu, log_var = model(data)
            err = (mu - y) / r_std
            mse = (err.pow(2) * mask).sum() / mask.sum().clamp(min=1)
            nll = 0.5 * (((mu.detach() - y).pow(2) * torch.exp(-log_var) + log_var) * mask).sum() / mask.sum().clamp(min=1)
            loss = mse + 0.05 * nll + cfg.reg * model.reg_term
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
            tot += float(mse.detach()) * len(idx)
        if log and (epoch % max(1, cfg.epochs // 5) == 0 or epoch == cfg.epochs - 1):
            log(f"  member seed {seed}: epoch {epoch + 1}/{cfg.epochs} mse(std units) {tot / n:.4f}")
    model.eval()
    model.reg_term = None   # the last step's autograd graph: not part of the member (and not deep-copyable)
    return model


def train_ensemble(examples: Sequence[Example], cfg=None, log=None):
    """Fit normalisation on `examples`, train cfg.members members with seeds cfg.seed*1000 + i."""
    from .model import Ensemble, ModelConfig

    if not examples:
        raise ValueError("no training examples (records with status ok and extra['spec'])")
    cfg = cfg or ModelConfig()
    fit_normalization(examples, cfg)
    cfg.sigma_scale = []
    t0 = time.time()
    n = len(examples)
    folds = None
    if cfg.cv_folds and cfg.members > 1 and n >= 2 * cfg.members:
        perm = np.random.default_rng(cfg.seed).permutation(n)
        folds = np.array_split(perm, cfg.members)
    members = []
    for i in range(cfg.members):
        subset = None if folds is None else np.setdiff1d(np.arange(n), folds[i])
        members.append(train_member(examples, cfg, cfg.seed * 1000 + i, log, subset))
    ens = Ensemble(cfg, members)
    cfg.fallback, cfg.blend = {}, {}
    if folds is not None:
        cfg.sigma_scale, cfg.fallback, cfg.blend = _calibrate(ens, examples, folds)
    cfg.parts = _fit_parts(ens, examples)
    cfg.train_info = {"examples": n, "seconds": round(time.time() - t0, 1),
                      "kinds": sorted({ex.kind for ex in examples}),
                      "macs_range": [min(ex.macs for ex in examples), max(ex.macs for ex in examples)]}
    return ens


def _calibrate(ens, examples, folds, coverage: float = 0.95, min_group: int = 5) -> tuple[list, dict, dict]:
    """From out-of-fold predictions (each design predicted by the member that left it out):
    - per-target sigma factor: the `coverage` quantile of |y - mu_oof| / (2 sigma), clipped to [0.5, 20];
    - formula fallback, decided per target and per kernel group (graph.kernel_group) with at least `min_group`
      labelled designs, and once over all designs ('*', for groups unseen in training): where the analytical
      formula's mean |log1p error| (after rounding discrete targets) is no larger than the out-of-fold GNN's,
      use the formula there, with sigma = its own error quantile / 2. One kernel family's exact cycle formula
      must not be lost because another family's formula for the same target is poor.
    - for BLEND_TARGETS, instead of that 0/1 choice, the blend weights (_fit_blend)."""
    from .features import collate
    from .model import BLEND_TARGETS, round_discrete

    data = collate([ex.arrays for ex in examples], [ex.y for ex in examples])
    y = np.log1p(np.clip(data.y.numpy(), 0, None))
    ana = np.log1p(np.clip(data.ana.numpy(), 0, None))
    groups = np.array(data.group)
    saved = ens.cfg.fallback, ens.cfg.blend
    ens.cfg.fallback, ens.cfg.blend, ens.cfg.sigma_scale = {}, {}, []
    _, sigma, mus = ens.predict_log(data)
    ens.cfg.fallback, ens.cfg.blend = saved
    oof = np.zeros_like(sigma)
    for i, f in enumerate(folds):
        oof[f] = mus[i][f]
    scale = np.ones(y.shape[1])
    fallback, blend = {}, {}
    min_sigma = math.exp(ens.cfg.min_log_sigma)
    for j, t in enumerate(TARGETS):
        ok = np.isfinite(y[:, j])
        if ok.sum() < 5:
            continue
        z = np.abs(y[ok, j] - oof[ok, j]) / (2 * np.maximum(sigma[ok, j], 1e-9))
        scale[j] = float(np.clip(np.quantile(z, coverage), 0.5, 20.0))
        if t in BLEND_TARGETS:
            cells = _fit_blend(y[:, j], oof[:, j], ana[:, j], groups, data.ana.numpy()[:, TARGETS.index("lut")],
                               coverage, min_group, min_sigma)
            if any(c is not None for v in cells.values() for c in v):
                blend[t] = cells
            continue
        rnd = lambda v: np.log1p([round_discrete(t, math.expm1(x)) for x in v])  # noqa: E731
        err_gnn = np.abs(y[:, j] - np.where(ok, rnd(np.nan_to_num(oof[:, j])), np.nan))
        err_ana = np.abs(y[:, j] - np.where(ok, rnd(np.nan_to_num(ana[:, j])), np.nan))
        decision = {}
        for g in ["*"] + sorted(set(groups[ok])):
            sel = ok if g == "*" else ok & (groups == g)
            if g != "*" and sel.sum() < min_group:
                continue
            use = err_ana[sel].mean() <= err_gnn[sel].mean()
            decision[g] = float(max(min_sigma, np.quantile(err_ana[sel], coverage) / 2)) if use else None
        if any(v is not None for v in decision.values()):
            fallback[t] = decision
    return scale.tolist(), fallback, blend


BLEND_GRID = np.round(np.linspace(0.0, 1.0, 21), 4)   # rounded: the stored weight is the one the errors were scored with


def _fit_blend(y, oof, ana, groups, ana_lut, coverage: float, min_group: int, min_sigma: float) -> dict:
    """Blend cells of one target: per kernel group (and '*', all designs) and size bucket (model.BLEND_SMALL_LUT on
    the LUT anchor), the GNN weight w on BLEND_GRID minimising the mean |log1p error| of w * oof + (1 - w) * formula
    over the bucket's out-of-fold predictions (ties go to the GNN), and sigma = the `coverage` quantile of those
    errors / 2. A bucket with fewer than `min_group` designs takes its group's pooled weight; a group with fewer is
    left out (the '*' cells answer for it). w = 1 is stored as None (the GNN and its own sigma)."""
    from .model import BLEND_SMALL_LUT

    ok = np.isfinite(y)
    small = ana_lut < BLEND_SMALL_LUT

    def errors(sel, w):
        return np.abs(y[sel] - (w * oof[sel] + (1 - w) * ana[sel]))

    def fit(sel) -> tuple[float, np.ndarray]:
        """(the best weight on the grid, its errors)"""
        errs = [errors(sel, w) for w in BLEND_GRID]
        k = max(range(len(BLEND_GRID)), key=lambda i: (-round(float(errs[i].mean()), 12), i))
        return round(float(BLEND_GRID[k]), 4), errs[k]

    cells = {}
    for g in ["*"] + sorted(set(groups[ok])):
        in_g = ok if g == "*" else ok & (groups == g)
        if in_g.sum() < min_group:
            continue
        pooled = fit(in_g)[0]
        row = []
        for bucket in (small, ~small):
            sel = in_g & bucket
            w, err = fit(sel) if sel.sum() >= min_group else (pooled, None)
            if w >= 1.0 or not sel.any():
                row.append(None)
                continue
            if err is None:
                err = errors(sel, w)
            row.append([w, float(max(min_sigma, np.quantile(err, coverage) / 2))])
        cells[g] = row
    return cells


def _fit_parts(ens, examples: Sequence[Example]) -> dict:
    """parts.fit_factors on the training tops predicted by parts (compositions, decoder layers)."""
    from .parts import fit_factors, has_parts

    tops = [ex for ex in examples if has_parts(ex.spec)]
    if not tops:
        return {}
    return fit_factors(ens, [ex.spec for ex in tops], _targets_matrix(tops), np.stack([ex.arrays.ana for ex in tops]))


def predict_examples(ens, examples: Sequence[Example], batch: int = 512, parts: bool = True,
                     parts_fit: dict | None = None):
    """-> (mean log1p [n, T], sigma [n, T], analytical [n, T]); tops over member kernels by parts (surrogate/parts.py)
    unless `parts` is False (the GNN on their whole graph); `parts_fit` overrides the model's fitted factors."""
    from .parts import apply_parts

    means, sigmas, anas = [], [], []
    for s in range(0, len(examples), batch):
        data = _batch(examples, range(s, min(len(examples), s + batch)))
        m, sg, _ = ens.predict_log(data)
        means.append(m)
        sigmas.append(sg)
        anas.append(data.ana.numpy())
    mean, sigma, ana = np.concatenate(means), np.concatenate(sigmas), np.concatenate(anas)
    if parts:
        apply_parts(ens, [ex.spec for ex in examples], mean, sigma, ana, fitted=parts_fit)
    return mean, sigma, ana
