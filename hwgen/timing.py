"""The one delay model (docs/timing.md): per-arc delays per FPGA family, the Fmax estimate of a critical path,
and the pre-synthesis estimate of a pipeline segment that `pipeline: auto` uses to place register stages.

A leaf module (no kernels, flows or surrogate imports): the kernels pick their register stages with it before
synthesis, flows/synth_open.py turns a synthesized netlist's critical path into `fmax_mhz_est` with it, and the
datasets, search and benchmarks read that field.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

from .errors import UserError

FAMILIES = ("xcup", "xc7")


@dataclass(frozen=True)
class Delays:
    """Per-arc delays in ns (UltraScale+ -2 speed grade for xcup, 7-series -1 for xc7) and the block-RAM
    switching limits in MHz. Calibration and its limits: docs/timing.md."""
    clk_to_q: float
    setup: float
    lut: float        # LUT (or LUTRAM read) logic delay
    net: float        # one general-routing hop
    carry_in: float   # S/DI -> O/CO of a carry cell (the feeding LUT reaches it over a dedicated wire)
    carry: float      # CI -> CO of one cascaded carry cell (dedicated chain)
    muxf: float       # MUXF7/8/9 (dedicated wires from the LUTs)
    dsp: float        # a DSP with no internal registers, input to output
    ram_clk_to_q: float  # BRAM/URAM clock-to-out without the output register
    bram_fmax: float  # block RAM switching limit, MHz (caps Fmax of designs that use it)
    uram_fmax: float


DELAYS = {
    "xcup": Delays(clk_to_q=0.10, setup=0.05, lut=0.10, net=0.30, carry_in=0.20, carry=0.05, muxf=0.10,
                   dsp=2.0, ram_clk_to_q=1.0, bram_fmax=737.0, uram_fmax=650.0),
    "xc7": Delays(clk_to_q=0.45, setup=0.10, lut=0.12, net=0.45, carry_in=0.35, carry=0.10, muxf=0.30,
                  dsp=3.5, ram_clk_to_q=2.1, bram_fmax=388.0, uram_fmax=388.0),
}

# Carry bits per carry cell as Yosys 0.23 maps them: CARRY4 on both families (synth_xilinx never emits CARRY8).
CARRY_BITS = 4


def check_family(family: str) -> None:
    if family not in FAMILIES:
        raise UserError("family", f"unknown Yosys family {family!r}; allowed: {' | '.join(FAMILIES)}")


def path_ns(family: str, depth: int, carry_cascades: int = 0, muxf: int = 0, ram_start: bool = False,
            dsps: int = 0, carry_entries: int = 0) -> float:
    """Register-to-register delay of a path of `depth` levels, `carry_cascades` cascaded carry cells and `muxf`
    MUXF stages, starting at a flip-flop or (ram_start) at a block RAM / UltraRAM output without its output
    register. A level is a routed LUT or LUTRAM read (t_lut + t_net), a carry-chain entry (t_carry_in: the LUT
    before it reaches it on a dedicated wire; `carry_entries` of the levels) or an unregistered DSP (t_dsp + t_net;
    `dsps` of the levels):

        period_ns = t_start + (depth - carry_entries - dsps) * (t_lut + t_net) + carry_entries * t_carry_in
                    + dsps * (t_dsp + t_net) + carry_cascades * t_carry + muxf * t_muxf + t_setup

    `logic_depth` (flows/synth_open.py) sums exactly these arcs along a netlist's slowest path (its crit_ns is this
    period less t_clk_to_q and t_setup)."""
    check_family(family)
    d = DELAYS[family]
    start = d.ram_clk_to_q if ram_start else d.clk_to_q
    luts = depth - carry_entries - dsps
    return (start + luts * (d.lut + d.net) + carry_entries * d.carry_in + dsps * (d.dsp + d.net)
            + carry_cascades * d.carry + muxf * d.muxf + d.setup)


def ram_caps(family: str, uses_bram: bool = False, uses_uram: bool = False) -> list[float]:
    d = DELAYS[family]
    return [d.bram_fmax] * bool(uses_bram) + [d.uram_fmax] * bool(uses_uram)


def fmax_from_arrival(arrival_ns: float, family: str, uses_bram: bool = False, uses_uram: bool = False) -> float:
    """Fmax estimate from the slowest path's arrival time (logic_depth's crit_ns: every arc on it, a block RAM
    start included): 1000 / (t_clk_to_q + arrival + t_setup), capped by the block RAM / UltraRAM switching limits
    of a design that uses them. The one formula of `fmax_mhz_est` (docs/timing.md)."""
    check_family(family)
    d = DELAYS[family]
    return round(min([1000.0 / (d.clk_to_q + arrival_ns + d.setup), *ram_caps(family, uses_bram, uses_uram)]), 1)


def estimate_fmax_mhz(depth: int, family: str, carry_cascades: int = 0, muxf: int = 0,
                      ram_start: bool = False, uses_bram: bool = False, uses_uram: bool = False,
                      dsps: int = 0, carry_entries: int = 0) -> float:
    """Fmax estimate of a path given by its composition (path_ns), capped like fmax_from_arrival. A ranking
    estimate, not timing closure: docs/timing.md states its calibration and limits."""
    period = path_ns(family, depth, carry_cascades, muxf, ram_start, dsps, carry_entries)
    return round(min([1000.0 / period, *ram_caps(family, uses_bram, uses_uram)]), 1)


# ----------------------------------------------------------------------------- pre-synthesis segments

@dataclass(frozen=True)
class Segment:
    """The composition of one pipeline segment (levels as path_ns counts them)."""
    depth: int = 0
    carry: int = 0
    muxf: int = 0
    carry_entries: int = 0

    def __add__(self, other: "Segment") -> "Segment":
        return Segment(self.depth + other.depth, self.carry + other.carry, self.muxf + other.muxf,
                       self.carry_entries + other.carry_entries)


@functools.lru_cache(maxsize=4096)   # pure and hot: the surrogate builds thousands of designs a second
def adder_segment(bits: int) -> Segment:
    """One adder of `bits` result bits as Yosys maps it: a LUT per bit into a carry chain (two levels: the LUT and
    the chain entry) and the cascaded carry cells above the first."""
    return Segment(depth=2, carry=max(0, math.ceil(bits / CARRY_BITS) - 1), carry_entries=1)


@functools.lru_cache(maxsize=4096)   # pure and hot: the surrogate builds thousands of designs a second
def lutram_read_segment(depth: int) -> Segment:
    """An asynchronous LUTRAM read: one level up to 64 entries. Deeper tables are 64-deep pieces joined by LUT
    multiplexers (the open flow maps with -nowidelut, no MUXF7/8): one LUT6 (a 4:1 mux) per two address bits
    above six."""
    return Segment(depth=1 + max(0, math.ceil((math.ceil(math.log2(max(depth, 1))) - 6) / 2)))


@functools.lru_cache(maxsize=4096)   # pure and hot: the surrogate builds thousands of designs a second
def comb_ns(family: str, seg: Segment) -> float:
    """The combinational part of a segment (no clock-to-out, no setup)."""
    return path_ns(family, seg.depth, seg.carry, seg.muxf, carry_entries=seg.carry_entries) - path_ns(family, 0)


def place_stages(comb: Sequence[float], stages: int, first_extra: float = 0.0) -> tuple[int, ...]:
    """Cut positions for `stages` registers in a chain of segments with combinational delays `comb`: a cut at i
    registers the value after segment i (i < len - 1; the chain's end is already registered). `first_extra`: the
    first part's extra start delay (a block RAM's clock-to-out over a flip-flop's). Minimises the slowest part,
    ties broken towards the earliest cuts. Returns the sorted cut positions."""
    if stages <= 0:
        return ()
    return _place_stages(tuple(comb), stages, first_extra)


@functools.lru_cache(maxsize=4096)
def _place_stages(comb: tuple, stages: int, first_extra: float) -> tuple[int, ...]:
    n = len(comb)
    if stages > n - 1:
        raise ValueError(f"{stages} stages, only {n - 1} cut positions")
    best, best_cuts = None, ()
    for cuts in combinations(range(n - 1), stages):
        worst = max(parts_ns(comb, cuts, first_extra))
        if best is None or worst < best - 1e-12:
            best, best_cuts = worst, cuts
    return best_cuts


def parts_ns(comb: Sequence[float], cuts: Sequence[int], first_extra: float = 0.0) -> list[float]:
    """The combinational delay of every part between cuts (the first part with its extra start delay)."""
    bounds = (-1, *cuts, len(comb) - 1)
    parts = [sum(comb[a + 1: b + 1]) for a, b in zip(bounds, bounds[1:])]
    parts[0] += first_extra
    return parts
