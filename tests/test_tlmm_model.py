"""Golden models, encoder and spec validation for the ternary matmul kernels (no compiler needed)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hwgen.errors import UserError
from hwgen import kernels
from hwgen.bits import signed_bits_for_bound
from hwgen.kernels import parse_spec

TLMM = kernels.get("tlmm")
NAIVE = kernels.get("tlmm_naive")


def tlmm_spec(**kw):
    return parse_spec({"kind": "tlmm", **kw})


@st.composite
def tlmm_cases(draw):
    G = draw(st.integers(1, 5))
    T = draw(st.integers(1, 6))
    Q = draw(st.integers(1, 6))
    K = draw(st.integers(1, 40))
    N = draw(st.integers(1, 12))
    M = draw(st.integers(1, 4))
    act_bits = draw(st.integers(2, 8))
    style = draw(st.sampled_from(["full", "mirror"]))
    spec = tlmm_spec(K=K, N=N, G=G, T=T, Q=Q, act_bits=act_bits, table_style=style, M_max=M)
    lo, hi = -(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1
    pattern = draw(st.sampled_from(["random", "min", "max", "zero_w", "ones", "neg_ones"]))
    seed = draw(st.integers(0, 2**31))
    rng = np.random.default_rng(seed)
    x = rng.integers(lo, hi + 1, size=(M, K))
    w = rng.integers(-1, 2, size=(K, N))
    if pattern == "min":
        x[:] = lo
    elif pattern == "max":
        x[:] = hi
    elif pattern == "zero_w":
        w[:] = 0
    elif pattern == "ones":
        w[:] = 1
    elif pattern == "neg_ones":
        w[:] = -1
    return spec, {"x": x, "w": w}


@settings(max_examples=300, deadline=None)
@given(tlmm_cases())
def test_tlmm_golden_equals_integer_matmul(case):
    spec, inputs = case
    inputs = TLMM.validate_inputs(spec, inputs)
    y = TLMM.golden(spec, inputs)["y"]
    np.testing.assert_array_equal(y, inputs["x"] @ inputs["w"])
    m = TLMM.model(spec)
    bound = 1 << (m.acc_bits - 1)
    assert np.all(y >= -bound) and np.all(y < bound), "accumulator width must hold every result"


@settings(max_examples=200, deadline=None)
@given(tlmm_cases())
def test_encoder_roundtrip_and_word_layout(case):
    spec, inputs = case
    m = TLMM.model(spec)
    words = TLMM.encode_weights(spec, inputs["w"])
    assert len(words) == m.wbuf_depth * m.lanes
    assert all(0 <= w < (1 << m.word_bits) for w in words)
    np.testing.assert_array_equal(TLMM.decode_weights(spec, words), inputs["w"])


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 30), st.integers(1, 10), st.integers(1, 8), st.integers(1, 4), st.integers(2, 8))
def test_naive_golden_and_encoder(K, N, P_k, P_n, act_bits):
    spec = parse_spec({"kind": "tlmm_naive", "K": K, "N": N, "P_k": P_k, "P_n": P_n, "act_bits": act_bits})
    rng = np.random.default_rng(K * 100 + N)
    inputs = NAIVE.random_inputs(spec, rng, 3)
    np.testing.assert_array_equal(NAIVE.golden(spec, inputs)["y"], inputs["x"] @ inputs["w"])
    words = NAIVE.encode_weights(spec, inputs["w"])
    np.testing.assert_array_equal(NAIVE.decode_weights(spec, words), inputs["w"])


def test_index_width_and_mirror_table_sizes():
    # G=3: 27 states in 5 bits (1.67 bit/weight); mirror keeps 14 entries + a sign bit.
    full = TLMM.model(tlmm_spec(G=3, table_style="full"))
    mirror = TLMM.model(tlmm_spec(G=3, table_style="mirror"))
    assert (full.table_depth, full.field_bits) == (27, 5)
    assert (mirror.table_depth, mirror.field_bits, mirror.mirror_bits) == (14, 5, 4)
    assert TLMM.model(tlmm_spec(G=5)).field_bits == 8   # 243 states
    assert TLMM.model(tlmm_spec(G=1)).table_depth == 3


def test_widths_derived_from_bounds():
    # x = -128 against w = -1 gives +128 per term: an 8-bit activation group of G=1 needs 9 bits.
    assert TLMM.model(tlmm_spec(G=1, act_bits=8)).entry_bits == 9
    assert TLMM.model(tlmm_spec(G=3, act_bits=8)).entry_bits == 10    # |e| <= 384
    m = TLMM.model(tlmm_spec(K=1024, act_bits=8))
    assert m.acc_bits == signed_bits_for_bound(1024 * 128) == 19
    spec = tlmm_spec(K=1024, N=3, G=2, T=4, Q=2)
    x = np.full((1, 1024), -128)
    w = -np.ones((1024, 3), dtype=int)
    y = TLMM.golden(spec, {"x": x, "w": w})["y"]
    acc_bits = TLMM.model(spec).acc_bits
    assert y.max() == 1024 * 128 and y.max() > (1 << (acc_bits - 2)) - 1   # one bit fewer would overflow


def test_throughput_and_padding():
    m = TLMM.model(tlmm_spec(K=100, N=10, G=3, T=4, Q=3))
    assert m.macs_per_cycle == 36
    assert (m.K_pad, m.N_pad, m.chunks, m.nblocks) == (108, 12, 9, 4)
    assert m.build_cycles == 28 and m.cycles_per_token == 9 * (28 + 4)


@pytest.mark.parametrize("G", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("style", ["full", "mirror"])
def test_build_walk_fills_every_entry_with_one_add_per_step(G, style):
    from hwgen.kernels.tlmm import table_walk
    from hwgen.kernels.ternary import digit_table
    walk = table_walk(G, style)
    depth = 3**G if style == "full" else (3**G + 1) // 2
    assert {s.index for s in walk} == set(range(depth))
    assert len(walk) <= depth + 1                       # at most one revisit (grid parity)
    a = np.random.default_rng(G).integers(-128, 128, size=G)
    truth = digit_table(G) @ a
    run = 0
    for step in walk:
        run = 0 if step.op == 0 else run + (a[step.digit] if step.op == 1 else -a[step.digit])
        assert run == truth[step.index]


@pytest.mark.parametrize("bad, field", [
    ({"G": 0}, "G"), ({"G": 6}, "G"), ({"K": -3}, "K"), ({"N": 0}, "N"), ({"T": 0}, "T"),
    ({"act_bits": 9}, "act_bits"), ({"table_style": "half"}, "table_style"), ({"bogus": 1}, "bogus"),
    ({"target": "vu19p"}, "target"), ({"kind": "conv"}, "kind"), ({"name": "bad name"}, "name"),
])
def test_bad_spec_names_field(bad, field):
    with pytest.raises(UserError) as info:
        parse_spec({"kind": "tlmm", **bad})
    assert info.value.field == field
    assert "\n" not in str(info.value)


def test_bad_spec_messages_name_allowed_values():
    with pytest.raises(UserError, match=r"1\.\.5"):
        parse_spec({"kind": "tlmm", "G": 0})
    with pytest.raises(UserError, match="u280"):
        parse_spec({"kind": "tlmm", "target": "nope"})
    with pytest.raises(UserError, match="tlmm_naive"):
        parse_spec({"kind": "nope"})
    with pytest.raises(UserError, match="URAM"):
        parse_spec({"kind": "tlmm", "target": "zcu102", "weight_memory": "uram"})


def test_non_ternary_weights_rejected():
    spec = tlmm_spec(K=4, N=2)
    with pytest.raises(UserError, match=r"non-ternary value 2 at \[1, 0\]"):
        TLMM.validate_inputs(spec, {"x": np.zeros((1, 4), int), "w": np.array([[0, 1], [2, 0], [0, 0], [1, 1]])})
    with pytest.raises(UserError) as info:
        TLMM.validate_inputs(spec, {"x": np.zeros((1, 5), int), "w": np.zeros((4, 2), int)})
    assert info.value.field == "x"
    with pytest.raises(UserError, match=r"\[-128, 127\]"):
        TLMM.validate_inputs(spec, {"x": np.full((1, 4), 200), "w": np.zeros((4, 2), int)})
