"""`tlmm_naive` with `adder: expert` (hwgen/kernels/naive_expert.py): the selects fused into LUT6_2 + CARRY8/4 adders.
Bit-exact against numpy's x @ w and the golden model in csim and cosim (Yosys' Xilinx primitive models), cycle-exact
against the performance contract, pipelined by the delay model, and cheaper than the behavioural naive in Yosys."""
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.kernels import naive_expert, parse_spec
from hwgen.kernels.xilinx_prims import PAIR_INIT, TERNARY_INIT
from hwgen.bits import signed_bits_for_bound
from hwgen.render import write_project

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")

BASE = {"kind": "tlmm_naive", "target": "kv260", "adder": "expert", "M_max": 4}


def _extreme_inputs(spec, rng, tokens=5):
    """Random ternary weights with an all-zero, an all -1 and an all +1 column; activations at both extremes."""
    k = kernels.get(spec.kind)
    inputs = k.random_inputs(spec, rng, tokens)
    w = inputs["w"]
    w[:, 0], w[:, 1 % spec.N], w[:, 2 % spec.N] = 0, -1, 1
    x = inputs["x"]
    x[1, :] = -(1 << (spec.act_bits - 1))
    return {"x": x, "w": w}


@pytest.mark.parametrize("P_k", [1, 2, 7, 16, 18, 96])
def test_tree_absorbs_every_negation_and_stays_in_range(P_k):
    """Every select's +1 enters exactly once (a carry-in or the c0 input), and every node width holds its range."""
    lane_bits = signed_bits_for_bound(P_k * 128)
    for cuts in ((), tuple(range(8))):
        nodes, root, levels = naive_expert.build_tree(P_k, 8, lane_bits, cuts)
        used = [n.ci for n in nodes if n.kind != "reg"] + [n.c0 for n in nodes if n.kind in ("add", "add3")]
        regs = {n.name: n.a for n in nodes if n.kind == "reg"}

        def source(bit):
            while bit in regs:
                bit = regs[bit]
            return bit
        negs = sorted(source(b) for b in used if b != "1'b0")
        assert negs == sorted(f"word[{2 * i + 1}]" for i in range(P_k))
        assert max(n.bits for n in nodes) <= lane_bits


def test_luts_compute_the_fused_select():
    """The LUT6_2 INITs, evaluated bit by bit, give the two's-complement sums they stand for."""
    pair = PAIR_INIT
    codes = {0: (0, 0), 1: (1, 0), -1: (1, 1)}            # weight -> (nz, neg) = (code[0], code[1])
    for w0 in (-1, 0, 1):
        for w1 in (-1, 0, 1):
            for a0, a1 in ((-128, 127), (5, -3), (-1, -128), (0, 77)):
                (nz0, ng0), (nz1, ng1) = codes[w0], codes[w1]
                p = g = 0
                for j in range(8):
                    idx = ((a0 >> j) & 1) | nz0 << 1 | ng0 << 2 | ((a1 >> j) & 1) << 3 | ng1 << 4 | nz1 << 5
                    p |= ((pair >> idx) & 1) << j
                    g |= ((pair >> (idx & 31)) & 1) << j
                # the carry chain adds the operands whose xor is p and that agree with g where p is 0
                u0 = nz0 * ((a0 ^ -ng0) if ng0 else a0)
                u1 = nz1 * ((a1 ^ -ng1) if ng1 else a1)
                assert p == (u0 ^ u1) & 0xFF and g == u0 & 0xFF
                assert u0 + u1 + ng0 + ng1 == w0 * a0 + w1 * a1


def test_expert_carry_per_family_and_old_identities():
    k = kernels.get("tlmm_naive")
    for target, carry in (("kv260", "CARRY8"), ("pynq-z2", "CARRY4")):
        spec = parse_spec({**BASE, "target": target, "K": 8, "N": 2, "P_k": 4, "P_n": 1})
        k.check(spec)
        assert k.model(spec).carry == carry
    old = parse_spec({"kind": "tlmm_naive", "K": 8, "N": 2, "P_k": 4, "P_n": 1})
    assert "adder" not in old.identity()          # records made before the field keep their keys


def test_same_contract_as_behavioral_and_auto_meets_the_clock():
    cfg = {**BASE, "K": 768, "N": 64, "P_k": 96, "P_n": 8, "clock_mhz": 300}
    k = kernels.get("tlmm_naive")
    for stages in (0, 2):
        xs, bs = parse_spec({**cfg, "pipeline": stages}), parse_spec({**cfg, "adder": "behavioral", "pipeline": stages})
        assert k.performance(xs) == k.performance(bs)
    auto = parse_spec({**cfg, "pipeline": "auto"})
    assert k.model(auto).pipeline > 0 and k.fmax_estimate(auto) >= 300
    assert k.fmax_estimate(parse_spec({**cfg, "pipeline": 0})) < 300


@needs_iverilog
@pytest.mark.parametrize("cfg", [
    {"K": 40, "N": 12, "P_k": 7, "P_n": 3, "pipeline": 0},
    {"K": 37, "N": 5, "P_k": 6, "P_n": 2, "pipeline": 2, "act_bits": 5},   # ternary root + one more adder
    {"K": 24, "N": 6, "P_k": 12, "P_n": 3, "pipeline": "auto", "clock_mhz": 600},
    {"K": 40, "N": 12, "P_k": 7, "P_n": 3, "pipeline": 1, "target": "pynq-z2"},   # 7-series: CARRY4 chains
    {"K": 5, "N": 4, "P_k": 9, "P_n": 2, "pipeline": 0},   # K < P_k: the lane is narrower than one chunk's bound
], ids=["p0", "p2_act5", "auto", "xc7", "k_lt_pk"])
def test_cosim_and_csim_bit_and_cycle_exact(cfg, tmp_path):
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.csim import run_csim

    spec = parse_spec({**BASE, **cfg})
    k = kernels.get(spec.kind)
    if cfg["pipeline"] == "auto":
        assert k.model(spec).pipeline > 0
    write_project(spec, tmp_path / "prj", "both")
    assert "LUT6_2" in (tmp_path / "prj" / "rtl" / "hwgen_xsel_pair.v").read_text()
    assert f'CARRY("{k.model(spec).carry}")' in (tmp_path / "prj" / "rtl" / f"{spec.design_name}.v").read_text()
    perf = k.performance(spec)
    s = run_cosim(tmp_path / "prj", vectors=3, seed=5, simulator="icarus")
    assert s["pass"] and s["tlast_errors"] == 0, s
    assert (s["latency_cycles"], s["ii"]) == (perf.latency_cycles, perf.ii)
    assert run_cosim(tmp_path / "prj", vectors=3, seed=2, stall=35, simulator="icarus")["pass"]
    inputs = _extreme_inputs(spec, np.random.default_rng(3))
    np.savez(tmp_path / "in.npz", x=inputs["x"].astype(np.int8), w=inputs["w"].astype(np.int8))
    for flow, out in ((run_cosim, "y_rtl.npy"), (run_csim, "y_hls.npy")):
        assert flow(tmp_path / "prj", tmp_path / "in.npz", tmp_path / out)["pass"]
        np.testing.assert_array_equal(np.load(tmp_path / out), inputs["x"] @ inputs["w"])


@needs_yosys
def test_yosys_keeps_the_primitives_and_the_luts_drop(tmp_path):
    from hwgen.flows.synth_open import run_open_synth

    cfg = {**BASE, "K": 64, "N": 8, "P_k": 32, "P_n": 2, "weight_memory": "bram", "pipeline": 0}
    lut = {}
    for adder in ("behavioral", "expert"):
        spec = parse_spec({**cfg, "adder": adder, "name": f"nv_{adder}"})
        write_project(spec, tmp_path / adder, "rtl")
        rep = run_open_synth(tmp_path / adder, tmp_path / f"{adder}_out")
        assert rep.status == "ok", rep.error
        lut[adder] = rep.resources.lut / 64
        cells = rep.extra["cells"]
        if adder == "expert":
            # the lane trees: 4 LUTs per MAC in the pair level, one per result bit above it
            nodes = naive_expert.build_tree(32, 8, kernels.get("tlmm_naive").model(spec).lane_sum_bits)[0]
            per_lane = sum(8 if n.kind == "pair" else n.bits for n in nodes if n.kind != "reg")
            assert cells["LUT6_2"] == 2 * per_lane and cells["CARRY8"] > 0
    assert lut["expert"] < 0.6 * lut["behavioral"], lut


def test_lut6_2_arcs_follow_the_init():
    """A ternary adder's carry-save carry (O5, independent of I3) does not ripple through the next LUTs' I3 in
    the depth analysis; O6, which depends on I3, does pass it on."""
    from hwgen.flows.synth_open import logic_depth, lut_support

    init = TERNARY_INIT
    assert lut_support(init & 0xFFFFFFFF, 5) == [0, 1, 2] and lut_support(init, 6) == [0, 1, 2, 3, 5]
    cells = {}
    for j in range(3):      # LUT j: I0..I2 from the inputs, I3 = LUT j-1's O5 (net 10 + j - 1), I5 = 1
        cells[f"l{j}"] = {"type": "LUT6_2", "parameters": {"INIT": format(init, "064b")},
                          "port_directions": {**{f"I{k}": "input" for k in range(6)}, "O5": "output", "O6": "output"},
                          "connections": {"I0": [2], "I1": [3], "I2": [4], "I3": [9 + j] if j else [5], "I4": ["0"],
                                          "I5": ["1"], "O5": [10 + j], "O6": [20 + j]}}
    netlist = {"modules": {"t": {"attributes": {"top": 1}, "cells": cells,
                                 "ports": {"i": {"direction": "input", "bits": [2, 3, 4, 5]},
                                           "o": {"direction": "output", "bits": [20, 21, 22]}}}}}
    assert logic_depth(netlist, "xcup", "t")["depth"] == 2     # O5 of LUT 1, then O6 of LUT 2
