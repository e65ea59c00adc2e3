"""The hardware graph of a composition (hwgen/kernels/composed.py): the union of its members' graphs plus one
stream-adapter node per stream; latency and II from the composition's performance contract."""
from __future__ import annotations

from hwgen.bits import index_bits

from . import costs as A
from .ir import HwGraph, compose


# LUTs per data input of the read-beat select (2 x OUT_BEATS inputs per m_tdata bit): ABC maps the two buffers'
# OUT_BEATS:1 selects and the buffer select at ~2.4 inputs retired per LUT, not the 3 of ideal LUT6 4:1 muxes.
# Least squares over the 51 adapter shapes of datasets/composed synthesized alone (bench/adapter_synth.py,
# tests/fixtures/composed_adapters.json): 0.417. The packing varies per shape (log LUT residual std 0.12) and even
# per netlist context: one shape (2 x 17 b x 48 beats -> 12 x 8 b x 8) maps to 783 LUTs flattened into a wrapper but
# 625 kept as its own module, alone or inside its composition.
MUX_LUT_PER_INPUT = 0.42


def adapter_features(a, dropped_ff: int = 0) -> dict:
    """Node features and analytical estimate of one double-buffered stream adapter: two unit buffers of
    registers (only written positions; the zero tail is constant; a buffer register's data is the requantised input
    itself, its enable a LUT per beat and buffer), the 2 x OUT_BEATS : 1 read-beat select (MUX_LUT_PER_INPUT), the
    beat counters and flags. Yosys 0.23 on the 51 adapter shapes of datasets/composed alone
    (tests/fixtures/composed_adapters.json): FFs exact, LUTs unbiased (SMAPE 8.8 %; was 14.2 %, 13 % high). The former
    0.12 LUT per buffer bit had no logic behind it (the buffer's data path is wires into FF D pins) and stood in for
    the select's packing at OUT_BEATS = 8; elsewhere it over-predicted the adapter by up to 27 %, which is most of
    the composed anchor's over-prediction (its mean residual grew with the TLMM producers' long, narrow beats).

    `dropped_ff`: the producer's output-register bits the requantisation never reads (the low SHIFT bits of each of
    its IN_N values, registered_output_bits), which Yosys removes once the composition is flattened. They are counted
    here, against the adapter's FFs, so that the members' graphs stay the graphs of the members alone (parts.py: the
    glue is the top's anchor minus the members'). On datasets/composed the FF anchor was high by exactly these bits
    (measured - anchor FF -45 on average, correlation -0.995 with IN_N x SHIFT); their LUTs are not (the register is
    fed by the accumulator's carry outputs)."""
    written = min(a.in_n * a.in_beats, a.out_n * a.out_beats)
    buffer_bits = 2 * written * a.out_w
    out_bits = a.out_n * a.out_w
    mux = out_bits * MUX_LUT_PER_INPUT * (2 * a.out_beats - 1)
    ctr = index_bits(a.in_beats) + index_bits(a.out_beats) + 4
    lut = mux + 2 * a.in_beats + 2 * ctr
    est = {**A.zero(), "ff": float(buffer_bits + ctr - dropped_ff), "lut": float(lut)}
    return {"count": 2 * max(a.in_n * a.in_beats, a.out_n * a.out_beats), "depth": a.out_beats, "width": out_bits,
            "leaves": a.in_n, "leaf_bits": a.in_w, "out_bits": a.out_w, "storage_bits": buffer_bits, "style": "reg",
            "est": est}


def registered_output_bits(g: HwGraph, port: str, value_bits: int) -> int:
    """Bits per value of a member's output port that come straight from registers: the port node's drivers each
    hold an FF per bit of their stream edge (the matmul kernels' hwgen_mm_pipe y_tdata register, on the accumulator
    nodes); 0 when any driver is combinational."""
    ix = g.ports[port]
    drivers = [(g.nodes[s], w) for s, d, w, _ in g.edges if d == ix]
    if not drivers or any((n.get("est") or {}).get("ff", 0.0) < w for n, w in drivers):
        return 0
    return value_bits


def build_composed(kernel, spec) -> HwGraph:
    members = kernel.members(spec)
    m = kernel.model(spec)
    graphs = [kernel.registry[mem.kind].graph(mem) for mem in members]
    edges = []
    for a in m.adapters:
        dropped = a.in_n * min(a.shift, registered_output_bits(graphs[a.src], a.src_port, a.in_w))
        edges.append({"src": (a.src, a.src_port), "dst": (a.dst, a.dst_port), "width": a.in_bits,
                      "out_width": a.out_bits, "adapter": adapter_features(a, dropped)})
    g = compose(graphs, edges)
    perf = kernel.performance(spec)
    g.cycles, g.ii, g.macs = float(perf.latency_cycles), float(perf.ii), float(perf.macs_per_cycle)
    return g
