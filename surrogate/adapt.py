"""Few-shot adaptation of a trained surrogate to another synthesis tool or device (`hwgen surrogate adapt`).

A user's Yosys (or Vivado, through `hwgen dataset import`) maps the same RTL to other LUT counts; the graph
structure the GNN learned still holds, so a handful of the user's own runs should suffice to move the
predictions. Two methods (compared in docs/surrogate_transfer.md, bench/surrogate_transfer.py):

- `calibrate` (default): keep every weight; learn per resource target a correction of the ensemble's log-scale
  output, y' = mu + a + b (mu - m) + d[kernel group], fitted to the new records by ridge regression whose prior
  pulls the coefficients to 0 (and each kernel family's offset d toward the common shift a). The form (none, shift,
  shift + slope) and the prior strength are chosen by exact leave-one-out error with the one-standard-error rule,
  so records that show nothing systematic leave the model as it was. The leave-one-out spread of the fit is added to the model's sigma.
- `finetune`: continue training every member's readouts (per-block correction and graph head) on the new records
  for a few epochs, message passing frozen, with an L2 pull toward the source weights (L2-SP) so that few samples
  cannot drag it far; the residual spread is added to sigma as above. The source model's formula fallback for
  resources (surrogate/train.py `_calibrate`) is dropped: the tuned GNN answers.

Latency and II are the kernels' cycle contract, the same under any tool: they are never adapted.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import numpy as np

from hwgen.errors import UserError

from .costs import RES, TARGETS

METHODS = ("calibrate", "finetune")
FINETUNE_EPOCHS = 60
FINETUNE_LR = 1e-3
FINETUNE_SP = 1.0          # L2-SP strength (per parameter, mean squared distance from the source weights)


def _targets_log(examples) -> np.ndarray:
    """log1p of the labels [n, targets], NaN where a record lacks one (the training's own label matrix)."""
    from .train import _targets_matrix

    return np.log1p(np.clip(_targets_matrix(examples), 0, None))


PRIORS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)   # candidate prior strengths, in records' worth


def _fit_ridge(X: np.ndarray, r: np.ndarray, reg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ridge fit of r on X with penalty diag(reg); returns (coef, the exact leave-one-out residuals)."""
    A = X.T @ X + np.diag(reg)
    coef = np.linalg.solve(A, X.T @ r)
    H = X @ np.linalg.solve(A, X.T)
    return coef, (r - X @ coef) / np.clip(1.0 - np.diag(H), 1e-6, None)


def fit_correction(mu: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> dict:
    """The log-space correction y - mu ~ a + b (mu - m) + d[group] that predicts held-out records best.

    Candidates, simplest first: no change; a shift (a, plus per kernel-group offsets d shrunk toward the common
    shift); a shift plus slope b; each at every prior strength in PRIORS (strongest first). Exact leave-one-out
    errors rank them, and the one-standard-error rule picks the simplest candidate within one standard error of
    the best: a few noisy records must not move a model that was right. Returns {a, b, m, d, s, form, prior}, s
    the pick's leave-one-out RMS (added to the model's sigma)."""
    n = len(mu)
    m = float(mu.mean())
    r = y - mu
    names = sorted(set(groups))
    G = np.array([[g == name for name in names] for g in groups], float).reshape(n, len(names))
    cands = [({"a": 0.0, "b": 0.0, "m": m, "d": {}, "form": "none", "prior": None}, r)]
    if n >= 2:
        spread = max(float(np.var(mu)), 1e-3)
        for form in ("shift", "line"):
            cols = [np.ones(n)] + ([mu - m] if form == "line" else []) + [G[:, i] for i in range(len(names))]
            X = np.stack(cols, axis=1)
            k = 2 if form == "line" else 1
            for p in sorted(PRIORS, reverse=True):
                reg = np.array([p] + ([p * spread] if form == "line" else []) + [p] * len(names))
                coef, loo = _fit_ridge(X, r, reg)
                cands.append(({"a": float(coef[0]), "b": float(coef[1]) if form == "line" else 0.0, "m": m,
                               "d": {name: float(c) for name, c in zip(names, coef[k:])}, "form": form, "prior": p}, loo))
    sq = [loo ** 2 for _, loo in cands]
    best = int(np.argmin([e.mean() for e in sq]))
    limit = sq[best].mean() + (sq[best].std() / math.sqrt(n) if n > 1 else 0.0)
    pick = next(i for i, e in enumerate(sq) if e.mean() <= limit)
    return {**cands[pick][0], "s": float(np.sqrt(sq[pick].mean()))}


def calibrate(ens, examples: Sequence):
    """A copy of `ens` with a per-target output correction fitted to `examples` (see the module docstring)."""
    from .train import _batch

    out = copy.deepcopy(ens)
    out.cfg.adaptation = {}
    if not examples:
        return out
    data = _batch(examples, range(len(examples)))
    mean, _, _ = ens.predict_log(data)
    groups = list(data.group)
    y = _targets_log(examples)
    corr = {}
    for j, t in enumerate(TARGETS):
        if t not in RES:
            continue
        ok = np.isfinite(y[:, j])
        if ok.sum() == 0:
            continue
        corr[t] = fit_correction(mean[ok, j], y[ok, j], [g for g, o in zip(groups, ok) if o])
    out.cfg.adaptation = {"method": "calibrate", "records": len(examples), "correction": corr}
    return out


def finetune(ens, examples: Sequence, epochs: int = FINETUNE_EPOCHS, lr: float = FINETUNE_LR,
             sp: float = FINETUNE_SP, seed: int = 0):
    """A copy of `ens` whose members' readouts are trained further on `examples` (see the module docstring)."""
    import torch

    from .train import _batch, predict_examples

    out = copy.deepcopy(ens)
    out.cfg.adaptation = {}
    if not examples:
        return out
    # the GNN is what gets tuned: where the source model answered a resource with its analytical formula (the
    # formula beat it out of fold on the source tool), the tuned GNN answers now
    out.cfg.fallback = {t: v for t, v in out.cfg.fallback.items() if t not in RES}
    data = _batch(examples, range(len(examples)))
    data = out.remap(data)
    y = torch.log1p(data.y.clamp(min=0)).float()
    mask = torch.isfinite(y)
    mask[:, len(RES):] = False                     # cycles are the contract: not adapted
    y = torch.where(mask, y, torch.zeros_like(y))
    torch.manual_seed(seed)
    for member in out.members:
        trainable = [p for name, p in member.named_parameters() if name.startswith(("node_out.", "head."))]
        for name, p in member.named_parameters():
            p.requires_grad_(name.startswith(("node_out.", "head.")))
        source = [p.detach().clone() for p in trainable]
        opt = torch.optim.Adam(trainable, lr=lr)
        member.train()
        for _ in range(epochs):
            mu, _ = member(data)
            mse = (((mu - y) / member.r_std).pow(2) * mask).sum() / mask.sum().clamp(min=1)
            pull = sum((p - s).pow(2).sum() for p, s in zip(trainable, source)) / sum(s.numel() for s in source)
            loss = mse + sp * pull
            opt.zero_grad()
            loss.backward()
            opt.step()
        member.eval()
        for p in member.parameters():
            p.requires_grad_(True)
    mean, _, _ = predict_examples(out, examples)
    yl = _targets_log(examples)
    spread = {}
    for j, t in enumerate(TARGETS):
        ok = np.isfinite(yl[:, j])
        if t in RES and ok.any():
            # in-sample residuals understate the error of a fit to few points: scale by n / (n - 2)
            n = int(ok.sum())
            spread[t] = {"a": 0.0, "b": 0.0, "m": 0.0,
                         "s": float(np.sqrt(np.mean((yl[ok, j] - mean[ok, j]) ** 2) * n / max(n - 2, 1)))}
    out.cfg.adaptation = {"method": "finetune", "records": len(examples), "epochs": epochs, "lr": lr, "sp": sp,
                          "correction": spread}
    return out


def adapt(ens, examples: Sequence, method: str = "calibrate", **kw):
    if method not in METHODS:
        raise UserError("method", f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    if ens.cfg.adaptation:
        raise UserError("model", "is itself an adapted model; adapt its source model "
                                 f"({ens.cfg.adaptation.get('source_model', 'see its config.json')}) with all the records")
    return calibrate(ens, examples, **kw) if method == "calibrate" else finetune(ens, examples, **kw)


def apply_adaptation(cfg, mean: np.ndarray, sigma: np.ndarray, groups: Sequence[str]) -> None:
    """In place: the stored output correction and its added spread (Ensemble.predict_log calls this). A kernel
    group the adaptation records did not contain gets the common shift only."""
    corr = (getattr(cfg, "adaptation", None) or {}).get("correction") or {}
    for t, c in corr.items():
        j = TARGETS.index(t)
        d = np.array([c.get("d", {}).get(g, 0.0) for g in groups])
        mean[:, j] = mean[:, j] + c["a"] + c["b"] * (mean[:, j] - c["m"]) + d
        sigma[:, j] = np.sqrt(sigma[:, j] ** 2 + c["s"] ** 2)


def adapt_command(model_dir, data: Sequence, out_dir, method: str, n: int | None, seed: int, log=print) -> dict:
    """`hwgen surrogate adapt`: load, adapt on (up to n, drawn with `seed`) records of `data`, save to out_dir."""
    from pathlib import Path

    from .model import Ensemble
    from .train import load_examples

    examples = load_examples(list(data))
    if not examples:
        raise UserError("data", "no usable records (status ok with extra.spec) in " + ", ".join(map(str, data)))
    if n is not None:
        if n < 1:
            raise UserError("n", f"must be >= 1 (got {n})")
        pick = np.random.default_rng(seed).permutation(len(examples))[:n]
        examples = [examples[i] for i in sorted(pick)]
    t0 = time.time()
    ens = adapt(Ensemble.load(Path(model_dir)), examples, method)
    ens.cfg.adaptation["source_model"] = str(model_dir)
    ens.cfg.adaptation["data"] = [str(d) for d in data]
    ens.cfg.adaptation["seconds"] = round(time.time() - t0, 2)
    ens.save(Path(out_dir))
    log(f"{out_dir}: {method} on {len(examples)} records in {ens.cfg.adaptation['seconds']} s")
    return ens.cfg.adaptation
