"""Render context (every width, depth and table text the rope templates substitute) and the hardware graph with
its analytical cost terms of the rope kernel (hwgen/kernels/rope.py, templates/rope/)."""
from __future__ import annotations

import numpy as np

from functools import lru_cache

from ..bits import index_bits
from .rope import _split_tables, _tables, rope_split_tables, rope_tables, split_k

C_CONTROL = 0.9        # LUTs per control register bit (the one calibration of hwgen/kernels/tlmm_graph.py)
# direct tables: Yosys 0.23 maps the two-entry base-row memory (base[0:1], rom_addr_bits wide) to a LUTRAM from 10
# bits on and keeps it in FFs below (datasets/layer_kernels rope, direct: the 18 designs up to 9 bits in FFs, the 15
# of 10-14 bits one RAM32M16 each: +8 LUTRAM, -2 x bits FFs)
BASE_LUTRAM_MIN_BITS = 10
# a block-RAM ROM deeper than one RAMB36 at its deepest byte-wide aspect (4096 x 9) needs a LUT read mux: measured
# 2.0-3.3 LUTs per output bit on 5 of the 6 such rope designs of datasets/layer_kernels (4192-11216 rows; the sixth
# 9.2), where costs.memory's 4:1-mux tree over its bank count gives 0-1
DEEP_ROM_ROWS = 4096
DEEP_ROM_MUX_LUTS = 2.5
CTRL_FLAGS = 8         # stage valid / tlast flags and the output tvalid / tlast registers


def _hex_word(values, bits: int) -> str:
    """Concatenate signed values (element 0 at the LSBs) into one hex literal body."""
    word = 0
    mask = (1 << bits) - 1
    for k, v in enumerate(values):
        word |= (int(v) & mask) << (k * bits)
    width = len(values) * bits
    return f"{width}'h{word:0{-(-width // 4)}x}"


def _control_bits(m) -> dict:
    qb, hdb, fb = index_bits(m.head_beats), index_bits(m.heads), index_bits(2 * m.head_beats + 1)
    # writer: wq, whd, ws, pos_w; reader: rq, rhd, rs; fill; two base registers (rom row of pos * h2) per table;
    # split: three more stages of valid / half / last flags
    base = 2 * (m.hi_addr_bits + m.lo_addr_bits) if m.split else 2 * m.rom_addr_bits
    counters = 2 * qb + 2 * hdb + 2 + m.pos_bits + fb + base + (9 if m.split else 0)
    return {"qb": qb, "hdb": hdb, "fb": fb, "ff": counters + CTRL_FLAGS}


def _words(cos, sin, lanes: int, c_bits: int) -> list[str]:
    """One ROM word per row (p * h2 + j): lanes cos values, then lanes sin values."""
    cr, sr = cos.reshape(-1, lanes).tolist(), sin.reshape(-1, lanes).tolist()
    return [_hex_word(list(a) + list(b), c_bits) for a, b in zip(cr, sr)]


def _live_bits(cos, sin, lanes: int, c_bits: int) -> int:
    """Output bits of a ROM (rows of lanes cos + lanes sin values, as _words lays them out) that are not constant over
    its rows and the case table's default row of zeros: the bits a LUT ROM computes (Yosys drops the others)."""
    vals = np.concatenate([cos.reshape(-1, lanes), sin.reshape(-1, lanes)], axis=1) & ((1 << c_bits) - 1)
    varying = np.bitwise_or.reduce(vals, axis=0)        # against the zero default row: any set bit varies
    return sum(int(v).bit_count() for v in varying)


@lru_cache(maxsize=4096)
def _table_live_bits(L_max: int, d: int, theta: float, c_bits: int, lanes: int, k: int | None) -> tuple[int, ...]:
    """Live bits per ROM: direct (k None) the one table, split the hi and lo tables; cached, as the search asks for
    the same tables many times."""
    if k is None:
        return (_live_bits(*_tables(L_max, d, theta, c_bits), lanes, c_bits),)
    cH, sH, cL, sL = _split_tables(L_max, d, theta, c_bits, k)[:4]
    return _live_bits(cH, sH, lanes, c_bits), _live_bits(cL, sL, lanes, c_bits)


def _c_rows(t, lanes: int) -> list[str]:
    return ["{" + ", ".join(str(v) for v in r) + "}" for r in t.reshape(-1, lanes).tolist()]


def _shift_add(var: str, h2: int) -> str:
    """var * h2 as shifts and adds (no multiplier)."""
    return " + ".join(f"({var} << {k})" for k in range(h2.bit_length()) if (h2 >> k) & 1)


def render_context(kernel, spec) -> dict:
    m = kernel.model(spec)
    cb = _control_bits(m)
    lo, hi = -(1 << (m.out_bits - 1)), (1 << (m.out_bits - 1)) - 1
    wide = max(m.x_beat_bits, m.y_beat_bits, m.rom_width)
    if m.split:
        cH, sH, cL, sL = rope_split_tables(spec)
        tables = {"rom_words": [], "cos_rows": [], "sin_rows": [], "rom_last": 0,
                  "hi_words": _words(cH, sH, m.lanes, m.c_bits), "lo_words": _words(cL, sL, m.lanes, m.c_bits),
                  "cos_hi_rows": _c_rows(cH, m.lanes), "sin_hi_rows": _c_rows(sH, m.lanes),
                  "cos_lo_rows": _c_rows(cL, m.lanes), "sin_lo_rows": _c_rows(sL, m.lanes),
                  "hi_last": m.hi_rows - 1, "lo_last": m.lo_rows - 1, "k_msb": m.k - 1,
                  "hi_base_expr": _shift_add("pos_hi_ext", m.h2), "lo_base_expr": _shift_add("pos_lo_ext", m.h2),
                  "c_rnd": 1 << (m.c_frac - 1), "base_expr": ""}
    else:
        cos, sin = rope_tables(spec)                        # row pos * h2 + j: elements j * lanes ...
        tables = {"rom_words": _words(cos, sin, m.lanes, m.c_bits), "cos_rows": _c_rows(cos, m.lanes),
                  "sin_rows": _c_rows(sin, m.lanes), "rom_last": m.rom_rows - 1,
                  "base_expr": _shift_add("pos_ext", m.h2)}
    return {**tables,
        "top": m.top, "m": m, "description": kernel.description,
        "x_msb": m.x_beat_bits - 1, "y_msb": m.y_beat_bits - 1, "pos_msb": m.pos_bits - 1,
        "rom_msb": m.rom_width - 1, "buf_last": m.buf_depth - 1,
        "sin_base": m.lanes * m.c_bits,           # bit offset of sin element 0 in a ROM word
        "qb": cb["qb"], "hdb": cb["hdb"], "fb": cb["fb"],
        "last_q": m.head_beats - 1, "last_head": m.heads - 1, "need_b": m.h2 + 1,
        "fill_max": 2 * m.head_beats,
        "rnd": (1 << (m.sh - 1)) if m.sh else 0,
        "out_min": lo, "out_max": hi,
        "ap_max_w": wide if wide > 1024 else 0,
        "hls_ctype": "int" if m.c_bits > 16 else "short",
    }


def build_graph(kernel, spec):
    """Nodes: x / pos / y streams; control (writer and reader counters, fill counter, the two ROM base rows);
    the x buffer (two LUTRAMs A / B of 2 head slots, lanes * in_bits wide, with their read registers); the cos/sin
    ROM (block RAM, or a LUT case table with its read register); one rope_lane per lane (repeated lanes times):
    the own / partner muxes, the sin negation, two DSP products with their fabric registers, the rounding add,
    the clamp and the output register."""
    from hwgen.surrogate import costs as A
    from hwgen.surrogate.ir import HwGraph

    m = kernel.model(spec)
    perf = kernel.performance(spec)
    fam = spec.target_info.yosys_family
    g = HwGraph(family=fam, cycles=perf.latency_cycles, ii=perf.ii, macs=2 * m.lanes, kinds=(spec.kind,))
    x = g.node("stream_in", "x", width=m.x_beat_bits)
    pos = g.node("stream_in", "pos", width=m.pos_bits)
    y = g.node("stream_out", "y", width=m.y_beat_bits)
    g.ports.update(x=x, pos=pos, y=y)
    cb = _control_bits(m)
    ctrl_ff = cb["ff"]
    # the ROM row adder base + j and the base shift-add (pos * h2) are adders of rom_addr_bits (split: one of
    # each per table)
    base_adds = max(bin(m.h2).count("1") - 1, 0)
    addr_adders = (A.add(A.adder(m.hi_addr_bits, 1 + base_adds), A.adder(m.lo_addr_bits, 1 + base_adds)) if m.split
                   else A.adder(m.rom_addr_bits, 1 + base_adds))
    ctrl_est = A.add({**A.zero(), "ff": ctrl_ff, "lut": C_CONTROL * ctrl_ff}, addr_adders)
    if not m.split and m.rom_addr_bits >= BASE_LUTRAM_MIN_BITS:
        # the two-entry base-row memory goes to one LUTRAM instead of 2 x rom_addr_bits FFs
        ctrl_est = A.add(ctrl_est, {**A.zero(), "ff": -2.0 * m.rom_addr_bits,
                                    "lutram": A.lutram(2, m.rom_addr_bits, fam)["lutram"]})
    ctrl = g.node("control", "control", width=ctrl_ff, est=ctrl_est)
    g.edge(pos, ctrl, m.pos_bits, "stream")
    # split: the buffer's read registers ra / rb start the 4-stage x delay that Yosys packs whole into SRL16Es
    # (xilinx_srl -minlen 3: the same enable on every stage), so they are no FFs; direct: plain read registers
    buf_est = A.memory(m.buf_depth, m.x_beat_bits, "lutram", fam, replicas=2, sync_read=not m.split)
    buf = g.node("act_buffer", "xbuf", style="lutram", count=2, depth=m.buf_depth, width=m.x_beat_bits,
                 storage_bits=2 * m.buf_depth * m.x_beat_bits, ports=1, est=buf_est)
    g.edge(x, buf, m.x_beat_bits, "stream")
    g.edge(ctrl, buf, 2 * (m.j_bits + 1), "address")

    live_bits = _table_live_bits(spec.L_max, spec.d, float(spec.theta), spec.c_bits, m.lanes,
                                 split_k(spec.L_max, spec.split_k) if m.split else None)

    def rom_node(name, rows, bram, addr_bits, fabric_reg, live):
        # below ROM_BRAM_MIN_BITS (and for `rom_style: lut`) the template emits a registered case table, which
        # Yosys maps to block RAM only where memory_libmap finds it cheaper (costs.case_rom_in_bram)
        case_table = not bram
        bram = bram or A.case_rom_in_bram(rows, m.rom_width)
        # only the output bits that vary over the rows are stored: Yosys drops a ROM's constant data bits (wide
        # shallow tables: 73 x 512 bits with 460 live takes 13 RAMB18, not 15), and a case table in LUTs computes
        # (and registers) only those
        if bram:
            # proc_rom makes a case table a 2^abits-deep ROM: 1440 rows x 30 live bits take two 2048 x 18 RAMB36, not
            # three 1024 x 18 RAMB18
            mapped_rows = 1 << max(rows - 1, 0).bit_length() if case_table else rows
            est = {**A.zero(), "bram36": A.bram36(mapped_rows, live, rom=True)}
            if rows > DEEP_ROM_ROWS:   # the read mux over block RAMs stacked in depth
                est["lut"] = DEEP_ROM_MUX_LUTS * m.rom_width
        else:
            est = {**A.zero(), "lut": A.case_rom_luts(rows, live), "ff": float(live)}
        est = A.add(est, A.registers(live * fabric_reg))
        node = g.node("rope_table", name, style="bram" if bram else "rom", depth=rows, width=m.rom_width,
                      storage_bits=rows * m.rom_width, ports=1, est=est)
        g.edge(ctrl, node, addr_bits, "address")
        return node

    if m.split:
        # the two angle-addition tables, each with its data register (stage 2); the x beats wait 3 more stages
        # (Yosys: with the buffer's read register, one SRL16E per bit: no FFs)
        roms = [rom_node("cos_sin_hi", m.hi_rows, m.hi_bram, m.hi_addr_bits, 1, live_bits[0]),
                rom_node("cos_sin_lo", m.lo_rows, m.lo_bram, m.lo_addr_bits, 1, live_bits[1])]
        delay = g.node("act_buffer", "x_delay", style="lutram", count=2, depth=3, width=m.x_beat_bits,
                       storage_bits=6 * m.x_beat_bits, ports=1,
                       est={**A.zero(), "lutram": 2.0 * m.x_beat_bits})
        g.edge(buf, delay, 2 * m.x_beat_bits, "data")
        src = delay
    else:
        roms = [rom_node("cos_sin", m.rom_rows, m.rom_bram, m.rom_addr_bits, 0, live_bits[0])]
        src = buf
    first = len(g.nodes)
    sat_lut = 2.0 * m.out_bits if m.saturate else 0.0
    lane_est = A.add(
        {**A.zero(), "lut": 2.0 * m.in_bits + 2.0 * m.c_bits + sat_lut},            # muxes, -sin (INV + carry), clamp
        A.product(m.in_bits, True, m.c_bits, True, fam, count=2, y_bits=m.prod_bits, reg_bits=m.prod_bits),
        A.adder(m.sum_bits, 2),                                                       # p1 + p2 + R
        A.registers(m.out_bits))
    if m.split:
        # cH*cL, sH*sL, sH*cL, cH*sL in registers; C = pcc - pss + R and S = psc + pcs + R; the C / +-S registers
        # with the negation of S
        lane_est = A.add(lane_est,
                         A.product(m.c_bits, True, m.c_bits, True, fam, count=4, y_bits=m.tab_prod_bits,
                                   reg_bits=m.tab_prod_bits),
                         A.adder(m.tab_sum_bits, 2), {**A.zero(), "lut": 2.0 * m.c_bits},
                         A.registers(2 * m.c_bits))
    lane = g.node("rope_lane", "lane0", leaves=2, leaf_bits=m.in_bits, out_bits=m.out_bits,
                  adder_bits=2 * m.sum_bits, width=m.out_bits, mult_bits=2 * m.in_bits * m.c_bits, est=lane_est)
    g.edge(src, lane, 2 * m.in_bits, "data")
    for rom in roms:
        g.edge(rom, lane, 2 * m.c_bits, "data")
    g.edge(lane, y, m.out_bits, "stream")
    g.edge(ctrl, lane, 1, "control")
    g.repeat(first, m.lanes)
    return g
