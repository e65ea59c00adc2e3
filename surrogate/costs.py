"""Cost primitives of the analytical model: closed-form resource estimates of hardware blocks under the
open Yosys flow. A leaf module: the per-kernel graph builders (next to each kernel in hwgen/kernels/) combine
these into per-block estimates, which the GNN uses as anchors (surrogate/model.py).

Rules (Yosys 0.23 `synth_xilinx -nowidelut`, checked against the cell reports of the shipped datasets):
- ripple adder of w bits: w LUTs (one LUT per bit into the carry chain), w/4 CARRY4;
- simple-dual-port LUTRAM, one replica per read port: UltraScale+ RAM32M16 (8 LUTs, 32 x 14 bits) or RAM64M8
  (8 LUTs, 64 x 7 bits) banks, 7-series RAM32M (4 LUTs, 32 x 6) or RAM64M (4 LUTs, 64 x 3), by Yosys'
  memory_libmap cost (sites, read mux and write decode); more than one bank in depth adds a read mux;
- BRAM: memory_libmap's cheapest RAMB18 (512x36 ... 16Kx1) or RAMB36 (512x72 ... 32Kx1) option, the memory's
  address slices side by side in the data bits; URAM: 4096 x 72 blocks, a deeper memory's 4096-deep slices side by
  side in the byte lanes of a row; a BRAM/URAM absorbs its synchronous read register; more than one address slice
  adds a LUT read mux;
- registers: one FF per bit; multipliers: DSP48 tiles by Yosys' $mul mapping rule (`product`), except
  products Yosys merges with their adder into a $macc cell, which it builds from LUTs.
"""
from __future__ import annotations

from typing import Iterable

from hwgen.bits import ceil_div
from hwgen.memo import pure, pure_dict

RES = ("lut", "lutram", "ff", "dsp", "bram36", "uram")
# Timing: lut_depth (LUT levels of the deepest path) and crit_ns (the slowest path's arrival, extra.critical_path),
# from which hwgen.timing.fmax_from_arrival derives fmax_mhz_est with the family's RAM caps (surrogate/predict.py).
TIMING_TARGETS = ("lut_depth", "crit_ns")
TARGETS = ("lut", "lutram", "ff", "dsp", "bram36", "uram", "latency_cycles", "ii") + TIMING_TARGETS
MEM_STYLES = ("none", "reg", "lutram", "bram", "uram", "rom")


def zero() -> dict[str, float]:
    return dict.fromkeys(RES, 0.0)     # (the graph builders call this ~20 times per design)


def add(*ests: dict) -> dict[str, float]:
    out = zero()
    for e in ests:
        for k, v in e.items():
            if k in out:
                out[k] += float(v)
    return out


def scale(est: dict, factor: float) -> dict[str, float]:
    return {k: float(v) * factor for k, v in est.items()}


# ----------------------------------------------------------------------------- primitives

def adder(width: float, count: float = 1.0) -> dict:
    return {**zero(), "lut": width * count}


def registers(bits: float) -> dict:
    return {**zero(), "ff": float(bits)}


@pure_dict
def lutram(depth: int, width: int, family: str, replicas: int = 1) -> dict:
    """LUT sites of a simple-dual-port distributed RAM (one write port, one async read port).

    Banks of 32-deep (RAM32M16: 32 x 14 bits, RAM32M: 32 x 6) or 64-deep (RAM64M8: 64 x 7, RAM64M: 64 x 3)
    primitives (8 LUT sites each on UltraScale+, 4 on 7-series), as Yosys' memory_libmap chooses them
    (lutram_banks); a memory deeper than one bank adds a read mux (read_mux_luts)."""
    if depth <= 0 or width <= 0:
        return zero()
    luts = 4 if family == "xc7" else 8
    banks, bank_width = _lutram_geometry(depth, width, family)
    return {**zero(), "lutram": float(luts * banks * ceil_div(width, bank_width) * replicas),
            "lut": float(read_mux_luts(banks, width) * replicas)}


# Yosys 0.23 memory_libmap's cost of a LUTRAM mapping (passes/memory/memory_libmap.cc, techlibs/xilinx/lutrams_*.txt):
# per primitive (cost - widthscale), plus widthscale x banks x width / bank width, plus the read mux and write decode
# of banks stacked in depth (_libmap_stack_cost). (cost, widthscale): xcup SDP (16, 16), xc7 RAM32M/64M (8, 7).
_LUTRAM_COST = {"xcup": (16, 16), "xc7": (8, 7)}
# Its block RAM costs (techlibs/xilinx/brams_xc4v.txt), which case-table ROMs are also weighed against
BRAM18_COST, BRAM36_COST = 129.0, 257.0


def _libmap_stack_cost(banks: int, width: int, read_ports: int = 1, write: bool = True) -> float:
    """memory_libmap's cost of stacking `banks` in depth: 0.5 per read-mux input bit ((banks - 1) x width per read
    port) and, with a write port, 0.5 per bank's write decode."""
    return 0.5 * (banks - 1) * width * read_ports + (0.5 * banks if write and banks > 1 else 0.0)


@pure
def _lutram_geometry(depth: int, width: int, family: str) -> tuple[int, int]:
    """(banks in depth, bits per bank) of the LUTRAM bank Yosys picks: the 32-deep or 64-deep primitive of the lower
    memory_libmap cost, the 32-deep one on a tie (listed first). The old rule (fewer LUT sites, 64-deep on a tie)
    disagreed with the cells of 235 of the 670 on-chip TLMM records of datasets/tlmm + tlmm_adder; this one with none:
    a 918 x 10 weight bank takes 15 64-deep banks (30 RAM64M8), not 29 32-deep ones, as its read mux halves."""
    w32, w64 = (6, 3) if family == "xc7" else (14, 7)
    base, ws = _LUTRAM_COST.get(family, _LUTRAM_COST["xcup"])

    def cost(banks: int, bank_width: int) -> float:
        return ((base - ws) * banks * ceil_div(width, bank_width) + ws * banks * width / bank_width
                + _libmap_stack_cost(banks, width))

    b32, b64 = ceil_div(depth, 32), ceil_div(depth, 64)
    return (b64, w64) if cost(b64, w64) < cost(b32, w32) else (b32, w32)


@pure
def lutram_banks(depth: int, width: int, family: str) -> int:
    """Banks in depth of a LUTRAM (lutram's choice, _lutram_geometry)."""
    if depth <= 0 or width <= 0:
        return 0
    return _lutram_geometry(depth, width, family)[0]


def read_mux_luts(banks: int, width: int) -> float:
    """LUTs of the read mux over `banks` blocks stacked in depth: a tree of 4:1 muxes (one LUT6 each, no
    MUXF7/F8 under -nowidelut), ceil((banks - 1) / 3) per bit."""
    return float(width * ceil_div(banks - 1, 3)) if banks > 1 else 0.0


# Yosys 0.23 memory_libmap's block RAM options (techlibs/xilinx/brams_xc4v.txt with HAS_SIZE_36, HAS_MIXWIDTH_SDP),
# in the order it weighs them: (true dual port, cost, abits, data widths, BRAM36 per unit). The width list's i-th
# entry goes with 2^(abits - i) addresses (RAMB18 1024 x 18, RAMB36 512 x 72, ...). xc7's TDP "CASCADE" option (two
# RAMB36, cost 513) never won in our syntheses: a 16000 x 9 memory takes four 4096 x 9 RAMB36 and a 4:1 read mux.
_BRAM_OPTIONS = (
    (True, BRAM18_COST, 14, (1, 2, 4, 9, 18), 0.5),            # TDP "HALF": RAMB18, ports up to 18 bits
    (True, BRAM36_COST, 15, (1, 2, 4, 9, 18, 36), 1.0),        # TDP "FULL": RAMB36, ports up to 36 bits
    (False, BRAM18_COST, 14, (1, 2, 4, 9, 18, 36), 0.5),       # SDP "HALF": RAMB18 up to 36 bits
    (False, BRAM36_COST, 15, (1, 2, 4, 9, 18, 36, 72), 1.0),   # SDP "FULL": RAMB36 up to 72 bits
)
BRAM_BYTE = 9   # the write-enable byte of brams_xc4v.txt (`byte 9`)


def bram36(depth: int, width: int, true_dual: bool = False, rom: bool = False) -> float:
    """BRAM36 equivalents (a RAMB18 counts 0.5) of one simple-dual-port memory, or of a true-dual-port ROM
    (two read ports, e.g. a ROM shared by two units); rom: no write port (an initialised table)."""
    return _bram_choice(depth, width, true_dual, rom)[0]


@pure
def _bram_choice(depth: int, width: int, true_dual: bool = False, rom: bool = False) -> tuple[float, int]:
    """(BRAM36 equivalents, read-mux inputs) as Yosys 0.23 memory_libmap maps a memory with one uniform write enable
    (none for a ROM; true_dual: a ROM with two read ports) onto block RAM (passes/memory/memory_libmap.cc
    handle_geom). For each option (_BRAM_OPTIONS) and data width w of it the memory is cut into
    a = ceil(depth / 2^(abits - i)) address slices; a slice takes the word padded to whole write-enable bytes (9 bits,
    or w below 9; a ROM pads nothing), and the slices lie side by side in the data bits: ceil(a x padded / w) units,
    not a x ceil(padded / w). Cost: the option's cost per unit (x2 for a two-read-port ROM on a one-read-port SDP
    block) + 0.5 per read-mux input bit ((a - 1) x width per read port) + 0.5 per slice's write enable (a > 1); the
    first cheapest wins (within one option against the cost truncated to an int, as libmap keeps it). The read mux
    picks among the a slices. The old rule (the cheapest aspect ratio, a x ceil(width / w) blocks) made a 1280 x 44
    TLMM weight bank five 2048 x 9 RAMB18 side by side, where Yosys takes two RAMB36 512 x 72 holding three 45-bit
    slices and a 3:1 read mux (one LUT per bit): xc7 and xcup syntheses (both families map alike),
    tests/fixtures/bram_geometry.json."""
    if depth <= 0 or width <= 0:
        return 0.0, 0
    read_ports = 2 if true_dual else 1
    write = not (rom or true_dual)
    best = None
    for tdp, unit_cost, abits, widths, size in _BRAM_OPTIONS:
        repl_port = 1 if tdp or read_ports == 1 else read_ports
        best_in_option = None
        for i, w in enumerate(widths):
            byte = (BRAM_BYTE if w >= BRAM_BYTE else w) if write else 1
            padded = ceil_div(width, byte) * byte
            slices = ceil_div(depth, 1 << (abits - i))
            units = ceil_div(slices * padded, w)
            cost = unit_cost * units * repl_port + _libmap_stack_cost(slices, width, read_ports, write)
            if best_in_option is None or cost < best_in_option[0]:
                best_in_option = (int(cost), cost, size * units * repl_port, slices)
        if best is None or best_in_option[1] < best[1]:
            best = best_in_option
    return best[2], best[3]


def uram(depth: int, width: int) -> float:
    """URAM288 blocks (4096 x 72). A memory deeper than 4096 is cut into 4096-deep slices, and Yosys packs the slices
    side by side into the byte lanes of one 72-bit row (_uram_choice), so a 12288 x 2 memory takes one block, not
    three."""
    return _uram_choice(depth, width)[0]


# URAM288's write-enable bytes as techlibs/xilinx/urams.txt declares them (option BYTEWIDTH 8, then 9)
URAM_BYTES = (8, 9)


@pure
def _uram_choice(depth: int, width: int) -> tuple[float, int]:
    """(URAM blocks, inputs of the read mux) as Yosys 0.23 memory_libmap maps a memory onto URAM288 (abits 12, one
    72-bit width; passes/memory/memory_libmap.cc handle_geom): the memory is cut into ceil(depth / 4096) slices of the
    block's depth; a slice takes the word's width padded to whole write-enable bytes, and the slices lie side by side
    in the rows, ceil(slices x padded width / 72) blocks, the byte option with fewer blocks (8 on a tie, listed first).
    The read mux picks among the slices (slices:1, on the address bits above the 12th) and the write enables decode
    them. The old rule (f addresses folded per row, f a power of two) made a 16720 x 2 bank one block with an 8:1
    read mux, where Yosys puts its five slices into byte lanes 0-4 of one block (a 5:1 mux), and a 9000 x 20 bank
    two blocks where Yosys takes one (three 24-bit slices in 72 bits): u250 naive syntheses, 2026-12-07."""
    if depth <= 0 or width <= 0:
        return 0.0, 0
    slices = ceil_div(depth, 4096)
    blocks = min(ceil_div(slices * ceil_div(width, b) * b, 72) for b in URAM_BYTES)
    return float(blocks), slices


def block_mux_inputs(depth: int, width: int, style: str) -> int:
    """Inputs of a BRAM/URAM bank's read mux (the address slices memory_libmap lays side by side); 0 for others."""
    if style == "bram":
        return _bram_choice(depth, width)[1]
    return _uram_choice(depth, width)[1] if style == "uram" else 0


@pure_dict
def memory(depth: int, width: int, style: str, family: str, replicas: int = 1, sync_read: bool = True) -> dict:
    """A memory of `replicas` copies; sync_read adds the read register (absorbed by BRAM/URAM)."""
    if style == "uram":
        blocks, mux_in = _uram_choice(depth, width)
        return {**zero(), "uram": blocks * replicas, "lut": read_mux_luts(mux_in, width) * replicas}
    if style == "bram":
        blocks, banks = _bram_choice(depth, width)
        return {**zero(), "bram36": blocks * replicas, "lut": read_mux_luts(banks, width) * replicas}
    if style == "reg":
        return {**zero(), "ff": float(depth * width * replicas), "lut": float(width * max(depth - 1, 0) * replicas / 4)}
    if style == "rom":
        return {**zero(), "lut": float(width * ceil_div(depth, 64) * replicas)}
    est = lutram(depth, width, family, replicas)
    if sync_read:
        est["ff"] += width * replicas
    return est


# DSP port widths (signed) that Yosys' synth_xilinx maps $mul cells onto, and its smallest mapped product.
DSP_PORTS = {"xcup": (27, 18), "xc7": (25, 18)}
DSP_Y_MIN = 9


# Families where Yosys packs a product's output register into the DSP (DSP48E1 on 7-series); on UltraScale+
# Yosys 0.23 never packs it, so the register stays in fabric.
DSP_PACKS_OUTPUT_REG = ("xc7",)


@pure_dict
def product(a_bits: int, a_signed: bool, b_bits: int, b_signed: bool, family: str, count: float = 1.0,
            y_bits: int | None = None, reg_bits: int = 0) -> dict:
    """One a x b product as Yosys 0.23 synth_xilinx maps it (checked against its $mul cells): an unsigned
    operand next to a signed one is sign-extended by one bit; a product with an operand under 2 bits or a
    result (y_bits, default the full width) under DSP_Y_MIN bits stays in LUTs; otherwise the wider operand
    goes to the A port and the product takes ceil(A / a_port) x ceil(B / b_port) DSPs, one bit of each port
    lost to the sign when both operands are unsigned. reg_bits: its output register, fabric FFs unless the
    product is in DSPs of a family that packs it."""
    mixed = a_signed != b_signed
    a = a_bits + (1 if mixed and not a_signed else 0)
    b = b_bits + (1 if mixed and not b_signed else 0)
    a, b = max(a, b), min(a, b)
    y = a + b if y_bits is None else y_bits
    if b < 2 or y < DSP_Y_MIN:
        return {**zero(), "lut": float(C_MACC * a * b * count), "ff": float(reg_bits * count)}
    pa, pb = DSP_PORTS.get(family, DSP_PORTS["xcup"])
    unsigned = not (a_signed or b_signed)
    tiles = ceil_div(a + unsigned, pa) * ceil_div(b + unsigned, pb)
    ff = 0 if family in DSP_PACKS_OUTPUT_REG else reg_bits
    # the tiles' partial sums: on 7-series Yosys chains the tiles through PCIN (17-bit shift) with no fabric adder (a
    # controlled pynq-z2 normaliser with 26-bit acc x 17 / 6-bit pieces, two tiles each: 32 DSPs fed by PCIN, 57 LUTs
    # per lane against 51 anchored without these LUTs, 89 with them)
    tile_sum = 0.0 if family in DSP_ABSORBS_PRODUCT_SUMS else 0.5 * (a + b) * (tiles - 1)
    return {**zero(), "dsp": float(tiles * count), "lut": float(tile_sum * count),
            "ff": float(ff * count)}


# Families where Yosys packs the registers that feed a DSP's multiplier / adder inputs into the DSP (DSP48E1 AREG /
# BREG / CREG, up to two stages): on the attention pynq-z2 netlists the K and V beat registers, the score register
# before x cm, cm itself, the rounding constant, the output normaliser's row and 1/l registers are gone, where the
# same registers stay in fabric on UltraScale+ (Yosys 0.23 packs no DSP48E2 register).
DSP_PACKS_INPUT_REG = ("xc7",)


def dsp_input_bits(bits: float, feeds: dict, family: str) -> float:
    """Fabric FFs of `bits` of registers whose only loads are the multiplier `feeds` (a product / pieces estimate) and
    the adders beside it: none where `feeds` is in DSPs on a family that packs its input registers."""
    return 0.0 if feeds.get("dsp") and family in DSP_PACKS_INPUT_REG else float(bits)


def live_piece_bits(parts: Iterable[dict], lo: int, hi: int, addend_shift: int | None = None) -> float:
    """Register bits of a split multiply's pieces (split_mul parts: shift, bits) that can reach bits lo..hi-1 of their
    sum, the only bits the RTL keeps (e.g. the S.V update keeps sum[P +: ACC_BITS]): Yosys drops the rest of each
    registered piece. Bits above hi never reach a lower bit; the lowest piece's bits below both lo and the next
    operand's shift (the other pieces', or `addend_shift` of a term added to the sum) only pass through, so those
    are dropped too. E.g. acc x alpha in one piece with p x v << P added: ACC_BITS of the piece's bits stay."""
    parts = sorted(parts, key=lambda p: p["shift"])
    others = [p["shift"] for p in parts[1:]] + ([addend_shift] if addend_shift is not None else [])
    total = 0.0
    for i, p in enumerate(parts):
        start = p["shift"]
        if i == 0:
            start = max(start, min([lo, *others]))
        total += max(0, min(p["shift"] + p["bits"], hi) - start)
    return total


def pieces(parts: Iterable[dict], family: str, count: float = 1.0) -> dict:
    """The registered partial products of a split multiply (hwgen.kernels.attention_rtl.split_mul:
    {a: {w, signed}, b: ..., bits}: each piece registered at its declared width)."""
    return add(*(product(p["a"]["w"], p["a"]["signed"], p["b"]["w"], p["b"]["signed"], family, count,
                         reg_bits=p["bits"]) for p in parts))


# Families where Yosys 0.23 folds the adders that sum DSP products into the DSPs (DSP48E1 post-adder and P cascade,
# with its 17-bit shift for the pieces of a split multiply): on the attention xc7 records, the dot-product trees
# and the partial-product sums cost no fabric LUTs, where the same sums on UltraScale+ do.
DSP_ABSORBS_PRODUCT_SUMS = ("xc7",)
DSP_CASCADE_SHIFT = 17
# Width of the DSP48E1 post-adder / P output: a sum of pieces whose kept bits reach past it cannot be folded into the
# DSPs, and Yosys leaves it in fabric. Controlled pynq-z2 syntheses (attention_decode H=2 d=96 lanes=16, exp_bits=17
# so P=17, 2026-12-07): the S.V sum acc x alpha (pieces at 0 and 17) + p x v << P keeps bits up to P + acc_bits:
# 48 with data_bits=5 (acc_bits=31): the low piece's DSP takes the rest as its C operand (16 DSPs with C); 50 with
# data_bits=7 (acc_bits=33): no DSP has C or PCIN there, and the unit is 37 LUTs per lane larger (the sum's
# at_w - 17 = 36 adder bits). The output normaliser's sum (op_bits = 55 / 57 kept bits) is in fabric in both.
DSP_P_BITS = 48


def piece_sum_bits(parts: Iterable[dict], sum_bits: int, family: str, live_bits: int | None = None) -> float:
    """Fabric adder bits of the sum of a split multiply's registered pieces (split_mul parts with `shift`) into
    sum_bits: the bits below the lowest non-zero shift pass through from the unshifted piece, so the adder is
    sum_bits - that shift wide; none for one piece, or where the family cascades pieces at that shift and the sum's
    kept bits (live_bits, default sum_bits: the highest kept bit + 1) fit the DSP's P (DSP_P_BITS)."""
    shifts = sorted({p["shift"] for p in parts if p["shift"] > 0})
    if not shifts:
        return 0.0
    live = sum_bits if live_bits is None else live_bits
    if family in DSP_ABSORBS_PRODUCT_SUMS and all(s == DSP_CASCADE_SHIFT for s in shifts) and live <= DSP_P_BITS:
        return 0.0
    return float(max(0, sum_bits - shifts[0]))


def macc(a_bits: int, b_bits: int, count: float = 1.0) -> dict:
    """A product that Yosys folds with the adder it feeds into one $macc cell: built from LUTs, no DSP
    (e.g. a dot product written as a sum of products, or (x * c + r) in one expression)."""
    return {**zero(), "lut": float(C_MACC * a_bits * b_bits * count)}


C_MACC = 0.6   # LUTs per partial-product bit of a LUT multiplier


# A LUTRAM many banks deep (the TLMM weight bank with `weight_memory: lutram`; the partial-sum memory of long rows had
# the same rates until read_mux_into_adder_luts / the shared decode replaced them there):
# per read bit and bank beyond the first, and per bank for its write enable. The 4:1-LUT tree (read_mux_luts) plus one
# LUT per bank was 30-40 % low on these (e.g. 851 measured vs 651 for a 4368 x 6 xc7 bank of 69 RAM64M); relative
# NNLS over the 670 on-chip behavioural TLMM records of datasets/tlmm (2026-12-07), the same two rates for both.
C_DEEP_MUX = 0.42
C_DEEP_DECODE = 1.2


def deep_lutram_luts(depth: int, width: int, family: str, replicas: int = 1) -> float:
    """LUTs of a LUTRAM's read mux and write decode where it is more than one bank deep (lutram_banks)."""
    return (deep_lutram_read_luts(depth, width, family) + deep_lutram_decode_luts(depth, width, family)) * replicas


def deep_lutram_read_luts(depth: int, width: int, family: str) -> float:
    """The read-mux part of deep_lutram_luts (per copy that has its own read data)."""
    banks = lutram_banks(depth, width, family)
    return float(C_DEEP_MUX * width * (banks - 1)) if banks > 1 else 0.0


def read_mux_into_adder_luts(banks: int, width: int) -> float:
    """LUTs of a read mux over `banks` blocks stacked in depth whose result is one operand of an adder (the matmul
    partial sums: prev + s2_sum), besides the adder's own LUT per bit: the 4:1-LUT tree (read_mux_luts), or, where
    fewer, the two halves of the top address bit muxed in that adder LUT (its other inputs are the sum bit and the
    first-chunk clear: room for one 2:1 stage), each half a 4:1-LUT tree. Measured (tlmm_naive u250 K=40 P_n=1,
    11-bit accumulators of 1-10 banks, LUTs of the accumulator cone per bit, adder included; 2026-12-07):
    B = 1 2 3 4 5 6 7 8 10 -> 1 1 2 2 2 3 4 3 5; this rule gives 1 1 2 2 2 3 3 3 4, the deep-LUTRAM rate
    (1 + 0.42 (B - 1)) 1 1.4 1.8 2.3 2.7 3.1 3.5 3.9 4.8."""
    if banks <= 1:
        return 0.0
    low = 1 << ((banks - 1).bit_length() - 1)      # banks under the top address bit
    split = ceil_div(low - 1, 3) + ceil_div(banks - low - 1, 3)
    return float(width * min(ceil_div(banks - 1, 3), split))


def deep_lutram_decode_luts(depth: int, width: int, family: str) -> float:
    """The write-decode part of deep_lutram_luts: one bank write enable each, shared by copies written at the same
    address under the same enable (Yosys opt_merge keeps one)."""
    banks = lutram_banks(depth, width, family)
    return float(C_DEEP_DECODE * banks) if banks > 1 else 0.0


def merged_adders(nodes, leaf_bits: dict) -> list[tuple[list[int], int]]:
    """The multi-operand adders Yosys makes of an adder tree (rtl_util.AdderTree nodes): `alumacc` merges every
    unregistered chain of two-operand `+` into one $macc cell, cut only at registers. Returns per merged adder its
    operand widths (leaves or registers) and its result width."""
    by_name = {n.name: n for n in nodes}
    consumed = {x for n in nodes for x in (n.a, n.b) if x in by_name and not by_name[x].reg and not n.reg}
    out = []
    for n in nodes:
        if n.reg or n.b is None or n.name in consumed:
            continue
        ops, stack = [], [n.a, n.b]
        while stack:
            x = stack.pop()
            src = by_name.get(x)
            if src is not None and not src.reg and src.b is not None:
                stack += [src.a, src.b]
            else:
                ops.append(src.bits if src is not None else leaf_bits[x])
        out.append((ops, n.bits))
    return out


def compressor_bits(operands: list[int]) -> float:
    """Bits a multi-operand adder reduces with full adders before its final carry-propagate adder (Yosys'
    maccmap: 3:2 compressors, 2 LUTs per bit): every operand but the two widest."""
    return float(sum(sorted(operands, reverse=True)[2:]))


def tree_adder_bits(n_leaves: int, leaf_bits: int, max_bits: int, extra_leaves: Iterable[int] = ()) -> int:
    """Sum of the adder widths of the balanced tree the renderers emit (hwgen.kernels.rtl_util.adder_tree)
    over n_leaves leaves of leaf_bits plus `extra_leaves` (their widths), each sum capped at max_bits."""
    from hwgen.kernels.rtl_util import adder_tree

    nodes, _, _ = adder_tree([leaf_bits] * max(1, n_leaves) + list(extra_leaves), max_bits)
    return sum(n.bits for n in nodes)


# ----------------------------------------------------------------------------- case-table ROMs
# Yosys 0.23 `proc_rom` turns a registered `case` table of constants into a 2^abits-deep ROM; `memory_libmap` then
# keeps it in logic unless a block RAM is cheaper: synth_xilinx passes -logic-cost-rom 1/64 per bit (LUT6 families),
# against the option costs of brams_xc4v.txt (RAMB18 129, RAMB36 257). Checked on every rope case ROM of
# datasets/layer_kernels synthesized alone (e.g. 256 x 64: logic 256 < 257, kept in LUTs; 512 x 32: one RAMB18).
ROM_LOGIC_COST_PER_BIT = 1.0 / 64
# LUTs per live output bit of a case ROM deeper than one LUT6 (> 64 rows): ABC's result grows about linearly with
# the rows, ~1 LUT per 28 rows (rope tables synthesized alone, 68-256 rows: 2.2-8.6 LUTs per bit, rows / 25.6-31.4).
CASE_ROM_ROWS_PER_LUT = 28.0


def case_rom_in_bram(rows: int, width: int) -> bool:
    """Whether Yosys maps a registered case-table ROM of `rows` x `width` to block RAM (memory_libmap's cost rule)."""
    if rows <= 0 or width <= 0:
        return False
    blocks = bram36(rows, width)
    whole = float(int(blocks))
    cost = BRAM36_COST * whole + BRAM18_COST * round(2 * (blocks - whole))
    return cost < ((1 << max(rows - 1, 0).bit_length()) * width) * ROM_LOGIC_COST_PER_BIT


# Inside a flattened design the same case ROMs take ~1.5x the LUTs they take synthesized alone (ABC maps for depth
# behind the address adder): median of measured / alone-calibrated estimate over the 19 rope designs of
# datasets/layer_kernels with LUT ROMs, range 0.6-2.6 (rope.v with and without -flatten: 958 vs 615 LUTs).
CASE_ROM_FLAT_FACTOR = 1.5


def case_rom_luts(rows: int, live_bits: int) -> float:
    """LUTs of a case-table ROM kept in logic, in a flattened design: one LUT6 per live (non-constant) output bit up to
    64 rows, then about rows / CASE_ROM_ROWS_PER_LUT per bit, times CASE_ROM_FLAT_FACTOR. Constant output bits cost
    nothing (nor their read register FFs)."""
    if rows <= 0 or live_bits <= 0:
        return 0.0
    return float(CASE_ROM_FLAT_FACTOR * live_bits * (1.0 if rows <= 64 else rows / CASE_ROM_ROWS_PER_LUT))
