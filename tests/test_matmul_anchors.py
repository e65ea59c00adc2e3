"""The analytical LUT anchors of the matmul kernels (hwgen/kernels/tlmm_graph.py) and the elementwise control against
the stored Yosys 0.23 records of the buckets each anchor term was fixed for (bench/surrogate_anchor_bias.py shows
every bucket). Residual r = log1p(measured LUT) - log1p(anchor LUT); the bounds are ~2x what the anchors give now
and below what the feature-v4 anchors gave (quoted per test). No synthesis, no training."""
from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest

from hwgen.datasets.store import load_records
from hwgen.surrogate import costs as A
from hwgen.surrogate.features import build_ir

ROOT = Path(__file__).resolve().parent.parent


@functools.lru_cache(maxsize=None)
def _rows(data: str) -> tuple:
    out = []
    for r in load_records(ROOT / data, status="ok"):
        spec = r.extra.get("spec")
        if r.kernel in ("tlmm", "tlmm_naive") and spec and spec.get("weight_memory") != "stream":
            out.append((r.kernel, r.extra["model"], r.resources.lut, build_ir(spec).analytical()["lut"]))
    return tuple(out)


def _stats(rows) -> tuple[int, float, float]:
    res = np.array([math.log1p(y) - math.log1p(p) for _, _, y, p in rows])
    smape = float(np.mean([200 * abs(y - p) / (y + p + 1) for _, _, y, p in rows]))
    return len(rows), float(res.mean()), smape


def test_merged_adders_follow_the_registers():
    """An unregistered tree is one multi-operand adder; pipeline registers cut it into one adder per segment."""
    from hwgen.kernels.rtl_util import build_adder_tree

    leaves = {f"lf_{i}": 7 for i in range(5)}
    flat = A.merged_adders(build_adder_tree([7] * 5, 10).nodes, leaves)
    assert len(flat) == 1 and sorted(flat[0][0]) == [7] * 5 and flat[0][1] == 10
    assert A.compressor_bits(flat[0][0]) == 21                     # all but the two widest operands
    cut = A.merged_adders(build_adder_tree([7] * 5, 10, cut_levels=(1,)).nodes, leaves)
    assert sorted(len(ops) for ops, _ in cut) == [2, 2, 3]        # two pairs, then the root over 3 registers
    assert A.merged_adders(build_adder_tree([7], 7).nodes, {"lf_0": 7}) == []   # one leaf: no adder


@pytest.mark.parametrize("kind,bucket,v4", [
    ("tlmm_naive", lambda m: m["chunk"] == 1, "+0.17"),            # one select per lane: no tree, the adder is acc's
    ("tlmm_naive", lambda m: m["chunk"] == 2, "-0.19"),            # a 2-operand macc absorbs both selects
    ("tlmm", lambda m: m["T"] == 1 and m["table_style"] == "full", "+0.21"),   # one lookup per lane
])
def test_lane_tree_anchor_of_one_and_two_operand_lanes(kind, bucket, v4):
    rows = [x for x in _rows("datasets/tlmm") if x[0] == kind and bucket(x[1])]
    n, mean, smape = _stats(rows)
    assert n >= 10 and abs(mean) < 0.08 and smape < 8, (n, mean, smape, f"v4 mean {v4}")


def test_naive_anchor_of_one_lane_designs():
    """The negation of each activation is shared by all lanes: a one-lane design pays it in full (v4: +0.18)."""
    n, mean, smape = _stats([x for x in _rows("datasets/tlmm") if x[0] == "tlmm_naive" and x[1]["lanes"] == 1])
    assert n >= 20 and abs(mean) < 0.06 and smape < 9, (n, mean, smape)


def test_tlmm_anchor_of_lutram_weight_banks():
    """Deep narrow LUTRAM weight banks pay a write-enable decode per bank (v4: SMAPE 15.0 %, mean +0.07)."""
    n, mean, smape = _stats([x for x in _rows("datasets/tlmm") if x[0] == "tlmm" and
                             x[1]["weight_memory"] == "lutram"])
    assert n >= 30 and abs(mean) < 0.05 and smape < 11, (n, mean, smape)


def test_tlmm_anchor_of_small_g5_full_designs():
    """The walk ROM and table terms refit: G=5 full designs under 1,000 LUT (v4: mean +0.12)."""
    n, mean, smape = _stats([x for x in _rows("datasets/tlmm") if x[0] == "tlmm" and x[1]["G"] == 5 and
                             x[1]["table_style"] == "full" and x[2] < 1000])
    assert n >= 10 and abs(mean) < 0.06 and smape < 7, (n, mean, smape)


@pytest.mark.parametrize("data,bound,v4", [("datasets/holdout_tlmm", 5.0, 6.6), ("datasets/transfer_yosys023", 6.0, 8.1)])
def test_matmul_anchor_on_records_it_was_not_fit_on(data, bound, v4):
    """The constants were refit on datasets/tlmm only; the holdout and the small-design transfer space check them."""
    n, mean, smape = _stats(list(_rows(data)))
    assert n >= 30 and abs(mean) < 0.05 and smape < bound, (n, mean, smape, f"v4 SMAPE {v4}")


@pytest.mark.parametrize("kind,v4", [("bitlinear_scale", -0.55), ("glu_act", -0.50)])
def test_elementwise_control_anchor_of_narrow_designs(kind, v4):
    """One- and two-lane glu_act / bitlinear_scale designs are mostly control: its stage flags are delay FFs, not
    logic (elementwise.control_luts), and the s x ws rounding joins the pieces' sum. Mean residual (v4 quoted)."""
    res = []
    for r in load_records(ROOT / "datasets" / "layer_kernels", status="ok"):
        if r.kernel == kind and r.extra["spec"]["lanes"] <= 2:
            res.append(math.log1p(r.resources.lut) - math.log1p(build_ir(r.extra["spec"]).analytical()["lut"]))
    assert len(res) >= 5 and abs(float(np.mean(res))) < 0.35, (len(res), float(np.mean(res)), f"v4 {v4}")


def _tlmm(bucket) -> tuple[int, float, float]:
    return _stats([x for x in _rows("datasets/tlmm") if x[0] == "tlmm" and x[1]["weight_memory"] != "stream"
                   and bucket(x[1], x[2])])


@pytest.mark.parametrize("name,bucket,bound,before", [
    # the 2:1 select folds into the build adder (tlmm_graph.build_mux_luts)
    ("G=2 under 1,000 LUT", lambda m, y: m["G"] == 2 and y < 1000, 0.025, "-0.034"),
    # the sign XOR of a two-bank mirror table folds into its read mux (C_MIRROR_IN_MUX)
    ("G=5 mirror", lambda m, y: m["G"] == 5 and m["table_style"] == "mirror", 0.018, "-0.024"),
    ("G=4 mirror under 1,000 LUT", lambda m, y: m["G"] == 4 and m["table_style"] == "mirror" and y < 1000, 0.035,
     "+0.045"),
    # a two-operand lane adder carries no compressor logic (C_MACC_PAIR_LOOKUP)
    ("two-operand lanes", lambda m, y: (m["T"], m["table_style"]) in ((2, "full"), (1, "mirror")), 0.018, "+0.026"),
])
def test_tlmm_anchor_per_g_and_table_style(name, bucket, bound, before):
    """The per-G / per-style biases of the TLMM build and table terms (mean residual before the two forms of
    tlmm_graph's build select and mirror XOR, quoted)."""
    n, mean, smape = _tlmm(bucket)
    assert n >= 30 and abs(mean) < bound and smape < 6, (name, n, mean, smape, f"before {before}")


_MODULES = ROOT / "tests" / "fixtures" / "tlmm_modules" / "module_luts.json"


def _module_designs() -> list[dict]:
    import json

    return json.loads(_MODULES.read_text())["designs"]


def _node(spec: dict, kind: str) -> dict:
    return next(n for n in build_ir(spec).nodes if n["type"] == kind)


def test_tlmm_build_anchor_against_the_build_module():
    """The table build's anchor against the build module synthesized on its own (fixture: bench/tlmm_module_cells.py,
    G = 1..5 with all else fixed). G = 2 adds no select LUT to G = 1 (its 2:1 select folds into the adder: 38 vs 34
    LUTs, one entry bit more per table), G >= 3 a select per activation bit; the anchor with a select at G = 2 was
    28 / 41.6 for 34 / 38 measured."""
    build = {}
    for d in _module_designs():
        est = _node(d["spec"], "table_build")["est"]["lut"]
        got = d["modules"]["hwgen_tlmm_build"]["lut"]
        assert abs(est - got) <= 0.15 * got, (d["spec"]["G"], d["spec"]["table_style"], est, got)
        build[d["spec"]["G"], d["spec"]["table_style"]] = (est, got)
    for style in ("full", "mirror"):
        (e1, m1), (e2, m2) = build[1, style], build[2, style]
        assert abs((e2 - e1) - (m2 - m1)) <= 2, (style, e2 - e1, m2 - m1)


def test_tlmm_mirror_xor_folds_into_a_two_bank_read_mux():
    """Lookup module (fixture): the one-bank G = 4 mirror table pays a LUT2 per entry bit for its sign XOR, the two-bank
    G = 5 one pays one LUT4 per entry bit for mux and XOR together; so the anchor's XOR rate is lower behind a mux."""
    from hwgen.kernels import tlmm_graph as TG

    look = {d["spec"]["G"]: d["modules"]["hwgen_tlmm_lookup"] for d in _module_designs()
            if d["spec"]["table_style"] == "mirror"}
    T = 2
    mirror = {d["spec"]["G"]: d["spec"] for d in _module_designs() if d["spec"]["table_style"] == "mirror"}
    eb = {G: _node(spec, "table_build")["f"]["width"] for G, spec in mirror.items()}
    assert look[4]["cells"].get("LUT2", 0) >= T * eb[4]                      # XOR alone
    assert look[5]["cells"].get("LUT4", 0) == T * eb[5]                      # mux and XOR in one LUT per bit
    assert look[5]["lut"] - T * eb[5] <= 4                                   # + the sign count
    rate = {}
    for G in (4, 5):
        spec = mirror[G]
        banks = A.lutram_banks(_node(spec, "table_bank")["f"]["depth"], eb[G], "xcup")
        mux = TG.C_TABLE_MUX * A.read_mux_luts(banks, eb[G]) * T
        rate[G] = (_node(spec, "table_bank")["est"]["lut"] - mux - TG.C_TABLE_PORT * T) / (T * eb[G])
    assert rate[5] < 0.75 * rate[4], rate


def test_tlmm_two_operand_lane_adder_against_the_tree_module():
    """T = 2 full-table lanes (fixture): the lane tree module is one adder of two LUTRAM outputs, about a LUT per result
    bit on its own; the anchor's flattened rate for it is above the final-adder rate of merged multi-operand trees."""
    from hwgen.kernels import tlmm_graph as TG

    for d in _module_designs():
        if d["spec"]["table_style"] != "full":
            continue
        tree = _node(d["spec"], "lane_tree")
        bits = tree["f"]["out_bits"]
        got = d["modules"]["tlmm_tree"]["lut"]
        assert bits - 2 <= got <= bits + 1, (d["spec"]["G"], bits, got)
        assert tree["est"]["lut"] == pytest.approx(TG.C_MACC_PAIR_LOOKUP * bits)
    assert TG.C_MACC_PAIR_LOOKUP > 1.5 * TG.C_MACC_FINAL
