"""TLMM `adder: ternary`: lane trees of instantiated ternary adders (LUT6_2 + CARRY8 / CARRY4, hwgen_add3.v) and
table builders whose add/subtract/zero is one LUT6_2 per bit on a carry chain (hwgen_tlmm_build_prim.v).

Checked: the LUT6_2 INIT against integer addition, RTL cosim bit- and cycle-exact against the golden model with the
primitives simulated from Yosys's own models (cells_sim.v) for G = 2/3/4, full and mirror tables, `pipeline: 0`
and `auto`, the weight-streaming TLMM and a 7-series (CARRY4) target; the HLS twin (behavioural) still csims
bit-exactly; the primitives survive Yosys synthesis and the design meets the clock `auto` placed its stages for;
stored specs without the field keep their identity."""
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.kernels.rtl_util import build_adder_tree
from hwgen.kernels.xilinx_prims import BUILD_INIT, TERNARY_INIT
from hwgen.render import render_files, write_project

from .conftest import needs_gxx

needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")


def _slice_sum(a: int, b: int, c: int, width: int) -> int:
    """hwgen_add3 bit by bit: LUT6_2 outputs read from INIT (O5 = INIT[k], O6 = INIT[32 + k]), then the carry chain
    (carry out = carry in when the propagate is 1, else DI = m[i])."""
    m, carry, out = 0, 0, 0
    for i in range(width):
        k = (a >> i & 1) | (b >> i & 1) << 1 | (c >> i & 1) << 2 | m << 3
        p, m_next = TERNARY_INIT >> (32 + k) & 1, TERNARY_INIT >> k & 1
        out |= (p ^ carry) << i
        carry = carry if p else m
        m = m_next
    return out


def test_ternary_init_adds_three_operands():
    rng = np.random.default_rng(3)
    for _ in range(2000):
        w = int(rng.integers(2, 16))
        a, b, c = (int(v) for v in rng.integers(0, 1 << w, size=3))
        assert _slice_sum(a, b, c, w) == (a + b + c) % (1 << w)


def test_build_init_adds_subtracts_and_zeroes():
    """hwgen_tlmm_build_prim's slice: O6 = propagate, O5 = DI, carry-in op[1]."""
    rng = np.random.default_rng(4)
    for _ in range(1000):
        w = int(rng.integers(2, 14))
        run, a, op = int(rng.integers(0, 1 << w)), int(rng.integers(0, 1 << w)), int(rng.integers(0, 3))
        carry, out = op >> 1, 0
        for i in range(w):
            k = (run >> i & 1) | (a >> i & 1) << 1 | (op & 1) << 2 | (op >> 1) << 3
            p, di = BUILD_INIT >> (32 + k) & 1, BUILD_INIT >> k & 1
            out |= (p ^ carry) << i
            carry = carry if p else di
        assert out == [0, run + a, run - a][op] % (1 << w)


def test_ternary_tree_sums_triples_and_keeps_cuts_balanced():
    tree = build_adder_tree([10] * 32, 15, arity=3, cut_levels=(0, 2))
    adders = [n for n in tree.nodes if not n.reg]
    assert len(adders) == 17 and tree.stages == 2                # 32 -> 11 -> 4 -> 2 -> 1
    assert all(n.c is not None and len(n.operand_bits) == 3 for n in adders)
    assert max(int(n.name[1:].split("_")[0]) for n in adders) == 4
    assert tree.width == 15


CASES = [
    {"name": "tt_g2_full", "K": 30, "N": 10, "G": 2, "T": 5, "Q": 2, "M_max": 3},
    {"name": "tt_g3_full", "K": 40, "N": 12, "G": 3, "T": 5, "Q": 4, "M_max": 4},
    {"name": "tt_g4_full", "K": 50, "N": 6, "G": 4, "T": 4, "Q": 2, "M_max": 2, "act_bits": 6},
    {"name": "tt_g2_mirror", "K": 37, "N": 10, "G": 2, "T": 4, "Q": 2, "M_max": 3, "table_style": "mirror",
     "act_bits": 5},
    {"name": "tt_g3_mirror", "K": 45, "N": 8, "G": 3, "T": 7, "Q": 2, "M_max": 2, "table_style": "mirror"},
    {"name": "tt_g4_mirror", "K": 33, "N": 6, "G": 4, "T": 3, "Q": 3, "M_max": 2, "table_style": "mirror"},
]
# pipeline 0, and auto at a clock high enough that auto places stages
PIPELINES = [{"pipeline": 0}, {"pipeline": "auto", "clock_mhz": 700.0}]


def _cosim(spec, folder, **kw):
    from hwgen.flows.cosim import run_cosim

    write_project(spec, folder, "rtl")
    return run_cosim(folder, vectors=3, seed=5, simulator="icarus", **kw)


@needs_iverilog
@pytest.mark.parametrize("pipe", PIPELINES, ids=lambda p: str(p["pipeline"]))
@pytest.mark.parametrize("cfg", CASES, ids=lambda c: c["name"])
def test_cosim_bit_and_cycle_exact(cfg, pipe, tmp_path):
    spec = parse_spec({"kind": "tlmm", **cfg, **pipe, "adder": "ternary"})
    k = kernels.get("tlmm")
    m = k.model(spec)
    if pipe["pipeline"] == "auto":
        assert m.pipeline > 0
    top = render_files(spec, "rtl")[f"rtl/{spec.design_name}.v"]
    assert "hwgen_add3 #(" in top and "CARRY8" in top and " + " not in top.split(f"module {spec.design_name}_tree")[1]
    s = _cosim(spec, tmp_path / "prj")
    perf = k.performance(spec)
    assert s["pass"] and s["tlast_errors"] == 0, s
    assert (s["latency_cycles"], s["ii"]) == (perf.latency_cycles, perf.ii)


@needs_iverilog
def test_cosim_under_stalls_streaming_and_carry4(tmp_path):
    """Back-pressure, the weight-streaming TLMM (same lane tree) and a 7-series part (CARRY4 chains)."""
    base = {"kind": "tlmm", **CASES[1], "adder": "ternary", "pipeline": 2}
    assert _cosim(parse_spec(base), tmp_path / "a", stall=35)["pass"]
    ws = parse_spec({**base, "name": "tt_ws", "weight_memory": "stream", "w_beat_words": 2, "M_max": 3})
    s = _cosim(ws, tmp_path / "b", rates={"w": 0.7})
    model = kernels.get("tlmm").stream_cycles(ws, ws.M_max, 0.7, calls=3)
    assert s["pass"] and (s["latency_cycles"], s["ii"]) == (model["latency_cycles"], model["ii"])
    xc7 = parse_spec({**base, "name": "tt_xc7", "target": "pynq-z2", "table_style": "mirror", "pipeline": "auto"})
    assert "CARRY4" in render_files(xc7, "rtl")["rtl/hwgen_add3.v"] + render_files(xc7, "rtl")["rtl/tt_xc7.v"]
    assert kernels.get("tlmm").model(xc7).carry == "CARRY4"
    assert _cosim(xc7, tmp_path / "c")["pass"]


@needs_gxx
def test_hls_twin_stays_behavioural_and_bit_exact(tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec({"kind": "tlmm", **CASES[4], "adder": "ternary", "pipeline": 1})
    write_project(spec, tmp_path / "prj", "hls")
    s = run_csim(tmp_path / "prj", vectors=4, seed=3)
    assert s["pass"] and s["mismatches"] == 0


@needs_yosys
def test_primitives_survive_synthesis_and_auto_meets_the_clock(tmp_path):
    from hwgen.flows.synth_open import run_open_synth

    spec = parse_spec({"kind": "tlmm", "name": "tt_syn", "K": 96, "N": 16, "G": 3, "T": 8, "Q": 2, "target": "kv260",
                       "weight_memory": "bram", "adder": "ternary", "pipeline": "auto", "clock_mhz": 400.0})
    write_project(spec, tmp_path / "prj", "rtl")
    rep = run_open_synth(tmp_path / "prj", tmp_path / "syn")
    assert rep.status == "ok", rep
    cells = rep.extra["cells"]
    m = kernels.get("tlmm").model(spec)
    tree = [n for n in build_adder_tree([m.entry_bits] * m.T, m.lane_sum_bits, arity=3).nodes]
    # one LUT6_2 per result bit of every lane-tree adder and table builder
    assert cells.get("LUT6_2", 0) == m.lanes * sum(n.bits for n in tree) + m.T * m.entry_bits
    assert cells.get("CARRY8", 0) >= m.lanes * len(tree)    # the other adders stay Yosys-mapped (CARRY4)
    assert rep.resources.lut >= cells["LUT6_2"]                             # counted as LUT sites
    assert m.pipeline > 0 and rep.fmax_mhz_est >= spec.clock, (m.pipeline, rep.fmax_mhz_est)


def test_default_and_old_records_unchanged():
    old = {"kind": "tlmm", "name": "x", "K": 40, "N": 12, "G": 3, "T": 5, "Q": 4}
    spec = parse_spec(old)
    assert spec.adder == "behavioral" and "adder" not in spec.identity()
    files = render_files(spec, "rtl")
    assert "rtl/hwgen_add3.v" not in files and "hwgen_add3" not in files["rtl/x.v"] and "rtl/hwgen_tlmm_build.v" in files
    assert parse_spec({**old, "adder": "ternary"}).identity()["adder"] == "ternary"
    with pytest.raises(Exception, match="adder"):
        parse_spec({**old, "adder": "wallace"})


def test_logic_depth_follows_each_lut6_2_output_through_its_own_inputs():
    """The majority output (O5) ignores the carry-save input I3, so a chain of slices is no ripple of LUT levels."""
    from hwgen.flows.synth_open import lut_support

    assert lut_support(TERNARY_INIT, 6) == [0, 1, 2, 3, 5] and lut_support(TERNARY_INIT & 0xFFFFFFFF, 5) == [0, 1, 2]


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed")
def test_verilator_reads_the_primitive_models_too(tmp_path):
    spec = parse_spec({"kind": "tlmm", **CASES[1], "name": "tt_vl", "adder": "ternary", "pipeline": 1})
    write_project(spec, tmp_path / "prj", "rtl")
    from hwgen.flows.cosim import run_cosim

    s = run_cosim(tmp_path / "prj", vectors=2, seed=3, simulator="verilator")
    assert s["pass"] and s["latency_cycles"] == kernels.get("tlmm").performance(spec).latency_cycles
