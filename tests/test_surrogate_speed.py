"""The surrogate's fast prediction path gives what the plain path gives: FeatureCache.batch / slice_batch the batch
collate_graphs builds (value for value, every registered kernel kind), PackedEnsemble the member-by-member GNN
forward (float tolerance), predict_specs the predictions of per-batch collate_graphs + the unfused ensemble.
Speed itself is measured by bench/surrogate_speed.py, not here."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from hwgen import kernels
from hwgen.datasets.space import load_space, sample
from hwgen.surrogate.features import FeatureCache, batch_slices, build_ir, collate_graphs, slice_batch
from hwgen.surrogate.model import Ensemble, GNN, ModelConfig

from .conftest import assert_fused_forward_matches

ROOT = Path(__file__).resolve().parent.parent
SPACES = sorted((ROOT / "datasets" / "spaces").glob("*.yaml"))
FIELDS = ("x", "edge_index", "edge_attr", "nw", "ew", "u", "ana", "batch")


def _specs_by_space() -> dict[str, list[dict]]:
    out = {}
    for path in SPACES:
        n = 30 if path.stem == "bitnet_layer" else 200    # whole decoder layers build ~20 ms each
        out[path.stem] = sample(load_space(path), n, seed=7)
    return out


@pytest.fixture(scope="module")
def specs_by_space():
    return _specs_by_space()


def assert_same_batch(a, b):
    for f in FIELDS:
        x, y = getattr(a, f), getattr(b, f)
        assert x.dtype == y.dtype and x.shape == y.shape, f
        assert torch.equal(x, y), f
    assert list(a.group) == list(b.group)


def test_spaces_cover_every_registered_kind(specs_by_space):
    drawn = {d["kind"] for specs in specs_by_space.values() for d in specs}
    assert drawn == set(kernels.REGISTRY)


def test_feature_cache_equals_collate_graphs_for_every_kind(specs_by_space):
    """Cold, warm and mixed requests (repeats, designs seen in another request, new ones) of every space."""
    cache = FeatureCache()
    rng = random.Random(3)
    for name, dicts in specs_by_space.items():
        specs = [kernels.parse_spec(d) for d in dicts]
        half = len(specs) // 2
        first = specs[:half]
        assert_same_batch(cache.batch(first), collate_graphs([build_ir(s) for s in first]))
        mixed = specs[half // 2:] + rng.choices(specs, k=20)
        rng.shuffle(mixed)
        assert_same_batch(cache.batch(mixed), collate_graphs([build_ir(s) for s in mixed]))
        again = [dicts[i] for i in range(0, len(dicts), 3)]          # spec dicts are parsed like build_ir does
        assert_same_batch(cache.batch(again), collate_graphs([build_ir(d) for d in again]))


def test_batch_distinct_encodes_each_design_once(specs_by_space):
    dicts = specs_by_space["tlmm"][:40] + specs_by_space["composed"][:10]
    req = dicts + dicts[5:25] + dicts[:3]
    cache = FeatureCache()
    cache.batch(dicts[30:45])                                         # some seen before
    data, inverse = cache.batch_distinct(req)
    assert data.u.shape[0] == len(dicts)
    assert_same_batch(data, collate_graphs([build_ir(d) for d in dicts]))
    assert inverse.tolist() == list(range(len(dicts))) + list(range(5, 25)) + [0, 1, 2]


def test_feature_cache_starts_over_when_full(specs_by_space):
    specs = [kernels.parse_spec(d) for d in specs_by_space["tlmm"]]
    cache = FeatureCache(max_designs=40)
    cache.batch(specs[:30])
    req = specs[20:60]
    assert_same_batch(cache.batch(req), collate_graphs([build_ir(s) for s in req]))
    assert len(cache) <= 40


def test_slice_batch_is_the_batch_of_the_slice(specs_by_space):
    specs = specs_by_space["attention"] + specs_by_space["tlmm"] + specs_by_space["composed"]
    whole = collate_graphs([build_ir(d) for d in specs])
    for a, b in ((0, 7), (5, 150), (140, len(specs))):
        assert_same_batch(slice_batch(whole, a, b), collate_graphs([build_ir(d) for d in specs[a:b]]))
    for i, part in enumerate(batch_slices(whole, 64)):
        assert_same_batch(part, collate_graphs([build_ir(d) for d in specs[64 * i: 64 * (i + 1)]]))
    assert i == (len(specs) - 1) // 64


def _random_ensemble(members: int = 3) -> Ensemble:
    """Members with every weight and standardisation buffer random (not the initial near-identity readout), so the
    folded edge standardisation and the split readout are exercised."""
    from hwgen.surrogate.features import EDGE_FEATURES, GRAPH_FEATURES, node_features

    torch.manual_seed(0)
    cfg = ModelConfig(hidden=16, layers=2, members=members)
    gen = np.random.default_rng(0)
    cfg.x_mean, cfg.x_std = list(gen.normal(size=len(node_features()))), list(gen.uniform(0.5, 2, len(node_features())))
    cfg.e_mean, cfg.e_std = list(gen.normal(size=len(EDGE_FEATURES))), list(gen.uniform(0.5, 2, len(EDGE_FEATURES)))
    cfg.u_mean, cfg.u_std = list(gen.normal(size=len(GRAPH_FEATURES))), list(gen.uniform(0.5, 2, len(GRAPH_FEATURES)))
    cfg.r_std = list(gen.uniform(0.1, 1, len(cfg.targets)))
    out = []
    for _ in range(members):
        m = GNN(cfg)
        m.set_norm(cfg)
        with torch.no_grad():
            for p in m.parameters():
                p.add_(0.2 * torch.randn_like(p))
        m.eval()
        out.append(m)
    return Ensemble(cfg, out)


def test_packed_forward_matches_each_member(specs_by_space):
    ens = _random_ensemble()
    data = collate_graphs([build_ir(d) for d in specs_by_space["tlmm"][:40] + specs_by_space["attention"][:40]
                           + specs_by_space["rope"][:20] + specs_by_space["composed"][:10]])
    with torch.no_grad():
        ref = [m(data) for m in ens.members]
    mu, lv = ens.packed().forward(data)
    for i, (r_mu, r_lv) in enumerate(ref):
        np.testing.assert_allclose(mu[i].numpy(), r_mu.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(lv[i].numpy(), r_lv.numpy(), rtol=1e-5, atol=1e-5)
    assert_fused_forward_matches(ens, data)


def test_packed_weights_follow_a_weight_change(specs_by_space):
    ens = _random_ensemble(2)
    data = collate_graphs([build_ir(d) for d in specs_by_space["tlmm"][:10]])
    assert ens.packed() is ens.packed()             # packed once, not per batch
    before = ens.predict_log(data)[0]
    with torch.no_grad():
        ens.members[0].head[-1].bias.add_(0.5)     # in place, as an optimiser step does
    after = ens.predict_log(data)[0]
    ens.fused = False
    np.testing.assert_allclose(after, ens.predict_log(data)[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(before, after)


def test_batch_workers_give_the_sequential_predictions(specs_by_space):
    """predict_log_batches (torch threads as batch workers) = predict_log batch by batch on one thread, bit for bit,
    in order, and leaves torch's thread count as it found it."""
    ens = _random_ensemble(3)
    data = collate_graphs([build_ir(d) for d in specs_by_space["tlmm"][:60] + specs_by_space["attention"][:30]])
    batches = list(batch_slices(data, 16))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = [ens.predict_log(b) for b in batches]
        torch.set_num_threads(2)
        got = ens.predict_log_batches(batches)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    assert len(got) == len(ref) == 6
    for g, r in zip(got, ref):
        for a, b in zip(g, r):
            np.testing.assert_array_equal(a, b)


def test_predict_specs_matches_the_plain_path(specs_by_space):
    """predict_specs (cache, slices, packed forward) vs collate_graphs per 4096 and the member-by-member forward."""
    from hwgen.surrogate import predict
    from hwgen.surrogate.costs import TARGETS
    from hwgen.surrogate.model import outputs_from_log

    dicts = specs_by_space["tlmm"] + specs_by_space["attention"] + specs_by_space["tlmm_stream"]
    dicts = dicts + dicts[:25]                                        # repeats within one request
    rows = predict.predict_specs(dicts, batch_size=64)
    ens = predict._load(str(predict.default_model_dir()))
    data = collate_graphs([build_ir(d) for d in dicts])
    ens.fused = False
    try:
        mean, sigma, _ = ens.predict_log(data)
    finally:
        ens.fused = True
    ref = outputs_from_log(mean, sigma, data.ana.numpy(), TARGETS)
    predict.add_fmax(ref, predict.families(data.u.numpy()))
    assert len(rows) == len(ref)
    for r, q in zip(rows, ref):
        for t in TARGETS:
            assert r[t]["analytical"] == q[t]["analytical"]
            assert r[t]["mean"] == pytest.approx(q[t]["mean"], rel=1e-4, abs=1e-4)
            assert r[t]["log_sigma"] == pytest.approx(q[t]["log_sigma"], rel=1e-4, abs=1e-6)


def test_outputs_from_log_is_the_per_value_formula():
    """The column-wise outputs_from_log against the per-design, per-target math it replaced (float64 round-off)."""
    import math

    from hwgen.surrogate.costs import TARGETS
    from hwgen.surrogate.model import outputs_from_log, round_discrete

    gen = np.random.default_rng(3)
    mean, sigma, ana = gen.normal(3, 4, (300, len(TARGETS))), gen.uniform(0, 1, (300, len(TARGETS))), gen.uniform(
        0, 1e4, (300, len(TARGETS)))
    mean[::5] = np.log1p(np.round(np.expm1(np.abs(mean[::5]))) + 0.3)     # near whole counts
    mean[0, 0], mean[1, 1] = -0.0, float("nan")
    rows = outputs_from_log(mean, sigma, ana)
    assert len(rows) == 300
    for b, row in enumerate(rows):
        assert list(row) == list(TARGETS)
        for j, t in enumerate(TARGETS):
            mu, s = float(mean[b, j]), float(sigma[b, j])
            val = max(0.0, math.expm1(mu))
            want = {"mean": round_discrete(t, val) if val == val else 0.0, "raw": val, "std": (val + 1.0) * s,
                    "lo": max(0.0, math.expm1(mu - 2 * s)), "hi": math.expm1(mu + 2 * s), "log_sigma": s,
                    "analytical": float(ana[b, j])}
            assert list(row[t]) == list(want)
            for k, v in want.items():
                assert type(row[t][k]) is float
                assert row[t][k] == pytest.approx(v, rel=1e-12, abs=0, nan_ok=True), (b, t, k)
