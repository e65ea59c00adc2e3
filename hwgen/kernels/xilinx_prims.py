"""Xilinx primitive decisions shared by the instantiated adders (templates/lib/rtl/): the LUT6_2 INITs of every bit
slice, the carry primitive per family and the delay-model segment of one carry-chain adder.

Users: the TLMM's `adder: ternary` lane trees and table builders (hwgen_add3.v, hwgen_tlmm_build_prim.v) and the
naive kernel's `adder: expert` lanes (hwgen_xsel_pair.v, hwgen_add2.v, hwgen_add3.v; hwgen/kernels/naive_expert.py),
all on hwgen_carry_chain.v. Yosys 0.23 merges a behavioural adder tree into a $macc and maps it to LUT full adders
and CARRY4s, two operands per carry chain; the instantiated slices add three operands per chain (one LUT6_2 per bit),
which is what Vivado builds from a + b + c on UltraScale+ and 7-series.
"""
from __future__ import annotations

import math
from typing import Callable

from .. import timing
from ..errors import UserError

# The carry primitive per Yosys family and the bits one cell carries.
CARRY_PRIMITIVE = {"xcup": "CARRY8", "xc7": "CARRY4"}
CARRY_CELL_BITS = {"CARRY8": 8, "CARRY4": 4}


def lut6_2_init(o6: Callable[..., int], o5: Callable[..., int]) -> int:
    """INIT of a LUT6_2 used with I5 = 1 (both outputs): O5 = INIT[k], O6 = INIT[32 + k] for the input
    k = I4..I0 (cells_sim.v's LUT6_2)."""
    init = 0
    for k in range(32):
        ins = [(k >> j) & 1 for j in range(5)]
        init |= (o5(*ins) & 1) << k
        init |= (o6(*ins) & 1) << (32 + k)
    return init


def lut6_init(o6: Callable[..., int]) -> int:
    """INIT of a LUT6_2 whose O6 reads all six inputs I0..I5 (O6 = INIT[I5..I0]); O5 is then INIT[31:0], O6 at
    I5 = 0."""
    return sum((o6(*[(k >> j) & 1 for j in range(6)]) & 1) << k for k in range(64))


def _majority(x, y, z):
    return (x & y) | (x & z) | (y & z)


# hwgen_add3 (a + b + c + y0 + ci): I0..I3 = a[i], b[i], c[i], m[i] (the carry-save carry of bit i-1, y0 at bit 0);
# O5 = majority (the carry-save carry to bit i+1), O6 = the carry-chain propagate.
TERNARY_INIT = lut6_2_init(lambda a, b, c, m, _: a ^ b ^ c ^ m, lambda a, b, c, m, _: _majority(a, b, c))

# hwgen_add2 (a + b + c0 + ci) as the carry-save sum S + 2 C + ci (S = a ^ b ^ c0, C = majority, c0 at bit 0 only):
# propagate S_j ^ C_j-1 (O6), generate operand S_j (O5). Bit 0: I0..I2 = a0, b0, c0; bit 1: I0..I4 = a1, b1, a0,
# b0, c0; bit j >= 2: I0..I3 = a_j, b_j, a_j-1, b_j-1 (each bit computes the carry of the bit below itself).
ADD2_INITS = (
    lut6_2_init(lambda a, b, c0, *_: a ^ b ^ c0, lambda a, b, c0, *_: a ^ b ^ c0),
    lut6_2_init(lambda a, b, a0, b0, c0: a ^ b ^ _majority(a0, b0, c0), lambda a, b, *_: a ^ b),
    lut6_2_init(lambda a, b, ap, bp, _: a ^ b ^ (ap & bp), lambda a, b, *_: a ^ b),
)


def _pair_propagate(a0, nz0, neg0, a1, neg1, nz1):
    return (nz0 & (a0 ^ neg0)) ^ (nz1 & (a1 ^ neg1))


# hwgen_xsel_pair (the expert naive's first level): I0 = a0[j], I1 = nz0, I2 = neg0, I3 = a1[j], I4 = neg1, I5 = nz1;
# O6 = u0 ^ u1 of the ones' complement selects u = nz ? a ^ neg : 0. O5 (INIT[31:0], O6 at I5 = nz1 = 0) is u0, the
# chain's generate operand, because u1 = 0 there.
PAIR_INIT = lut6_init(_pair_propagate)


def _build_propagate(run, a, op0, op1, _):
    return (op0 | op1) & (run ^ a ^ op1)


def _build_generate(run, a, op0, op1, _):
    return (op0 | op1) & run


# The table builder's bit slice (hwgen_tlmm_build_prim.v): I0..I3 = run[i], a[i], op[0], op[1]; op 0 -> 0,
# op 1 -> run + a, op 2 -> run + ~a + 1 (carry-in op[1]).
BUILD_INIT = lut6_2_init(_build_propagate, _build_generate)


def carry_primitive(family: str) -> str:
    if family not in CARRY_PRIMITIVE:
        raise UserError("adder", f"instantiated adders need a Xilinx carry chain; family {family!r} has none; "
                                 f"allowed: behavioral")
    return CARRY_PRIMITIVE[family]


def init_hex(init: int) -> str:
    return f"64'h{init:016X}"


def chain_adder_segment(bits: int, carry: str, lut_levels: int = 1) -> timing.Segment:
    """One instantiated carry-chain adder of `bits` result bits on `carry` cells: `lut_levels` LUT levels before
    the chain (2 for hwgen_add3: bit i-1's majority LUT feeds bit i's propagate LUT), the chain entry and the
    cascaded cells above the first, each one carry cell of the delay model. logic_depth charges a synthesized
    CARRY8 cascade as two cells; here one, because a level's segment already pairs its widest adder with its worst
    LUT path: with two, `pipeline: auto` added stages the netlist did not need (docs/timing.md)."""
    cascades = max(0, math.ceil(bits / CARRY_CELL_BITS[carry]) - 1)
    return timing.Segment(depth=lut_levels + 1, carry=cascades, carry_entries=1)
