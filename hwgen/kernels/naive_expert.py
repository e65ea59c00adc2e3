"""The expert naive adder (`tlmm_naive` with `adder: expert`): the +a / 0 / -a select fused into the first adder
level, written with Xilinx primitives because Yosys 0.23 does not find this structure in behavioural Verilog
(it merges select and tree into a $macc of LUT full adders, about 26-28 LUT-eq per MAC/cycle).

A lane's P_k activations a_i (ACT_BITS signed) with weight codes c_i (01: +1, 11: -1, 00: 0; encode_weights never
writes 10) are summed as ones' complement selects u_i = nz_i ? a_i ^ {neg_i} : 0 (nz_i = c_i[0], neg_i = c_i[1])
plus the count of negations (the +1 of each two's-complement negation):

  pair level (hwgen_xsel_pair): per result bit one LUT6_2 reads a_2k[j], a_2k+1[j] and both codes and gives the
    propagate u0 ^ u1 (O6) and the generate operand u0 (O5) of a carry chain, so two MACs cost ACT_BITS LUTs;
    the chain's carry-in takes neg_2k.
  tree: ternary adders (hwgen_add3, shared with the TLMM's `adder: ternary`: a + b + c + y0 + ci, the carry-save carry of bit j computed in bit j's LUT
    O5 and passed to bit j+1's LUT, as Vivado builds a + b + c on UltraScale+), and binary ones where a level
    leaves two (hwgen_add2: a + b + c0 + ci); both are one LUT6_2 per result bit on a carry chain and take two
    pending negation bits (neg_2k+1 of the pairs below them) on inputs that are otherwise zero, so the corrections
    cost no LUTs (a ternary root left with a third adds one more adder).

The node widths come from the exact value ranges (a node over n selects that absorbed k corrections lies in
[-2^(A-1) n, (2^(A-1) - 1) n + k]), so every adder is exact modulo its width. Pipeline registers (`pipeline`) sit
after tree levels (cut i: after level i + 1; level 1 is the pair level) and hold every value alive there, the
pending correction bits included. This is RTL only: the HLS twin stays the behavioural select-and-add, because
Vitis/Vivado fold the select into the carry-chain LUTs themselves.

The chains are CARRY8 on UltraScale+ and CARRY4 on 7-series (hwgen_carry_chain.v); INITs, carry primitive and the
delay-model segment of each adder come from hwgen/kernels/xilinx_prims.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import timing
from . import xilinx_prims

# Library modules the expert lane adds to the naive project (templates/lib/rtl/, copied verbatim)
LIB_MODULES = ("hwgen_xsel_pair", "hwgen_add2", "hwgen_add3", "hwgen_carry_chain")

# LUT levels in front of the carry chain per node kind: the ternary adder's bit LUT reads the carry-save carry of
# the LUT below it (xilinx_prims.chain_adder_segment)
_LUT_LEVELS = {"pair": 1, "add": 1, "add3": 2}


@dataclass(frozen=True)
class XNode:
    """One value of the expert lane: a pair adder, a binary or ternary tree adder or a register (every port as a
    Verilog expression, widths included)."""
    name: str
    bits: int
    kind: str                 # pair | add | add3 | reg
    level: int
    a: str = ""
    b: str = ""
    c: str = ""               # add3: the third operand
    a_bits: int = 0
    b_bits: int = 0
    c_bits: int = 0
    c_a: str = ""             # pair: the two weight codes
    c_b: str = ""
    ci: str = "1'b0"          # carry-in: a pending negation bit
    c0: str = "1'b0"          # add / add3: a second one, at bit 0 of the carry-save operand


@dataclass
class _Value:
    name: str
    bits: int
    lo: int                   # value range (exact bound of what the node can hold)
    hi: int
    pending: list             # negation bits of selects below it not yet added


def _bits_for(lo: int, hi: int) -> int:
    return max((-lo - 1).bit_length(), hi.bit_length()) + 1


def _groups(m: int) -> list[int]:
    """Operands per adder of one tree level over m values: ternary adders, a binary one for a remainder of two (or
    two for four values), a remainder of one passes to the next level."""
    if m == 4:
        return [2, 2]
    sizes = [3] * (m // 3)
    return sizes + ([m % 3] if m % 3 else [])


def build_tree(chunk: int, act_bits: int, lane_bits: int, cuts=()) -> tuple[list[XNode], str, int]:
    """(nodes in dependency order, root name, levels) of one lane over activations `x` and weight codes `word`
    (the tree module's ports). cuts: register after these levels - 1 (cut 0: after the pair level)."""
    amax, npairs = 1 << (act_bits - 1), (chunk + 1) // 2
    nodes: list[XNode] = []
    level: list[_Value] = []
    for k in range(npairs):
        i0, i1 = 2 * k, 2 * k + 1
        a0, c0 = f"x[{i0 * act_bits} +: {act_bits}]", f"word[{2 * i0} +: 2]"
        if i1 < chunk:
            a1, c1, pend = f"x[{i1 * act_bits} +: {act_bits}]", f"word[{2 * i1} +: 2]", [f"word[{2 * i1 + 1}]"]
            lo, hi = -2 * amax, 2 * (amax - 1) + 1
        else:   # odd chunk: the last pair's second operand is a constant zero select
            a1, c1, pend = f"{act_bits}'d0", "2'b00", []
            lo, hi = -amax, amax
        node = XNode(f"p_{k}", act_bits + 1, "pair", 1, a=a0, b=a1, a_bits=act_bits, b_bits=act_bits, c_a=c0,
                     c_b=c1, ci=f"word[{2 * i0 + 1}]")
        nodes.append(node)
        level.append(_Value(node.name, node.bits, lo, hi, pend))
    depth = 1

    def alive():      # values still to add: more than one, or one with a correction pending
        return len(level) > 1 or bool(level[0].pending)

    def register(after: int):
        nonlocal level
        regs = []
        for j, v in enumerate(level):
            r = XNode(f"r{after}_{j}", v.bits, "reg", after, a=v.name)
            nodes.append(r)
            pend = []
            for m, bit in enumerate(v.pending):
                rb = XNode(f"r{after}_{j}_n{m}", 1, "reg", after, a=bit)
                nodes.append(rb)
                pend.append(rb.name)
            regs.append(_Value(r.name, v.bits, v.lo, v.hi, pend))
        level = regs

    def add(name: str, vals: list, lvl: int) -> _Value:
        """An adder over 2 or 3 values that absorbs up to two of their pending corrections; exact width."""
        pend = [b for v in vals for b in v.pending]
        take = pend[:2]
        lo, hi = sum(v.lo for v in vals), sum(v.hi for v in vals) + len(take)
        bits = min(_bits_for(lo, hi), lane_bits)
        ops = dict(a=vals[0].name, b=vals[1].name, a_bits=vals[0].bits, b_bits=vals[1].bits,
                   ci=take[0] if take else "1'b0", c0=take[1] if len(take) > 1 else "1'b0")
        if len(vals) == 3:
            ops.update(c=vals[2].name, c_bits=vals[2].bits)
        nodes.append(XNode(name, bits, "add3" if len(vals) == 3 else "add", lvl, **ops))
        return _Value(name, bits, lo, hi, pend[2:])

    if 0 in cuts and alive():
        register(1)
    while alive():
        depth += 1
        nxt, i = [], 0
        if len(level) == 1:   # corrections left at the root (a ternary root had three): one more adder
            zero = _Value("1'b0", 1, 0, 0, [])
            nxt.append(add(f"s{depth}_0", [level[0], zero], depth))
        else:
            for g, size in enumerate(_groups(len(level))):
                vals, i = level[i:i + size], i + size
                nxt.append(vals[0] if size == 1 else add(f"s{depth}_{g}", vals, depth))
        level = nxt
        if depth - 1 in cuts and alive():
            register(depth)
    # No check that root.lo..root.hi fits lane_bits: with K < P_k (K padded up to one chunk) the caller's lane_bits
    # follows acc_bits (the real sum's bound, the padded activations are zero), narrower than the chunk's bound;
    # every adder above is clamped to lane_bits and exact modulo its width, so the root is exact there too.
    return nodes, level[0].name, depth


def lane_segments(m, family: str) -> list:
    """The expert lane path as the slowest segment (timing.Segment) per tree level, pair level first."""
    nodes, _, depth = build_tree(m.chunk, m.act_bits, m.lane_sum_bits)
    worst: list = [None] * depth
    for n in nodes:
        if n.kind != "reg":
            seg = xilinx_prims.chain_adder_segment(n.bits, m.carry, _LUT_LEVELS[n.kind])
            cur = worst[n.level - 1]
            if cur is None or timing.comb_ns(family, seg) > timing.comb_ns(family, cur):
                worst[n.level - 1] = seg
    return worst


def render_context(m) -> dict:
    nodes, root, depth = build_tree(m.chunk, m.act_bits, m.lane_sum_bits, m.pipe_cuts)
    stages = len({n.level for n in nodes if n.kind == "reg"})
    assert stages == m.pipeline, (stages, m.pipeline)
    bit0, bit1, bitn = (xilinx_prims.init_hex(i) for i in xilinx_prims.ADD2_INITS)
    return {"nodes": nodes, "root": root, "levels": depth, "carry": m.carry,
            "init_pair": xilinx_prims.init_hex(xilinx_prims.PAIR_INIT), "init_add0": bit0, "init_add1": bit1,
            "init_addn": bitn, "init_add3": xilinx_prims.init_hex(xilinx_prims.TERNARY_INIT)}
