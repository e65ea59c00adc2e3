"""Rendering decisions of the attention kernels: every number and structure the HLS and Verilog templates
substitute (templates/attention/**, templates/lib/rtl/hwgen_*.v), so the templates compute nothing.

The Verilog twin is one generated file per design, rtl/{top}.v, holding the top `{top}` (wiring and the output
normaliser) and the modules whose text depends on the design: `{top}_unit` (one datapath unit: adder-tree
statements and DSP piece lists from here) and `{top}_exp_rom` (the table). The control and the generic parts
are parameterised library modules copied verbatim: hwgen_attn_ctrl, hwgen_delay, hwgen_lutram, hwgen_divider.
"""
from __future__ import annotations

import functools

from .attention import PAR_FIELD_BITS, TREE_LEVELS, AttentionModel
from .rtl_util import build_adder_tree
from ..bits import clog2

EXP_BRAM_MIN_E = 8    # exp tables with 2^E >= 256 entries go to block RAM ROMs (one per two units), smaller
                      # ones are case ROMs in LUTs (Yosys 0.23 cannot map a ROM to LUTRAM)
DSP_A, DSP_B = 27, 18   # signed multiplier ports of DSP48E1/E2
LIB_RTL = ("hwgen_attn_ctrl.v", "hwgen_delay.v", "hwgen_lutram.v", "hwgen_divider.v")


def _chunks(w: int, signed: bool, port: int) -> list[dict]:
    """Cut a w-bit operand into pieces that fit a signed `port`-bit multiplier input: unsigned pieces of
    port-1 bits from the LSB, the top piece signed (signed operand) or unsigned."""
    out, lo = [], 0
    while True:
        rem = w - lo
        if rem <= (port if signed else port - 1):
            return out + [{"lo": lo, "w": rem, "signed": signed}]
        out.append({"lo": lo, "w": port - 1, "signed": False})
        lo += port - 1


def split_mul(aw: int, a_signed: bool, bw: int, b_signed: bool) -> list[dict]:
    """a * b as partial products that each fit one DSP multiplier (the orientation with the fewest):
    [{a: piece of a, b: piece of b, shift, bits}], a * b == sum(pa * pb << shift). The RTL registers every
    partial product (the DSP's own output register) and adds them in the next stage, instead of letting
    Yosys split a wide multiply and add the pieces in fabric within the same cycle."""
    best = None
    for swap in (False, True):
        pa = _chunks(aw, a_signed, DSP_B if swap else DSP_A)
        pb = _chunks(bw, b_signed, DSP_A if swap else DSP_B)
        if best is None or len(pa) * len(pb) < len(best[0]) * len(best[1]):
            best = (pa, pb)
    return [{"a": ca, "b": cb, "shift": ca["lo"] + cb["lo"],
             "bits": ca["w"] + (not ca["signed"]) + cb["w"] + (not cb["signed"])} for ca in best[0] for cb in best[1]]


@functools.lru_cache(maxsize=1024)   # a search over x_max for every design otherwise (the surrogate builds thousands)
def reciprocal_constant(n: int, x_max: int) -> tuple[int, int]:
    """(M, S) with (x * M) >> S == x // n for every 0 <= x < x_max (division by a constant as a multiply)."""
    for S in range(1, 64):
        M = -(-(1 << S) // n)
        if all((x * M) >> S == x // n for x in range(x_max)):
            assert x_max * M < 1 << 32, "the RTL evaluates x * M in 32 bits"
            return M, S
    raise AssertionError(f"no reciprocal constant for {n}")


def render_context(spec, m: AttentionModel) -> dict:
    """The template context: the model `m`, `rtl` (Verilog) and `hls` (C++) numbers and structures."""
    sp_bits = m.s_bits + m.cm_bits + 1
    op_bits = m.acc_bits + m.r_bits + 1
    lp_bits = m.l_bits + m.pv_bits
    ap_bits = m.acc_bits + m.pv_bits + 1
    omax = (1 << (m.out_bits - 1)) - 1
    o2w = op_bits - m.sh_out + 1
    roww = m.lanes * m.acc_bits
    tree = build_adder_tree([2 * m.data_bits] * m.lanes, m.s_bits, "pr", TREE_LEVELS, root_reg="psum", node_prefix="t")
    assert tree.stages == m.tree_stages
    div_m, div_s = reciprocal_constant(m.npe, m.len_max)
    rtl = {
        # --- read by the graph builder, attention_graph.py (keep names and meaning)
        # QK^T adder tree statements (per unit), root register last; a TreeNode's fields are scalars and a tuple of
        # ints, so its field dict is what asdict would give, without the deep copy
        "tree": [dict(t.__dict__) for t in tree.nodes],
        "pvw": min(m.acc_bits, m.pv_bits + m.data_bits + 1),   # p * v product width
        "rom_bram": m.E >= EXP_BRAM_MIN_E,                # exp ROM in block RAM (else a case ROM in LUTs)
        "mul_av": split_mul(m.acc_bits, True, m.pv_bits, False),       # acc x alpha (S.V)
        "mul_or": split_mul(m.acc_bits, True, m.r_bits, False),        # acc x R (output)
        "mul_la": split_mul(m.l_bits, False, m.pv_bits, False),        # l x alpha
        "mul_sc": split_mul(m.s_bits, True, m.cm_bits, False),         # dot x cm
        "npe_pow2": m.npe & (m.npe - 1) == 0,
        "div_m": div_m, "div_s": div_s,                   # (x * div_m) >> div_s == x / N_pe
        "cw": m.len_max.bit_length() + 1,                 # length / key counters
        "bw": max(1, clog2(m.beats)),                     # beat-in-vector counters
        "pw": max(1, clog2(m.npe)),                       # PE counters
        "gw": max(1, clog2(m.groups)),                    # head-group counter
        "dw": max(1, m.rw.bit_length()),                  # divider step counter
        "sp_bits": sp_bits,                               # dot x cm + rounding
        "lp_bits": lp_bits,                               # l x alpha
        "ap_bits": ap_bits,                               # acc x alpha
        "op_bits": op_bits,                               # acc x R
        "fifo_w": 2 * m.units * m.pv_bits,                # (p, alpha) of all units
        "fifo_aw": max(1, clog2(m.fifo_depth)),
        "fifo_cw": clog2(m.fifo_depth) + 1,
        # --- structure
        "tree_root": tree.root,
        "roms": -(-m.units // 2),                         # exp ROMs, two read ports (units 2r, 2r+1) each
        "q_reg": m.beats == 1,                            # q buffer: a register (else LUTRAM)
        "acc_reg": m.beats == 1,                          # accumulators: a register row (else LUTRAM)
        "rmw2": m.rmw_stages >= 2,                        # S.V read-modify-write in two (or three) stages
        "acc_rd_reg": m.rmw_stages == 3,                  # pipeline 1: the accumulator read is registered
        "acc_bypass": m.rmw_stages == 3 and m.beats == 2,  # ... and a row's next read meets its write back
        "v_stages": 2 if m.rmw_stages >= 2 else 1,        # V beat registers before the p * v product
        "npe_sel": m.npe > 1,                             # output PE select
        "causal": int(m.causal), "reversed": int(m.reversed),
        "npe_pow2_int": int(m.npe & (m.npe - 1) == 0),
        "npe_log2": clog2(m.npe),
        "ks": 2 + m.tree_stages,                          # K pipeline: k/q registers, products, adder tree
        "last_group": m.groups - 1,
        "last_beat": m.beats - 1,
        "par_field": PAR_FIELD_BITS,
        # --- widths
        "esh_w": max(1, m.P.bit_length()),                # integer part of the exp argument, when <= P
        "esh_bits": m.diff_bits - m.E,
        "qrow_w": m.lanes * m.data_bits,                  # one head's lanes of a q/k/v beat
        "kv_div": min(m.kv_group, m.head_par),            # head lane HH reads K/V lane HH / kv_div (GQA)
        "orow_w": m.lanes * m.out_bits,                   # one head's lanes of an output beat
        "pr_w": 2 * m.data_bits,                          # q x k product
        "pa_w": 2 * m.pv_bits,                            # one unit's FIFO entry
        "lsum_w": lp_bits + 2,                            # l x alpha + p * 2^P, signed
        "at_w": ap_bits + 1,                              # acc x alpha + p * v * 2^P, signed
        "roww": roww,                                     # accumulator row
        "eidx_w": m.units * m.E,
        "erom_w": m.units * m.pv_bits,
        "arows_w": m.units * roww,
        "quos_w": m.units * m.r_bits,
        "o3_sh": m.sh_out - 1,                            # o3 = (acc x R) >> (sh_out - 1), then round
        "o2w": o2w,
        "orr_w": o2w + 1,
        # --- constants
        "one": f"{m.pv_bits}'d{1 << m.P}",
        "half": f"{op_bits}'sd{1 << (m.sh_out - 1)}",
        "omax": f"{op_bits}'sd{omax}",
        "omin": f"-{op_bits}'sd{omax + 1}",
    }
    hls = {
        "sprod_bits": sp_bits, "dprod_bits": lp_bits, "aprod_bits": ap_bits, "oprod_bits": op_bits,
        "pa_bits": 2 * m.units * m.pv_bits,               # (p, alpha) of all units
        "accrow_bits": m.head_par * m.lanes * m.acc_bits,
        "num_bits": m.rw + 1,                             # the divider's numerator 2^RW
        "q_trip": m.npe * m.beats,                        # LOOP_TRIPCOUNT maxima
        "kv_trip": m.len_max * m.beats,
        "kv_div": min(m.kv_group, m.head_par),
        "blocks_trip": -(-m.len_max // m.npe),
    }
    # ap_int's default width cap is 1024 bits; wide beats and accumulator rows need more.
    widest = max(m.data_w, m.kv_w, m.out_w, m.par_w, hls["pa_bits"], hls["accrow_bits"], op_bits)
    ap_max_w = 0 if widest <= 1024 else -(-widest // 1024) * 1024
    return {"m": m, "spec": spec, "top": m.top, "exp_rom": m.exp_table, "rtl": rtl, "hls": hls, "ap_max_w": ap_max_w,
            "par_beats_per_call": 1 + m.groups}          # the length beat + one parameter beat per head group


def outputs(backend: str) -> list[tuple[str, str]]:
    if backend == "hls":
        return [("attention/hls/defs.h.j2", "hls/{top}.h"), ("attention/hls/attention.cpp.j2", "hls/{top}.cpp")]
    return [("attention/rtl/attention.v.j2", "rtl/{top}.v"), *((f"lib/rtl/{name}", f"rtl/{name}") for name in LIB_RTL)]
