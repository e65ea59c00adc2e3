"""Hardware graph and analytical cost terms of the ternary matmul kernels (tlmm.py, templates/tlmm/rtl).

Nodes: the x/w/y streams, control (counters, FSM, table-build ROM), the activation registers, the table-build
adders (TLMM) and, per output lane (one block repeated Q times), the weight bank, the LUTRAM tables (TLMM) or
the +a/0/-a select (naive), the lane adder tree and the accumulator.

weight_memory: stream (tlmm_stream.py): the weight bank becomes a `stream_buffer` (the lane's two-chunk double
buffer, fed by the w stream), the activation registers the call's activation buffer (M_max * chunks words), the
accumulator M_max * nblocks partial sums per lane (both sync-read memories; BRAM beyond 64 entries).
"""
from __future__ import annotations

import dataclasses
import functools
import math
import operator

from hwgen.surrogate import costs as A
from hwgen.memo import Unread, pure
from hwgen.surrogate.ir import HwGraph

from . import naive_expert
from .tlmm import lane_memo
from .tlmm_rtl import index_widths, lane_leaves, lane_tree, tree_arity


# LUTs per leaf bit of the naive +a/0/-a select, per entry bit of a table-build add/sub,
# per control register bit (counters, compares, state decode).
# Calibrated once (non-negative least squares per block type, relative error) on ~40 TLMM/naive designs of
# the dev data and the first dataset records, then rounded and frozen; they are not refit per split.
C_CONTROL = 0.9       # per control register bit (naive, streaming TLMM)
# The behavioural lane tree as Yosys 0.23 builds it (bench/surrogate_anchor_bias.py): alumacc merges the unregistered
# tree into one multi-operand $macc, which maccmap reduces with full adders (3:2 compressors, 2 LUTs per bit of
# every operand but the two widest: costs.compressor_bits) into one carry-propagate adder that absorbs most of its
# operands' logic. The old per-adder-bit rate (C_TREE over every `+`) was 15-20 % high on lanes of 2-3 leaves and
# low on wide ones; a lane of one leaf has no adder at all. Refit (relative NNLS on datasets/tlmm only, 2026-12-07;
# the holdout and transfer records kept out) with the accumulator and LUTRAM terms below:
C_CSA_LOOKUP = 1.5    # per compressed operand bit, TLMM (operands: table lookups straight from LUTRAM)
C_CSA_SELECT = 1.6    # per compressed operand bit, naive (operands: the selects, decoded from the weight codes)
# maccmap sign-extends every compressed operand to the merged adder's width: the extension bits (adder width less the
# operand's) cost LUTs too, fewer than real ones (constant-folded where the sign is shared). Without this term the
# rates above over-counted wide lanes of narrow leaves and under-counted few-leaf lanes (naive P_k = 1-2 designs
# +5 %, P_k = 4-8 -5 %). Relative NNLS (C_MACC_FINAL kept) over the behavioural unpipelined records of datasets/tlmm
# (2026-12-07; TLMM 597 / naive 403 designs; the compressed-bit rates refit with them: were 1.55 / 1.9).
C_EXT_LOOKUP = 0.22
C_EXT_SELECT = 0.4
C_MACC_FINAL = 0.25   # per result bit of the final adder (its LUTs mostly carry the last operands' logic)
# A TLMM lane adder of exactly two operands (T = 2 full tables; T = 1 mirror: the lookup and its sign) has no
# compressor whose logic its LUTs could carry: its operands come straight from LUTRAM (the mirror XOR folds into it),
# and on its own it is one LUT per result bit (tests/fixtures/tlmm_modules: 7-9 LUTs per lane for 7-9 bits). Flattened,
# 0.42 per bit (relative NNLS over the 597 behavioural datasets/tlmm records, the table / build / control rates below
# refit with it within 0.05 of their values): at C_MACC_FINAL the T = 2 full designs under 1,000 LUT were +4 %.
C_MACC_PAIR_LOOKUP = 0.42
C_SELECT = 1.05       # per leaf bit of the naive +a/0/-a select, per lane (one 4-input LUT per bit)
# Naive: -a of each activation is the same in every lane, and Yosys (opt_merge) keeps one negation per activation
# for all Q lanes; per lane only the select remains. A lane-local select rate (1.5 per bit) overcounted 2-lane and
# up designs by up to 25 % and undercounted 1-lane ones.
C_NEG = 0.7           # per activation bit (act_bits + 1), once per design
# A naive lane of one select (P_k = 1) has no merged tree for its select to fold into: +1.3 LUT per lane measured on
# all 26 such records of datasets/tlmm (+4.6 % on their anchor, residual 0.7-2 LUT per lane whatever act_bits,
# acc_bits or Q), where C_SELECT (fit with the tree's $macc absorbing the code decode) leaves it out.
C_SELECT_ALONE = 1.3
# Accumulator: one LUT per bit of `prev + s2_sum` (the first-chunk zero folds in; 0.6 before, which the tree's
# overcount hid: one-leaf lanes showed it, +15-20 %); its LUTRAM's read mux into that adder
# (costs.read_mux_into_adder_luts) per lane, its write decode once per design (_acc_decode).
C_ACC = 1.0
# A BRAM/URAM weight bank with a read mux (blocks stacked in depth, or URAM rows folded): the 4:1-LUT tree count
# (costs.read_mux_luts) is low, as the stacked blocks' write enables and the registered block select add LUTs (K324
# N593 G=4 T=1 Q=11 zcu104, hierarchy kept: 133 LUTs for eleven 3-deep RAMB18 banks of 7 bits, 77 LUT5 of mux and
# ~5 per bank of decode, vs 77 counted). One scale, relative NNLS over the 87 behavioural TLMM / naive records of
# datasets/tlmm with such a bank (anchor LUT SMAPE 7.4 -> 5.8 % with the folded-select term below).
C_BLOCK_MUX = 1.4
# Naive lanes whose bank has a 2-input read mux (a URAM of two folded addresses per row, two BRAMs in depth): ABC
# merges the mux into the selects' code decode (2 x 2 code bits + the block select + a + -a: 7 inputs), so each
# select bit takes two LUT6 instead of one LUT4 and no mux LUT remains: K1342 N70 P_k=3 P_n=4 a=7 kv260 446 LUTs vs
# 310 at K=671 (one unfolded URAM), +34 per lane for 24 select bits; LUT4 120 -> 11, LUT6 34 -> 256. This replaces
# the empirical x2.6 on the mux (C_NAIVE_BANK_MUX), which wider muxes (3-5 BRAMs: 1.3-1.7x measured) did not need.
C_FOLDED_SELECT = 1.0
# A lone select (P_k = 1) with that 2-input mux feeds no merged tree, and ABC muxes only the code's sign bit (one LUT3:
# the slice select and the two slices' bit); every leaf bit is then one LUT6 of the two slices' zero bit, the slice
# select, the muxed sign, a and -a: one LUT per lane, not one per select bit. u250 K40 N418 P_n=3 a=5 (5600 x 2 URAM
# banks, two slices): 6 LUT6 + 1 LUT3 per lane (7.6 for the unfolded select), where C_FOLDED_SELECT counted 13.6;
# K214 N320 P_n=10 a=6: 8 per lane. Against the same lanes over one slice (N192, act_bits 4-8) the select cone per lane
# differs by +1, -1, -1, +2, +2 (a = 4, 5, 6, 7, 8; ABC's packing of -a's bits), where C_FOLDED_SELECT added a + 1
# (bench/naive_netlist_cones.py -> tests/fixtures/naive_cones.json, 2026-12-07).
C_FOLDED_SIGN = 1.0
# What stays in the bank when its read mux folds into the selects: the write demux (memory_libmap's, one write enable
# per URAM slice or stacked block, from the lane's load select and the address bits above the block), which the mux
# scale C_BLOCK_MUX carries elsewhere. In those syntheses the three lanes' load side takes 18-20 LUTs over two-slice
# banks (N418, act_bits 4-8) against 11-13 over one-slice banks (N192): +1.7-2.7 per lane, the two slice enables.
C_BLOCK_DEMUX = 1.0
# Per table replica: the read mux over its LUTRAM banks (costs.read_mux_luts, scaled by C_TABLE_MUX: the bank
# decode rides along), the write-enable / address logic of the table (C_TABLE_PORT) and, for mirror tables, the
# XOR of a negative lookup per entry bit (C_MIRROR). Refit (relative NNLS over the 1,040 TLMM/naive training
# records, 2026-12-07) after the per-G / per-style bias of the old single scale (0.45 on mux + XOR) showed:
# G=4 full +24 %, G=4 mirror -16 % LUT (a 3-bank mux undercounted, a 1-bank table given a mux).
# Refit of the TLMM table, build and control terms once the lane tree and accumulator above stopped absorbing their
# error (relative NNLS, datasets/tlmm only, 2026-12-07): G=2 full / G=5 full / G=4 mirror small designs had been
# -10 % / +10 % / +7 % off. The build walk's ROM (costs.memory "rom": one LUT6 per output bit per 64 steps, which
# Yosys 0.23 gives exactly for the walk module alone up to 64 steps; G=5's 244 steps take 102 LUTs, not 52) costs
# 2.6x that inside the kernel, at every G: measured, not modelled (its outputs drive every table's write address
# and G:1 select, and ABC restructures it with them).
# Two structures these rates had averaged over (bench/surrogate_anchor_bias.py: G=2 -3 %, G=5 mirror -3 %, G=4
# mirror +4 % on the training designs under 1,000 LUT), measured on controlled designs with the build / lookup
# modules kept apart (tests/fixtures/tlmm_modules, bench/tlmm_module_cells.py: kv260 K64 N64 a=6 T=2 Q=2, G=1..5):
# - G = 2: the 2:1 activation select folds into the build adder's LUT (x0, x1, sel, op, run: 5 inputs): the build
#   module takes 38 LUTs for 2 tables x 8 entry bits against 34 for G = 1's 2 x 7, two LUTs per extra entry bit and no
#   select LUT (G = 3: 45 for 2 x 8, a select). build_mux_luts.
# - A mirror table two or three banks deep (G = 5: 122 entries, two RAM64M8 banks): its sign XOR folds into the last
#   LUT of the bank read mux (lookup module: 18 LUT4 for 2 x 9 bits, mux and XOR, vs 18 LUT2 of XOR alone on a
#   one-bank G = 4 table), as with the primitive adders (C_MIRROR_PRIM). Flattened, the lone XOR still partly merges
#   into the lane tree (C_MIRROR); the folded one costs less (C_MIRROR_IN_MUX).
# Refit (relative NNLS over the 597 behavioural on-chip TLMM records of datasets/tlmm, 2026-12-07; the holdout and
# fresh records kept out) with these two forms and C_MACC_PAIR_LOOKUP: anchor LUT SMAPE of those records 4.18 ->
# 3.69 %, under 1,000 LUT 5.04 -> 4.11 %.
C_TABLE_MUX = 1.05    # was 1.0
C_TABLE_PORT = 1.95   # was 2.3
C_MIRROR = 0.45       # was 0.4 (every mirror table)
C_MIRROR_IN_MUX = 0.2
C_BUILD_ADD = 2.4     # per entry bit of a table-build add/sub (was 2.0)
C_BUILD_MUX = 0.75    # per LUT of the G:1 activation select (a LUT6 per 4:1 per bit; was 0.8)
C_CONTROL_TLMM = 0.67  # per control register bit of the TLMM (build FSM) control (was 0.69)
C_WALK_ROM = 2.65     # was 2.6
# A single-lane (Q = 1) G = 1 TLMM costs more flattened than its modules do apart: the build's add/sub (entry =
# run +/- x, op from the walk ROM) merges with the control and the one table replica it writes (with Q >= 2 the
# entries fan out to Q replicas and flattening saves LUTs instead). Measured with keep_hierarchy (Yosys 0.23):
# K543 N52 T20 full u280 539 LUTs per module (the anchor 546) vs 635 flattened, +0.8 per build entry bit; flattening
# the build alone into the top +40; K405 N84 T7 mirror 312 vs 335, +0.55; Q = 2 of the first: 837 vs 810. The 13 such
# records of datasets/tlmm: residual median 0.62 per build entry bit (anchor LUT SMAPE 11.5 %), 0.6 fitted them; the
# joint refit above (C_BUILD_ADD 2.0 -> 2.4 absorbs part of it) gives 0.3.
C_BUILD_ONE_LANE = 0.3
# FFs of the control besides its counters (FSM state, handshake flags, the stage valid/first/last/tlast flags of
# hwgen_mm_pipe, the skid-buffer flag of the naive top), counted from the same designs and frozen with the above
CTRL_FLAGS_TLMM, CTRL_FLAGS_NAIVE = 27, 15
# Instantiated adders (TLMM `adder: ternary`, naive `adder: expert`; hwgen/kernels/xilinx_prims.py): Yosys keeps
# them as written, one LUT6_2 site per result bit of every hwgen_add2/add3 and primitive table-build bit, one per
# activation bit of an expert select pair (hwgen_xsel_pair: its top result bit is the carry out). Nothing of the
# behavioural fits above applies, as they absorb what Yosys merges across blocks: the (behavioural) accumulator
# adder no longer merges with the tree root (C_ACC_PRIM per bit), the table port logic folds away, and a mirror
# table's sign XOR takes a LUT per entry bit of its own (C_MIRROR_PRIM), except where it fits into the last LUT of
# a 2-3 bank read mux (banks + select bits + the sign: one LUT6). Fit (relative NNLS) on the 24 unpipelined
# `adder: ternary` and 4 expert designs of bench/results/tlmm_vs_naive.md and the first datasets/tlmm_adder records.
C_PRIM = 1.0
C_ACC_PRIM = 1.1
C_MIRROR_PRIM = 1.1


def select_luts(G: int, act_bits: int) -> int:
    """LUTs of a table build's G:1 activation select on its own: a LUT6 per 4:1 mux level per activation bit."""
    return act_bits * math.ceil((G - 1) / 3) if G > 1 else 0


def build_mux_luts(G: int, act_bits: int) -> int:
    """Select LUTs a behavioural table build adds to its adder: none for G <= 2, where the 2:1 select folds into the
    adder's LUT (x0, x1, sel, op, running sum: 5 inputs); select_luts beyond."""
    return select_luts(G, act_bits) if G > 2 else 0


def _merged_tree_luts(tree, widths, c_csa: float, c_ext: float, c_pair: float) -> float:
    """LUTs of a behavioural lane tree (tlmm_rtl.lane_tree's, over leaves of `widths`) as the multi-operand adders
    Yosys merges it into: compressed operand bits, their sign extension to the adder's width, the final adder
    (c_pair per bit where it is all there is: two operands)."""
    maccs = A.merged_adders(tree.nodes, {f"lf_{i}": w for i, w in enumerate(widths)})
    return sum(c_csa * A.compressor_bits(ops) + c_ext * (bits * max(len(ops) - 2, 0) - A.compressor_bits(ops))
               + (c_pair if len(ops) == 2 else C_MACC_FINAL) * bits for ops, bits in maccs)


@lane_memo
def _lane_terms(m) -> tuple:
    """(pair bits, pair LUTs, tree adder bits, pipeline register bits, adder arity, tree LUTs) of one lane: the
    renderer's tree (sign bits as leaves when pipelined mirror lanes sum them there), `pipeline` registers: every
    value alive at a cut."""
    pair_bits = pair_luts = 0
    if m.adder == "expert":
        # expert naive (naive_expert.py): the selects fused pairwise into the first carry-chain level (the select
        # node), ternary adders above; the renderer's own tree, registers included
        xnodes = naive_expert.build_tree(m.chunk, m.act_bits, m.lane_sum_bits, m.pipe_cuts)[0]
        pair_bits = sum(n.bits for n in xnodes if n.kind == "pair")
        pair_luts = m.act_bits * sum(1 for n in xnodes if n.kind == "pair")     # the top bit is the chain's carry out
        tree_bits = sum(n.bits for n in xnodes if n.kind in ("add", "add3"))
        pipe_bits = sum(n.bits for n in xnodes if n.kind == "reg")
        arity = 3
    else:
        lane = lane_tree(m)
        tree_bits = sum(n.bits for n in lane.nodes if not n.reg)
        pipe_bits = sum(n.bits for n in lane.nodes if n.reg)
        arity = tree_arity(m)
    if m.adder == "behavioral":
        tlmm = bool(m.table_depth)
        tree_lut = _merged_tree_luts(lane, lane_leaves(m)[1], C_CSA_LOOKUP if tlmm else C_CSA_SELECT,
                                     C_EXT_LOOKUP if tlmm else C_EXT_SELECT,
                                     C_MACC_PAIR_LOOKUP if tlmm else C_MACC_FINAL)
    else:
        tree_lut = C_PRIM * tree_bits
    return pair_bits, pair_luts, tree_bits, pipe_bits, arity, tree_lut


@lane_memo
def _lane_nodes(m, fam: str) -> dict:
    """The nodes whose features are the lane's alone (tlmm.LANE_FIELDS and the family), built once per lane: the x and
    w streams, the activation registers (on-chip weights), the table build, the tables or selects, the lane tree."""
    g = HwGraph(family=fam)
    tlmm = bool(m.table_depth)
    behavioral = m.adder == "behavioral"
    prim = not behavioral
    a = m.act_bits
    g.node("stream_in", "x", width=m.x_beat_bits)
    g.node("stream_in", "w", width=m.word_bits)
    if m.weight_memory != "stream":
        # activation registers: tlmm keeps one chunk register (xr; the tables hold the chunk once built), naive a
        # skid buffer, xr and s1_x (activations travel with their weights)
        nbuf = 1 if tlmm else 3
        xbuf_est = A.registers(nbuf * m.x_beat_bits)
        if not tlmm and behavioral:
            xbuf_est["lut"] += C_NEG * m.chunk * (a + 1)     # the negations all lanes share
        g.node("act_buffer", "xbuf", style="reg", count=nbuf, width=m.x_beat_bits,
               storage_bits=nbuf * m.x_beat_bits, est=xbuf_est)
    # Mirror tables: a negative lookup enters the tree as ~half (the XOR folds into the first adders) and the
    # lane adds the count of sign bits as one more leaf.
    pair_bits, pair_luts, tree_bits, pipe_bits, arity, tree_lut = _lane_terms(m)
    q = 0   # lane 0; build_matmul's g.repeat makes the Q identical lanes
    if tlmm:
        # Serial build: per table a G:1 activation mux, one add/sub of entry_bits and the running-sum register.
        # adder: ternary builds with primitive add/sub/zero cells (hwgen_tlmm_build_prim.v), one LUT6_2 per bit
        build_lut = (C_BUILD_ADD * m.entry_bits + C_BUILD_MUX * build_mux_luts(m.G, a) if behavioral
                     else C_PRIM * m.entry_bits + select_luts(m.G, a))
        build_est = {**A.zero(), "lut": m.T * build_lut, "ff": m.T * m.entry_bits}
        g.node("table_build", "build", count=m.T, depth=m.build_cycles, leaves=m.G, leaf_bits=a,
               out_bits=m.entry_bits, width=m.entry_bits, adder_bits=m.T * m.entry_bits, arity=2,
               prim_bits=m.T * m.entry_bits if prim else 0, storage_bits=m.T * m.entry_bits, est=build_est)
        leaf_bits, n_leaves = m.entry_bits, m.T
        mirror = m.table_style == "mirror"
        neg = m.T * m.entry_bits if mirror else 0
        est = A.lutram(m.table_depth, m.entry_bits, fam, replicas=m.T)
        xor_in_mux = A.lutram_banks(m.table_depth, m.entry_bits, fam) in (2, 3)
        if prim:
            port, xor = 0.0, 0.0 if xor_in_mux else C_MIRROR_PRIM
        else:
            port, xor = C_TABLE_PORT, C_MIRROR_IN_MUX if xor_in_mux else C_MIRROR
        est["lut"] = C_TABLE_MUX * est["lut"] + port * m.T + (xor * m.T * m.entry_bits if mirror else 0.0)
        g.node("table_bank", f"tables{q}", style="lutram", count=m.T, depth=m.table_depth,
               width=m.entry_bits, ports=1, neg_bits=neg,
               storage_bits=m.T * m.table_depth * m.entry_bits, est=est)
    else:
        leaf_bits, n_leaves = a + 1, m.chunk
        # expert: the select is the fused pair level, (chunk + 1) // 2 two-operand primitive adders
        sel_lut = C_PRIM * pair_luts if pair_bits else C_SELECT * m.chunk * leaf_bits
        if behavioral and m.chunk == 1:
            sel_lut += C_SELECT_ALONE
        g.node("select", f"select{q}", count=m.chunk, width=leaf_bits, leaves=m.chunk, leaf_bits=a,
               out_bits=leaf_bits, adder_bits=pair_bits, arity=2 if pair_bits else 0, prim_bits=pair_bits,
               est={**A.zero(), "lut": sel_lut})
    tree_leaves = (m.chunk + 1) // 2 if pair_bits else n_leaves
    g.node("lane_tree", f"tree{q}", leaves=tree_leaves, leaf_bits=leaf_bits, out_bits=m.lane_sum_bits,
           adder_bits=tree_bits, width=m.lane_sum_bits, arity=arity, prim_bits=tree_bits if prim else 0,
           est=A.add(A.adder(tree_lut), A.registers(m.lane_sum_bits + pipe_bits)))
    names = ["x", "w"] + (["xbuf"] if m.weight_memory != "stream" else []) + (["build"] if tlmm else [])
    return dict(zip(names + ["src", "tree"], g.nodes))


# The blocks whose features depend on the design's size, as pure functions of what they read (memoised: many designs
# share a weight bank or an accumulator shape); graph_from_key copies the node they return.
@pure
def _control_node(ctrl_ff: int, steps: int, rom_bits: int, tlmm: bool, stream: bool, fam: str,
                  acc_decode: float = 0.0) -> dict:
    rom = A.scale(A.memory(steps, rom_bits, "rom", fam), C_WALK_ROM) if tlmm else A.zero()
    c_control = C_CONTROL_TLMM if tlmm and not stream else C_CONTROL
    ctrl_est = A.add({**A.zero(), "ff": ctrl_ff, "lut": c_control * ctrl_ff + acc_decode}, rom)
    g = HwGraph(family=fam)
    g.node("control", "control", width=ctrl_ff, depth=steps, out_bits=rom_bits, storage_bits=steps * rom_bits,
           est=ctrl_est)
    return g.nodes[0]


def _weight_bank_est(depth: int, width: int, style: str, fam: str) -> dict:
    est = A.memory(depth, width, style, fam, sync_read=True)
    if style == "lutram":   # the deep-LUTRAM rates (costs.deep_lutram_luts) replace the 4:1 mux tree + a LUT per bank
        est["lut"] = A.deep_lutram_luts(depth, width, fam)
    elif style in ("bram", "uram"):
        est["lut"] *= C_BLOCK_MUX
    return est


@pure
def _weight_bank_node(depth: int, width: int, style: str, fam: str) -> dict:
    g = HwGraph(family=fam)
    g.node("weight_bank", "wbank0", style=style, depth=depth, width=width, count=1, ports=1,
           storage_bits=depth * width,
           est=_weight_bank_est(depth, width, style, fam))
    return g.nodes[0]


@pure
def _accumulator_node(live: bool, stream: bool, depth: int, astyle: str, acc_bits: int, lane_sum_bits: int,
                      prim: bool, fam: str) -> dict:
    if live and not stream:   # async LUTRAM: its read mux into the adder's LUTs (the write decode: _acc_decode)
        acc_mem = A.lutram(depth, acc_bits, fam)
        acc_mem["lut"] = A.read_mux_into_adder_luts(A.lutram_banks(depth, acc_bits, fam), acc_bits)
    else:
        acc_mem = A.memory(depth, acc_bits, astyle, fam, sync_read=stream) if live else A.zero()
    g = HwGraph(family=fam)
    g.node("accumulator", "acc0", style=astyle if live else "reg", depth=depth if live else 0,
           width=acc_bits, count=1, ports=1, leaves=2 if live else 1, leaf_bits=lane_sum_bits,
           out_bits=acc_bits, adder_bits=acc_bits if live else 0, storage_bits=depth * acc_bits if live else 0,
           est=A.add(acc_mem, A.adder((C_ACC_PRIM if prim else C_ACC) * acc_bits if live else 0),
                     A.registers(acc_bits)))
    return g.nodes[0]


def _acc_decode(m, fam: str) -> float:
    """The write decode of the partial-sum LUTRAM (hwgen_lane_acc, on-chip weights), once per design: every lane writes
    its accumulator at the same address (s2_nb) under the same enable, so Yosys keeps one bank write-enable decode for
    all Q lanes (and one read-address register, memory_dff's, which the control rates carry). Counted per lane it
    over-counted multi-lane designs with multi-bank accumulators: K145 N570 P_k=3 P_n=4 u280 (143 x 13, 5 banks) has
    6 write-enable LUTs in all, where 4 x 1.2 x 5 = 24 were counted (naive u250/u280 syntheses, 2026-12-07)."""
    if m.chunks <= 1 or m.weight_memory == "stream":
        return 0.0
    return A.deep_lutram_decode_luts(m.nblocks, m.acc_bits, fam)


def matmul_graph_key(kernel, spec) -> tuple:
    """All that build_matmul reads of a design: its kind and family, its model but for the top's name, the latency,
    II and timing anchor. Designs that differ only where the graph does not look (e.g. two targets of one family and
    clock) share it; the graph is built from the key alone (graph_from_key), so equal keys give equal graphs."""
    m = kernel.model(spec)
    perf = kernel.performance(spec)
    t = kernel.timing_estimate(spec)
    return (spec.kind, spec.target_info.yosys_family, type(m), _model_values(type(m))(m),
            perf.latency_cycles, perf.ii, tuple(sorted(t.items())))


@functools.lru_cache(maxsize=None)
def _model_fields(cls) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls) if f.name != "top")


@functools.lru_cache(maxsize=None)
def _model_values(cls):
    return operator.attrgetter(*_model_fields(cls))


@functools.lru_cache(maxsize=None)
def _model_layout(cls) -> tuple[tuple[str, ...], int]:
    """(every field of cls in order, the position of `top` in them); model classes have no __post_init__ (checked)."""
    if hasattr(cls, "__post_init__") or hasattr(cls, "__slots__"):
        raise TypeError(f"{cls.__name__}: model_from_key fills the instance dict, which skips __post_init__ / slots")
    names = tuple(f.name for f in dataclasses.fields(cls))
    return names, names.index("top")


def model_from_key(cls, values: tuple):
    """cls(top=Unread, **dict(zip(_model_fields(cls), values))) without the frozen dataclass' __init__ (~45 fields,
    each set through object.__setattr__: a third of a matmul graph's build): the same instance dict, field order
    included (tests/test_surrogate_fastpath.py compares it with the kernel's model)."""
    names, top = _model_layout(cls)
    m = object.__new__(cls)
    m.__dict__.update(zip(names, (*values[:top], Unread(f"{cls.__name__}.top", "tlmm_graph.matmul_graph_key"),
                                  *values[top:])))
    return m


def build_matmul(kernel, spec) -> HwGraph:
    return graph_from_key(kernel.graph_key(spec))


def graph_from_key(key: tuple) -> HwGraph:
    kind, fam, cls, values, latency, ii, timing_items = key
    m = model_from_key(cls, values)
    tlmm = bool(m.table_depth)
    behavioral = m.adder == "behavioral"      # Yosys' own adders, merged across blocks (the fitted rates above)
    prim = not behavioral                     # instantiated LUT6_2 + carry-chain adders (C_PRIM per bit)
    g = HwGraph(family=fam, cycles=latency, ii=ii, macs=m.macs_per_cycle, kinds=(kind,),
                timing=dict(timing_items))
    a = m.act_bits
    rtl = index_widths(m)                             # the counter widths the templates use
    aw, lw, cw, nw = rtl["aw"], rtl["lw"], rtl["cw"], rtl["nw"]
    # table-build ROM (templates/tlmm/rtl/tlmm.v.j2): per build step the entry index, the activation
    # select and the op; the step counter replaces the entry counter.
    steps = m.build_cycles if tlmm else 0
    ew = rtl["sw"] if tlmm else 0
    sel_w = rtl["selw"] if tlmm else 0
    rom_bits = (rtl["ew"] + sel_w + 2) if tlmm else 0
    stream = m.weight_memory == "stream"
    if stream:
        # hwgen_ws_ctrl (chunk, cin, tok, tin, mlast, nb, step, acc_addr, x_waddr, x_raddr), hwgen_ws_chunk_buf
        # (waddr, lane group, halves), hwgen_mm_pipe's s1/s2 addresses and the top's s1 address
        tw, xaw, aaw, caw, gw = (rtl[k] for k in ("tw", "xaw", "aaw", "caw", "gw"))
        ctrl_ff = CTRL_FLAGS_TLMM + 2 * cw + 3 * tw + nw + ew + 4 * aaw + 2 * xaw + caw + gw
    else:
        ctrl_ff = (CTRL_FLAGS_TLMM if tlmm else CTRL_FLAGS_NAIVE) + lw + 2 * aw + cw + 3 * nw + ew
    # `pipeline`: the flags and index that travel with the lane registers (hwgen_mm_pipe's EXTRA stages)
    ctrl_ff += m.pipeline * ((rtl["aaw"] if stream else nw) + 4)
    lane = _lane_nodes(m, fam)
    xin = g.copy_node(lane["x"])
    win = g.copy_node(lane["w"])
    yout = g.node("stream_out", "y", width=m.y_beat_bits)
    g.ports.update(x=xin, w=win, y=yout)
    ctrl = g.copy_node(_control_node(ctrl_ff, steps, rom_bits, tlmm, stream, fam, _acc_decode(m, fam)))
    if stream:   # the call's activation buffer (on-chip weights: the lane's registers, _lane_nodes)
        xbuf = g.node("act_buffer", "xbuf", style=m.xbuf_style, count=1, depth=m.xbuf_depth, width=m.x_beat_bits,
                      ports=1, storage_bits=m.xbuf_depth * m.x_beat_bits,
                      est=A.memory(m.xbuf_depth, m.x_beat_bits, m.xbuf_style, fam, sync_read=True))
    else:
        xbuf = g.copy_node(lane["xbuf"])
    g.edge(xin, xbuf, m.x_beat_bits, "stream")
    g.edge(ctrl, xbuf, 2, "control")
    if tlmm:
        build = g.copy_node(lane["build"])
        if behavioral and m.lanes == 1 and m.G == 1:
            node = g.nodes[build]    # a new est: the node shares the memoised block's (HwGraph.copy_node)
            g.nodes[build] = {**node, "est": {**node["est"],
                                              "lut": node["est"]["lut"] + C_BUILD_ONE_LANE * m.T * m.entry_bits}}
        g.edge(xbuf, build, m.x_beat_bits, "data")
        g.edge(ctrl, build, sel_w + 2, "control")
    leaf_bits, n_leaves = (m.entry_bits, m.T) if tlmm else (a + 1, m.chunk)
    wstyle = m.weight_memory
    first = len(g.nodes)
    for q in range(1):   # lane 0; g.repeat makes the Q identical lanes
        if stream:   # the two-chunk double buffer, written by the w stream during the call
            wb = g.node("stream_buffer", f"wchunk{q}", style=m.wbuf_style, depth=m.wbuf_depth, width=m.word_bits,
                        count=1, ports=1, storage_bits=m.wbuf_depth * m.word_bits,
                        est=A.memory(m.wbuf_depth, m.word_bits, m.wbuf_style, fam, sync_read=True))
            g.edge(win, wb, m.word_bits, "stream")
        else:
            wb = g.copy_node(_weight_bank_node(m.wbuf_depth, m.word_bits, wstyle, fam))
            g.edge(win, wb, m.word_bits, "weight_load")
        g.edge(ctrl, wb, aw, "address")
        src = g.copy_node(lane["src"])    # the tables (TLMM) or the selects (naive)
        if tlmm:
            g.edge(build, src, m.T * m.entry_bits, "table_write")
            g.edge(wb, src, m.word_bits, "address")
            g.edge(ctrl, src, ew, "address")
        else:
            if behavioral and A.block_mux_inputs(m.wbuf_depth, m.word_bits, wstyle) == 2:
                # the read mux folds into the selects (C_FOLDED_SELECT, or one LUT for a lone select); the bank keeps
                # its write demux. New ests: the nodes share the memoised blocks'
                bank, sel = g.nodes[wb], g.nodes[src]
                folded = C_FOLDED_SIGN if m.chunk == 1 else C_FOLDED_SELECT * m.chunk * (a + 1)
                g.nodes[wb] = {**bank, "est": {**bank["est"], "lut": C_BLOCK_DEMUX * 2}}
                g.nodes[src] = {**sel, "est": {**sel["est"], "lut": sel["est"]["lut"] + folded}}
            g.edge(wb, src, m.word_bits, "data")
            g.edge(xbuf, src, m.x_beat_bits, "data")
        tree = g.copy_node(lane["tree"])
        g.edge(src, tree, n_leaves * leaf_bits, "data")
        # With a single chunk the running sum is never read back (prev = 0): memory and adder vanish.
        depth, astyle = (m.acc_depth, m.acc_style) if stream else (m.nblocks, "lutram")
        acc = g.copy_node(_accumulator_node(m.chunks > 1, stream, depth, astyle, m.acc_bits, m.lane_sum_bits, prim,
                                            fam))
        g.edge(tree, acc, m.lane_sum_bits, "data")
        g.edge(ctrl, acc, nw, "address")
        g.edge(acc, yout, m.acc_bits, "stream")
    g.repeat(first, m.lanes)
    return g
