"""The surrogate's coverage of the BitNet decoder layer: the shipped datasets of the layer's kernels
(datasets/layer_kernels) and of whole layer tops (datasets/bitnet_layer) load, hold the kernels' cycle model, and
train; a layer top's graph is the union of its member instances' graphs plus the top's glue."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hwgen import kernels
from hwgen.kernels import parse_spec

ROOT = Path(__file__).resolve().parents[1]
LAYER_KINDS = ("tlmm", "rmsnorm_quant", "rope", "glu_act", "residual_add", "bitlinear_scale")
SMALL_LAYER = {"kind": "bitnet_layer", "M_max": 2, "L_max": 16,
               "config": {"model_type": "bitnet", "hidden_size": 64, "intermediate_size": 128,
                          "num_attention_heads": 2, "num_key_value_heads": 1, "hidden_act": "relu2",
                          "vocab_size": 256, "num_hidden_layers": 1},
               "kernel_params": {"tlmm": {"G": 2, "T": 2, "Q": 2, "buffer_memory": "bram"},
                                 **{k: {"lanes": 2} for k in ("rmsnorm_quant", "bitlinear_scale", "glu_act",
                                                              "residual_add", "rope", "attention_prefill")}}}


def _records(name):
    from hwgen.datasets.store import load_records

    return load_records(ROOT / "datasets" / name, status="ok")


def test_layer_kernel_dataset_covers_every_layer_kernel_and_its_cycle_model():
    """Every kernel of the decoder layer is in the dataset (the TLMMs streaming their weights), and every record's
    cosim-measured latency / ii is the kernel's cycle model."""
    recs = _records("layer_kernels")
    kinds = Counter(r.kernel for r in recs)
    assert all(kinds[k] >= 4 for k in LAYER_KINDS + ("attention_prefill",)), kinds
    assert all(r.extra["spec"].get("weight_memory") == "stream" for r in recs if r.kernel == "tlmm")
    off = []
    for r in recs:
        spec = parse_spec(r.extra["spec"])
        perf = kernels.get(spec.kind).performance(spec)
        assert r.latency_cycles is not None and r.extra["cosim"]["pass"], r.design
        if (r.latency_cycles, r.ii) != (perf.latency_cycles, perf.ii):
            off.append((r.design, r.latency_cycles, r.ii, perf.latency_cycles, perf.ii))
    assert not off, off[:5]


def test_layer_top_graph_is_its_members_plus_glue():
    """A whole layer's graph holds each member instance's own graph unchanged (what the single-kernel model
    learned), plus one node per tensor RAM, reader, writer and shared port, and the sequencer."""
    k = kernels.get("bitnet_layer")
    spec = parse_spec(SMALL_LAYER)
    m = k.model(spec)
    members = k.members(spec)
    g = k.graph(spec)
    parts = [kernels.get(members[i["member"]].kind).graph(members[i["member"]]) for i in m.instances]
    glue = [n for n in g.nodes if n["name"].startswith("glue.")]
    assert len(g.nodes) == sum(len(p.nodes) for p in parts) + len(glue)
    types = Counter(n["type"] for n in glue)
    assert types["buffer_reader"] == len(m.readers) and types["buffer_writer"] == len(m.writers)
    assert types["tensor_buffer"] == len(m.rams) and types["sequencer"] == 1
    shared_ports = sum(len(c["uses"]) > 1 for i in k.render_context(spec)["instances"] for c in i["conns"])
    assert types["stage_mux"] == shared_ports > 0
    ana, glue_est = g.analytical(), {}
    for n in glue:
        for r, v in n["est"].items():
            glue_est[r] = glue_est.get(r, 0.0) + v
    for r in ("lut", "ff", "dsp", "bram36"):
        assert ana[r] == pytest.approx(sum(p.analytical()[r] for p in parts) + glue_est[r])
    assert g.cycles == k.performance(spec).latency_cycles
    # every glue reader feeds a member input and every writer takes a member output
    streams = [(s, d) for s, d, _, t in g.edges if t == "kernel_stream"]
    glue_ix = {i for i, n in enumerate(g.nodes) if n["name"].startswith("glue.")}
    readers = {i for i in glue_ix if g.nodes[i]["type"] == "buffer_reader"}
    assert readers <= {s for s, _ in streams}


def test_layer_top_dataset_loads_and_the_memories_match():
    """The whole-layer records (small tops, each a different composition) build their graphs; the analytical DSP,
    BRAM36 and URAM counts of the union (members + the top's tensor RAMs) are the synthesized ones."""
    from hwgen.surrogate.train import examples_from_reports

    recs = _records("bitnet_layer")
    assert len(recs) >= 3
    comps = {(str(r.extra["spec"]["config"]), str(r.extra["spec"]["kernel_params"])) for r in recs}
    assert len(comps) == len(recs)
    ex = examples_from_reports(recs, strict=True)
    for j, t in ((3, "dsp"), (4, "bram36"), (5, "uram")):
        assert all(e.arrays.ana[j] == e.y[t] for e in ex), [(t, e.arrays.ana[j], e.y[t]) for e in ex]


def test_tiny_training_covers_the_layer_kinds_and_the_layer_split():
    """A tiny ensemble trains on a few records of every layer kernel plus a layer top and predicts the held-out
    layer tops, whole and by parts (finite, positive); the report's split (d) holds out layers of other
    compositions."""
    import torch

    from hwgen.surrogate.evaluate import layer_composition, make_splits
    from hwgen.surrogate.model import ModelConfig
    from hwgen.surrogate.parts import FACTOR_RANGE, member_sums
    from hwgen.surrogate.train import examples_from_reports, predict_examples, train_ensemble

    torch.set_num_threads(1)
    per_kind: dict = {}
    for r in _records("layer_kernels"):
        per_kind.setdefault(r.kernel, [])
        if len(per_kind[r.kernel]) < 4:
            per_kind[r.kernel].append(r)
    layers = examples_from_reports(_records("bitnet_layer"))
    single = examples_from_reports([r for rs in per_kind.values() for r in rs])
    assert set(LAYER_KINDS) <= {e.kind for e in single}
    examples = single + layers
    splits = make_splits(examples, seed=0)
    tr, te, _ = splits["d"]
    seen = {layer_composition(examples[i]) for i in tr if examples[i].spec["kind"] == "bitnet_layer"}
    assert te and all(layer_composition(examples[i]) not in seen for i in te)
    cfg = ModelConfig(hidden=16, layers=2, members=2, epochs=15, batch_size=8, seed=3)
    ens = train_ensemble([examples[i] for i in tr], cfg)
    assert set(LAYER_KINDS) <= set(ens.cfg.train_info["kinds"])
    test = [examples[i] for i in te]
    mu_w, sigma_w, ana = predict_examples(ens, test, parts=False)
    assert np.all(np.isfinite(mu_w)) and np.all(np.expm1(mu_w[:, 0]) > 0) and np.all(sigma_w > 0)
    # the training layer top fitted the by-parts factor of its kind, inside its range
    train_tops = sum(examples[i].spec["kind"] == "bitnet_layer" for i in tr)
    assert train_tops >= 1 and ens.cfg.parts["bitnet_layer"]["tops"] == train_tops
    assert all(FACTOR_RANGE[0] <= f <= FACTOR_RANGE[1] for f in ens.cfg.parts["bitnet_layer"]["factor"])
    mu_p, sig_p, _ = predict_examples(ens, test)
    assert np.all(np.isfinite(mu_p)) and np.all(np.expm1(mu_p[:, 0]) > 0) and np.all(sig_p > 0)
    # by parts: the resources are the members' sum plus the glue, times the factor (not the whole graph's)
    sums, _, glue = member_sums(ens, [e.spec for e in test], ana)
    f = ens.cfg.parts["bitnet_layer"]["factor"][0]
    assert np.allclose(np.expm1(mu_p[:, 0]), f * (sums[:, 0] + glue[:, 0]))
    # the report's unfitted variant: factor 1, the model's own factors left as they are
    mu_1, _, _ = predict_examples(ens, test, parts_fit={})
    assert np.allclose(np.expm1(mu_1[:, 0]), sums[:, 0] + glue[:, 0])
    assert ens.cfg.parts["bitnet_layer"]["factor"][0] == f
    assert not np.allclose(mu_p[:, 0], mu_w[:, 0])
    # the cycle model and the timing stay the whole graph's
    assert np.allclose(mu_p[:, 6:], mu_w[:, 6:])
    assert np.allclose(np.expm1(mu_p[:, 6]), [e.arrays.ana[6] for e in test])
