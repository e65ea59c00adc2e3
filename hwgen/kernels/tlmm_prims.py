"""Xilinx primitive decisions of the TLMM's `adder: ternary` lane trees (templates/lib/rtl/hwgen_add3.v,
hwgen_carry_chain.v): the LUT6_2 INIT of the ternary adder's bit slice and the carry primitive per family.

Yosys 0.23 merges a behavioural adder tree into a $macc and maps it to LUT full adders and CARRY4s, two operands
per carry chain; the instantiated slice adds three operands per chain (one LUT6_2 per bit), which is what Vivado
builds from a + b + c on UltraScale+ and 7-series.
"""
from __future__ import annotations

from typing import Callable

from ..errors import UserError

# The carry primitive per Yosys family and the bits one cell carries.
CARRY_PRIMITIVE = {"xcup": "CARRY8", "xc7": "CARRY4"}
CARRY_CELL_BITS = {"CARRY8": 8, "CARRY4": 4}
LIB_MODULES = ("hwgen_carry_chain", "hwgen_add3", "hwgen_tlmm_build_prim")
REPLACED_MODULES = ("hwgen_tlmm_build",)    # the behavioural table builders hwgen_tlmm_build_prim replaces


def lut6_2_init(o6: Callable[..., int], o5: Callable[..., int]) -> int:
    """INIT of a LUT6_2 used with I5 = 1 (both outputs): O5 = INIT[k], O6 = INIT[32 + k] for the input
    k = I4..I0 (cells_sim.v's LUT6_2)."""
    init = 0
    for k in range(32):
        ins = [(k >> j) & 1 for j in range(5)]
        init |= (o5(*ins) & 1) << k
        init |= (o6(*ins) & 1) << (32 + k)
    return init


def _majority(x, y, z, m, _):
    return (x & y) | (x & z) | (y & z)


def _propagate(x, y, z, m, _):
    return x ^ y ^ z ^ m


# I0..I3 = a[i], b[i], c[i], m[i]; O5 = majority (the carry-save carry to bit i+1), O6 = the carry-chain propagate.
TERNARY_INIT = lut6_2_init(_propagate, _majority)


def _build_propagate(run, a, op0, op1, _):
    return (op0 | op1) & (run ^ a ^ op1)


def _build_generate(run, a, op0, op1, _):
    return (op0 | op1) & run


# The table builder's bit slice (hwgen_tlmm_build_prim.v): I0..I3 = run[i], a[i], op[0], op[1]; op 0 -> 0,
# op 1 -> run + a, op 2 -> run + ~a + 1 (carry-in op[1]).
BUILD_INIT = lut6_2_init(_build_propagate, _build_generate)


def carry_primitive(family: str) -> str:
    if family not in CARRY_PRIMITIVE:
        raise UserError("adder", f"ternary adders need a Xilinx carry chain; family {family!r} has none; "
                                 f"allowed: behavioral")
    return CARRY_PRIMITIVE[family]


def init_hex(init: int) -> str:
    return f"64'h{init:016X}"
