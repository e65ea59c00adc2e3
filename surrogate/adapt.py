"""Few-shot adaptation of a trained surrogate to another synthesis tool or device (`hwgen surrogate adapt`).

A user's Yosys (or Vivado, through `hwgen dataset import`) maps the same RTL to other LUT counts; the graph
structure the GNN learned still holds, so a handful of the user's own runs should suffice to move the
predictions. Two methods (compared in docs/surrogate_transfer.md, bench/surrogate_transfer.py):

- `calibrate` (default): keep every weight; learn per resource target a correction of the ensemble's log-scale
  output, y' = mu + a + b (mu - m), fitted to the new records by ridge regression whose prior pulls a and b to 0
  with the weight of `prior` records: no record leaves the model as it was, a few move it only as far as they
  agree. The leave-one-out residual spread of the fit is added to the model's sigma.
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
DEFAULT_PRIOR = 3.0        # records' worth of belief in "no change"
FINETUNE_EPOCHS = 60
FINETUNE_LR = 1e-3
FINETUNE_SP = 1.0          # L2-SP strength (per parameter, mean squared distance from the source weights)


def _targets_log(examples) -> np.ndarray:
    y = np.full((len(examples), len(TARGETS)), np.nan)
    for i, ex in enumerate(examples):
        for j, t in enumerate(TARGETS):
            v = ex.y.get(t)
            if v is not None:
                y[i, j] = math.log1p(max(0.0, float(v)))
    return y


def _ridge_line(mu: np.ndarray, y: np.ndarray, prior: float) -> tuple[float, float, float, float]:
    """Fit y - mu = a + b (mu - m) with prior strength `prior` on a = b = 0. Returns (a, b, m, loo_rms)."""
    n = len(mu)
    m = float(mu.mean())
    r = y - mu
    X = np.stack([np.ones(n), mu - m], axis=1)
    reg = prior * np.diag([1.0, max(float(np.var(mu)), 1e-3)])   # the slope's prior scales with the spread of mu
    A = X.T @ X + reg
    coef = np.linalg.solve(A, X.T @ r)
    H = X @ np.linalg.solve(A, X.T)                                 # hat matrix: exact leave-one-out residuals
    loo = (r - X @ coef) / np.clip(1.0 - np.diag(H), 1e-6, None)
    return float(coef[0]), float(coef[1]), m, float(np.sqrt(np.mean(loo ** 2)))


def calibrate(ens, examples: Sequence, prior: float = DEFAULT_PRIOR):
    """A copy of `ens` with a per-target output correction fitted to `examples` (see the module docstring)."""
    from .train import predict_examples

    out = copy.deepcopy(ens)
    out.cfg.adaptation = {}
    if not examples:
        return out
    mean, _, _ = predict_examples(ens, examples)
    y = _targets_log(examples)
    corr = {}
    for j, t in enumerate(TARGETS):
        if t not in RES:
            continue
        ok = np.isfinite(y[:, j])
        if ok.sum() == 0:
            continue
        a, b, m, s = _ridge_line(mean[ok, j], y[ok, j], prior)
        corr[t] = {"a": a, "b": b, "m": m, "s": s}
    out.cfg.adaptation = {"method": "calibrate", "records": len(examples), "prior": prior, "correction": corr}
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


def apply_adaptation(cfg, mean: np.ndarray, sigma: np.ndarray) -> None:
    """In place: the stored output correction and its added spread (Ensemble.predict_log calls this)."""
    corr = (getattr(cfg, "adaptation", None) or {}).get("correction") or {}
    for t, c in corr.items():
        j = TARGETS.index(t)
        mean[:, j] = mean[:, j] + c["a"] + c["b"] * (mean[:, j] - c["m"])
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
