"""Surrogate timing (lut_depth, crit_ns -> fmax_mhz_est) and the fast graph path: the kernels' structural anchor,
tiny trained ensembles on synthetic labels, models saved without timing heads, the search and plan using the
predicted Fmax, and graph construction identical to a plain per-node reference. No synthesis."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_geometric")

from hwgen import kernels, timing  # noqa: E402
from hwgen.kernels import parse_spec  # noqa: E402
from hwgen.surrogate.costs import RES, TARGETS  # noqa: E402
from hwgen.surrogate.features import arrays, build_ir  # noqa: E402

from .conftest import assert_fused_forward_matches  # noqa: E402

torch.set_num_threads(1)
SPECS = [{"kind": "tlmm", "K": 96, "N": 64, "G": 3, "T": 8, "Q": 4, "target": "kv260"},
         {"kind": "tlmm", "K": 128, "N": 32, "G": 2, "T": 16, "Q": 2, "table_style": "mirror", "target": "zcu104"},
         {"kind": "tlmm", "K": 256, "N": 64, "G": 3, "T": 16, "Q": 4, "pipeline": 0, "target": "u280"},
         {"kind": "tlmm_naive", "K": 128, "N": 32, "P_k": 16, "P_n": 4, "target": "pynq-z2"},
         {"kind": "attention_decode", "H": 2, "d": 16, "lanes": 8, "L_max": 64, "target": "kv260"}]
RESIDUAL = {"kind": "residual_add", "D": 64, "lanes": 4, "M_max": 4, "a_bits": 16, "b_bits": 16, "out_bits": 16,
            "target": "kv260"}


def test_matmul_timing_anchor_is_the_lane_path_of_fmax_estimate():
    """Kernel.timing_estimate's crit_ns is the arrival whose Fmax is Kernel.fmax_estimate (same delay model), its
    depth counts the slowest part's levels, and register stages shorten it."""
    for d in SPECS[:4]:
        spec = parse_spec(d)
        k = kernels.get(spec.kind)
        est = k.timing_estimate(spec)
        fam = spec.target_info.yosys_family
        style = k.model(spec).weight_memory
        assert est["lut_depth"] >= 2 and est["lut_depth"] == int(est["lut_depth"])
        assert timing.fmax_from_arrival(est["crit_ns"], fam, style == "bram", style == "uram") == \
            pytest.approx(k.fmax_estimate(spec), abs=0.11)
    flat = parse_spec({**SPECS[2], "pipeline": 0})
    piped = parse_spec({**SPECS[2], "pipeline": 2})
    k = kernels.get("tlmm")
    assert k.timing_estimate(piped)["crit_ns"] < k.timing_estimate(flat)["crit_ns"]
    assert k.timing_estimate(piped)["lut_depth"] < k.timing_estimate(flat)["lut_depth"]
    assert kernels.get("residual_add").timing_estimate(parse_spec(RESIDUAL)) is None


def test_attention_timing_anchor_is_the_accumulate_path_of_fmax_estimate():
    """Attention's crit_ns anchor is the accumulate path that fmax_estimate reads (xcup), a generic 7-level path where
    that path is not modelled (xc7); the reversed prefill schedule's sweep arithmetic adds a level."""
    spec = parse_spec(SPECS[4])
    k = kernels.get(spec.kind)
    est = k.timing_estimate(spec)
    assert est["lut_depth"] == 7
    assert timing.fmax_from_arrival(est["crit_ns"], "xcup", True) == pytest.approx(k.fmax_estimate(spec), abs=0.11)
    xc7 = parse_spec({**SPECS[4], "target": "pynq-z2"})
    assert k.fmax_estimate(xc7) is None
    assert k.timing_estimate(xc7)["crit_ns"] == pytest.approx(timing.comb_ns("xc7", timing.Segment(depth=7)))
    pre = {"kind": "attention_prefill", "H": 2, "d": 16, "lanes": 8, "M_max": 64, "N_pe": 4, "target": "kv260"}
    kp = kernels.get("attention_prefill")
    assert kp.timing_estimate(parse_spec({**pre, "reversed": True}))["lut_depth"] == 8
    assert kp.timing_estimate(parse_spec({**pre, "reversed": False}))["lut_depth"] == 7


def test_timing_anchor_in_graphs_and_compositions():
    """The anchor is the graph's analytical lut_depth / crit_ns; a composition takes its slowest member's; a kernel
    without an estimate gets the generic 7-level path."""
    from hwgen.surrogate.ir import GENERIC_DEPTH

    a, b = build_ir(SPECS[0]), build_ir({**SPECS[3], "target": "kv260"})
    for g, d in ((a, SPECS[0]), (b, SPECS[3])):
        spec = parse_spec({**d, "target": "kv260"})
        assert g.analytical()["crit_ns"] == pytest.approx(kernels.get(spec.kind).timing_estimate(spec)["crit_ns"])
    comp = build_ir({"kind": "composed", "target": "kv260", "streams": [{"from": "a", "to": "b"}],
                     "kernels": [{**SPECS[0], "name": "a", "N": 32}, {**SPECS[3], "name": "b", "K": 32, "target": "kv260"}]})
    ana = comp.analytical()
    parts = [build_ir({**SPECS[0], "N": 32}).analytical(), build_ir({**SPECS[3], "K": 32, "target": "kv260"}).analytical()]
    assert ana["crit_ns"] == max(p["crit_ns"] for p in parts) and ana["lut_depth"] == max(p["lut_depth"] for p in parts)
    att = build_ir(SPECS[4]).analytical()
    assert att["lut_depth"] == kernels.get("attention_decode").timing_estimate(parse_spec(SPECS[4]))["lut_depth"]
    res = build_ir(RESIDUAL).analytical()
    assert res["lut_depth"] == GENERIC_DEPTH
    assert res["crit_ns"] == pytest.approx(timing.comb_ns("xcup", timing.Segment(depth=GENERIC_DEPTH)))


def _examples(n, seed=0):
    """Synthetic labels: the analytical model, with timing one level deeper and 15 % slower than the anchor."""
    from hwgen.surrogate.train import Example

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        if i % 2:
            d = {"kind": "tlmm", "K": int(rng.choice([64, 96])), "N": 32, "G": int(rng.choice([2, 3])),
                 "T": int(rng.choice([2, 4, 8])), "Q": int(rng.choice([2, 4]))}
        else:
            d = {"kind": "tlmm_naive", "K": int(rng.choice([64, 128])), "N": 32, "P_k": int(rng.choice([4, 8, 16])),
                 "P_n": int(rng.choice([2, 4]))}
        ir = build_ir(d)
        y = dict(ir.analytical())
        y["lut_depth"] += 1
        y["crit_ns"] *= 1.15
        out.append(Example(spec=d, y=y, arrays=arrays(ir), kind=d["kind"], macs=ir.macs))
    return out


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    from hwgen.surrogate.model import ModelConfig
    from hwgen.surrogate.train import train_ensemble

    ex = _examples(24)
    ens = train_ensemble(ex, ModelConfig(hidden=16, layers=2, members=2, epochs=40, batch_size=8, seed=3))
    path = tmp_path_factory.mktemp("timed") / "m"
    ens.save(path)
    return ex, ens, path


def test_timing_heads_learn_the_residual_and_fmax_is_derived(timed):
    from hwgen.surrogate.predict import FMAX_SIGMAS, predict_specs

    ex, ens, path = timed
    assert tuple(ens.cfg.targets) == TARGETS and {"lut_depth", "crit_ns"} <= set(TARGETS)
    rows = predict_specs([e.spec for e in ex[:6]], path)
    for e, r in zip(ex[:6], rows):
        spec = parse_spec(e.spec)
        # learned: closer to the labels than the anchor is
        assert abs(r["crit_ns"]["raw"] - e.y["crit_ns"]) < abs(r["crit_ns"]["analytical"] - e.y["crit_ns"])
        assert r["lut_depth"]["mean"] == round(r["lut_depth"]["mean"]) and r["lut_depth"]["std"] > 0
        f = r["fmax_mhz_est"]
        fam = spec.target_info.yosys_family
        uses = r["bram36"]["mean"] > 0, r["uram"]["mean"] > 0
        assert f["mean"] == timing.fmax_from_arrival(r["crit_ns"]["raw"], fam, *uses)
        assert f["lo"] <= f["conservative"] <= f["mean"] <= f["hi"] and f["std"] > 0 and "anchor_only" not in f
        slow = math.expm1(math.log1p(r["crit_ns"]["raw"]) + FMAX_SIGMAS * r["crit_ns"]["log_sigma"])
        assert f["conservative"] == timing.fmax_from_arrival(slow, fam, *uses)


def test_a_model_without_timing_heads_still_loads(timed, tmp_path):
    """Models saved before the timing targets (8 outputs) load; their timing is the anchor, flagged anchor_only."""
    from hwgen.surrogate.model import ANCHOR_ONLY_SIGMA, GNN, Ensemble, ModelConfig
    from hwgen.surrogate.predict import predict_specs
    from hwgen.surrogate.train import fit_normalization

    ex, _, _ = timed
    cfg = ModelConfig(hidden=8, layers=1, members=1, targets=TARGETS[:8])
    fit_normalization(ex, cfg)
    cfg.r_std = cfg.r_std[:8]
    member = GNN(cfg)
    member.set_norm(cfg)
    Ensemble(cfg, [member]).save(tmp_path / "old")
    loaded = Ensemble.load(tmp_path / "old")
    assert loaded.anchor_only() == ("lut_depth", "crit_ns")
    (row,) = predict_specs([ex[1].spec], tmp_path / "old")
    assert row["crit_ns"]["raw"] == pytest.approx(row["crit_ns"]["analytical"])
    assert row["crit_ns"]["log_sigma"] == pytest.approx(ANCHOR_ONLY_SIGMA)
    assert row["crit_ns"]["anchor_only"] and row["fmax_mhz_est"]["anchor_only"]
    assert "anchor_only" not in row["lut"]
    bad = ModelConfig(targets=("lut", "x"))
    with pytest.raises(ValueError, match="not known"):
        GNN(bad)


def test_search_uses_the_predicted_fmax_before_synthesis():
    """Under meet_clock, a candidate whose predicted Fmax misses the clock is not synthesized; a synthesized
    report's Fmax replaces the prediction."""
    import copy

    from hwgen.flows.report import Report, Resources
    from hwgen.surrogate.search import SearchSpace, run_search

    specs = [parse_spec({"kind": "tlmm", "target": "kv260", "K": 96, "N": 64, "T": t, "Q": 4}) for t in (2, 4, 8)]
    ii = [400.0, 200.0, 100.0]
    predicted_fmax = [300.0, 270.0, 120.0]
    reps = [Report(design=f"d{i}", kernel="tlmm", status="ok", ii=ii[i], latency_cycles=ii[i] + 4,
                   fmax_mhz_est=[300.0, 240.0, 118.0][i],
                   resources=Resources(lut=100.0 * (i + 1), lutram=0, ff=10, dsp=0, bram36=0, uram=1))
            for i in range(3)]

    class WithFmax:
        name = "gnn"

        def predict(self, specs_):
            return [{"lut": (r.resources.lut, 0.0), "lutram": (0.0, 0.0), "ff": (10.0, 0.0), "dsp": (0.0, 0.0),
                     "bram36": (0.0, 0.0), "uram": (1.0, 0.0), "latency_cycles": (r.latency_cycles, 0.0),
                     "ii": (r.ii, 0.0), "fmax_mhz_est": (predicted_fmax[i], 5.0)} for i, r in enumerate(reps)]

    cap = {"lut": 1e5, "ff": 1e5, "dsp": 100.0, "bram36": 100.0, "uram": 64.0}
    space = SearchSpace(specs, cap, dict(cap), [250.0] * 3, 2.0, "constraint", [400.0] * 3)
    synthesized = []

    def synth(i):
        synthesized.append(i)
        return copy.deepcopy(reps[i])

    res = run_search(space, "throughput", 3, WithFmax(), synth)
    assert 2 not in synthesized                      # predicted 120 MHz < 250: pruned before synthesis
    assert space.fmax_mhz[2] == pytest.approx(120.0, rel=0.2)
    assert space.fmax_mhz[1] == 240.0                # synthesized: the report wins (misses 250 MHz)
    assert res.best == [0]


def test_fast_graph_path_matches_a_plain_reference():
    """Memoised kernel models / adder trees and one-call node features give the arrays a per-node loop gives, and
    the memoised model equals a fresh computation."""
    from hwgen.surrogate.features import NUM_FEATURES, node_features, node_types
    from hwgen.surrogate.costs import MEM_STYLES

    types = {t: i for i, t in enumerate(node_types())}
    nn_, so = len(NUM_FEATURES), len(NUM_FEATURES) + len(RES)
    for d in SPECS:
        ir = build_ir(d)
        ref = np.zeros((len(ir.nodes), len(node_features())), np.float32)
        for i, node in enumerate(ir.nodes):
            ref[i, :nn_] = [node["f"].get(k) or 0.0 for k in NUM_FEATURES]
            ref[i, nn_:so] = [node["est"].get(r, 0.0) for r in RES]
            ref[i, so + MEM_STYLES.index(node["style"])] = 1.0
            ref[i, so + len(MEM_STYLES) + types[node["type"]]] = 1.0
        ref[:, :so] = np.log1p(np.maximum(ref[:, :so], 0.0))
        ref[:, :nn_] *= 1.0 / math.log(2.0)
        a, b = arrays(ir), arrays(build_ir(d))
        np.testing.assert_array_equal(a.x, ref)
        for x, y in zip(a[:-1], b[:-1]):
            np.testing.assert_array_equal(x, y)
        spec = parse_spec(d)
        k = kernels.get(spec.kind)
        assert k.model(spec) == type(k).model.__wrapped__(k, spec)


def test_batched_features_and_fused_ensemble_match_the_per_graph_path(timed):
    """collate_graphs (the whole batch at once) gives collate(arrays) per graph, and the fused ensemble forward
    gives the member-by-member one, within float tolerance: predictions do not depend on the fast path."""
    from hwgen.surrogate.features import collate, collate_graphs

    _, ens, _ = timed
    comp = {"kind": "composed", "target": "kv260", "streams": [{"from": "a", "to": "b"}],
            "kernels": [{"kind": "tlmm", "name": "a", "K": 64, "N": 32, "T": 2, "Q": 4},
                        {"kind": "tlmm_naive", "name": "b", "K": 32, "N": 16}]}
    irs = [build_ir(d) for d in SPECS + [comp, {"kind": "attention_prefill", "H": 2, "d": 16, "lanes": 4,
                                                "M_max": 16, "N_pe": 2, "head_par": 2}]]
    old, new = collate([arrays(ir) for ir in irs]), collate_graphs(irs)
    for k in ("x", "edge_index", "edge_attr", "nw", "ew", "u", "batch"):
        np.testing.assert_array_equal(getattr(old, k).numpy(), getattr(new, k).numpy(), err_msg=k)
    np.testing.assert_allclose(old.ana.numpy(), new.ana.numpy(), rtol=1e-12)
    assert old.group == new.group
    assert_fused_forward_matches(ens, old, new)
