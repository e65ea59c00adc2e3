"""The hardware graph of a composition (hwgen/kernels/composed.py): the union of its members' graphs plus one
stream-adapter node per stream; latency and II from the composition's performance contract."""
from __future__ import annotations

from hwgen.bits import index_bits

from . import costs as A
from .ir import HwGraph, compose


def adapter_features(a) -> dict:
    """Node features and analytical estimate of one double-buffered stream adapter: two unit buffers of
    registers, the read-beat mux, the beat counters and the buffer flags."""
    written = min(a.in_n * a.in_beats, a.out_n * a.out_beats)
    buffer_bits = 2 * written * a.out_w           # only written positions are registers; the zero tail is constant
    out_bits = a.out_n * a.out_w
    mux = out_bits * (2 * a.out_beats - 1) / 3    # 2 x OUT_BEATS : 1 select per output bit, 3 inputs per LUT level
    ctr = index_bits(a.in_beats) + index_bits(a.out_beats) + 4
    est = {**A.zero(), "ff": float(buffer_bits + ctr), "lut": float(mux + 2 * ctr + 2 * a.in_beats)}
    return {"count": 2 * max(a.in_n * a.in_beats, a.out_n * a.out_beats), "depth": a.out_beats, "width": out_bits,
            "leaves": a.in_n, "leaf_bits": a.in_w, "out_bits": a.out_w, "storage_bits": buffer_bits, "style": "reg",
            "est": est}


def build_composed(kernel, spec) -> HwGraph:
    members = kernel.members(spec)
    m = kernel.model(spec)
    graphs = [kernel.registry[mem.kind].graph(mem) for mem in members]
    edges = [{"src": (a.src, a.src_port), "dst": (a.dst, a.dst_port), "width": a.in_bits, "out_width": a.out_bits,
              "adapter": adapter_features(a)} for a in m.adapters]
    g = compose(graphs, edges)
    perf = kernel.performance(spec)
    g.cycles, g.ii, g.macs = float(perf.latency_cycles), float(perf.ii), float(perf.macs_per_cycle)
    return g
