"""The surrogate's memoised graph path is exact: FeatureCache.batch with every memo on (lane-path memos, cost
primitives, spec memos, designs merged by Kernel.graph_key) gives, value for value, the features of graphs built
one at a time with every memo off (hwgen.memo.memos_off), for designs of every kernel kind: the datasets' records
and draws from every design space. Speed is measured by bench/surrogate_speed.py, not here."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from hwgen import kernels
from hwgen.datasets.space import load_space, sample
from hwgen.kernels import tlmm
from hwgen.memo import clear_memos, memos_off
from hwgen.surrogate.features import FeatureCache, build_ir, collate_graphs

from .test_surrogate_speed import assert_same_batch

ROOT = Path(__file__).resolve().parent.parent


def _record_specs(per_folder: int = 40) -> list[dict]:
    """Specs of the datasets' records (a seeded sample of each folder), every kind they hold."""
    rng = random.Random(11)
    out = []
    for path in sorted((ROOT / "datasets").glob("*/records.jsonl")):
        specs = [r["extra"]["spec"] for r in map(json.loads, path.read_text().splitlines())
                 if r.get("status") == "ok" and r.get("extra", {}).get("spec")]
        out += rng.sample(specs, min(per_folder, len(specs)))
    return out


def _space_specs() -> list[dict]:
    out = []
    for path in sorted((ROOT / "datasets" / "spaces").glob("*.yaml")):
        out += sample(load_space(path), 8 if path.stem == "bitnet_layer" else 60, seed=5)
    return out


def _matmul_variants() -> list[dict]:
    """Designs that differ only in what the lane memos and graph keys leave out (K, N, Q, the target of one family)
    or only in one lane field: a memo keyed too coarsely serves one of them the other's values."""
    out = []
    for K, N, Q, target in [(256, 256, 4, "zcu104"), (1536, 4096, 8, "u250"), (1536, 4096, 8, "u280"),
                            (512, 1536, 16, "kv260"), (4096, 256, 2, "pynq-z2")]:
        for G, T, style, act in [(2, 8, "full", 8), (3, 8, "mirror", 8), (3, 16, "mirror", 6), (4, 4, "full", 4)]:
            out.append({"kind": "tlmm", "K": K, "N": N, "Q": Q, "G": G, "T": T, "table_style": style,
                        "act_bits": act, "target": target})
        out.append({"kind": "tlmm_naive", "K": K, "N": N, "P_k": 16, "P_n": Q, "target": target})
    return out


@pytest.fixture(scope="module")
def specs():
    dicts = _record_specs() + _space_specs() + _matmul_variants()
    parsed = []
    for d in dicts:
        try:
            parsed.append(kernels.parse_spec(d))
        except Exception:   # a stored record the current code rejects (build_ir would too)
            continue
    return parsed


def _reference(specs):
    clear_memos()
    with memos_off():
        return collate_graphs([build_ir(s) for s in specs])


def test_samples_cover_every_kind_of_the_datasets(specs):
    kinds = {s.kind for s in specs}
    assert {"tlmm", "tlmm_naive", "attention_decode", "attention_prefill", "bitnet_layer"} <= kinds
    assert kinds == set(kernels.REGISTRY)


def test_memoised_features_equal_the_reference_builder(specs):
    ref = _reference(specs)
    clear_memos()
    fast = FeatureCache().batch(specs)      # one batch: memo entries filled by one design serve the others
    assert_same_batch(fast, ref)
    again = FeatureCache().batch(list(reversed(specs)))     # the other order fills the memos from other designs
    assert_same_batch(again, _reference(list(reversed(specs))))


def test_graph_key_merges_only_equal_graphs(specs):
    """Designs merged by graph_key (e.g. u250 and u280, same family and clock) have equal reference graphs, and the
    merging happens (else the test above would not exercise it)."""
    by_key: dict = {}
    for s in specs:
        k = kernels.get(s.kind).graph_key(s)
        if k is not None:
            by_key.setdefault(k, []).append(s)
    merged = [group for group in by_key.values() if len({FeatureCache.key(s) for s in group}) > 1]
    assert merged
    for group in merged[:30]:
        ref = _reference(group)
        for i in range(1, len(group)):
            assert_same_batch(_reference([group[i]]), _reference([group[0]]))
        assert ref.u.shape[0] == len(group)


def test_a_coarse_memo_key_is_caught(specs, monkeypatch):
    """The checks above can fail: a graph key that forgets K, N, Q, ... merges designs whose graphs differ, and a
    lane memo that leaves out a field the lane path reads raises (hwgen.memo.Unread) instead of serving a stale
    value."""
    matmul = [s for s in specs if s.kind == "tlmm"]
    real = FeatureCache._graph_key

    def forgets_n(self, spec):
        k = real(self, spec)
        return ("no-N", spec.G, spec.T) if spec.kind == "tlmm" else k

    monkeypatch.setattr(FeatureCache, "_graph_key", forgets_n)
    with pytest.raises(AssertionError):
        assert_same_batch(FeatureCache().batch(matmul), _reference(matmul))
    monkeypatch.undo()

    monkeypatch.setattr(tlmm, "LANE_FIELDS", tuple(f for f in tlmm.LANE_FIELDS if f != "T"))
    clear_memos()
    with pytest.raises(AssertionError, match="MatmulModel.T"):
        FeatureCache().batch(matmul[:5])
    monkeypatch.undo()
    clear_memos()


def test_an_in_place_edit_of_a_shared_node_dict_is_caught(specs, monkeypatch):
    """HwGraph.copy_node shares a memoised block's f / est dicts between graphs: a builder that edited one in place
    (instead of replacing it) would change the memoised block, and the memoised-features test above sees it (the
    second batch, on memos the first filled, reads the block edited twice). Here every copied node's estimate is
    edited in place."""
    from hwgen.surrogate.ir import HwGraph

    matmul = [s for s in specs if s.kind in ("tlmm", "tlmm_naive")][:6]
    shared_copy = HwGraph.copy_node

    def edits_in_place(self, node):
        i = shared_copy(self, node)
        self.nodes[i]["est"]["lut"] += 1.0
        return i

    monkeypatch.setattr(HwGraph, "copy_node", edits_in_place)
    clear_memos()
    FeatureCache().batch(matmul)
    with pytest.raises(AssertionError):
        assert_same_batch(FeatureCache().batch(matmul), _reference(matmul))
    monkeypatch.undo()
    clear_memos()


def test_grouped_node_encoding_equals_the_per_node_reading(specs):
    """collate_graphs reads node features grouped by feature names (features._node_columns); its x is byte for byte
    features.arrays' (`f.get(k) or 0.0`, `est.get(r, 0.0)` per node), for the fixture designs and for odd nodes: a
    None feature and an estimate missing resources (the grouped reading hands those batches to the per-node one), a
    -0.0 feature and a bool (read as they are: the clamp at 0 and the float conversion give the same bytes)."""
    from hwgen.surrogate import costs as A
    from hwgen.surrogate.features import arrays
    from hwgen.surrogate.ir import HwGraph

    odd = HwGraph(family="xcup")
    odd.node("control", "a", width=8, depth=0, est={**A.zero(), "lut": 3.0})
    odd.node("control", "b", width=-0.0, leaves=True, count=2)
    odd.node("stream_in", "c", width=4)
    odd.node("control", "d", width=7, depth=3, est={**A.zero(), "ff": 2.0})
    odd.edge(0, 1, 8, "control")
    none_feature = HwGraph(family="xc7", nodes=[dict(odd.nodes[0]), {**odd.nodes[1], "f": {"width": None, "count": 3}}])
    missing_est = HwGraph(family="xc7", nodes=[dict(odd.nodes[2]), {**odd.nodes[3], "est": {"lut": 5.0}}])
    # nodes sharing dict objects (as HwGraph.copy_node's do): one f with two ests, one (f, est) pair twice
    shared = HwGraph(family="xcup", nodes=[odd.nodes[0], {**odd.nodes[0], "est": {**A.zero(), "ff": 9.0}},
                                           {**odd.nodes[3], "type": "stream_in", "style": "reg"}, odd.nodes[3]])
    graphs = [build_ir(s) for s in specs[::4]]
    for irs in (graphs + [odd], [odd], [none_feature], [missing_est, odd], [shared, odd]):
        got = collate_graphs(irs).x.numpy()
        ref = np.concatenate([arrays(ir).x for ir in irs])
        assert got.tobytes() == ref.tobytes()


def test_model_from_key_is_the_kernels_model(specs):
    """graph_from_key's model (tlmm_graph.model_from_key fills the instance dict, skipping the dataclass __init__) is
    the kernel's model, field for field and in field order, but for `top`, which reads raise."""
    import dataclasses

    from hwgen.kernels.tlmm_graph import model_from_key

    matmuls = [s for s in specs if s.kind in ("tlmm", "tlmm_naive")]
    assert {type(kernels.get(s.kind).model(s)).__name__ for s in matmuls} >= {"MatmulModel", "StreamModel"}
    for s in matmuls:
        m = kernels.get(s.kind).model(s)
        key = kernels.get(s.kind).graph_key(s)
        rebuilt = model_from_key(key[2], key[3])
        assert type(rebuilt) is type(m) and list(vars(rebuilt)) == list(vars(m))
        assert dataclasses.replace(rebuilt, top=m.top) == m
        with pytest.raises(AssertionError, match="top"):
            str(rebuilt.top)
