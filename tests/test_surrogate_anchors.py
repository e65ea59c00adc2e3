"""Analytical anchors of the surrogate (surrogate/costs.py and the kernels' graph builders): the memory read muxes,
the split-multiply sums, and no per-group bias against the shipped Yosys records (the anchor bias the GNN
otherwise has to learn back from few designs per group). No synthesis, no training."""
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from hwgen.surrogate import costs as A

ROOT = Path(__file__).resolve().parents[1]


def test_lutram_banks_follow_yosys_memory_libmap_cost():
    # 41 x 8 on UltraScale+: two RAM32M16 or two RAM64M8 (16 LUT sites either way); Yosys takes one 64-deep bank,
    # so there is no read mux (the TLMM G=4 mirror tables)
    assert A.lutram_banks(41, 8, "xcup") == 1
    assert A.lutram(41, 8, "xcup") == {**A.zero(), "lutram": 16.0, "lut": 0.0}
    # 81 x 8: three 32-deep banks (24 sites) beat four 64-deep ones (32): a 3:1 mux, one LUT per bit
    assert A.lutram_banks(81, 8, "xcup") == 3 and A.lutram(81, 8, "xcup")["lut"] == 8.0
    # 918 x 10 (a weight bank): 29 RAM32M16 would take fewer sites than 30 RAM64M8, but Yosys' cost counts the read
    # mux, so it takes the 15-deep 64-deep banks (the record's 30 RAM64M8); 153 x 11: 5 RAM32M16 beat 6 RAM64M8
    assert A.lutram_banks(918, 10, "xcup") == 15 and A.lutram(918, 10, "xcup")["lutram"] == 30 * 8
    assert A.lutram_banks(153, 11, "xcup") == 5 and A.lutram(153, 11, "xcup")["lutram"] == 5 * 8
    # deep banks: 0.42 LUT per read bit per extra bank and 1.2 per bank (write decode)
    assert A.deep_lutram_luts(64, 7, "xcup") == 0.0
    assert A.deep_lutram_luts(918, 10, "xcup") == 0.42 * 10 * 14 + 1.2 * 15


def test_lutram_primitives_match_the_cells_of_every_on_chip_tlmm_record():
    """The RAM32M*/RAM64M* cell counts the bank geometry gives (tables, LUTRAM weight bank, partial sums) equal the
    Yosys cells of every on-chip TLMM record of datasets/tlmm (the fewest-sites rule missed 235 of them)."""
    from hwgen.datasets.store import load_records

    checked = 0
    for r in load_records(ROOT / "datasets" / "tlmm", status="ok"):
        m, fam = r.extra["model"], r.extra["yosys_family"]
        if r.kernel != "tlmm" or m["weight_memory"] == "stream":
            continue
        mems = [(m["table_depth"], m["entry_bits"], m["T"])]
        if m["weight_memory"] == "lutram":
            mems.append((m["wbuf_depth"], m["word_bits"], 1))
        if m["chunks"] > 1:
            mems.append((m["nblocks"], m["acc_bits"], 1))
        want = {"32": 0, "64": 0}
        for depth, width, n in mems:
            banks, bank_bits = A._lutram_geometry(depth, width, fam)
            want["32" if bank_bits in (6, 14) else "64"] += n * m["lanes"] * banks * A.ceil_div(width, bank_bits)
        names = ("RAM32M", "RAM64M") if fam == "xc7" else ("RAM32M16", "RAM64M8")
        assert (r.extra["cells"].get(names[0], 0), r.extra["cells"].get(names[1], 0)) == (want["32"], want["64"]), \
            (r.params, r.extra["cells"])
        checked += 1
    assert checked >= 500


def test_read_mux_is_a_tree_of_4_to_1_luts():
    assert A.read_mux_luts(1, 10) == 0.0
    assert A.read_mux_luts(2, 10) == A.read_mux_luts(4, 10) == 10.0
    assert A.read_mux_luts(5, 10) == 20.0 and A.read_mux_luts(17, 3) == 18.0


def test_block_memories_stacked_in_depth_add_a_read_mux():
    one_deep = A.memory(2048, 36, "bram", "xcup")          # 2 x RAMB36 2048x18 side by side: no mux
    assert one_deep["bram36"] == 2.0 and one_deep["lut"] == 0.0
    two_deep = A.memory(8192, 72, "bram", "xcup")          # 16 RAMB36 4096x9, two address slices: a 2:1 mux
    assert two_deep["bram36"] == 16.0 and two_deep["lut"] == 72.0
    assert A.memory(4096, 72, "uram", "xcup") == {**A.zero(), "uram": 1.0}
    deep = A.memory(3 * 4096, 72, "uram", "xcup")          # 3 URAMs in depth: a 3:1 mux per bit
    assert deep["uram"] == 3.0 and deep["lut"] == 72.0
    folded = A.memory(12288, 2, "uram", "xcup")            # 4 addresses per 8-bit row of one URAM: 4:1 mux
    assert folded["uram"] == 1.0 and folded["lut"] == 2.0
    assert A.bram36(8192, 72) == 16.0 and A.uram(12288, 2) == 1.0   # the block counts themselves are unchanged


def _bram_fixture() -> list[dict]:
    import json

    return json.loads((ROOT / "tests" / "fixtures" / "bram_geometry.json").read_text())["memories"]


def test_bram_count_matches_yosys_on_bare_memories():
    """Yosys 0.23 memory_libmap packs a memory's address slices side by side in the data bits (a 1280 x 44 weight bank:
    two 512 x 72 RAMB36 holding three 45-bit slices), where the old cheapest-aspect-ratio rule tiled each slice
    alone (five 2048 x 9 RAMB18). Every bare memory of tests/fixtures/bram_geometry.json (bench/yosys_bram_geometry.py,
    xc7 and xcup, RAMs and ROMs) gets its measured RAMB36 + RAMB18 / 2."""
    assert A.bram36(1280, 44) == 2.0 and A.bram36(2685, 27) == 2.5   # the old rule: 2.5 and 3.0
    mems = _bram_fixture()
    assert len(mems) >= 20
    for m in mems:
        cells = m["cells"]
        measured = sum(n for c, n in cells.items() if c.startswith("RAMB36")) + 0.5 * sum(
            n for c, n in cells.items() if c.startswith("RAMB18"))
        got = A._bram_choice(m["depth"], m["width"], rom=m["kind"] == "rom")[0]
        assert got == measured, (m, got)


def test_bram_read_mux_follows_the_address_slices():
    """The read mux picks among memory_libmap's address slices: 1280 x 44 has three (a LUT5 per bit, the old rule
    none); a bare memory's LUTs are that mux plus the slices' write-enable decode and the registered slice select.
    (read_mux_luts' ceil((n - 1) / 3) per bit is one LUT per bit short of ABC's aligned 4:1 tree at 6-7 slices: the
    7137 x 39 memories take 3 per bit; the aligned count did not lower the training records' anchor error, so it
    stays, and the bound allows that bit.)"""
    one = A.memory(1280, 44, "bram", "xc7")
    assert one["bram36"] == 2.0 and one["lut"] == 44.0   # the old rule: 2.5 and no mux
    for m in _bram_fixture():
        blocks, slices = A._bram_choice(m["depth"], m["width"], rom=m["kind"] == "rom")
        luts = sum(n for c, n in m["cells"].items() if c.startswith("LUT"))
        mux = A.read_mux_luts(slices, m["width"])
        slack = m["width"] if slices in (6, 7) else 0
        assert mux <= luts <= mux + slack + 2 * slices + 10, (m, slices, mux)
    from hwgen.surrogate.costs import block_mux_inputs
    assert block_mux_inputs(1280, 44, "bram") == 3


def test_piece_sum_bits():
    one = [{"shift": 0}]
    two = [{"shift": 0}, {"shift": 17}]
    assert A.piece_sum_bits(one, 40, "xcup") == 0.0
    assert A.piece_sum_bits(two, 40, "xcup") == 23.0                # the low 17 bits pass through
    assert A.piece_sum_bits(two, 40, "xc7") == 0.0                  # DSP48E1 cascade
    assert A.piece_sum_bits([{"shift": 0}, {"shift": 18}], 40, "xc7") == 22.0


def _group_bias(dataset: str, key, every: int = 1) -> dict:
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    groups = defaultdict(list)
    for r in load_records(ROOT / "datasets" / dataset, status="ok")[::every]:
        est = build_ir(r.extra["spec"]).analytical()["lut"]
        groups[key(r)].append(math.log1p(r.resources.lut) - math.log1p(est))
    return {k: (len(v), float(np.mean(v))) for k, v in groups.items()}


@pytest.mark.parametrize("dataset,key,every,limit", [
    # the old single 0.45 scale on the table mux + mirror XOR: G=4 full +24 %, G=4 mirror -16 %
    ("tlmm", lambda r: (r.kernel, r.params.get("G"), r.params.get("table_style")), 1, 0.08),
    # the partial-product sums and dot trees that DSP48E1 absorbs: xc7 attention -33 % / -37 %
    ("attention", lambda r: (r.kernel, r.extra.get("yosys_family")), 1, 0.08),
    # instantiated adders (TLMM adder: ternary, naive adder: expert) under the behavioural fits: up to +269 % / +55 %
    ("tlmm_adder", lambda r: (r.kernel, r.params.get("table_style")), 1, 0.05),
])
def test_anchor_has_no_group_bias_on_the_shipped_records(dataset, key, every, limit):
    """Mean log1p(LUT) residual of the analytical anchor per group within +/- limit on the shipped records."""
    bias = _group_bias(dataset, key, every)
    assert len(bias) >= {"tlmm": 10, "attention": 4, "tlmm_adder": 3}[dataset]
    off = {k: v for k, v in bias.items() if v[0] >= 10 and abs(v[1]) > limit}
    assert not off, off


def _small_anchor_smape(dataset: str, kernel: str, key=None) -> dict:
    """Anchor LUT SMAPE (%) and mean log residual of the designs under 1,000 measured LUT, per key."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    groups = defaultdict(list)
    for r in load_records(ROOT / "datasets" / dataset, status="ok"):
        if r.kernel == kernel and r.resources.lut < 1000:
            y, p = r.resources.lut, build_ir(r.extra["spec"]).analytical()["lut"]
            groups[key(r) if key else kernel].append((200 * abs(y - p) / (y + p + 1), math.log1p(y) - math.log1p(p)))
    return {k: (len(v), float(np.mean([a for a, _ in v])), float(np.mean([b for _, b in v]))) for k, v in groups.items()}


@pytest.mark.parametrize("dataset,kernel,limit,was", [
    # LUTRAM bank geometry and deep-LUTRAM mux/decode, BRAM stacking, the lane tree's sign extension
    ("tlmm", "tlmm", 5.6, 6.73),
    # + the one-select lane (P_k = 1)
    ("tlmm", "tlmm_naive", 3.5, 4.22),
    # the control's length arithmetic linear in cw (was 2 cw^2)
    ("attention", "attention_decode", 4.2, 5.51),
])
def test_small_design_anchor_smape(dataset, kernel, limit, was):
    """Anchor LUT SMAPE of the training records under 1,000 LUT (`was`: before the small-design fixes)."""
    (n, smape, _), = _small_anchor_smape(dataset, kernel).values()
    assert n >= 40 and smape <= limit, (n, smape, was)


def test_one_select_naive_lanes_are_not_biased():
    """P_k = 1 naive lanes (no tree for the select to merge into) were +4.6 % on average under the anchor."""
    bias = _small_anchor_smape("tlmm", "tlmm_naive", key=lambda r: r.params["P_k"] == 1)
    n, _, mean_r = bias[True]
    assert n >= 20 and abs(mean_r) < 0.02, bias[True]


def test_single_lane_g1_tlmm_build_is_not_biased():
    """Q = 1, G = 1 behavioural TLMM (the build merging with the control when flattened) were 11.5 % anchor LUT SMAPE,
    the anchor 9 % low on average."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    rows = []
    for r in load_records(ROOT / "datasets" / "tlmm", status="ok"):
        m = r.extra["model"]
        if r.kernel == "tlmm" and m["lanes"] == 1 and m["G"] == 1 and m["adder"] == "behavioral":
            y, p = r.resources.lut, build_ir(r.extra["spec"]).analytical()["lut"]
            rows.append((200 * abs(y - p) / (y + p + 1), math.log1p(y) - math.log1p(p)))
    smape, mean_r = np.mean(rows, axis=0)
    assert len(rows) >= 10 and smape < 6.0 and abs(mean_r) < 0.04, (len(rows), smape, mean_r)


def test_block_ram_weight_bank_read_mux_is_not_biased():
    """Matmul lanes whose BRAM/URAM weight bank has a read mux: the naive ones with a 2-input mux (folded into the
    selects) and the wider muxes (x1.4: block write enables). The old 4:1-tree count (x2.6 on naive) was 7.7 %."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.costs import block_mux_inputs
    from hwgen.surrogate.features import build_ir

    groups = defaultdict(list)
    for r in load_records(ROOT / "datasets" / "tlmm", status="ok"):
        m = r.extra["model"]
        if r.kernel not in ("tlmm", "tlmm_naive") or m.get("adder", "behavioral") != "behavioral":
            continue
        mux = block_mux_inputs(m["wbuf_depth"], m["word_bits"], m["weight_memory"])
        if mux > 1:
            y, p = r.resources.lut, build_ir(r.extra["spec"]).analytical()["lut"]
            groups[(r.kernel, mux == 2)].append(200 * abs(y - p) / (y + p + 1))
    everything = [v for vs in groups.values() for v in vs]
    assert len(everything) >= 80 and np.mean(everything) < 6.2, {k: (len(v), np.mean(v)) for k, v in groups.items()}
    n, folded = len(groups[("tlmm_naive", True)]), np.mean(groups[("tlmm_naive", True)])
    assert n >= 20 and folded < 6.0, (n, folded)


def test_shipped_tlmm_space_reproduces_its_dataset_keys():
    """datasets/spaces/tlmm.yaml pins `pipeline: 0` like its (migrated) records, so a rerun of the shipped build
    skips every stored point and a fresh sample of it (datasets/fresh_s4242_tlmm) is drawn from the same designs."""
    import json

    from hwgen.datasets import store
    from hwgen.datasets.builder import key_spec
    from hwgen.datasets.space import load_space, sample

    tools = json.loads((ROOT / "datasets" / "fresh_s4242_tlmm" / "builds.jsonl").read_text().splitlines()[0])["tools"]
    done = store.done_keys(ROOT / "datasets" / "tlmm")
    points = sample(load_space(ROOT / "datasets" / "spaces" / "tlmm.yaml"), 100, seed=1)
    assert all(store.record_key(key_spec(p), tools) in done for p in points)


def test_case_rom_placement_follows_memory_libmap_costs():
    """A registered case table goes to block RAM only where memory_libmap's cost (RAMB18 129, RAMB36 257) beats the
    logic cost of 1/64 per bit of the 2^abits-deep ROM (rope ROMs synthesized alone with Yosys 0.23)."""
    assert not A.case_rom_in_bram(168, 64)     # 256 x 64 = 256 < one RAMB36 (257): 398 LUTs measured
    assert A.case_rom_in_bram(496, 32)         # 512 x 32 = 256 > one RAMB18 (129)
    assert A.case_rom_in_bram(256, 36)         # 144 > 129
    assert not A.case_rom_in_bram(224, 24)     # 96 < 129: 171 LUTs measured
    assert A.case_rom_luts(64, 10) == 10 * A.CASE_ROM_FLAT_FACTOR
    assert A.case_rom_luts(112, 24) == 24 * 4.0 * A.CASE_ROM_FLAT_FACTOR


def _kind_smape(kind: str) -> tuple[float, float]:
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    lut, ff = [], []
    for r in load_records(ROOT / "datasets" / "layer_kernels", status="ok"):
        if r.kernel == kind:
            est = build_ir(r.extra["spec"]).analytical()
            lut.append(200 * abs(r.resources.lut - est["lut"]) / (r.resources.lut + est["lut"] + 1))
            ff.append(200 * abs(r.resources.ff - est["ff"]) / (r.resources.ff + est["ff"] + 1))
    return float(np.mean(lut)), float(np.mean(ff))


@pytest.mark.parametrize("kind,lut_limit,ff_limit", [
    # before: case-table ROMs as 1 LUT per bit and 64 rows and BRAM only from 16 Kbit, the split x delay in FFs, the
    # direct base-row memory in FFs: LUT 22.1 %, FF 12.3 %
    ("rope", 16.0, 5.0),
    # before: the per-bit rounding adder without saturation, overflow-detection LUTs, sign-copy output FFs:
    # LUT 14.6 %, FF 7.2 %
    ("glu_act", 10.0, 7.0),
    # before: overflow-detection LUTs, the s register in every per-channel lane: LUT 14.5 %, FF 12.3 %
    ("bitlinear_scale", 7.0, 10.5),
    # before: the scale FIFO in FFs, the divisor delay line in SRL16s: FF 12.4 % (LUT 11.9 %, 11.0 % after: the
    # uniform excess is not the divider, 922 LUTs synthesized alone against 989 estimated)
    ("rmsnorm_quant", 12.0, 7.5),
])
def test_layer_kernel_anchor_smape_on_the_shipped_records(kind, lut_limit, ff_limit):
    """Anchor-only LUT / FF SMAPE per layer kernel on datasets/layer_kernels within the limits the fixes reached."""
    lut, ff = _kind_smape(kind)
    assert lut <= lut_limit and ff <= ff_limit, (lut, ff)


def test_rope_table_block_rams_exact_on_the_shipped_records():
    """The rope ROM's BRAM36 count: case tables below ROM_BRAM_MIN_BITS that Yosys still puts in block RAM, and only
    the table's live (non-constant) bits stored, a ROM's address slices packed side by side without write-enable
    byte padding, and a case table at proc_rom's 2^abits rows (1440 x 30: two 2048 x 18 RAMB36). Before: 34 of 52
    exact; with live bits 61 of 72 (the aspect-ratio rule: ROMs deeper than 4096 rows or 1024-1440 rows); now all."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    recs = [r for r in load_records(ROOT / "datasets" / "layer_kernels", status="ok") if r.kernel == "rope"]
    wrong = [(r.params, r.resources.bram36) for r in recs
             if build_ir(r.extra["spec"]).analytical()["bram36"] != r.resources.bram36]
    assert len(recs) >= 50 and not wrong, wrong


def test_matmul_block_rams_exact_on_the_shipped_records():
    """Every tlmm / tlmm_naive record of datasets/tlmm and datasets/tlmm_adder gets its measured BRAM36 (weight banks
    as memory_libmap packs their address slices); the cheapest-aspect-ratio rule missed 24 of 1,123 (a 1280 x 44
    bank: 2.5 for 2 RAMB36)."""
    from hwgen.datasets.store import load_records
    from hwgen.surrogate.features import build_ir

    checked, wrong = 0, []
    for d in ("tlmm", "tlmm_adder"):
        for r in load_records(ROOT / "datasets" / d, status="ok"):
            if r.kernel not in ("tlmm", "tlmm_naive"):
                continue
            if build_ir(r.extra["spec"]).analytical()["bram36"] != r.resources.bram36:
                wrong.append((r.params, r.resources.bram36))
            checked += 1
    assert checked >= 1000 and not wrong, wrong


# Controlled tlmm_naive syntheses with every LUT assigned to its block by register cones (bench/naive_netlist_cones.py;
# Yosys 0.23 open flow, 2026-12-07)
NAIVE_CONES = ROOT / "tests" / "fixtures" / "naive_cones.json"


def _naive_cones() -> dict:
    import json

    return json.loads(NAIVE_CONES.read_text())["designs"]


def test_uram_slices_lie_side_by_side_in_byte_lanes():
    """memory_libmap cuts a memory deeper than 4096 into 4096-deep slices and lays them into the byte lanes of one row:
    the URAM count and the read mux (one input per slice) follow, where the power-of-two address fold put a 16720 x 2
    bank behind an 8:1 mux (5 slices measured) and a 9000 x 20 bank into two blocks (one measured)."""
    assert A._uram_choice(16720, 2) == (1.0, 5) and A._uram_choice(9000, 20) == (1.0, 3)
    assert A.uram(12288, 2) == 1.0 and A.uram(44, 96) == 2.0 and A._uram_choice(4096, 72) == (1.0, 1)
    checked = 0
    for name, d in _naive_cones().items():
        m = d["model"]
        if m["weight_memory"] != "uram":
            continue
        blocks, slices = A._uram_choice(m["wbuf_depth"], m["word_bits"])
        assert blocks * m["lanes"] == d["uram"], name
        # each slice's word sits in its own byte lane(s) of the output: the bits a bank uses are slices x width
        assert len(d["uram_dout_bits"]) == slices * m["word_bits"], (name, d["uram_dout_bits"])
        checked += 1
    assert checked >= 8


def test_lone_naive_select_absorbs_a_two_slice_bank_mux():
    """A P_k = 1 lane over a two-slice URAM bank: ABC muxes the code's sign bit once and builds every leaf bit as one
    LUT6 (both slices' zero bit, the slice select, the muxed sign, a, -a). The anchor's select stays within 2 LUTs of
    the measured select cone per lane (C_FOLDED_SELECT's one LUT per select bit put it 6-8 over)."""
    from hwgen.surrogate.costs import block_mux_inputs
    from hwgen.surrogate.features import build_ir

    checked = 0
    for name, d in _naive_cones().items():
        m = d["model"]
        if m["chunk"] != 1 or block_mux_inputs(m["wbuf_depth"], m["word_bits"], m["weight_memory"]) != 2:
            continue
        terms = build_ir(d["spec"]).analytical_terms("lut")
        per_lane = terms["select"] / m["lanes"]
        assert abs(per_lane - d["luts_by_block"]["select"] / m["lanes"]) <= 2.0, (name, per_lane, d["luts_by_block"])
        checked += 1
    assert checked >= 3


def test_accumulator_write_decode_is_counted_once_per_design():
    """Every lane writes its partial sums at the same address under the same enable, so the bank write enables of a
    multi-bank accumulator LUTRAM are one decode for all lanes: the measured write-enable cone is about one LUT per
    bank in all, and the anchor's lanes carry only their read mux and adder (the decode once, on the control)."""
    from hwgen.kernels import tlmm_graph as TG
    from hwgen.surrogate.features import build_ir

    checked = 0
    for name, d in _naive_cones().items():
        m = d["model"]
        banks = A.lutram_banks(m["nblocks"], m["acc_bits"], "xcup")
        if m["lanes"] < 2 or banks < 2:
            continue
        assert d["luts_by_block"]["acc_we"] <= A.C_DEEP_DECODE * banks + 2, (name, d["luts_by_block"])
        terms = build_ir(d["spec"]).analytical_terms("lut")
        lane = TG.C_ACC * m["acc_bits"] + A.read_mux_into_adder_luts(banks, m["acc_bits"])
        assert terms["accumulator"] == pytest.approx(m["lanes"] * lane), name
        checked += 1
    assert checked >= 3


def test_accumulator_read_mux_merges_into_its_adder():
    """The partial-sum LUTRAM's read mux as Yosys builds it in front of the accumulator adder: a 4:1-LUT tree, or its
    top 2:1 stage inside the adder's own LUT where that takes fewer. Per bit of the measured accumulator cone (adder
    included) of one-lane designs with 1-10 banks, the rule is within one LUT everywhere and closer in all than the
    deep-LUTRAM rate (1 + 0.42 per extra bank) it replaces."""
    rule_err = rate_err = 0.0
    checked = 0
    for name, d in _naive_cones().items():
        m = d["model"]
        if m["lanes"] != 1 or m["chunks"] < 2:
            continue
        banks = A.lutram_banks(m["nblocks"], m["acc_bits"], "xcup")
        per_bit = d["luts_by_block"]["acc"] / m["acc_bits"]
        rule = 1 + A.read_mux_into_adder_luts(banks, m["acc_bits"]) / m["acc_bits"]
        assert abs(rule - per_bit) <= 1.0, (name, banks, rule, per_bit)
        rule_err += abs(rule - per_bit)
        rate_err += abs(1 + A.C_DEEP_MUX * (banks - 1) - per_bit)
        checked += 1
    assert checked >= 10 and rule_err < 0.8 * rate_err, (checked, rule_err, rate_err)
