"""GNN surrogate: GINE message passing (edge features, edge weights) over the hardware graph, a decomposable readout anchored on the
analytical model, and a deep ensemble for uncertainty. Weights in safetensors, config in JSON.

Prediction of one member for a design with nodes i and analytical block estimates est_{i,r}:

    resources r:   Y_r = sum_i [ est_{i,r} * exp(a_{i,r}) + s_r * softplus(b_{i,r}) ]      (per-block correction)
                   mu_r = log1p(Y_r) + c_r                                                 (graph correction)
    latency, II,   mu_r = log1p(analytical_r) + c_r
    lut_depth, crit_ns:   (analytical = the kernel's structural timing estimate, Kernel.timing_estimate)

a, b come from each node's embedding after message passing, c and log sigma^2 from the graph head
(sum and mean pooling + graph features). At initialisation a = c = 0 and b is very negative, so a
member starts at the analytical model; blocks that scale (more lanes, deeper banks) scale the
prediction through the sum, which is what lets it extrapolate to larger designs. Training: MSE on
mu (log1p space, per-target standardised), Gaussian NLL on log sigma^2 with mu detached.

Ensemble: mean = average of mu; variance = mean(sigma^2) + var(mu) (aleatoric + epistemic), in
log1p space. Members differ by seed (init and batch order) and by the fold of the training set they
leave out (cv_folds): each design's prediction by the member that did not see it gives an honest
error, and sigma is scaled per target so that +/- 2 sigma covers 95% of those out-of-fold errors.
Where the analytical formula's error on the training designs is no larger than the GNN's out-of-fold
error (typically the memory counts and the cycle model), the ensemble returns the formula for that
target (cfg.fallback, with a sigma from the formula's own errors). LUT, LUTRAM and FF (BLEND_TARGETS) get a weight
instead of that 0/1 choice: mu = w * mu_GNN + (1 - w) * log1p(formula), w fitted per kernel group and design size
(the LUT anchor below / above BLEND_SMALL_LUT) on the out-of-fold errors (cfg.blend): on small designs the GNN's
correction is mostly member noise, and half of it beat both ends out of fold.
A small L2 penalty on the corrections keeps the model at the analytical estimate where the data do
not say otherwise (memory counts, which the formulas get exactly, stay exact).

A model predicts the targets in its config (cfg.targets). One saved before a target existed (the timing targets
before surrogate v2) still loads: its missing targets are the analytical anchor with sigma ANCHOR_ONLY_SIGMA,
flagged `anchor_only` in the outputs.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .costs import RES, TARGETS
from .features import EDGE_FEATURES, FEATURE_VERSION, GRAPH_FEATURES, NUM_FEATURES, node_features

N_RES = len(RES)
N_T = len(TARGETS)
EST_SLICE = slice(len(NUM_FEATURES), len(NUM_FEATURES) + N_RES)
WEIGHTS_FILE = "weights.safetensors"
CONFIG_FILE = "config.json"
# Unit size of the free per-node term s_r * softplus(b): roughly one LUT / LUTRAM slice / FF / DSP / 0.5 BRAM / URAM.
FREE_SCALE = (4.0, 8.0, 4.0, 1.0, 0.5, 1.0)
# Discrete targets and their grid (BRAM36 counts RAMB18 as 0.5).
ROUNDING = {"dsp": 1.0, "bram36": 0.5, "uram": 1.0, "latency_cycles": 1.0, "ii": 1.0, "lut_depth": 1.0}
# Sigma (log1p space) of a target the model was not trained on, predicted by its analytical anchor alone: about the
# spread of the timing anchor's error on the shipped datasets (docs/surrogate_eval.md, timing section).
ANCHOR_ONLY_SIGMA = 0.3
# Continuous resources whose GNN and formula are blended (cfg.blend); the discrete targets and timing keep the 0/1
# formula fallback (a blend of two integer counts is neither).
BLEND_TARGETS = ("lut", "lutram", "ff")
# Size buckets of the blend, by the design's analytical LUTs: [small, large].
BLEND_SMALL_LUT = 1000.0


@dataclass
class ModelConfig:
    hidden: int = 32
    layers: int = 3
    members: int = 5
    epochs: int = 300
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 32
    seed: int = 0
    min_log_sigma: float = -6.0      # sigma >= 0.25% in log1p space
    graph_correction: bool = True    # graph-level log correction c on the resources (always on for latency/II)
    reg: float = 0.001               # L2 on the corrections (a per block, c per graph): prior = analytical model
    cv_folds: bool = True            # member i skips fold i; out-of-fold errors calibrate sigma
    sigma_scale: list = field(default_factory=list)  # per-target factor on sigma from the out-of-fold errors
    fallback: dict = field(default_factory=dict)     # target -> {kernel group or "*": sigma}: where the analytical
                                                     # formula beat the GNN out of fold; predicted by the formula
    blend: dict = field(default_factory=dict)        # target -> {kernel group or "*": [[w, sigma] small, [w, sigma]
                                                     # large]}: GNN weight of the GNN/formula blend (BLEND_TARGETS),
                                                     # None where the GNN alone predicts
    parts: dict = field(default_factory=dict)        # top kind -> {factor, sigma, tops}: by-parts prediction of
                                                     # compositions and decoder layers (parts.py)
    feature_version: int = FEATURE_VERSION
    targets: tuple = TARGETS
    node_features: list = field(default_factory=list)   # node feature names the model was trained on (by name, so
                                                        # node types of kernels added later map to nothing)
    # standardisation, filled from the training set
    x_mean: list = field(default_factory=list)
    x_std: list = field(default_factory=list)
    e_mean: list = field(default_factory=list)
    e_std: list = field(default_factory=list)
    u_mean: list = field(default_factory=list)
    u_std: list = field(default_factory=list)
    r_std: list = field(default_factory=list)        # per-target std of log1p(y) - log1p(analytical)
    u_min: list = field(default_factory=list)        # training range of the graph features (for reports)
    u_max: list = field(default_factory=list)
    train_info: dict = field(default_factory=dict)
    adaptation: dict = field(default_factory=dict)   # few-shot output correction to another tool/device (adapt.py)

    def to_json(self) -> str:
        d = asdict(self)
        d["targets"] = list(self.targets)
        d["node_features"] = list(self.node_features or node_features())
        d["edge_features"] = list(EDGE_FEATURES)
        d["graph_features"] = list(GRAPH_FEATURES)
        return json.dumps(d, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        d = json.loads(text)
        for k in ("edge_features", "graph_features"):
            d.pop(k, None)
        d["targets"] = tuple(d.get("targets", TARGETS))
        cfg = cls(**d)
        if cfg.feature_version != FEATURE_VERSION:
            raise ValueError(f"model was trained on graph features v{cfg.feature_version}, this code builds v{FEATURE_VERSION}")
        return cfg


def _mlp(i: int, h: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, h), nn.SiLU(), nn.Linear(h, o))


class WeightedGINEConv(nn.Module):
    """GINE (Hu et al. 2020) with edge weights: h_i' = MLP((1 + eps) h_i + sum_j w_ji * ReLU(h_j + W e_ji)).
    With w = sender multiplicity this runs on the symmetry-compressed graph (surrogate/features.py) and gives exactly
    what torch_geometric's GINEConv gives on the expanded one."""

    def __init__(self, h: int, edge_dim: int):
        super().__init__()
        self.lin_e = nn.Linear(edge_dim, h)
        self.mlp = _mlp(h, h, h)
        self.eps = nn.Parameter(torch.zeros(1))

    def forward(self, x, edge_index, edge_attr, edge_weight):
        msg = torch.relu(x.index_select(0, edge_index[0]) + self.lin_e(edge_attr)) * edge_weight.unsqueeze(1)
        agg = torch.zeros_like(x).index_add_(0, edge_index[1], msg)
        return self.mlp((1 + self.eps) * x + agg)


def _graph_inputs(data):
    """(node features, graph index per node, node weights, edge weights, graphs) of a batch; a single graph
    without batch / nw / ew gets graph 0 and unit weights."""
    n = data.x.shape[0]
    batch = data.batch if getattr(data, "batch", None) is not None else torch.zeros(n, dtype=torch.long)
    nw = data.nw if getattr(data, "nw", None) is not None else torch.ones(n)
    ew = data.ew if getattr(data, "ew", None) is not None else torch.ones(data.edge_index.shape[1])
    return data.x, batch, nw, ew, data.u.shape[0]


class GNN(nn.Module):
    """One ensemble member."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        h = cfg.hidden
        nx, ne, nu = len(cfg.node_features or node_features()), len(EDGE_FEATURES), len(GRAPH_FEATURES)
        for name, size in (("x", nx), ("e", ne), ("u", nu)):
            self.register_buffer(f"{name}_mean", torch.zeros(size))
            self.register_buffer(f"{name}_std", torch.ones(size))
        self.n_t = n_t = len(cfg.targets)
        unknown = [t for t in cfg.targets if t not in TARGETS]
        if unknown or tuple(cfg.targets[:N_RES]) != RES:
            raise ValueError(f"model targets {list(cfg.targets)} are not known to this code ({list(TARGETS)})")
        self.register_buffer("r_std", torch.ones(n_t))
        # the analytical columns of the graph-level targets (latency, II, timing), by name
        self.register_buffer("ana_cols", torch.tensor([TARGETS.index(t) for t in cfg.targets[N_RES:]]), persistent=False)
        self.register_buffer("free_scale", torch.tensor(FREE_SCALE), persistent=False)
        self.node_in = _mlp(nx, h, h)
        self.convs = nn.ModuleList(WeightedGINEConv(h, ne) for _ in range(cfg.layers))
        self.norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(cfg.layers))
        self.node_out = _mlp(h + nu, h, 2 * N_RES)
        self.head = _mlp(2 * h + nu, h, 2 * n_t)
        self.min_log_var = 2 * cfg.min_log_sigma
        mask = torch.ones(n_t)
        if not cfg.graph_correction:
            mask[:N_RES] = 0.0
        self.register_buffer("c_mask", mask, persistent=False)
        with torch.no_grad():   # start at the analytical model
            last = self.node_out[-1]
            last.weight.mul_(0.01)
            last.bias.zero_()
            last.bias[N_RES:] = -6.0
            self.head[-1].weight.mul_(0.01)
            self.head[-1].bias.zero_()
            self.head[-1].bias[n_t:] = -4.0

    def set_norm(self, cfg: ModelConfig) -> None:
        for name in ("x", "e", "u"):
            getattr(self, f"{name}_mean").copy_(torch.tensor(getattr(cfg, f"{name}_mean"), dtype=torch.float32))
            getattr(self, f"{name}_std").copy_(torch.tensor(getattr(cfg, f"{name}_std"), dtype=torch.float32))
        self.r_std.copy_(torch.tensor(cfg.r_std, dtype=torch.float32))

    def forward(self, data) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (mu [B, T], log_var [B, T]) in log1p space, T = len(cfg.targets)."""
        x_raw, batch, nw, ew, nb = _graph_inputs(data)
        x = (x_raw - self.x_mean) / self.x_std
        e = (data.edge_attr - self.e_mean) / self.e_std
        u = (data.u - self.u_mean) / self.u_std
        h = self.node_in(x)
        for conv, norm in zip(self.convs, self.norms):
            h = h + torch.nn.functional.silu(norm(conv(h, data.edge_index, e, ew)))
        # decomposable readout: per-block corrections, summed over every copy of every block
        ab = self.node_out(torch.cat([h, u.index_select(0, batch)], dim=1))
        a = 2.0 * torch.tanh(ab[:, :N_RES] / 2.0)
        b = ab[:, N_RES:]
        est = torch.expm1(x_raw[:, EST_SLICE])
        contrib = (est * torch.exp(a) + torch.nn.functional.softplus(b) * self.free_scale) * nw.unsqueeze(1)
        Y = torch.zeros(nb, N_RES).index_add_(0, batch, contrib)
        hs = torch.zeros(nb, h.shape[1]).index_add_(0, batch, h * nw.unsqueeze(1))
        cnt = torch.zeros(nb).index_add_(0, batch, nw).clamp(min=1.0)
        pooled = torch.cat([hs / 32.0, hs / cnt.unsqueeze(1), u], dim=1)
        out = self.head(pooled)
        c = out[:, :self.n_t] * self.r_std * self.c_mask
        log_var = torch.clamp(out[:, self.n_t:] + 2 * torch.log(self.r_std), min=self.min_log_var, max=4.0)
        ana = data.ana.index_select(1, self.ana_cols).float().clamp(min=0)
        base = torch.cat([torch.log1p(Y), torch.log1p(ana)], dim=1)
        mu = base + c
        if self.training:   # corrections relative to the analytical model, for the training penalty
            self.reg_term = (a.pow(2).mean() + (out[:, :self.n_t]).pow(2).mean())
        return mu, log_var


class Ensemble:
    """Deep ensemble of GNN members sharing one config."""

    def __init__(self, cfg: ModelConfig, members: list[GNN] | None = None, fused: bool = True):
        self.cfg = cfg
        self.members = members if members is not None else []
        self.fused = fused      # one batched pass over all members (PackedEnsemble); False: member by member

    @torch.inference_mode()
    def predict_log(self, data) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """-> (mean [B, 10], sigma [B, 10], member means [M, B, 10]) in log1p space, columns TARGETS (a target the
        model lacks: its analytical anchor, sigma ANCHOR_ONLY_SIGMA)."""
        data = self.remap(data)
        mus, vars_ = [], []
        if len(self.members) > 1 and self.fused:
            mu_all, lv_all = self.packed().forward(data)
            mus, vars_ = list(mu_all.double()), list(torch.exp(lv_all.double()))
        else:
            for m in self.members:
                m.eval()
                mu, lv = m(data)
                mus.append(mu.double())
                vars_.append(torch.exp(lv.double()))
        mu = torch.stack(mus).numpy()
        mean = mu.mean(0)
        # the members' spread (population variance) once, in numpy: torch's var over the member axis cost ~10x more
        epi = np.square(mu - mean).mean(0) if len(mus) > 1 else np.zeros(mean.shape)
        sigma = np.sqrt(torch.stack(vars_).numpy().mean(0) + epi)
        if self.cfg.sigma_scale:
            sigma = sigma * np.asarray(self.cfg.sigma_scale, dtype=sigma.dtype)
        if tuple(self.cfg.targets) != TARGETS:
            mean, sigma, epi, mu = self._expand(data, mean, sigma, epi, mu)
        if self.cfg.fallback:
            # the formula's own error spread, plus the members' disagreement
            ana = np.log1p(np.clip(data.ana.numpy(), 0, None))
            names, inv = _groups(data, mean.shape[0])
            for t, by_group in self.cfg.fallback.items():
                j = TARGETS.index(t)
                # one lookup per kernel group, not per design
                s = np.array([fallback_sigma(by_group, g) for g in names], dtype=float)[inv]
                use = np.isfinite(s)
                mean[use, j] = ana[use, j]
                sigma[use, j] = np.sqrt(s[use] ** 2 + epi[use, j])
        if self.cfg.blend:
            self._apply_blend(data, mean, sigma, epi)
        if self.cfg.adaptation:
            from .adapt import apply_adaptation
            apply_adaptation(self, data, mean, sigma)
        return mean, sigma, mu

    def predict_log_batches(self, batches) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """[predict_log(b) for b in batches], bit for bit, with torch's N intra-op threads used as N batch workers: each
        batch forwards on one thread (torch ops release the GIL) while the others forward the next ones. A batch of
        FORWARD_BATCH designs is a few dozen ops of ~0.1-0.5 ms; split across an OpenMP team each op is a fork/join,
        and on a shared machine one descheduled thread stalls every op. The bench's 5,000 distinct designs in 256-design
        batches, load ~4 on the 2-core machine (best / worst of 5): one thread 1.07 / 1.16 s, two intra-op threads
        1.70 / 3.70 s, two batch workers 1.21 / 1.38 s."""
        batches = list(batches)
        threads = torch.get_num_threads()
        workers = min(threads, len(batches))
        if workers <= 1:
            return [self.predict_log(b) for b in batches]
        if len(self.members) > 1 and self.fused:
            self.packed()      # packed here, once, not raced for by the workers
        torch.set_num_threads(1)     # the workers' ops run single-threaded (a new thread reads this on its first op)
        try:
            return list(_forward_pool(workers).map(self.predict_log, batches))
        finally:
            torch.set_num_threads(threads)

    def _apply_blend(self, data, mean, sigma, epi) -> None:
        """In place: mean = w * GNN + (1 - w) * formula where cfg.blend has a weight for the design's group and size,
        sigma = the blend's own out-of-fold spread plus the members' disagreement carried by the GNN's weight."""
        ana = np.log1p(np.clip(data.ana.numpy(), 0, None))
        small = data.ana.numpy()[:, TARGETS.index("lut")] < BLEND_SMALL_LUT
        names, inv = _groups(data, mean.shape[0])
        for t, by_group in self.cfg.blend.items():
            j = TARGETS.index(t)
            # one lookup per (group, bucket), not per design: [group, bucket (0 small, 1 large), (w, sigma)]
            table = np.array([[blend_cell(by_group, g, True), blend_cell(by_group, g, False)] for g in names], dtype=float)
            ws = table[inv, np.where(small, 0, 1)]
            use = np.isfinite(ws[:, 0])
            w, s = ws[use, 0], ws[use, 1]
            mean[use, j] = w * mean[use, j] + (1.0 - w) * ana[use, j]
            sigma[use, j] = np.sqrt(s ** 2 + w ** 2 * epi[use, j])

    def packed(self) -> "PackedEnsemble":
        """The members' weights packed for the fused inference forward; rebuilt when a weight changes (training,
        load_state_dict), so it never serves stale weights."""
        # every parameter and buffer by identity and in-place version (state_dict per batch cost ~0.5 ms a member;
        # Module.parameters() ~0.7 ms for the ensemble: the tensors are read from their modules' own dicts by name)
        slots = getattr(self, "_tensor_slots", None)
        if slots is None or getattr(self, "_slots_of", None) != [id(m) for m in self.members]:
            slots = self._tensor_slots = [
                (d, name) for m in self.members for mod in m.modules() for d in (mod._parameters, mod._buffers)
                for name in d]
            self._slots_of = [id(m) for m in self.members]
        key = tuple((id(t), t._version) for d, name in slots if (t := d.get(name)) is not None)
        if getattr(self, "_packed_key", None) != key:
            self._packed, self._packed_key = PackedEnsemble(self.members), key
        return self._packed

    def _expand(self, data, mean, sigma, epi, mu):
        """Outputs over the model's targets -> over TARGETS; the missing ones from their analytical anchor."""
        ana = np.log1p(np.clip(data.ana.numpy(), 0, None))
        cols = [TARGETS.index(t) for t in self.cfg.targets]
        out_mean, out_sigma = ana.copy(), np.full(ana.shape, ANCHOR_ONLY_SIGMA)
        out_epi, out_mu = np.zeros(ana.shape), np.broadcast_to(ana, mu.shape[:1] + ana.shape).copy()
        out_mean[:, cols], out_sigma[:, cols], out_epi[:, cols], out_mu[..., cols] = mean, sigma, epi, mu
        return out_mean, out_sigma, out_epi, out_mu

    def anchor_only(self) -> tuple[str, ...]:
        """Targets this model was not trained on (predicted by their analytical anchor)."""
        return tuple(t for t in TARGETS if t not in self.cfg.targets)

    def remap(self, data):
        """Node feature columns in the order the model was trained on (by name; unknown columns dropped)."""
        current = list(node_features())
        if not self.cfg.node_features or self.cfg.node_features == current:
            return data
        ix = {name: i for i, name in enumerate(current)}
        x = torch.zeros((data.x.shape[0], len(self.cfg.node_features)), dtype=data.x.dtype)
        for j, name in enumerate(self.cfg.node_features):
            if name in ix:
                x[:, j] = data.x[:, ix[name]]
        data = data.clone()
        data.x = x
        return data

    # --- persistence ----------------------------------------------------------------
    def save(self, out_dir: Path) -> None:
        from safetensors.torch import save_file

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        tensors = {}
        for i, m in enumerate(self.members):
            for k, v in m.state_dict().items():
                tensors[f"m{i}.{k}"] = v.detach().contiguous().clone()
        save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata={"format": "hwgen-surrogate", "members": str(len(self.members))})
        (out_dir / CONFIG_FILE).write_text(self.cfg.to_json() + "\n")

    @classmethod
    def load(cls, model_dir: Path) -> "Ensemble":
        """Safetensors only: no pickle is ever executed."""
        from safetensors.torch import load_file

        model_dir = Path(model_dir)
        cfg = ModelConfig.from_json((model_dir / CONFIG_FILE).read_text())
        tensors = load_file(str(model_dir / WEIGHTS_FILE))
        n = 1 + max(int(k.split(".", 1)[0][1:]) for k in tensors)
        members = []
        for i in range(n):
            m = GNN(cfg)
            pre = f"m{i}."
            m.load_state_dict({k[len(pre):]: v for k, v in tensors.items() if k.startswith(pre)})
            m.eval()
            members.append(m)
        return cls(cfg, members)


_POOLS: dict = {}


def _forward_pool(workers: int):
    """The process' pool of `workers` forward threads, kept between calls: a fresh thread's first torch op sets up its
    OpenMP state (~ms), more than a small request's whole forward. Per process id: a forked child (the threads do not
    survive the fork) makes its own."""
    from concurrent.futures import ThreadPoolExecutor

    key = (os.getpid(), workers)
    pool = _POOLS.get(key)
    if pool is None:
        pool = _POOLS[key] = ThreadPoolExecutor(workers, thread_name_prefix="hwgen-forward")
    return pool


def _groups(data, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct kernel groups, each design's index into them) of a batch; designs without a group are ''."""
    groups = list(getattr(data, "group", None) or [""] * n)
    return np.unique(np.array(groups, dtype=object).astype(str), return_inverse=True)


def fallback_sigma(by_group, group: str) -> float:
    """Sigma of the formula fallback for one design's kernel group, NaN where the GNN predicts. A group seen in
    training has its own decision; an unseen one (a new composition) takes the all-designs decision '*'."""
    if not isinstance(by_group, dict):          # models saved before per-group decisions: one sigma for all
        return float(by_group)
    s = by_group.get(group, by_group.get("*"))
    return float("nan") if s is None else float(s)


def blend_cell(by_group: dict, group: str, small: bool) -> tuple[float, float]:
    """(GNN weight, sigma) of the blend for one design, (NaN, NaN) where the GNN alone predicts. A group seen in
    training has its own cells; an unseen one takes the all-designs cells '*'."""
    cells = by_group.get(group, by_group.get("*"))
    cell = cells[0 if small else 1] if cells else None
    return (float("nan"), float("nan")) if cell is None else (float(cell[0]), float(cell[1]))


def round_discrete(target: str, value: float) -> float:
    step = ROUNDING.get(target)
    if step is None:
        return float(value)
    return float(max(0.0, round(value / step) * step))


def outputs_from_log(mean: np.ndarray, sigma: np.ndarray, ana: np.ndarray, targets=TARGETS) -> list[dict]:
    """Per design {target: {mean, std, lo, hi, log_sigma, analytical}}: mean = expm1(mu) (rounded for
    discrete targets), [lo, hi] = expm1(mu -/+ 2 sigma), std = the delta-method linear std. The arithmetic runs on whole
    columns (float64, as the per-value math it replaced: predict_specs spent ~25 us a design here), then one dict per
    design and target."""
    mean, sigma, ana = (np.asarray(v, np.float64).reshape(-1, len(targets)) for v in (mean, sigma, ana))
    pos = lambda v: np.where(v > 0.0, v, 0.0)   # noqa: E731  (max(0.0, v): NaN and -0.0 give 0.0)
    val = pos(np.expm1(mean))
    cols = {"raw": val, "std": (val + 1.0) * sigma, "lo": pos(np.expm1(mean - 2 * sigma)),
            "hi": np.expm1(mean + 2 * sigma), "log_sigma": sigma, "analytical": ana}
    rows: list[dict] = [{} for _ in range(mean.shape[0])]
    for j, t in enumerate(targets):
        step = ROUNDING.get(t)
        shown = val[:, j] if step is None else pos(np.round(val[:, j] / step) * step)     # round_discrete
        per = [shown.tolist()] + [cols[k][:, j].tolist() for k in ("raw", "std", "lo", "hi", "log_sigma", "analytical")]
        for row, m, r, sd, lo, hi, ls, a in zip(rows, *per):
            row[t] = {"mean": m, "raw": r, "std": sd, "lo": lo, "hi": hi, "log_sigma": ls, "analytical": a}
    return rows


class PackedEnsemble:
    """GNN.forward of every member at once (-> mu, log_var [M, B, T]): the members' weights stacked once (not per
    batch), every layer one batched op over the member axis, and the edge work, which dominates (a batch has ~2.5x
    more directed edges than nodes), done on [edges, members * hidden] rows: one contiguous gather
    per edge, the edge-feature linear of every member in one GEMM with the feature standardisation and its bias folded
    into its weights, in-place activation, one index_add_. The same function as GNN.forward up to float rounding (a
    test checks); inference only.

    Node states live node-major, [nodes, members, hidden]: a node's rows of every member are the edge gather's row and
    the message sum's row as they are (no transpose copy per layer), pooling sums over dim 0 (index_add_'s fast
    path), and the per-member MLPs read them through a [members, nodes, hidden] view (bmm takes the strided view
    without a copy). node_in's first layer, with the node feature standardisation folded in, is one GEMM for every
    member."""

    def __init__(self, members: list):
        ref = members[0]
        self.M, self.n_t, self.min_log_var = len(members), ref.n_t, ref.min_log_var
        M = self.M
        self.H = H = ref.node_in[0].out_features
        st = lambda get: torch.stack([get(m).detach().float() for m in members])  # noqa: E731
        # (W1^T, b1, W2^T, b2) per _mlp, weights transposed once so baddbmm reads them contiguously
        mlp = lambda get: tuple(st(lambda m, i=i, a=a: getattr(get(m)[i], a)) for i in (0, 2)  # noqa: E731
                                for a in ("weight", "bias"))
        self._t = lambda p: (p[0].transpose(1, 2).contiguous(), p[1].unsqueeze(1), p[2].transpose(1, 2).contiguous(),
                             p[3].unsqueeze(1))
        self.u_mean, self.u_std = st(lambda m: m.u_mean).unsqueeze(1), st(lambda m: m.u_std).unsqueeze(1)
        # node_in: W1 ((x - mean) / std) + b1 = x @ (W1 / std)^T + (b1 - W1 @ (mean / std)), members side by side
        w1, b1, w2, b2 = mlp(lambda m: m.node_in)
        x_mean, x_std = st(lambda m: m.x_mean), st(lambda m: m.x_std)
        self.node_in = ((w1 / x_std.unsqueeze(1)).permute(2, 0, 1).reshape(w1.shape[2], M * H).contiguous(),
                        (b1 - torch.einsum("mhx,mx->mh", w1, x_mean / x_std)).reshape(M * H),
                        w2.transpose(1, 2).contiguous(), b2.unsqueeze(1))
        self.layers = []
        e_mean, e_std = st(lambda m: m.e_mean), st(lambda m: m.e_std)
        for li in range(len(ref.convs)):
            we = st(lambda m: m.convs[li].lin_e.weight)            # [M, H, E]
            be = st(lambda m: m.convs[li].lin_e.bias)              # [M, H]
            # lin_e((e - mean) / std) = [e, 1] @ [(W / std)^T; b - W @ (mean / std)], all members side by side
            w_fold = (we / e_std.unsqueeze(1)).permute(2, 0, 1).reshape(we.shape[2], -1)
            b_fold = (be - torch.einsum("mhe,me->mh", we, e_mean / e_std)).reshape(1, -1)
            eps = st(lambda m: m.convs[li].eps).view(1, -1, 1)
            ln = (st(lambda m: m.norms[li].weight).unsqueeze(1), st(lambda m: m.norms[li].bias).unsqueeze(1),
                  ref.norms[li].eps)
            self.layers.append((torch.cat([w_fold, b_fold]).contiguous(), 1 + eps, self._t(mlp(lambda m: m.convs[li].mlp)),
                                ln))
        # node_out's first layer split into its h and u columns: the u part runs once per graph, not per node
        w1, b1, w2, b2 = mlp(lambda m: m.node_out)
        self.node_out = (w1[:, :, :H].transpose(1, 2).contiguous(), w1[:, :, H:].transpose(1, 2).contiguous(),
                         b1.unsqueeze(1), w2.transpose(1, 2).contiguous(), b2.unsqueeze(1))
        self.head = self._t(mlp(lambda m: m.head))
        self.r_std = st(lambda m: m.r_std).unsqueeze(1)
        self.free_scale, self.c_mask, self.ana_cols = ref.free_scale, ref.c_mask, ref.ana_cols

    @staticmethod
    def _mlp(p, x: torch.Tensor) -> torch.Tensor:
        w1t, b1, w2t, b2 = p
        h = torch.nn.functional.silu(torch.baddbmm(b1, x, w1t), inplace=True)
        return torch.baddbmm(b2, h, w2t)

    @torch.inference_mode()
    def forward(self, data) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (mu, log_var [M, B, T]) of every member."""
        M, H = self.M, self.H
        x_raw, batch, nw, ew, nb = _graph_inputs(data)
        n = x_raw.shape[0]
        u = (data.u.unsqueeze(0) - self.u_mean) / self.u_std
        w1, b1, w2t, b2 = self.node_in
        z = torch.nn.functional.silu(torch.addmm(b1, x_raw, w1), inplace=True).view(n, M, H)
        h = torch.baddbmm(b2, z.transpose(0, 1), w2t).transpose(0, 1).contiguous()       # [N, M, H]
        src, dst = data.edge_index[0], data.edge_index[1]
        e = torch.cat([data.edge_attr, torch.ones(data.edge_attr.shape[0], 1)], dim=1)   # [e, 1]: the folded bias
        ew_col = ew.unsqueeze(1)
        for w_fold, one_eps, mlp, (ln_w, ln_b, ln_eps) in self.layers:
            msg = h.view(n, M * H).index_select(0, src).addmm_(e, w_fold)
            # (1 + eps) h + agg: the messages summed straight into (1 + eps) h (no zeroed buffer, one pass fewer)
            agg = torch.zeros(n, M * H).index_add_(0, dst, torch.relu_(msg).mul_(ew_col))
            z = agg.view(n, M, H).addcmul_(h, one_eps)
            out = self._mlp(mlp, z.transpose(0, 1))                                     # [M, N, H]
            # LayerNorm over each member's hidden vector of each node as group_norm of [rows, H, 1] (one group:
            # the same statistics; ~2x faster than layer_norm on rows this short), the members' affine in one addcmul
            out = torch.nn.functional.group_norm(out.view(-1, H, 1), 1, eps=ln_eps).view(out.shape)
            out = torch.addcmul(ln_b, out, ln_w, out=out)
            h.add_(torch.nn.functional.silu(out, inplace=True).transpose(0, 1))
        wht, wut, b1, w2t, b2 = self.node_out
        gu = torch.baddbmm(b1, u, wut)                                         # [M, B, H] once per graph
        hid = torch.baddbmm(gu.index_select(1, batch), h.transpose(0, 1), wht)
        ab = torch.baddbmm(b2, torch.nn.functional.silu(hid, inplace=True), w2t)
        a = 2.0 * torch.tanh(ab[..., :N_RES] / 2.0)
        b = ab[..., N_RES:].contiguous()      # softplus on the strided half of ab is ~8x slower than copy + softplus
        est = torch.expm1(x_raw[:, EST_SLICE]).unsqueeze(0)
        contrib = (est * torch.exp(a) + torch.nn.functional.softplus(b) * self.free_scale) * nw.view(1, -1, 1)
        Y = torch.zeros(M, nb, N_RES).index_add_(1, batch, contrib)
        hs = torch.zeros(nb, M, H).index_add_(0, batch, h.mul_(nw.view(-1, 1, 1))).transpose(0, 1)
        cnt = torch.zeros(nb).index_add_(0, batch, nw).clamp(min=1.0)
        out = self._mlp(self.head, torch.cat([hs / 32.0, hs / cnt.view(1, -1, 1), u], dim=2))
        n_t = self.n_t
        c = out[..., :n_t] * self.r_std * self.c_mask
        log_var = torch.clamp(out[..., n_t:] + 2 * torch.log(self.r_std), min=self.min_log_var, max=4.0)
        ana = data.ana.index_select(1, self.ana_cols).float().clamp(min=0)
        base = torch.cat([torch.log1p(Y), torch.log1p(ana).unsqueeze(0).expand(M, -1, -1)], dim=2)
        return base + c, log_var
