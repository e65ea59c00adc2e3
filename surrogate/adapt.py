"""Few-shot adaptation of a trained surrogate to another synthesis tool or device (`hwgen surrogate adapt`).

A user's Yosys (or Vivado, through `hwgen dataset import`) maps the same RTL to other LUT counts and other logic
depths; the graph structure the GNN learned still holds, so a handful of the user's own runs should suffice to
move the predictions. Adapted: the resources and the timing targets (lut_depth, crit_ns, hence Fmax) wherever the
records carry them. Latency and II are the kernels' cycle contract, the same under any tool: never adapted.
Four methods (compared in docs/surrogate_transfer.md, bench/surrogate_transfer.py):

- `calibrate`: keep every weight; learn per target a correction of the ensemble's log-scale output,
  y' = mu + a + b (mu - m) + d[kernel group] + d[device family], fitted to the new records as a Gaussian process
  (ridge priors pulling every coefficient to 0, the offsets d toward the common shift a). The form (none, shift,
  shift + slope) and the prior strength are chosen by exact leave-one-out error with the one-standard-error rule,
  so records that show nothing systematic leave the model as it was. The pick's leave-one-out RMS is added to
  the model's sigma.
- `residual`: calibrate's candidates plus a design-dependent residual f(descriptors), a zero-mean Gaussian process
  with an RBF kernel over the design's graph features (fit_correction), in the same leave-one-out selection: the
  kernel is taken only where it beats every global correction out of sample, so it can never be picked over
  leaving the model as it was unless it predicts held-out records better. Sigma adds the pick's leave-one-out
  RMS, widened by the residual's posterior variance away from the records.
- `finetune`: continue training every member's readouts (per-block correction and graph head) on the new records
  for a few epochs, message passing frozen, with an L2 pull toward the source weights (L2-SP) so that few samples
  cannot drag it far; the residual spread is added to sigma as above. The source model's formula fallback for
  resources (surrogate/train.py `_calibrate`) is dropped: the tuned GNN answers. Timing, which the shipped model
  answers with its structural anchor, gets calibrate's correction.
- `mixed` (default): finetune (at MIXED_LR) with the source members kept next to their tuned copies: the ensemble
  mean moves half as far as the tuned members, and their disagreement with the source enters sigma as member spread;
  then calibrate's correction on the resources as well (a shift common to the records, which the tuned half learnt
  and the source half did not, would be halved otherwise). On the Yosys 0.70 records the tuned readouts learn part
  of the design-specific error, but a tuned model alone overshoots on held-out designs; halfway between the two
  beats both at 10 and 20 records, and it is the only method that meets the goals (<= 6 % LUT SMAPE at 10 records,
  <= 4 % at 20) for both the new tool and the new family; calibrate stays ahead on the family
  (docs/surrogate_transfer.md). The adapted model holds twice the members (twice the GNN inference).

Structured corrections were measured on the 60 paired Yosys 0.23 / 0.70 designs (bench/surrogate_transfer.py, "The
two tools"): offsets per table style, or a scale per analytical cost term (the LUT anchor's terms by node type,
HwGraph.analytical_terms), explain little of the model's Yosys 0.70 error out of sample even fitted on 59 records
(leave-one-out log RMS 0.054-0.052 against 0.055 for a common shift), so none is a candidate here. The tool's LUT
ratio scatters per design: a perfect Yosys 0.23 predictor times the best ratio per kernel group and family misses
the Yosys 0.70 LUTs by 4.2 % SMAPE.
"""
from __future__ import annotations

import copy
import math
import time
from typing import Sequence

import numpy as np

from hwgen.errors import UserError

from .costs import RES, TARGETS, TIMING_TARGETS

METHODS = ("calibrate", "residual", "finetune", "mixed")
DEFAULT_METHOD = "mixed"
FINETUNE_EPOCHS = 60
FINETUNE_LR = 1e-3
FINETUNE_SP = 1.0          # L2-SP strength (per parameter, mean squared distance from the source weights)
MIXED_LR = 3e-3            # `mixed` halves the tuning's move (source members kept), so it can tune harder


def _targets_log(examples) -> np.ndarray:
    """log1p of the labels [n, targets], NaN where a record lacks one (the training's own label matrix)."""
    from .train import _targets_matrix

    return np.log1p(np.clip(_targets_matrix(examples), 0, None))


PRIORS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)   # candidate prior strengths of the linear terms, in records' worth
# The residual kernel's candidates (method `residual`): signal variance in noise units (simplest first) and
# length scale in the descriptors' standardised units (smoothest first). The kernel is additive, the mean over
# descriptors of a 1-D RBF: a residual that follows a few descriptors is learnable from tens of records, where an
# isotropic RBF over all of them would need far more.
KERNEL_SIGNAL = (1.0, 4.0, 16.0, 64.0)
KERNEL_LENGTH = (1.0, 0.5)
KERNEL_MAX_RECORDS = 300      # the kernel stores its records' descriptors and an n x n matrix: cap n


def _gp_loo(S: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Sigma^-1 r, the exact leave-one-out residuals) of a zero-mean Gaussian process with covariance S (noise units)."""
    Si = np.linalg.inv(S)
    w = Si @ r
    return w, w / np.diag(Si)


def _additive_rbf(A: np.ndarray, B: np.ndarray, length: float) -> np.ndarray:
    """k(a, b) = mean over descriptors d of exp(-(a_d - b_d)^2 / (2 length^2)), [len(A), len(B)]."""
    return np.mean(np.exp(-(A[:, None, :] - B[None, :, :]) ** 2 / (2.0 * length * length)), axis=2)


def _tag_tuples(tags: Sequence) -> list[tuple]:
    """Per record its tags as a tuple (a bare string is one tag)."""
    return [(t,) if isinstance(t, str) else tuple(t) for t in tags]


def fit_correction(mu: np.ndarray, y: np.ndarray, tags: Sequence, desc: np.ndarray | None = None) -> dict:
    """The log-space correction y - mu ~ a + b (mu - m) + sum d[tag] (+ f(descriptors)) that predicts held-out
    records best.

    tags: per record, the categories it belongs to (its kernel group and device family; a bare string is one tag).
    desc: per record, design descriptors [n, D]; given, a zero-mean Gaussian-process residual f over them with an
    additive RBF kernel joins the candidates (method `residual`).

    The whole correction is one Gaussian process in noise units: the linear terms are ridge priors (strength p, in
    records' worth; the per-tag offsets d shrunk to 0, so toward the common shift a), plus c * k(length l). Its
    exact leave-one-out residuals rank the candidates, and the one-standard-error rule picks the simplest within one
    standard error of the best, so a few noisy records leave a right model as it was. Stage 1: no change; shift;
    shift + slope; each at every prior strength in PRIORS (strongest first). Stage 2, with desc: stage 1's pick,
    then the same plus the kernel at every (l, c) of KERNEL_LENGTH x KERNEL_SIGNAL (smoothest first), so the kernel
    is taken only where it beats the global correction out of sample. Each stage's pick has a leave-one-out MSE no
    larger than the one before, hence never above no change's. Returns {a, b, m, d, s, form, prior[, kernel]}, s the
    pick's leave-one-out RMS (added to sigma)."""
    n = len(mu)
    m = float(mu.mean()) if n else 0.0
    r = y - mu
    tags = _tag_tuples(tags)
    names = sorted({t for ts in tags for t in ts})
    T = np.array([[name in ts for name in names] for ts in tags], float).reshape(n, len(names))
    spread = max(float(np.var(mu)), 1e-3) if n else 1.0

    def candidate(form: str, p, kern):
        """(correction, leave-one-out residuals, kernel state) of one candidate."""
        cols = [] if form == "none" else [np.ones(n)] + ([mu - m] if form == "line" else []) + [T[:, i] for i in range(len(names))]
        S = np.eye(n)
        if cols:
            X = np.stack(cols, 1)
            reg = np.array([p] + ([p * spread] if form == "line" else []) + [p] * len(names))
            S = S + (X / reg) @ X.T
        if kern is not None:
            S = S + kern[0] * grams[kern[1]]
        w, loo = _gp_loo(S, r)
        coef = (X / reg).T @ w if cols else np.zeros(1)      # the linear terms' posterior mean (the ridge fit)
        k = 2 if form == "line" else 1
        c = {"a": float(coef[0]), "b": float(coef[1]) if form == "line" else 0.0, "m": m,
             "d": {name: float(v) for name, v in zip(names, coef[k:])} if cols else {}, "form": form,
             "prior": p if cols else None}
        return c, loo, None if kern is None else (kern, w, S)

    def one_se(cands):
        sq = [loo ** 2 for _, loo, _ in cands]
        best = int(np.argmin([e.mean() for e in sq]))
        limit = sq[best].mean() + (sq[best].std() / math.sqrt(n) if n > 1 else 0.0)
        return cands[next(i for i, e in enumerate(sq) if e.mean() <= limit)]

    # stage 1, the global corrections (method calibrate)
    cands = [({"a": 0.0, "b": 0.0, "m": m, "d": {}, "form": "none", "prior": None}, r, None)]
    if n >= 2:
        cands += [candidate(form, p, None) for form in ("shift", "line") for p in sorted(PRIORS, reverse=True)]
    pick = one_se(cands)
    # stage 2 (method residual): the picked global correction with and without the kernel; few candidates, so the
    # best of them is not an optimistic pick among many that happened to fit the noise
    if desc is not None and 3 <= n <= KERNEL_MAX_RECORDS:
        grams = {l: _additive_rbf(desc, desc, l) for l in KERNEL_LENGTH}
        form, p = pick[0]["form"], pick[0]["prior"]
        pick = one_se([pick] + [candidate(form, p, (c, l)) for l in KERNEL_LENGTH for c in KERNEL_SIGNAL])
    out = {**pick[0], "s": float(np.sqrt(np.mean(pick[1] ** 2))) if n else 0.0}
    if pick[2] is not None:
        (c, l), w, S = pick[2]
        # f(x) = c k(x)^T Sigma^-1 r; its posterior variance c - c^2 k^T Sigma^-1 k (noise units) widens sigma
        out["kernel"] = {"type": "additive_rbf", "signal": c, "length": l, "desc": desc.tolist(),
                         "w": (c * w).tolist(), "sigma_inv": np.linalg.inv(S).tolist()}
    return out


def correction_terms(c: dict, mu: np.ndarray, tags: Sequence, desc: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(shift, added variance) of a stored correction c at designs with log predictions mu, tags and descriptors."""
    tags = _tag_tuples(tags)
    d = c.get("d", {})
    shift = c["a"] + c["b"] * (mu - c["m"]) + np.array([sum(d.get(t, 0.0) for t in ts) for ts in tags])
    var = np.full(len(mu), c["s"] ** 2)
    kern = c.get("kernel")
    if kern and len(mu):
        k = _additive_rbf(desc, np.array(kern["desc"]), kern["length"])
        shift = shift + k @ np.array(kern["w"])
        cs = kern["signal"]
        post = cs - cs * cs * np.einsum("ij,jk,ik->i", k, np.array(kern["sigma_inv"]), k)
        var = var * (1.0 + np.clip(post, 0, None))
    return shift, var


ADAPTED = RES + TIMING_TARGETS      # what a tool or device changes; latency and II are the kernels' contract


def design_tags(data) -> list[tuple[str, ...]]:
    """Per design of a batch, the categories a correction may offset: its kernel group and its device family
    (a tool change can differ by family: Yosys 0.70 maps no CARRY8 on UltraScale+, so depth shifts there only)."""
    from .features import FAMILIES

    groups = list(getattr(data, "group", None) or [""] * data.u.shape[0])
    fams = [FAMILIES[int(i)] for i in np.argmax(data.u.numpy()[:, :len(FAMILIES)], axis=1)]
    return [(g, f"family:{f}") for g, f in zip(groups, fams)]


def design_descriptors(ens, data) -> np.ndarray:
    """The residual kernel's inputs: the design's graph features (device family, log cycles / II / MACs, the
    log analytical resource anchors, log kernel and node counts), standardised by the source model's training
    statistics so that a few records give a stable distance. (The GNN's pooled node embedding as further inputs was
    tried on the Yosys 0.70 records and explained none of the residual.)"""
    cfg = ens.cfg
    u = data.u.numpy().astype(float)
    mean, std = np.array(cfg.u_mean, float), np.array(cfg.u_std, float)
    return (u - mean) / np.where(std < 1e-6, 1.0, std)


def _fit_all(mean: np.ndarray, y: np.ndarray, tags, desc, targets=ADAPTED) -> dict:
    corr = {}
    for t in targets:
        j = TARGETS.index(t)
        ok = np.isfinite(y[:, j])
        if ok.sum() == 0:
            continue
        corr[t] = fit_correction(mean[ok, j], y[ok, j], [g for g, o in zip(tags, ok) if o],
                                 None if desc is None else desc[ok])
    return corr


def calibrate(ens, examples: Sequence, residual: bool = False):
    """A copy of `ens` with a per-target output correction fitted to `examples` (see the module docstring);
    residual: also a design-dependent Gaussian-process residual over the design descriptors (method `residual`)."""
    from .train import _batch

    out = copy.deepcopy(ens)
    out.cfg.adaptation = {}
    if not examples:
        return out
    data = _batch(examples, range(len(examples)))
    mean, _, _ = ens.predict_log(data)
    desc = design_descriptors(ens, data) if residual else None
    corr = _fit_all(mean, _targets_log(examples), design_tags(data), desc)
    out.cfg.adaptation = {"method": "residual" if residual else "calibrate", "records": len(examples), "correction": corr}
    return out


def finetune(ens, examples: Sequence, epochs: int = FINETUNE_EPOCHS, lr: float = FINETUNE_LR,
             sp: float = FINETUNE_SP, seed: int = 0, keep_source: bool = False):
    """A copy of `ens` whose members' readouts are trained further on `examples` (see the module docstring);
    keep_source: the source members stay next to their tuned copies (method `mixed`)."""
    import torch

    from .train import _batch, predict_examples

    out = copy.deepcopy(ens)
    out.cfg.adaptation = {}
    if not examples:
        return out
    # the GNN is what gets tuned: where the source model answered a resource with its analytical formula (the
    # formula beat it out of fold on the source tool), the tuned GNN answers now
    out.cfg.fallback = {t: v for t, v in out.cfg.fallback.items() if t not in RES}
    out.cfg.blend = {}     # (the GNN/formula blend is of resources only)
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
    if keep_source:
        out.members = out.members + copy.deepcopy(ens.members)
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
    # timing is predicted by the anchor (the formula fallback) in the shipped model, not by the readouts tuned
    # above: it gets calibrate's correction. `mixed`: the resources too, as the source half of the ensemble does not
    # move: a shift common to the records (that the tuned half learnt, e.g. a tool's -25 % LUTs) would be halved
    # where calibrate fits it in full; what the records share beyond that, it leaves (its leave-one-out pick)
    spread.update(_fit_all(mean, yl, design_tags(data), None, ADAPTED if keep_source else TIMING_TARGETS))
    out.cfg.adaptation = {"method": "mixed" if keep_source else "finetune", "records": len(examples),
                          "epochs": epochs, "lr": lr, "sp": sp, "correction": spread}
    return out


def adapt(ens, examples: Sequence, method: str = DEFAULT_METHOD, **kw):
    if method not in METHODS:
        raise UserError("method", f"unknown method {method!r}; allowed: {', '.join(METHODS)}")
    if ens.cfg.adaptation:
        raise UserError("model", "is itself an adapted model; adapt its source model "
                                 f"({ens.cfg.adaptation.get('source_model', 'see its config.json')}) with all the records")
    if method == "finetune":
        return finetune(ens, examples, **kw)
    if method == "mixed":
        return finetune(ens, examples, **{"lr": MIXED_LR, **kw, "keep_source": True})
    return calibrate(ens, examples, residual=method == "residual", **kw)


def apply_adaptation(ens, data, mean: np.ndarray, sigma: np.ndarray) -> None:
    """In place: the stored output corrections and their added spread (Ensemble.predict_log calls this). A kernel
    group or family the adaptation records did not contain gets the common shift only."""
    corr = (getattr(ens.cfg, "adaptation", None) or {}).get("correction") or {}
    if not corr:
        return
    tags = design_tags(data)
    desc = design_descriptors(ens, data) if any("kernel" in c for c in corr.values()) else None
    for t, c in corr.items():
        j = TARGETS.index(t)
        shift, var = correction_terms(c, mean[:, j], tags, desc)
        mean[:, j] = mean[:, j] + shift
        sigma[:, j] = np.sqrt(sigma[:, j] ** 2 + var)


def draw_records(examples: Sequence, n: int, seed: int = 0) -> list:
    """n of `examples`, drawn to cover their strata (kernel group x device family) in turn: a shuffled round
    robin, one record per stratum per round, so every stratum gets a record before any gets two. What a user
    does when choosing which designs to synthesize; on the Yosys 0.70 records it lowers the error and its spread at
    5 records, where a random draw can miss a kernel group entirely (docs/surrogate_transfer.md)."""
    from .features import FAMILIES

    order = np.random.default_rng(seed).permutation(len(examples))
    strata: dict = {}
    for i in order:
        a = examples[i].arrays          # the same kernel group and family as design_tags
        strata.setdefault((a.group, FAMILIES[int(np.argmax(a.u[:len(FAMILIES)]))]), []).append(int(i))
    queues, pick = list(strata.values()), []
    while len(pick) < min(n, len(examples)):
        for q in queues:
            if q and len(pick) < n:
                pick.append(q.pop(0))
    return [examples[i] for i in sorted(pick)]


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
        examples = draw_records(examples, n, seed)
    t0 = time.time()
    ens = adapt(Ensemble.load(Path(model_dir)), examples, method)
    ens.cfg.adaptation["source_model"] = str(model_dir)
    ens.cfg.adaptation["data"] = [str(d) for d in data]
    ens.cfg.adaptation["seconds"] = round(time.time() - t0, 2)
    ens.save(Path(out_dir))
    log(f"{out_dir}: {method} on {len(examples)} records in {ens.cfg.adaptation['seconds']} s")
    return ens.cfg.adaptation
