"""Ternary matmul kernels: the table-lookup TLMM (TeLLMe-style) and the naive select-and-add baseline.

Both compute Y[m, n] = sum_k X[m, k] * W[k, n] exactly, with W ternary and X signed `act_bits`
integers, and share one streaming micro-architecture:

    load:   weight words -> Q banks (URAM/BRAM), bank q holds columns n = nb*Q + q
    token:  for each activation chunk c (one input beat):
              [tlmm] build T tables of the chunk (one entry per cycle, all T tables at once)
              for each column block nb (II=1): Q lanes each add T lookups (tlmm) or P_k selects
              (naive) to the accumulator; the last chunk emits the Q sums as one output beat.
"""
from __future__ import annotations

import functools
import math
import operator
from functools import lru_cache
from dataclasses import MISSING, asdict, dataclass, fields as dataclass_fields
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import Field

from ..errors import UserError
from ..spec import KernelSpec
from . import naive_expert, tlmm_rtl, tlmm_stream, xilinx_prims
from .base import Kernel, Performance, Port, Scalar, spec_memo
from .rtl_util import build_adder_tree, build_walk
from ..bits import clog2, index_bits, pad_to, signed_bits_for_bound
from .. import timing
from ..memo import Unread, memos_on, pure
from .ternary import check_ternary, digit_table, group_indices, mirror_fold, pack_fields, to_signed, to_unsigned

WeightMemory = Literal["auto", "uram", "bram", "lutram"]


class TernaryMatmulSpec(KernelSpec):
    K: int = Field(1536, ge=1, le=65536, description="reduction length (input features)")
    N: int = Field(1536, ge=1, le=65536, description="output features")
    M_max: int = Field(128, ge=1, le=65536, description="max tokens per kernel call")
    act_bits: int = Field(8, ge=2, le=8, description="signed activation width")
    weight_memory: WeightMemory = "auto"
    pipeline: Union[Literal["auto"], Annotated[int, Field(ge=0, le=16)]] = Field(
        "auto", description="register stages in the lane path (after the table reads / selects, between adder-tree "
                            "levels): auto = the fewest that meet the clock under the delay model (hwgen/timing.py), "
                            "or a number (0: none; at most the tree depth)")


class TLMMSpec(TernaryMatmulSpec):
    kind: Literal["tlmm"] = "tlmm"
    G: int = Field(3, ge=1, le=5, description="activations per table (table has 3^G entries)")
    T: int = Field(8, ge=1, le=128, description="tables in parallel")
    Q: int = Field(8, ge=1, le=128, description="lookups per table per cycle = output lanes")
    table_style: Literal["full", "mirror"] = "full"
    adder: Literal["behavioral", "ternary"] = Field(
        "behavioral", description="lane adder trees: behavioral (`+`, as the synthesis tool maps it) or ternary "
                                  "(instantiated 3-input adders: one LUT6_2 per bit doing the 3:2 compression into a "
                                  "CARRY8 chain on xcup, CARRY4 on xc7; kernels/xilinx_prims.py)")
    # stream: the weight words arrive on s_axis_w during every call (docs/tlmm_stream.md, tlmm_stream.py)
    weight_memory: Literal["auto", "uram", "bram", "lutram", "stream"] = "auto"
    w_beat_words: int = Field(0, ge=0, le=128, description="weight_memory=stream: weight words per s_axis_w beat "
                                                            "(a divisor of Q; 0: Q, one column block per beat)")
    buffer_memory: Literal["auto", "bram", "uram"] = Field(
        "auto", description="weight_memory=stream: the activation and partial-sum buffers (M_max deep) when too "
                            "deep for LUTRAM: auto / bram = block RAM, uram = UltraRAM")


class NaiveSpec(TernaryMatmulSpec):
    kind: Literal["tlmm_naive"] = "tlmm_naive"
    P_k: int = Field(24, ge=1, le=1024, description="activations consumed per cycle (adder-tree width)")
    P_n: int = Field(8, ge=1, le=128, description="output lanes")
    adder: Literal["behavioral", "expert"] = Field(
        "behavioral", description="the lane's select-and-add RTL: behavioral = +a / 0 / -a selects into a behavioural "
                                  "adder tree (what the synthesizer makes of it); expert = the selects fused into "
                                  "the first carry-chain adder level, LUT6_2 + CARRY8 (xcup) / CARRY4 (xc7) "
                                  "primitives, negation corrections as carry-ins (hwgen/kernels/naive_expert.py). "
                                  "The HLS twin is behavioural either way")


@dataclass(frozen=True)
class MatmulModel:
    """Derived micro-architecture, shared by the HLS and RTL renderers and the golden model."""

    top: str
    K: int
    N: int
    M_max: int
    act_bits: int
    chunk: int            # activations per input beat
    lanes: int            # outputs per output beat
    K_pad: int
    N_pad: int
    chunks: int
    nblocks: int
    acc_bits: int
    lane_sum_bits: int
    field_bits: int       # bits per weight field in a word
    fields: int           # fields per word
    word_bits: int
    wbuf_depth: int       # words per bank
    weight_memory: str
    build_cycles: int     # cycles per chunk spent filling tables (0 for naive)
    macs_per_cycle: int
    cycles_per_token: int
    # First x beat accepted -> last y beat of the token, beyond cycles_per_token (tlmm.v.j2, naive.v.j2): the
    # accept cycle, then after the last lookup cycle the bank read (s1), the lane sum (s2) and the output
    # register; the naive kernel's activation skid buffer adds one; plus the `pipeline` register stages.
    pipeline_cycles: int
    x_beat_bits: int      # chunk * act_bits
    y_beat_bits: int      # lanes * acc_bits
    # TLMM only
    G: int = 0
    T: int = 0
    table_style: str = ""
    table_depth: int = 0
    entry_bits: int = 0
    mirror_bits: int = 0
    # Register stages in the lane path (spec `pipeline`, resolved) and where they sit: cut i registers the values
    # after lane segment i (0: the table reads / selects, l: adder-tree level l; lane_path below).
    pipeline: int = 0
    pipe_cuts: tuple = ()
    # `adder`: TLMM behavioral | ternary (lane trees of hwgen_add3 on `carry`, the family's carry primitive);
    # naive behavioral | expert (NaiveSpec.adder; expert cuts count tree levels from the fused pair level)
    adder: str = "behavioral"
    carry: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StreamModel(MatmulModel):
    """weight_memory=stream (tlmm_stream.py): wbuf_depth is the chunk double buffer (2 * nblocks words per lane)."""

    beat_words: int = 0       # weight words per s_axis_w beat (a divisor of Q)
    w_beat_bits: int = 0      # beat_words * word_bits
    chunk_beats: int = 0      # s_axis_w beats per chunk: nblocks * Q / beat_words
    call_beats: int = 0       # s_axis_w beats per call: chunks * chunk_beats (any m)
    xbuf_depth: int = 0       # activation buffer: M_max * chunks chunk words
    acc_depth: int = 0        # accumulators per lane: M_max * nblocks
    wbuf_style: str = ""      # chunk buffer / activation buffer / accumulator memories (lutram | bram)
    xbuf_style: str = ""
    acc_style: str = ""


# a field's value where a model's constructor call leaves it out (the lane memo keys on it)
_MODEL_DEFAULTS = {f.name: f.default for f in dataclass_fields(StreamModel) if f.default is not MISSING}


def _weight_memory(spec: TernaryMatmulSpec) -> str:
    if spec.weight_memory != "auto":
        return spec.weight_memory
    return "uram" if spec.target_info.uram > 0 else "bram"


@lru_cache(maxsize=None)
def table_walk(G: int, style: str):
    """The table-build order (one add/sub per table per cycle), shared by model, HLS and RTL."""
    depth = 3**G if style == "full" else (3**G + 1) // 2
    return tuple(build_walk(G, set(range(depth))))


def lane_path(m: MatmulModel, family: str, signs_in_tree=None) -> tuple[list[float], float]:
    """The lane path a lookup takes between the bank read register and the lane-sum register, as combinational
    delays per segment under the delay model (hwgen/timing.py): [table reads (TLMM; the mirror XOR included) or
    +a/0/-a selects (naive), adder-tree level 1, ..., level D], and the first segment's extra start delay (the
    weight memory's clock-to-out when it is block RAM / UltraRAM without an output register). Mirror tables'
    sign count: a balanced part of the tree (signs_in_tree, pipelined lanes) or a ripple chain beside the reads."""
    segs, first_extra = lane_segments(m, family, signs_in_tree)
    return [timing.comb_ns(family, seg) for seg in segs], first_extra


def lane_segments(m: MatmulModel, family: str, signs_in_tree=None) -> tuple[list, float]:
    """lane_path's segments as compositions (timing.Segment: levels, carry cells), for the levels a path
    crosses as well as its delay; the first is the slower of the table read and the ripple sign count."""
    if m.adder == "expert":   # no separate select segment: the selects sit in the first adder level's LUTs
        d = timing.DELAYS[family]
        extra = (d.ram_clk_to_q - d.clk_to_q) if m.weight_memory in ("bram", "uram") else 0.0
        return naive_expert.lane_segments(m, family), extra
    signs_in_tree = tlmm_rtl.sign_tree(m) if signs_in_tree is None else signs_in_tree
    widths = _tree_level_widths(m, signs_in_tree)
    if m.table_depth:
        first = timing.lutram_read_segment(m.table_depth)
        if m.table_style == "mirror":
            first = first + timing.Segment(depth=1)
    else:   # -a is a carry chain, then the 3:1 select
        first = timing.adder_segment(m.act_bits + 1) + timing.Segment(depth=1)
    if m.table_style == "mirror" and not signs_in_tree:
        # the ripple sign count; Yosys 0.23 maps a T-long chain of narrow increments to about 1.5 log2(T) levels
        # (measured: T = 4, 8, 16, 32 -> 2, 4, 5, 7 levels more than full tables; bench/results/tlmm_vs_naive.md)
        chain = timing.Segment(depth=math.ceil(1.5 * math.log2(max(m.T, 2))))
        if timing.comb_ns(family, chain) > timing.comb_ns(family, first):
            first = chain
    if m.adder == "ternary":   # hwgen_add3: majority LUT -> propagate LUT -> the family's carry cells
        level_seg = lambda bits: xilinx_prims.chain_adder_segment(bits, m.carry, lut_levels=2)  # noqa: E731
    else:
        level_seg = timing.adder_segment
    segs = [first] + [level_seg(widths[lv]) for lv in sorted(widths)]
    style = m.wbuf_style if m.weight_memory == "stream" else m.weight_memory
    d = timing.DELAYS[family]
    return segs, (d.ram_clk_to_q - d.clk_to_q) if style in ("bram", "uram") else 0.0


def _tree_level_widths(m: MatmulModel, signs_in_tree: bool) -> dict:
    """The widest adder per level of the unpipelined lane tree (tlmm_rtl.unpiped_tree)."""
    return _level_widths(tuple(tlmm_rtl.lane_leaves(m, signs_in_tree)[1]), m.lane_sum_bits, tlmm_rtl.tree_arity(m))


@lru_cache(maxsize=4096)
def _level_widths(leaves: tuple, max_bits: int, arity: int) -> dict:
    widths: dict[int, int] = {}
    for node in build_adder_tree(leaves, max_bits, arity=arity).nodes:     # s{level}_{i}
        level = int(node.name[1:].split("_")[0])
        widths[level] = max(widths.get(level, 0), node.bits)
    return widths


# LUT levels of the lane path as the open flow measures them (flows/synth_open.py logic_depth on Yosys 0.23 netlists).
# Yosys' alumacc merges an unregistered behavioural adder tree into one $macc, which it maps to a compressor of full
# adders and one final carry chain, so a part of n operands is not 2 levels per binary tree level but
# 1 + (number of MACC_OPERAND_CAPS below n): cap k is the most operands that k + 1 levels take. The caps are what the
# 434 naive designs of datasets/tlmm show (every one with n >= 5 exact but 45; from 19 on they grow by 3/2 per level,
# the full-adder reduction, below that ABC packs two reduction steps into one LUT6 where the columns are short).
MACC_OPERAND_CAPS = (1, 2, 4, 8, 12, 19, 28, 42, 63, 94, 141, 211, 316, 474, 711)
# Unpipelined mirror tables count the T lookup signs in a ripple of narrow increments beside the reads
# (hwgen_tlmm_lookup). The traced deepest path of such lanes (designs of T = 4-16 re-synthesized with `hwgen synth`,
# their netlist path followed cell by cell) starts at the weight word's sign bits: Yosys merges the ripple into one
# popcount $macc of T one-bit operands with its own carry chain, whose count then enters the lane $macc as its
# (T + 1)-th operand, then that $macc's carry chain: macc_levels(T) + macc_levels(T + 1) levels (mirror_ripple_levels).
# That law is the most common lut_depth of the `pipeline: 0` mirror designs of datasets/tlmm (all of them from today's
# RTL since its refresh) at 19 of the 31 T >= 2 they cover; at the others ABC packs the popcount's first levels
# unevenly and the measured mode is kept (MIRROR_RIPPLE_MEASURED: 1-2 levels from the law, 2 only at T = 18, 4
# records; tests/test_timing_depth.py checks every mode of three or more records). T = 1 has no ripple: its lane is
# the table read, the XOR and the one-bit count's adder, 3 levels, below the side paths.
# The earlier per-T table (all T = 1-32, fitted to the labels before the RTL split) was 1-4 levels low at several T;
# bench/results/timing_anchor_current.md has both on the same records.
MIRROR_RIPPLE_MEASURED = {1: 3, 3: 5, 5: 7, 9: 9, 12: 12, 14: 11, 15: 11, 18: 14, 19: 14, 20: 13, 22: 13, 23: 13, 28: 16}
# Mirror tables of G <= 2 with T = 2 or 3: one level more than the larger tables' 5 (current datasets/tlmm records: 6
# on 10 of 14, 7 on 3; G >= 3: 5 on 26 of 31). Their deepest path starts at the build walk's step register, not at
# the weight word: the 2- and 5-step walks (tlmm_walk) stay combinational logic of the step counter (1-2 LUTs to the
# table's write address), where Yosys folds the 14-step and longer walks into a ROM with a registered output; the
# open flow's netlist walk lets a LUTRAM's write address reach its read outputs (it counts every address pin), so the
# lane path runs step -> walk LUTs -> table -> lane $macc (two G = 2 designs re-synthesized with `hwgen synth` and
# their deepest path traced: 7 and 6 levels, as their records). Full G = 1 tables' 3-step walk is the same path
# (lane_parts' starts); at T >= 4 the ripple sign count is deeper.
MIRROR_SMALL_TABLE_MAX_G = 2
MIRROR_SMALL_TABLE_MAX_T = 3
# The paths beside the lane tree (table build: the G:1 activation select, the add/sub, the write into the replicas;
# the accumulator; control), LUT levels per (table style, G): the lut_depth of the T = 1 designs of datasets/tlmm,
# whose lane path is the table read alone. Naive designs: 3 (their T = 1 analogue, one activation per lane).
SIDE_PATH_LEVELS = {("full", 1): 4, ("full", 2): 4, ("full", 3): 4, ("full", 4): 6, ("full", 5): 6,
                    ("mirror", 1): 4, ("mirror", 2): 5, ("mirror", 3): 5, ("mirror", 4): 5, ("mirror", 5): 5}
NAIVE_SIDE_PATH_LEVELS = 3
# The accumulator (hwgen_lane_acc): the LUTRAM of nblocks partial sums read at the block index, the first-chunk select
# merged into the adder's propagate LUT, the adder's carry entry and the output select: 3 levels after the read. With
# nblocks <= 64 the read is one level (4 in all, within SIDE_PATH_LEVELS); deeper accumulators add the read's LUT
# muxes (timing.lutram_read_segment): the T = 1 full-table G <= 3 designs of datasets/tlmm with nblocks > 64 measure
# 5 levels on xcup (5 of 5; the one on xc7: 4), those with nblocks <= 64 the table's 4 (22 of 23 on xcup).
ACC_PATH_LEVELS_AFTER_READ = 3
# Weight streaming (tlmm_stream): the call's beat and address counters, 6 levels in all 12 streamed designs of
# datasets/layer_kernels (a carry path of 7 cascades on the critical path: the slowest path of 10 of the 12).
STREAM_SIDE_PATH_LEVELS = 6
STREAM_SIDE_PATH_CARRY = 7


@lru_cache(maxsize=4096)
def macc_levels(operands: int) -> int:
    """LUT levels (the final carry-chain entry included) of `operands` summed by one merged Yosys $macc."""
    if operands <= 1:
        return 0
    return 1 + sum(cap < operands for cap in MACC_OPERAND_CAPS)


def mirror_ripple_levels(T: int) -> int:
    """Levels of an unpipelined mirror lane by its traced structure: the popcount $macc of the T signs, then the lane
    $macc of the T entries and the count (see MIRROR_RIPPLE_MEASURED)."""
    return macc_levels(T) + macc_levels(T + 1)


def mirror_lane_levels(T: int) -> int:
    """The lane levels of an unpipelined mirror design: MIRROR_RIPPLE_MEASURED's where it has T (the measured mode
    where it differs from the law; T = 1: the traced ripple-free lane), else the law."""
    return MIRROR_RIPPLE_MEASURED.get(T, mirror_ripple_levels(T))


def table_macc_levels(operands: int, read_levels: int) -> int:
    """Levels of a TLMM lane's merged $macc behind its table reads (read_levels: timing.lutram_read_segment's). The
    table outputs (LUTRAM reads) differ from the naive selects MACC_OPERAND_CAPS were measured on in two places, both
    from the full-table `pipeline: 0` designs of datasets/tlmm whose labels come from today's RTL: 4 operands take 4
    levels, not 3 (G = 1-3 designs with T = 4: 7 of 7 exact with it), and behind a read of more than 64 entries
    (G >= 4: the LUTRAM read and its LUT muxes, which ABC cannot fold into the compressor's first LUTs) 5 to 8
    operands take one level more (G = 4, 5 with T = 5-8: 10 of 10)."""
    levels = macc_levels(operands)
    if operands == 4:
        levels += 1
    if read_levels >= 2 and 5 <= operands <= 8:
        levels += 1
    return levels


# The paths beside the lane carry one cascaded carry cell on their slowest path: the 47 T = 1 designs of
# datasets/tlmm whose slowest path starts at a register (the lane is the table read alone) have 1 on 27, 0 on 13,
# 2 on 7.
SIDE_PATH_CARRY = 1


# Unpipelined mirror tables with instantiated ternary trees: the ripple sign count (hwgen_tlmm_lookup, behavioural)
# stays apart from the tree and Yosys maps it to about 3 levels before the count's leaf, not lane_segments'
# 1.5 log2(T) (the measured ripple merged into a behavioural $macc): 3 levels make 15 of the 35 such designs of
# datasets/tlmm_adder exact (2: 12, 4: 6; the chain estimate: 6) and their crit_ns anchor 5 % off (was 20 %).
TERNARY_MIRROR_RIPPLE = timing.Segment(depth=3, carry_entries=1)


def acc_read_levels(m: MatmulModel) -> int:
    """LUT levels of the accumulator LUTRAM's read (nblocks entries) in a resident-weight table design, else 0 (naive
    and streaming designs keep their side-path constants)."""
    if not m.table_depth or m.weight_memory == "stream":
        return 0
    return timing.lutram_read_segment(m.nblocks).depth


def lane_parts(m: MatmulModel, family: str, acc_read=None) -> tuple[tuple[timing.Segment, bool], ...]:
    """The register-to-register paths of a design as the open flow's netlist walk measures them: each lane part
    between the pipeline registers (m.pipe_cuts, placed by with_pipeline on lane_path) and the side paths, as
    (composition, starts at a block RAM / UltraRAM output). Instantiated adders (`adder: ternary`, naive
    `adder: expert`) keep their primitives' segments (lane_segments); Yosys' own adders merge between the
    registers into one $macc per part (MACC_OPERAND_CAPS; table_macc_levels behind table reads), whose final carry
    chain spans the part's result bits. acc_read: acc_read_levels(m), given where m is a lane view without nblocks."""
    segs, first_extra = lane_segments(m, family)
    acc_read = acc_read_levels(m) if acc_read is None else acc_read
    ram = first_extra > 0
    side = SIDE_PATH_LEVELS.get((m.table_style, m.G), 5) if m.table_depth else NAIVE_SIDE_PATH_LEVELS
    carry = SIDE_PATH_CARRY
    if m.weight_memory == "stream":
        side, carry = max(side, STREAM_SIDE_PATH_LEVELS), STREAM_SIDE_PATH_CARRY
    if acc_read:
        side = max(side, ACC_PATH_LEVELS_AFTER_READ + acc_read)
    out = [(timing.Segment(depth=side, carry_entries=1, carry=carry), False)]
    bounds = (-1, *m.pipe_cuts, len(segs) - 1)
    if m.adder in ("ternary", "expert"):
        if m.table_style == "mirror" and not tlmm_rtl.sign_tree(m):
            segs = [TERNARY_MIRROR_RIPPLE] + list(segs[1:])
        for i, (a, b) in enumerate(zip(bounds, bounds[1:])):
            out.append((sum(segs[a + 1: b + 1], timing.Segment()), ram and i == 0))
        return tuple(out)
    root = timing.Segment(carry_entries=1, carry=max(0, math.ceil(m.lane_sum_bits / timing.CARRY_BITS) - 1))
    if m.table_style == "mirror" and not tlmm_rtl.sign_tree(m):
        lane = mirror_lane_levels(m.T)
        lane += m.G <= MIRROR_SMALL_TABLE_MAX_G and 2 <= m.T <= MIRROR_SMALL_TABLE_MAX_T
        # sign_tree is False only without registers: one part; its slowest path enters two carry chains, the
        # ripple's and the $macc's (206 of the 266 such designs of datasets/tlmm whose slowest path is the deepest,
        # 58 enter one)
        return tuple(out + [(root + timing.Segment(depth=lane, carry_entries=1), ram)])
    n = len(tlmm_rtl.lane_leaves(m)[1])
    widths = _tree_level_widths(m, tlmm_rtl.sign_tree(m))
    if m.table_depth:   # the weight bank addresses the tables
        starts = [(segs[0], ram)]
        if m.table_depth == 3:   # a 3-entry table (G = 1, full) has a path one level deeper than the 9- and 27-entry
            starts.append((segs[0] + timing.Segment(depth=1), False))   # ones, from a register (datasets/tlmm: 49)
    else:   # naive: the deepest path negates the registered activation, the slowest selects by the weight bits
        starts = [(segs[0], False), (timing.Segment(depth=1), ram)]
    for a, b in zip(bounds, bounds[1:]):
        lo = max(a, 0)                        # adder levels lo+1..b of the tree lie in this part
        operands = min(2 ** (b - lo), math.ceil(n / 2 ** lo))
        if a < 0 and m.table_depth:           # the $macc right behind the table reads
            part = timing.Segment(depth=table_macc_levels(operands, timing.lutram_read_segment(m.table_depth).depth))
        else:
            part = timing.Segment(depth=macc_levels(operands))
        if operands > 1:                      # the $macc's final carry chain: an entry and its cascades
            part += timing.Segment(carry_entries=1, carry=max(0, math.ceil(widths[b] / timing.CARRY_BITS) - 1))
        out += [(first + part, from_ram) for first, from_ram in starts] if a < 0 else [(part, False)]
    return tuple(out)


def lane_levels(m: MatmulModel, family: str, parts=None) -> int:
    """LUT levels of the deepest path a design's lane tree and its side paths take between registers, as the open
    flow counts them (a carry-chain entry is a level, cascades are not): the deepest of lane_parts."""
    parts = lane_parts(m, family) if parts is None else parts
    return max(seg.depth for seg, _ in parts)


def lane_crit_ns(m: MatmulModel, family: str, parts=None) -> float:
    """The slowest of lane_parts' arrivals (clock-to-out and setup excluded, a block RAM start included): what the
    open flow's crit_ns measures."""
    d = timing.DELAYS[family]
    parts = lane_parts(m, family) if parts is None else parts
    return max(timing.comb_ns(family, seg) + (d.ram_clk_to_q - d.clk_to_q) * ram for seg, ram in parts)


def placement_fmax(spec, m: MatmulModel) -> float:
    """The Fmax `pipeline: auto` places its stages with: the lane path's slowest part after the registers under the
    per-level segment model (lane_path: a LUT and a carry entry per binary adder level), capped like a design with
    block RAM / UltraRAM weights. More conservative than Kernel.fmax_estimate (the merged netlist's paths); kept for
    the placement, which fixes the RTL of every stored `auto` design."""
    family = spec.target_info.yosys_family
    comb, first = lane_path(m, family)
    style = m.wbuf_style if m.weight_memory == "stream" else m.weight_memory
    return timing.fmax_from_arrival(max(timing.parts_ns(comb, m.pipe_cuts, first)), family, style == "bram",
                                    style == "uram")


# The lane path (lane_segments, lane_levels, the pipeline placement, the graph's lane terms) reads only these model
# fields: designs that differ in K, N, Q, M_max, ... share it. Its memos compute on a lane view whose other fields
# raise when read (hwgen.memo.Unread): a lane function that starts reading another field fails loudly instead of
# serving a stale value.
LANE_FIELDS = ("G", "T", "act_bits", "chunk", "entry_bits", "lane_sum_bits", "table_depth", "table_style",
               "weight_memory", "wbuf_style", "adder", "carry", "pipeline", "pipe_cuts", "x_beat_bits", "word_bits",
               "build_cycles")


@functools.lru_cache(maxsize=None)
def _lane_names(cls: type, lane_fields: tuple) -> tuple[str, ...]:
    """The lane fields a model class has, in field order (lane_fields: LANE_FIELDS, read at each call)."""
    return tuple(f.name for f in dataclass_fields(cls) if f.name in lane_fields)


def _lane_view(cls: type, values: tuple) -> MatmulModel:
    """A model of class cls with these lane field values and every other field Unread."""
    lane = dict(zip(_lane_names(cls, LANE_FIELDS), values))
    return cls(**{f.name: lane[f.name] if f.name in lane else Unread(f"{cls.__name__}.{f.name}", "tlmm.LANE_FIELDS")
                  for f in dataclass_fields(cls)})


def lane_memo(fn):
    """Memoise fn(m, *args) (hashable args) on the model's LANE_FIELDS: computed once per lane, on its lane view."""
    @pure
    def on_lane(cls, args, values):
        return fn(_lane_view(cls, values), *args)

    @functools.wraps(fn)
    def wrapper(m, *args):
        if not memos_on():
            return fn(m, *args)
        return on_lane(type(m), args, operator.attrgetter(*_lane_names(type(m), LANE_FIELDS))(m))

    return wrapper


@pure
def _lane_placement(cls: type, family: str, pipeline, clock, values: tuple) -> tuple[int, tuple]:
    return _place_pipeline(pipeline, clock, family, _lane_view(cls, values))


def with_pipeline(spec, cls: type, fields: dict) -> MatmulModel:
    """The model cls(**fields) with `pipeline` resolved into register stages and their places. auto: the fewest
    stages whose slowest lane-path part meets the spec's clock under the delay model (all of them when none does).
    Memoised on the lane fields, the family and the clock (auto only)."""
    family = spec.target_info.yosys_family
    if not memos_on():
        stages, cuts = _place_pipeline(spec.pipeline, spec.clock, family, cls(**fields))
    else:
        values = operator.itemgetter(*_lane_names(cls, LANE_FIELDS))({**_MODEL_DEFAULTS, **fields})
        stages, cuts = _lane_placement(cls, family, spec.pipeline, spec.clock if spec.pipeline == "auto" else None,
                                       values)
    return cls(**{**fields, "pipeline": stages, "pipe_cuts": cuts,
                  "pipeline_cycles": fields["pipeline_cycles"] + stages})


def _place_pipeline(pipeline, clock: float, family: str, m: MatmulModel) -> tuple[int, tuple]:
    flat, flat_first = lane_path(m, family, signs_in_tree=False)
    comb, first_extra = lane_path(m, family, signs_in_tree=m.table_style == "mirror")
    most = len(comb) - 1

    def slowest(p):
        if p == 0:
            return max(timing.parts_ns(flat, (), flat_first))
        return max(timing.parts_ns(comb, timing.place_stages(comb, p, first_extra), first_extra))

    if pipeline == "auto":
        budget = 1000.0 / clock - timing.path_ns(family, 0)
        stages = next((p for p in range(most + 1) if slowest(p) <= budget), most)
    else:
        stages = pipeline
        if stages > most:
            raise UserError("pipeline", f"{stages} register stages exceed the {most} places of this design's lane "
                                        f"path (after the table reads or selects and {most - 1} adder-tree levels); "
                                        f"allowed: auto, 0..{most}")
    return stages, tuple(timing.place_stages(comb, stages, first_extra))


@lane_memo
def _lane_timing(m: MatmulModel, family: str, acc_read: int) -> dict:
    """timing_estimate's values, from lane_parts (callers get a copy); acc_read: acc_read_levels of the model."""
    parts = lane_parts(m, family, acc_read)
    side = parts[0][0]
    return {"lut_depth": float(lane_levels(m, family, parts)), "crit_ns": lane_crit_ns(m, family, parts),
            "side_depth": float(side.depth), "side_ns": timing.comb_ns(family, side)}


class _TernaryMatmulKernel(Kernel):
    node_types = ("weight_bank", "table_build", "table_bank", "select", "lane_tree", "accumulator")

    def check(self, spec) -> None:
        if spec.weight_memory == "uram" and spec.target_info.uram == 0:
            raise UserError("weight_memory", f"target {spec.target} has no URAM; allowed: auto, bram, lutram")
        if spec.pipeline != "auto":
            self.model(spec)      # names `pipeline` when it exceeds the lane path's places

    def rtl_top(self, spec) -> str:
        return self.model(spec).top

    def fmax_estimate(self, spec):
        """The slowest of the lane parts between the placed pipeline registers and the side paths as the open flow
        measures them (lane_crit_ns), capped like a synthesized design with block RAM / UltraRAM weights."""
        m = self.model(spec)
        family = spec.target_info.yosys_family
        style = m.wbuf_style if m.weight_memory == "stream" else m.weight_memory
        return timing.fmax_from_arrival(lane_crit_ns(m, family), family, style == "bram", style == "uram")

    def timing_estimate(self, spec):
        """The lane parts between the placed pipeline registers and the side paths as Yosys 0.23 maps them and the
        open flow's netlist walk measures them (lane_parts): the deepest one's LUT levels, the slowest one's arrival
        (a block RAM start included; the arrival fmax_estimate reads), and the side paths' levels and arrival (which
        a composition's stream adapters lengthen). The surrogate's timing anchor; the rest is the GNN's correction."""
        m = self.model(spec)
        return dict(_lane_timing(m, spec.target_info.yosys_family, acc_read_levels(m)))

    def render_context(self, spec) -> dict:
        return tlmm_rtl.render_context(self, spec)

    def outputs(self, backend):
        return tlmm_rtl.outputs(self.kind, backend)

    # --- interface and performance -------------------------------------------------
    def ports(self, spec):
        m = self.model(spec)
        return [
            Port("w", "in", m.fields, m.field_bits, False, "s_axis_w", role="setup",
                 unit_elements=m.wbuf_depth * m.lanes * m.fields),
            Port("x", "in", m.chunk, m.act_bits, True, "s_axis_x", input_key="x", unit_elements=m.K),
            Port("y", "out", m.lanes, m.acc_bits, True, "m_axis_y", unit_elements=m.N),
        ]

    def performance(self, spec) -> Performance:
        m = self.model(spec)
        return Performance(latency_cycles=m.cycles_per_token + m.pipeline_cycles, ii=m.cycles_per_token,
                           unit=self.unit, macs=m.K * m.N, macs_per_cycle=m.macs_per_cycle,
                           bytes={"x": m.K * m.act_bits / 8, "y": m.N * m.acc_bits / 8,
                                  "w": m.wbuf_depth * m.lanes * m.word_bits / 8})

    def hls_scalars(self, spec):
        return [Scalar("load_weights", "bool"), Scalar("m_tokens", "int")]

    def units_scalar(self, spec):
        return "m_tokens"

    def units_per_call(self, spec):
        return spec.M_max

    def call_plan(self, spec, inputs):
        """Calls of at most M_max tokens; the weights are loaded by the first call only."""
        total, batch = self.vector_count(spec, inputs), spec.M_max
        return [[int(start == 0), min(batch, total - start)] for start in range(0, total, batch)]

    # --- data ---------------------------------------------------------------
    def random_inputs(self, spec, rng, vectors):
        lo, hi = -(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1
        x = rng.integers(lo, hi + 1, size=(vectors, spec.K), dtype=np.int64)
        # Sprinkle the extremes so every run exercises the overflow bounds.
        if vectors > 0:
            x[0, : spec.K // 2] = lo
            x[-1, spec.K // 2 :] = hi
        w = rng.integers(-1, 2, size=(spec.K, spec.N), dtype=np.int64)
        return {"x": x, "w": w}

    def input_names(self, spec):
        return ("x", "w")

    def input_doc(self, spec):
        return f"x [M, {spec.K}] int8, w [{spec.K}, {spec.N}] in {{-1, 0, 1}}"

    def validate_inputs(self, spec, inputs):
        x, w = np.asarray(inputs["x"]), np.asarray(inputs["w"])
        if x.ndim != 2 or x.shape[1] != spec.K or x.shape[0] < 1:
            raise UserError("x", f"shape {list(x.shape)} does not match the config; expected [M, {spec.K}] with M >= 1")
        if x.dtype.kind not in "iu":
            raise UserError("x", f"dtype {x.dtype} is not an integer type; expected int8")
        lo, hi = -(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1
        if x.min() < lo or x.max() > hi:
            raise UserError("x", f"values outside [{lo}, {hi}] (act_bits={spec.act_bits}): min {x.min()}, max {x.max()}")
        if w.ndim != 2 or w.shape != (spec.K, spec.N):
            raise UserError("w", f"shape {list(w.shape)} does not match the config; expected [{spec.K}, {spec.N}]")
        w = check_ternary(w)
        return {"x": x.astype(np.int64), "w": w.astype(np.int64)}

    def vector_count(self, spec, inputs) -> int:
        return int(inputs["x"].shape[0])

    def output_dtype(self, spec):
        return np.int32 if self.model(spec).acc_bits <= 32 else np.int64

    def user_output(self, spec, inputs, outputs):
        return {"y": outputs["y"].astype(self.output_dtype(spec))}

    def weight_words(self, spec, w: np.ndarray) -> np.ndarray:
        """Ternary [K, N] -> weight words as field vectors [words, fields], in stream order: bank address major,
        bank (lane) minor (bank q holds columns nb*Q + q)."""
        fields = self.weight_fields(spec, w)                        # [chunks, fields, N_pad]
        return np.transpose(fields, (0, 2, 1)).reshape(-1, fields.shape[1])

    def encode_weights(self, spec, w: np.ndarray) -> list[int]:
        """Weight words packed into integers (field 0 at the LSBs), in stream order."""
        return pack_fields(self.weight_words(spec, w), self.model(spec).field_bits)

    def decode_weights(self, spec, words: list[int]) -> np.ndarray:
        raise NotImplementedError

    def stream_beats(self, spec, inputs):
        m = self.model(spec)
        words = self.weight_words(spec, inputs["w"]).tolist()
        x = inputs["x"]
        xp = np.zeros((x.shape[0], m.K_pad), dtype=np.int64)
        xp[:, : spec.K] = x
        chunks = xp.reshape(-1, m.chunk).tolist()
        return {"w": [(int(i == len(words) - 1), wd) for i, wd in enumerate(words)],
                "x": [(int(i % m.chunks == m.chunks - 1), c) for i, c in enumerate(chunks)]}

    def output_units(self, spec, inputs):
        return {"y": [self.model(spec).nblocks] * self.vector_count(spec, inputs)}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        y = np.asarray(beats["y"], dtype=np.int64).reshape(self.vector_count(spec, inputs), m.N_pad)
        return {"y": y[:, : spec.N]}

    def graph(self, spec):
        from .tlmm_graph import build_matmul
        return build_matmul(self, spec)

    @spec_memo
    def graph_key(self, spec):
        from .tlmm_graph import matmul_graph_key
        return matmul_graph_key(self, spec)


class TLMMKernel(_TernaryMatmulKernel):
    kind = "tlmm"
    spec_model = TLMMSpec
    node_types = _TernaryMatmulKernel.node_types + ("stream_buffer",)   # weight_memory: stream
    description = "ternary table-lookup matmul (T tables of 3^G partial sums, Q lookups each per cycle)"

    @spec_memo
    def model(self, spec: TLMMSpec) -> MatmulModel:
        G, T, Q = spec.G, spec.T, spec.Q
        full_depth = 3**G
        if spec.table_style == "full":
            depth, mirror_bits = full_depth, 0
            field_bits = clog2(full_depth)
        else:
            depth = (full_depth + 1) // 2
            mirror_bits = index_bits(depth)
            field_bits = mirror_bits + 1
        chunk = T * G
        build = len(table_walk(G, spec.table_style))
        K_pad, N_pad = pad_to(spec.K, chunk), pad_to(spec.N, Q)
        chunks, nblocks = K_pad // chunk, N_pad // Q
        # |x * w| <= 2^(a-1), reached by x = -2^(a-1), w = -1: a sum of n terms spans [-n*amax, +n*amax].
        amax = 1 << (spec.act_bits - 1)
        acc_bits = signed_bits_for_bound(spec.K * amax)
        stream = spec.weight_memory == "stream"
        extra = {}
        if stream:
            wb = spec.w_beat_words or Q
            extra = dict(beat_words=wb, w_beat_bits=wb * T * field_bits, chunk_beats=nblocks * Q // wb,
                         call_beats=chunks * nblocks * Q // wb, xbuf_depth=spec.M_max * chunks,
                         acc_depth=spec.M_max * nblocks, wbuf_style=tlmm_stream.mem_style(2 * nblocks),
                         xbuf_style=tlmm_stream.mem_style(spec.M_max * chunks, spec.buffer_memory),
                         acc_style=tlmm_stream.mem_style(spec.M_max * nblocks, spec.buffer_memory))
        return with_pipeline(spec, StreamModel if stream else MatmulModel, dict(
            **extra,
            top=spec.design_name,
            K=spec.K, N=spec.N, M_max=spec.M_max, act_bits=spec.act_bits,
            chunk=chunk, lanes=Q, K_pad=K_pad, N_pad=N_pad, chunks=chunks, nblocks=nblocks,
            acc_bits=acc_bits,
            lane_sum_bits=min(acc_bits, signed_bits_for_bound(T * G * amax)),
            field_bits=field_bits, fields=T, word_bits=T * field_bits,
            wbuf_depth=2 * nblocks if stream else chunks * nblocks,
            weight_memory="stream" if stream else _weight_memory(spec),
            build_cycles=build, macs_per_cycle=T * Q * G,
            cycles_per_token=chunks * (build + nblocks), pipeline_cycles=4,
            x_beat_bits=chunk * spec.act_bits, y_beat_bits=Q * acc_bits,
            G=G, T=T, table_style=spec.table_style, table_depth=depth,
            entry_bits=signed_bits_for_bound(G * amax), mirror_bits=mirror_bits, adder=spec.adder,
            carry=xilinx_prims.carry_primitive(spec.target_info.yosys_family) if spec.adder == "ternary" else "",
        ))

    def weight_fields(self, spec, w):
        m = self.model(spec)
        idx = group_indices(w, m.G, m.K_pad, m.N_pad).reshape(m.chunks, m.T, m.N_pad)
        if m.table_style == "mirror":
            sign, mi = mirror_fold(idx, m.G)
            return (sign << m.mirror_bits) | mi
        return idx

    def decode_weights(self, spec, words):
        m = self.model(spec)
        from .ternary import unpack_fields
        fields = unpack_fields(words, m.T, m.field_bits).reshape(m.chunks, m.N_pad, m.T)
        if m.table_style == "mirror":
            sign, mi = fields >> m.mirror_bits, fields & ((1 << m.mirror_bits) - 1)
            fields = np.where(sign == 1, 3**m.G - 1 - mi, mi)
        groups = np.transpose(fields, (0, 2, 1)).reshape(m.chunks * m.T, m.N_pad)
        digits = np.stack([(groups // 3**i) % 3 - 1 for i in range(m.G)], axis=1)  # [groups, G, N_pad]
        return digits.reshape(m.K_pad, m.N_pad)[: spec.K, : spec.N]

    def render_context(self, spec):
        return tlmm_rtl.render_context(self, spec, table_walk(spec.G, spec.table_style))

    # --- weight_memory: stream (tlmm_stream.py; every method below falls back to the on-chip kernel) -------
    @staticmethod
    def streaming(spec) -> bool:
        return spec.weight_memory == "stream"

    def check(self, spec) -> None:
        super().check(spec)
        tlmm_stream.check(spec)

    def outputs(self, backend):
        return tlmm_rtl.outputs(self.kind, backend)

    def files(self, spec, backend):
        from ..render import render_template

        ctx = self.render_context(spec)
        outs = tlmm_rtl.outputs("tlmm_stream" if self.streaming(spec) else self.kind, backend, spec.adder)
        return {out.format(top=ctx["top"]): render_template(template, ctx) for template, out in outs}

    def ports(self, spec):
        if not self.streaming(spec):
            return super().ports(spec)
        m = self.model(spec)
        return [
            Port("w", "in", m.beat_words * m.T, m.field_bits, False, "s_axis_w", role="data",
                 unit_elements=m.call_beats * m.beat_words * m.T),
            Port("x", "in", m.chunk, m.act_bits, True, "s_axis_x", input_key="x", unit_elements=m.M_max * m.K),
            Port("y", "out", m.lanes, m.acc_bits, True, "m_axis_y", unit_elements=m.M_max * m.N),
        ]

    def performance(self, spec) -> Performance:
        """Stream: the unit is a call of M_max tokens at full s_axis_w rate; `bytes` per call, with the weight
        bytes also per token (w_per_token) for memory-roofline planners."""
        if not self.streaming(spec):
            return super().performance(spec)
        m = self.model(spec)
        lat, ii = tlmm_stream.call_cycles(m, [m.M_max, m.M_max])
        wbytes = tlmm_stream.call_bytes(m)
        return Performance(latency_cycles=lat, ii=ii, unit="call", macs=m.M_max * m.K * m.N,
                           macs_per_cycle=m.macs_per_cycle,
                           bytes={"x": m.M_max * m.K * m.act_bits / 8, "y": m.M_max * m.N * m.acc_bits / 8,
                                  "w": wbytes, "w_per_token": wbytes / m.M_max})

    def stream_cycles(self, spec, m_tokens: int, bytes_per_cycle=None, calls: int = 3) -> dict:
        """Cycle model of calls of m_tokens with s_axis_w at bytes_per_cycle (tlmm_stream.stream_cycles)."""
        if not self.streaming(spec):
            raise UserError("weight_memory", "stream_cycles needs weight_memory: stream")
        return tlmm_stream.stream_cycles(self, spec, m_tokens, bytes_per_cycle, calls)

    def hls_scalars(self, spec):
        return [Scalar("m_tokens", "int")] if self.streaming(spec) else super().hls_scalars(spec)

    def call_plan(self, spec, inputs):
        if not self.streaming(spec):
            return super().call_plan(spec, inputs)
        return [[n] for n in tlmm_stream.call_sizes(spec, int(inputs["x"].shape[0]))]

    def random_inputs(self, spec, rng, vectors):
        """Stream: `vectors` calls of M_max tokens (the unit is a call)."""
        if not self.streaming(spec):
            return super().random_inputs(spec, rng, vectors)
        return super().random_inputs(spec, rng, vectors * spec.M_max)

    def vector_count(self, spec, inputs) -> int:
        if not self.streaming(spec):
            return super().vector_count(spec, inputs)
        return len(tlmm_stream.call_sizes(spec, int(inputs["x"].shape[0])))

    def expected_cycles(self, spec, inputs) -> int:
        if not self.streaming(spec):
            return super().expected_cycles(spec, inputs)
        sizes = tlmm_stream.call_sizes(spec, int(inputs["x"].shape[0]))
        return tlmm_stream.schedule(self.model(spec), sizes)["y_last"][-1]

    def stream_beats(self, spec, inputs):
        if not self.streaming(spec):
            return super().stream_beats(spec, inputs)
        return tlmm_stream.stream_beats(self, spec, inputs)

    def output_units(self, spec, inputs):
        if not self.streaming(spec):
            return super().output_units(spec, inputs)
        nb = self.model(spec).nblocks
        return {"y": [n * nb for n in tlmm_stream.call_sizes(spec, int(inputs["x"].shape[0]))]}

    def from_beats(self, spec, inputs, beats):
        m = self.model(spec)
        y = np.asarray(beats["y"], dtype=np.int64).reshape(int(inputs["x"].shape[0]), m.N_pad)
        return {"y": y[:, : spec.N]}

    def golden(self, spec, inputs):
        """Table-lookup algorithm, bit-exact with the hardware (tables built, then indexed)."""
        m = self.model(spec)
        fields = self.weight_fields(spec, inputs["w"])          # [chunks, T, N_pad]
        x = inputs["x"]
        xp = np.zeros((x.shape[0], m.K_pad), dtype=np.int64)
        xp[:, : spec.K] = x
        D = digit_table(m.G)[: m.table_depth]                   # [depth, G]
        y = np.zeros((x.shape[0], m.N_pad), dtype=np.int64)
        if m.table_style == "mirror":
            sign, idx = fields >> m.mirror_bits, fields & ((1 << m.mirror_bits) - 1)
        else:
            sign, idx = np.zeros_like(fields), fields
        for tok in range(x.shape[0]):
            groups = xp[tok].reshape(m.chunks, m.T, m.G)
            tables = groups @ D.T                               # [chunks, T, depth]
            vals = np.take_along_axis(tables, idx, axis=2)      # [chunks, T, N_pad]
            vals = np.where(sign == 1, -vals, vals)
            y[tok] = vals.sum(axis=(0, 1))
        return {"y": y[:, : spec.N]}


class NaiveKernel(_TernaryMatmulKernel):
    kind = "tlmm_naive"
    spec_model = NaiveSpec
    description = "naive ternary matmul baseline (+a / 0 / -a select into adder trees, P_k*P_n MACs per cycle)"

    @spec_memo
    def model(self, spec: NaiveSpec) -> MatmulModel:
        K_pad, N_pad = pad_to(spec.K, spec.P_k), pad_to(spec.N, spec.P_n)
        chunks, nblocks = K_pad // spec.P_k, N_pad // spec.P_n
        amax = 1 << (spec.act_bits - 1)
        acc_bits = signed_bits_for_bound(spec.K * amax)
        return with_pipeline(spec, MatmulModel, dict(
            top=spec.design_name,
            K=spec.K, N=spec.N, M_max=spec.M_max, act_bits=spec.act_bits,
            chunk=spec.P_k, lanes=spec.P_n, K_pad=K_pad, N_pad=N_pad, chunks=chunks, nblocks=nblocks,
            acc_bits=acc_bits, lane_sum_bits=min(acc_bits, signed_bits_for_bound(spec.P_k * amax)),
            field_bits=2, fields=spec.P_k, word_bits=2 * spec.P_k,
            wbuf_depth=chunks * nblocks, weight_memory=_weight_memory(spec),
            build_cycles=0, macs_per_cycle=spec.P_k * spec.P_n, cycles_per_token=chunks * nblocks, pipeline_cycles=5,
            x_beat_bits=spec.P_k * spec.act_bits, y_beat_bits=spec.P_n * acc_bits, adder=spec.adder,
            carry=xilinx_prims.carry_primitive(spec.target_info.yosys_family) if spec.adder == "expert" else "",
        ))

    def render_context(self, spec):
        ctx = super().render_context(spec)
        m = self.model(spec)
        ctx["xtree"] = naive_expert.render_context(m) if m.adder == "expert" else None
        if m.adder == "expert":
            ctx["tree_cuts"] = ", ".join(f"level {c + 1}" for c in m.pipe_cuts) or "none"
        return ctx

    def outputs(self, backend):
        return tlmm_rtl.outputs(self.kind, backend)

    def files(self, spec, backend):
        from ..render import render_template

        ctx = self.render_context(spec)
        outs = tlmm_rtl.outputs(self.kind, backend)
        if backend == "rtl" and ctx["xtree"]:
            outs = outs + [(f"lib/rtl/{name}.v", f"rtl/{name}.v") for name in naive_expert.LIB_MODULES]
        return {out.format(top=ctx["top"]): render_template(template, ctx) for template, out in outs}

    def weight_fields(self, spec, w):
        m = self.model(spec)
        wp = np.zeros((m.K_pad, m.N_pad), dtype=np.int64)
        wp[: spec.K, : spec.N] = check_ternary(w)
        return to_unsigned(wp, 2).reshape(m.chunks, m.fields, m.N_pad)   # 2-bit two's complement

    def decode_weights(self, spec, words):
        m = self.model(spec)
        from .ternary import unpack_fields
        fields = unpack_fields(words, m.fields, 2).reshape(m.chunks, m.N_pad, m.fields)
        w = to_signed(np.transpose(fields, (0, 2, 1)).reshape(m.K_pad, m.N_pad), 2)
        return w[: spec.K, : spec.N]

    def golden(self, spec, inputs):
        """Select-and-add, chunk by chunk as the hardware does (exact integer arithmetic)."""
        w = inputs["w"].astype(np.int64)
        x = inputs["x"].astype(np.int64)
        sel = np.where(w[None, :, :] == 1, x[:, :, None], 0) - np.where(w[None, :, :] == -1, x[:, :, None], 0)
        return {"y": sel.sum(axis=1)}
