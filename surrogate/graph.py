"""Designs as graphs of their hardware: nodes are sub-blocks, edges are data paths and streams.

One registry, `BUILDERS` (kind -> builder), turns a validated spec into an `HwGraph` (plain Python,
no torch); `to_data` turns that into a `torch_geometric.data.Data`, and `collate` batches many
graphs straight into one Data (much faster than Batch.from_data_list for 10k designs). A kernel adds
its builder with `@register_builder("kind")`; composed designs (surrogate/compose.py) are the union
of their kernels' graphs plus stream edges (`compose`).

Node features (NODE_FEATURES, all log2(1 + v) except one-hots):
    count        replicas this node stands for (tables in a bank, build units, select units, ...)
    depth        memory entries (or table entries a build unit fills, or ROM depth)
    width        data width of the node's memory word / register / stream in bits
    leaves       inputs of the node's adder tree (or terms of a build adder, MAC lanes)
    leaf_bits    width of one leaf
    out_bits     width of the node's result
    adder_bits   total adder bits in the node (sum of adder widths)
    storage_bits count * depth * width
    ports        read ports per replica
    neg_bits     bits of conditional negation logic (mirror tables)
    mult_bits    sum over multipliers of a_bits * b_bits
    est_*        analytical estimate of lut, lutram, ff, dsp, bram36, uram for the block (log1p)
    style_*      memory style one-hot: none, reg, lutram, bram, uram, rom
    type_*       node type one-hot (NODE_TYPES)
Edge features: log2(1 + width), edge type one-hot (EDGE_TYPES), reverse flag (every edge is
also present reversed so messages flow both ways).
Identical replicated blocks (the Q lanes of a matmul, the N_pe x head_par attention units) are kept
once with a multiplicity (node_weight; edge_weight = sender copies per receiver), which is exact
for sum aggregation and weighted pooling; `arrays(expand=True)` materialises every copy.
Graph features (GRAPH_FEATURES): family one-hot, log2(1 + cycles per token), log2(1 + II),
log2(1 + MACs/cycle), log1p of the analytical totals, log2(kernels), log2(1 + nodes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, NamedTuple

import numpy as np

from . import analytical as A
from .analytical import RES, TARGETS, MEM_STYLES

NODE_TYPES = (
    # stream endpoints and control (every kernel)
    "stream_in", "stream_out", "control", "act_buffer",
    # ternary matmul (tlmm, tlmm_naive)
    "weight_bank", "table_build", "table_bank", "select", "lane_tree", "accumulator",
    # attention
    "q_buffer", "dot_lane", "score_scale", "softmax", "exp_table", "sv_lane", "reciprocal", "normalize", "fifo",
    # compositions
    "stream_adapter",
    # imported hls4ml networks (one node per layer)
    "layer_dense", "layer_conv", "layer_activation", "layer_other",
)
EDGE_TYPES = ("stream", "data", "table_write", "address", "control", "weight_load", "kernel_stream")
NUM_FEATURES = ("count", "depth", "width", "leaves", "leaf_bits", "out_bits", "adder_bits", "storage_bits",
                "ports", "neg_bits", "mult_bits")
NODE_FEATURES = (NUM_FEATURES + tuple(f"est_{r}" for r in RES) + tuple(f"style_{s}" for s in MEM_STYLES)
                 + tuple(f"type_{t}" for t in NODE_TYPES))
EDGE_FEATURES = ("log2_width",) + tuple(f"type_{t}" for t in EDGE_TYPES) + ("reverse",)
FAMILIES = ("xcup", "xc7")
GRAPH_FEATURES = (tuple(f"family_{f}" for f in FAMILIES) + ("log2_cycles", "log2_ii", "log2_macs")
                  + tuple(f"ana_{r}" for r in RES) + ("log2_kernels", "log2_nodes"))
FEATURE_VERSION = 2   # 2: attention II = call interval, per-piece DSP products, pipeline-register FFs

_TYPE_IX = {t: i for i, t in enumerate(NODE_TYPES)}
_ETYPE_IX = {t: i for i, t in enumerate(EDGE_TYPES)}
_STYLE_IX = {s: i for i, s in enumerate(MEM_STYLES)}


@dataclass
class HwGraph:
    """A design's hardware graph before tensors. Nodes: dicts with type, name, style, f (NUM_FEATURES), est."""

    family: str
    nodes: list = field(default_factory=list)
    edges: list = field(default_factory=list)          # (src, dst, width, etype)
    ports: dict = field(default_factory=dict)          # stream name -> node index
    cycles: float = 0.0                                # latency cycles (per token / per call)
    ii: float = 0.0
    macs: float = 0.0
    kernels: int = 1
    kinds: tuple = ()
    repeats: list = field(default_factory=list)       # (first node, block size, copies): identical lanes

    def node(self, ntype: str, name: str = "", style: str = "none", est: dict | None = None, **f) -> int:
        if ntype not in _TYPE_IX:
            raise ValueError(f"unknown node type {ntype!r}")
        bad = set(f) - set(NUM_FEATURES)
        if bad:
            raise ValueError(f"unknown node features {sorted(bad)}")
        self.nodes.append({"type": ntype, "name": name, "style": style, "f": f, "est": est or A.zero()})
        return len(self.nodes) - 1

    def edge(self, src: int, dst: int, width: float, etype: str = "data") -> None:
        if etype not in _ETYPE_IX:
            raise ValueError(f"unknown edge type {etype!r}")
        self.edges.append((src, dst, float(width), etype))

    def repeat(self, first: int, copies: int) -> None:
        """Nodes first..end (the block added last) stand for `copies` identical copies (e.g. the Q lanes):
        `arrays` materialises them, replicating every edge that touches the block, without Python loops."""
        size = len(self.nodes) - first
        if copies > 1 and size > 0:
            self.repeats.append((first, size, copies))

    @property
    def num_nodes(self) -> int:
        return len(self.nodes) + sum(size * (c - 1) for _, size, c in self.repeats)

    def analytical(self) -> dict[str, float]:
        out = A.add(*(n["est"] for n in self.nodes))
        for first, size, copies in self.repeats:
            for n in self.nodes[first: first + size]:
                for k, v in n["est"].items():
                    out[k] += (copies - 1) * v
        out["latency_cycles"] = float(self.cycles)
        out["ii"] = float(self.ii)
        return out

    # --- tensors ----------------------------------------------------------------
    def arrays(self, expand: bool = False) -> "GraphArrays":
        """Feature arrays. By default the graph stays compressed: a repeated block (the Q lanes, the attention
        units) is one set of nodes with node_weight = copies, and a message from a block node to a shared
        node carries edge_weight = copies. With sum aggregation and weighted pooling this is exactly the
        expanded graph (expand=True materialises every copy, all weights 1), at a fraction of the cost."""
        n0 = len(self.nodes)
        nn = len(NUM_FEATURES)
        x = np.zeros((n0, len(NODE_FEATURES)), np.float32)
        so, to = nn + len(RES), nn + len(RES) + len(MEM_STYLES)
        for i, node in enumerate(self.nodes):
            f, est = node["f"], node["est"]
            x[i, :nn] = [f.get(k) or 0.0 for k in NUM_FEATURES]
            x[i, nn:so] = [est.get(r, 0.0) for r in RES]
            x[i, so + _STYLE_IX[node["style"]]] = 1.0
            x[i, to + _TYPE_IX[node["type"]]] = 1.0
        x[:, :so] = np.log1p(np.maximum(x[:, :so], 0.0))
        x[:, :nn] *= 1.0 / math.log(2.0)          # log2(1 + v) for the numeric features, log1p for estimates
        src = np.array([e[0] for e in self.edges], np.int64)
        dst = np.array([e[1] for e in self.edges], np.int64)
        ea1 = np.zeros((len(self.edges), len(EDGE_FEATURES)), np.float32)
        if self.edges:
            ea1[:, 0] = np.log2(1.0 + np.array([e[2] for e in self.edges]))
            ea1[np.arange(len(self.edges)), 1 + np.array([_ETYPE_IX[e[3]] for e in self.edges])] = 1.0
        nw = np.ones(n0, np.float32)
        blk = np.full(n0, -1, np.int64)
        for bi, (first, size, copies) in enumerate(self.repeats):
            nw[first: first + size] = copies
            blk[first: first + size] = bi
        n_full = n0 + sum(size * (c - 1) for _, size, c in self.repeats)
        rev = ea1.copy()
        rev[:, -1] = 1.0
        if expand:
            xs, srcs, dsts, eas = [x], [src], [dst], [ea1]
            n = n0
            for first, size, copies in self.repeats:
                inb = lambda v: (v >= first) & (v < first + size)  # noqa: E731
                xs.append(np.tile(x[first: first + size], (copies - 1, 1)))
                touch = inb(src) | inb(dst)
                s_t, d_t, e_t = src[touch], dst[touch], ea1[touch]
                for k in range(1, copies):
                    base = n + (k - 1) * size - first
                    srcs.append(np.where(inb(s_t), s_t + base, s_t))
                    dsts.append(np.where(inb(d_t), d_t + base, d_t))
                    eas.append(e_t)
                n += (copies - 1) * size
            x = np.concatenate(xs)
            src, dst, ea1 = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(eas)
            rev = ea1.copy()
            rev[:, -1] = 1.0
            nw = np.ones(n, np.float32)
            w_f = w_r = np.ones(len(src), np.float32)
        else:
            if np.any((blk[src] >= 0) & (blk[dst] >= 0) & (blk[src] != blk[dst])):
                raise ValueError("edges between two different repeated blocks are not supported")
            same = blk[src] == blk[dst]
            w_f = np.where(same, 1.0, nw[src]).astype(np.float32)     # message src -> dst
            w_r = np.where(same, 1.0, nw[dst]).astype(np.float32)     # message dst -> src
        ei = np.stack([np.concatenate([src, dst]), np.concatenate([dst, src])])
        ea = np.concatenate([ea1, rev])
        ew = np.concatenate([w_f, w_r])
        ana = self.analytical()
        u = np.zeros(len(GRAPH_FEATURES), np.float32)
        u[FAMILIES.index(self.family) if self.family in FAMILIES else 0] = 1.0
        u[2] = math.log2(1.0 + self.cycles)
        u[3] = math.log2(1.0 + self.ii)
        u[4] = math.log2(1.0 + self.macs)
        for j, r in enumerate(RES):
            u[5 + j] = math.log1p(ana[r])
        u[5 + len(RES)] = math.log2(max(1, self.kernels))
        u[6 + len(RES)] = math.log2(1.0 + n_full)
        return GraphArrays(x, ei, ea, u, np.array([ana[t] for t in TARGETS], np.float64), nw, ew,
                           kernel_group(self.kinds))


class GraphArrays(NamedTuple):
    x: np.ndarray            # [nodes, NODE_FEATURES]
    edge_index: np.ndarray   # [2, 2 * edges] (every edge in both directions)
    edge_attr: np.ndarray    # [2 * edges, EDGE_FEATURES]
    u: np.ndarray            # [GRAPH_FEATURES]
    ana: np.ndarray          # [8] analytical estimate of every target
    node_weight: np.ndarray  # [nodes] copies a node stands for
    edge_weight: np.ndarray  # [2 * edges] copies of the sender per receiver
    group: str = ""          # kernel kinds in the design (kernel_group): the unit of the formula fallback


def kernel_group(kinds) -> str:
    """'attention_decode', 'naive+tlmm', ...: designs whose analytical formulas are equally trustworthy."""
    return "+".join(sorted(set(kinds)))


# ----------------------------------------------------------------------------- registry

Builder = Callable[[object], HwGraph]
BUILDERS: dict[str, Builder] = {}


def register_builder(*kinds: str):
    def deco(fn: Builder) -> Builder:
        for k in kinds:
            BUILDERS[k] = fn
        return fn
    return deco


def build_ir(spec) -> HwGraph:
    """Spec (pydantic KernelSpec, spec dict, or composed dict) -> HwGraph."""
    from hwgen.spec import KernelSpec

    from . import compose  # noqa: F401  (registers the "composed" builder)

    if isinstance(spec, compose.ComposedSpec):
        return BUILDERS["composed"](spec)
    if isinstance(spec, dict):
        kind = spec.get("kind")
        if kind in BUILDERS and kind not in _SPEC_KINDS():
            return BUILDERS[kind](spec)      # dict-level kinds: composed, hls4ml networks
        from hwgen.spec import parse_spec
        spec = parse_spec(spec)
    if not isinstance(spec, KernelSpec):
        raise TypeError(f"expected a KernelSpec or a spec dict, got {type(spec).__name__}")
    try:
        builder = BUILDERS[spec.kind]
    except KeyError:
        raise KeyError(f"no surrogate graph builder for kind {spec.kind!r}; known: {', '.join(sorted(BUILDERS))}") from None
    return builder(spec)


def _SPEC_KINDS() -> set:
    from hwgen.kernels import registry
    return set(registry.kinds())


def to_data(ir: HwGraph, y: dict | None = None, expand: bool = False):
    """HwGraph -> torch_geometric Data(x, edge_index, edge_attr, nw, ew, u [1, G], ana [1, 8], y [1, 8])."""
    return collate([ir.arrays(expand)], [y] if y is not None else None, single=True)


def spec_to_data(spec, y: dict | None = None, expand: bool = False):
    return to_data(build_ir(spec), y, expand)


def collate(irs, ys=None, single: bool = False):
    """Batch graphs (HwGraph or GraphArrays) into one Data with `batch` (numpy concatenation, no per-graph
    Data objects). Fields: x, edge_index, edge_attr, nw (node weights), ew (edge weights), u, ana, y."""
    import torch
    from torch_geometric.data import Data

    arrs = [ir.arrays() if isinstance(ir, HwGraph) else ir for ir in irs]
    sizes = np.array([a.x.shape[0] for a in arrs], np.int64)
    offs = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    ei = np.concatenate([a.edge_index + o for a, o in zip(arrs, offs)], axis=1)
    data = Data(x=torch.from_numpy(np.concatenate([a.x for a in arrs])), edge_index=torch.from_numpy(ei),
                edge_attr=torch.from_numpy(np.concatenate([a.edge_attr for a in arrs])))
    data.nw = torch.from_numpy(np.concatenate([a.node_weight for a in arrs]))
    data.ew = torch.from_numpy(np.concatenate([a.edge_weight for a in arrs]))
    data.u = torch.from_numpy(np.stack([a.u for a in arrs]))
    data.ana = torch.from_numpy(np.stack([a.ana for a in arrs]))
    data.group = [a.group for a in arrs]
    if not single:
        data.batch = torch.from_numpy(np.repeat(np.arange(len(arrs)), sizes))
    if ys is not None:
        yv = np.full((len(arrs), len(TARGETS)), np.nan)
        for g, y in enumerate(ys):
            for j, t in enumerate(TARGETS):
                v = None if y is None else y.get(t)
                if v is not None:
                    yv[g, j] = float(v)
        data.y = torch.from_numpy(yv)
    return data


def compose(graphs: list[HwGraph], stream_edges: list[dict]) -> HwGraph:
    """Union of kernel graphs plus kernel-to-kernel streams.

    stream_edges: dicts {src: (graph index, port name), dst: (graph index, port name), width: bits,
    adapter: optional dict of NUM_FEATURES for a width/rate adapter node (with `est`)}. Latency is
    the sum of the kernels' latencies (each stream buffers a whole token), II the largest II.
    """
    if not graphs:
        raise ValueError("compose needs at least one graph")
    fams = {g.family for g in graphs}
    if len(fams) > 1:
        raise ValueError(f"composed kernels must share a device family, got {sorted(fams)}")
    out = HwGraph(family=graphs[0].family)
    offsets = []
    for gi, g in enumerate(graphs):
        offsets.append(len(out.nodes))
        for n in g.nodes:
            out.nodes.append({**n, "name": f"k{gi}.{n['name']}"})
        for s, d, w, t in g.edges:
            out.edges.append((s + offsets[-1], d + offsets[-1], w, t))
        for p, ix in g.ports.items():
            out.ports[f"k{gi}.{p}"] = ix + offsets[-1]
        for first, size, copies in g.repeats:
            out.repeats.append((first + offsets[-1], size, copies))
    for se in stream_edges:
        (si, sp), (di, dp) = se["src"], se["dst"]
        s = graphs[si].ports[sp] + offsets[si]
        d = graphs[di].ports[dp] + offsets[di]
        ad = se.get("adapter")
        if ad:
            ad = dict(ad)
            est = ad.pop("est", None)
            style = ad.pop("style", "reg")
            a = out.node("stream_adapter", f"adapter{si}_{di}", style=style, est=est, **ad)
            out.edge(s, a, se.get("width", 0), "kernel_stream")
            out.edge(a, d, se.get("out_width", se.get("width", 0)), "kernel_stream")
        else:
            out.edge(s, d, se.get("width", 0), "kernel_stream")
    out.cycles = float(sum(g.cycles for g in graphs))
    out.ii = float(max(g.ii for g in graphs))
    out.macs = float(sum(g.macs for g in graphs))
    out.kernels = sum(g.kernels for g in graphs)
    out.kinds = tuple(k for g in graphs for k in g.kinds)
    return out


# ----------------------------------------------------------------------------- ternary matmul

def _clog2(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


# LUTs per leaf bit of the naive +a/0/-a select, per entry bit of a table-build add/sub,
# per control register bit (counters, compares, state decode).
# Calibrated once (non-negative least squares per block type, relative error) on ~40 TLMM/naive designs of
# the dev data and the first dataset records, then rounded and frozen; they are not refit per split.
C_SELECT = 1.0        # per leaf bit of the naive +a/0/-a select
C_BUILD = 1.7         # per entry bit of a table-build add/sub
C_CONTROL = 0.9       # per control register bit
C_SIGNCOUNT = 1.0     # per table of the mirror sign-bit count
C_TREE = 1.4          # per adder-tree bit (adder LUT plus the sign extension / select Yosys folds in)
C_TABLE_LOGIC = 0.45  # scale of the LUTRAM read mux and mirror XOR logic per table replica
C_ACC = 0.9           # per accumulator bit (adder + first-chunk zero select)
PIPE_TLMM, PIPE_NAIVE = 4, 5   # latency(1 token) - cycles per token, measured by cosim (datasets/tlmm)


@register_builder("tlmm", "tlmm_naive")
def build_matmul(spec) -> HwGraph:
    from hwgen.kernels import registry

    m = registry.get(spec.kind).model(spec)
    fam = spec.target_info.yosys_family
    tlmm = bool(m.table_depth)
    # latency of one token = cycles per token + the pipeline (issue, lookup/select + tree, accumulate, output
    # register; the naive select adds a stage), as the test bench measures it; II = cycles per token.
    g = HwGraph(family=fam, cycles=m.cycles_per_token + (PIPE_TLMM if tlmm else PIPE_NAIVE), ii=m.cycles_per_token,
                macs=m.macs_per_cycle, kinds=(spec.kind,))
    a = m.act_bits
    aw, lw, cw, nw = _clog2(m.wbuf_depth), _clog2(m.lanes), _clog2(m.chunks), _clog2(m.nblocks)
    # table-build ROM (templates/tlmm/rtl/matmul.v.j2): per build step the entry index, the activation
    # select and the op; the step counter replaces the entry counter.
    steps = m.build_cycles if tlmm else 0
    ew = _clog2(steps) if tlmm else 0
    sel_w = _clog2(m.G) if tlmm else 0
    rom_bits = (_clog2(m.table_depth) + sel_w + 2) if tlmm else 0
    ctrl_ff = (27 if tlmm else 15) + lw + 2 * aw + cw + 3 * nw + ew
    rom = A.memory(steps, rom_bits, "rom", fam) if tlmm else A.zero()
    ctrl_est = A.add({**A.zero(), "ff": ctrl_ff, "lut": C_CONTROL * ctrl_ff}, rom)
    xin = g.node("stream_in", "x", width=m.x_beat_bits)
    win = g.node("stream_in", "w", width=m.word_bits)
    yout = g.node("stream_out", "y", width=m.y_beat_bits)
    g.ports.update(x=xin, w=win, y=yout)
    ctrl = g.node("control", "control", width=ctrl_ff, depth=steps, out_bits=rom_bits,
                  storage_bits=steps * rom_bits, est=ctrl_est)
    # activation registers: tlmm keeps one chunk register (xr; the tables hold the chunk once built), naive a
    # skid buffer, xr and s1_x (activations travel with their weights)
    nbuf = 1 if tlmm else 3
    xbuf = g.node("act_buffer", "xbuf", style="reg", count=nbuf, width=m.x_beat_bits,
                  storage_bits=nbuf * m.x_beat_bits, est=A.registers(nbuf * m.x_beat_bits))
    g.edge(xin, xbuf, m.x_beat_bits, "stream")
    g.edge(ctrl, xbuf, 2, "control")
    if tlmm:
        # Serial build: per table a G:1 activation mux, one add/sub of entry_bits and the running-sum register.
        mux_lut = a * math.ceil((m.G - 1) / 3) if m.G > 1 else 0
        build_est = {**A.zero(), "lut": m.T * (C_BUILD * m.entry_bits + mux_lut), "ff": m.T * m.entry_bits}
        build = g.node("table_build", "build", count=m.T, depth=steps, leaves=m.G, leaf_bits=a,
                       out_bits=m.entry_bits, width=m.entry_bits, adder_bits=m.T * m.entry_bits,
                       storage_bits=m.T * m.entry_bits, est=build_est)
        g.edge(xbuf, build, m.x_beat_bits, "data")
        g.edge(ctrl, build, sel_w + 2, "control")
        leaf_bits, n_leaves = m.entry_bits, m.T
    else:
        leaf_bits, n_leaves = a + 1, m.chunk
    mirror = tlmm and m.table_style == "mirror"
    # Mirror tables: a negative lookup enters the tree as ~half (the XOR folds into the first adders) and the
    # lane adds the count of sign bits as one more leaf.
    sc_bits = _clog2(m.T + 1) + 1 if mirror else 0
    tree_bits = A.tree_adder_bits(n_leaves, leaf_bits, m.lane_sum_bits, [sc_bits] if mirror else [])
    wstyle = m.weight_memory
    first = len(g.nodes)
    for q in range(1):   # lane 0; g.repeat makes the Q identical lanes
        wb = g.node("weight_bank", f"wbank{q}", style=wstyle, depth=m.wbuf_depth, width=m.word_bits, count=1,
                    ports=1, storage_bits=m.wbuf_depth * m.word_bits,
                    est=A.memory(m.wbuf_depth, m.word_bits, wstyle, fam, sync_read=True))
        g.edge(win, wb, m.word_bits, "weight_load")
        g.edge(ctrl, wb, aw, "address")
        if tlmm:
            neg = m.T * m.entry_bits if mirror else 0
            est = A.lutram(m.table_depth, m.entry_bits, fam, replicas=m.T)
            est["lut"] += (m.T * m.entry_bits + C_SIGNCOUNT * m.T) if mirror else 0.0   # ~h XOR + sign count
            est["lut"] *= C_TABLE_LOGIC
            src = g.node("table_bank", f"tables{q}", style="lutram", count=m.T, depth=m.table_depth,
                         width=m.entry_bits, ports=1, neg_bits=neg,
                         storage_bits=m.T * m.table_depth * m.entry_bits, est=est)
            g.edge(build, src, m.T * m.entry_bits, "table_write")
            g.edge(wb, src, m.word_bits, "address")
            g.edge(ctrl, src, ew, "address")
        else:
            src = g.node("select", f"select{q}", count=m.chunk, width=leaf_bits, leaves=m.chunk, leaf_bits=a,
                         out_bits=leaf_bits, est={**A.zero(), "lut": C_SELECT * m.chunk * leaf_bits})
            g.edge(wb, src, m.word_bits, "data")
            g.edge(xbuf, src, m.x_beat_bits, "data")
        tree = g.node("lane_tree", f"tree{q}", leaves=n_leaves, leaf_bits=leaf_bits, out_bits=m.lane_sum_bits,
                      adder_bits=tree_bits, width=m.lane_sum_bits,
                      est=A.add(A.adder(C_TREE * tree_bits), A.registers(m.lane_sum_bits)))
        g.edge(src, tree, n_leaves * leaf_bits, "data")
        # With a single chunk the running sum is never read back (prev = 0): memory and adder vanish.
        live = m.chunks > 1
        acc = g.node("accumulator", f"acc{q}", style="lutram" if live else "reg", depth=m.nblocks if live else 0,
                     width=m.acc_bits, count=1, ports=1, leaves=2 if live else 1, leaf_bits=m.lane_sum_bits,
                     out_bits=m.acc_bits, adder_bits=m.acc_bits if live else 0,
                     storage_bits=m.nblocks * m.acc_bits if live else 0,
                     est=A.add(A.memory(m.nblocks, m.acc_bits, "lutram", fam, sync_read=False) if live else A.zero(),
                               A.adder(C_ACC * m.acc_bits if live else 0), A.registers(m.acc_bits)))
        g.edge(tree, acc, m.lane_sum_bits, "data")
        g.edge(ctrl, acc, nw, "address")
        g.edge(acc, yout, m.acc_bits, "stream")
    g.repeat(first, m.lanes)
    return g


# ----------------------------------------------------------------------------- attention

@register_builder("attention_decode", "attention_prefill")
def build_attention(spec) -> HwGraph:
    """Streaming attention (hwgen/kernels/attention.py, templates/attention/rtl/attention.v.j2).

    Per datapath unit (N_pe x head_par copies, g.repeat): q buffer (B x lanes*data_bits, async read),
    QK^T dot lane (`lanes` registered data_bits^2 products, DSPs from 5 bits up, and a pipelined adder tree),
    score scaling (s_bits x 16 product in DSP pieces; barrel shift by csh), online softmax (compare/diff, exp-table
    lookup + shift by the integer part, l update multiplier), its exp ROM, the S.V lane (per lane an
    acc x alpha and a p x v multiplier and an adder), the numerator memory (B x lanes*acc_bits) and the
    restoring divider. Shared: the (p, alpha) FIFO, the output normalisation (head_par x lanes
    acc x R multipliers, rounding, saturation, N_pe:1 select), the k/v/par registers and control."""
    from hwgen.kernels import registry

    kernel = registry.get(spec.kind)
    m = kernel.model(spec)
    fam = spec.target_info.yosys_family
    ctx = kernel.render_context(spec)["rtl"]
    cycles = kernel.call_cycles(m, m.len_max)
    g = HwGraph(family=fam, cycles=cycles, ii=kernel.call_interval(m, m.len_max), macs=2 * m.units * m.lanes,
                kinds=(spec.kind,))
    db, ln, B = m.data_bits, m.lanes, m.beats
    sp_bits, lp_bits, ap_bits, op_bits = ctx["sp_bits"], ctx["lp_bits"], ctx["ap_bits"], ctx["op_bits"]
    cw, bw, pw_, gw, dw = ctx["cw"], ctx["bw"], ctx["pw"], ctx["gw"], ctx["dw"]
    ctrl_ff = 3 + cw * 5 + 2 * pw_ + 4 * bw + gw + dw + 2 * ctx["fifo_aw"] + ctx["fifo_cw"] + 2
    # pipeline registers written out in the RTL besides the products' own (A.product / A.pieces count those):
    # the dot product's adder-tree stages, the K/V beat registers and the K pipeline's key indices
    tree_ff = sum(t["bits"] for t in ctx["tree"] if t.get("reg"))
    o2w = op_bits - m.sh_out + 1
    ctrl_est = {**A.zero(), "ff": ctrl_ff + 3 * m.data_w + (2 + m.tree_stages) * cw,
                "lut": C_CONTROL * ctrl_ff + 2 * cw * cw}                                   # + the base divide
    if m.causal and m.reversed and not ctx["npe_pow2"]:
        # last block's base: (len - 1) * div_m >> div_s, then * N_pe (constant multiplies, DSPs when wide enough)
        ctrl_est = A.add(ctrl_est, A.product(cw, False, ctx["div_m"].bit_length(), False, fam, y_bits=cw + ctx["div_s"]),
                         A.product(cw, False, m.npe.bit_length(), False, fam, y_bits=cw))
    ctrl = g.node("control", "control", width=ctrl_ff, depth=m.len_max, est=ctrl_est)
    ports = {}
    for name, w in (("q", m.data_w), ("k", m.data_w), ("v", m.data_w), ("par", m.par_w)):
        ports[name] = g.node("stream_in", name, width=w)
    ports["o"] = g.node("stream_out", "o", width=m.out_w)
    g.ports.update(ports)
    par = g.node("act_buffer", "par_reg", style="reg", count=1, width=m.par_w, storage_bits=m.par_w,
                 est=A.registers(m.par_w))
    g.edge(ports["par"], par, m.par_w, "stream")
    fw = ctx["fifo_w"]
    fifo = g.node("fifo", "pa_fifo", style="lutram", depth=m.fifo_depth, width=fw, storage_bits=m.fifo_depth * fw,
                  est=A.add(A.memory(m.fifo_depth, fw, "lutram", fam, sync_read=False), A.registers(0)))
    g.edge(ctrl, fifo, ctx["fifo_aw"], "address")
    mem_style = "lutram" if B > 1 else "reg"
    norm_mults = m.head_par * ln
    sel = max(0, m.npe - 1)
    norm = g.node("normalize", "normalize", count=norm_mults, leaves=m.npe, leaf_bits=m.acc_bits, out_bits=m.out_bits,
                  mult_bits=norm_mults * m.acc_bits * m.r_bits, width=m.out_w, adder_bits=norm_mults * op_bits,
                  est=A.add(A.pieces(ctx["mul_or"], fam, norm_mults), A.adder(2.0 * op_bits, norm_mults),
                            A.registers(m.head_par * (ln * m.acc_bits + m.r_bits) + norm_mults * (o2w + m.out_bits)),
                            {**A.zero(), "lut": (norm_mults * m.acc_bits + m.head_par * m.r_bits) * math.ceil(sel / 3)}))
    g.edge(norm, ports["o"], m.out_w, "stream")
    g.edge(ctrl, norm, pw_ + bw, "control")
    first = len(g.nodes)
    for u in range(1):   # datapath unit 0; g.repeat makes the N_pe x head_par identical units
        qb = g.node("q_buffer", f"q{u}", style=mem_style, depth=B, width=ln * db, storage_bits=m.d * db,
                    est=A.memory(B, ln * db, mem_style, fam, sync_read=False))
        g.edge(ports["q"], qb, ln * db, "stream")
        g.edge(ctrl, qb, bw + pw_, "address")
        dot_tree = A.tree_adder_bits(ln, 2 * db, m.s_bits)
        dot = g.node("dot_lane", f"dot{u}", count=ln, leaves=ln, leaf_bits=2 * db, out_bits=m.s_bits,
                     adder_bits=dot_tree + m.s_bits, mult_bits=ln * db * db, width=m.s_bits,
                     est=A.add(A.product(db, True, db, True, fam, ln, reg_bits=2 * db), A.adder(dot_tree + 1.5 * m.s_bits),
                               A.registers(2 * m.s_bits + ln * db + tree_ff)))
        g.edge(qb, dot, ln * db, "data")
        g.edge(ports["k"], dot, ln * db, "stream")
        sc = g.node("score_scale", f"scale{u}", leaves=1, leaf_bits=m.s_bits, out_bits=m.t_bits, depth=6,
                    mult_bits=m.s_bits * (m.cm_bits + 1), width=sp_bits, adder_bits=sp_bits,
                    est=A.add(A.pieces(ctx["mul_sc"], fam), A.adder(sp_bits),
                              A.registers(sp_bits + 2 * m.t_bits),
                              {**A.zero(), "lut": sp_bits * 3.0}))   # barrel shift: 6 stages of 2:1 mux, 2 per LUT6
        g.edge(dot, sc, m.s_bits, "data")
        g.edge(par, sc, m.cm_bits + m.csh_bits, "data")
        # the exp ROM: block RAM when exp_index_bits >= EXP_BRAM_MIN_E, one dual-port ROM per two units
        # (an odd unit count leaves one single-port ROM; spread over the units here), else a LUT case table
        roms_bram = (m.units // 2 * A.bram36(m.exp_entries, m.pv_bits, true_dual=True)     # two read ports
                     + m.units % 2 * A.bram36(m.exp_entries, m.pv_bits))                    # an odd unit's own
        rom_est = ({**A.zero(), "bram36": roms_bram / m.units}
                   if ctx["rom_bram"] else A.memory(m.exp_entries, m.pv_bits, "rom", fam))
        ex = g.node("exp_table", f"exp{u}", style="bram" if ctx["rom_bram"] else "rom", depth=m.exp_entries,
                    width=m.pv_bits, storage_bits=m.exp_entries * m.pv_bits,
                    est=A.add(rom_est,
                              {**A.zero(), "lut": m.pv_bits * math.ceil(math.log2(m.P + 2)) / 2}))
        sm = g.node("softmax", f"softmax{u}", leaves=2, width=m.l_bits, out_bits=m.pv_bits,
                    adder_bits=2 * m.diff_bits + m.l_bits, mult_bits=m.l_bits * m.pv_bits,
                    est=A.add(A.adder(2 * m.diff_bits + m.l_bits + 2 * m.pv_bits), A.pieces(ctx["mul_la"], fam),
                              A.registers(m.E + 3 * m.pv_bits + m.l_bits)))
        g.edge(sc, sm, m.t_bits, "data")
        g.edge(sm, ex, m.diff_bits, "data")
        g.edge(ex, sm, m.pv_bits, "data")
        g.edge(sm, fifo, 2 * m.pv_bits, "data")
        sv = g.node("sv_lane", f"sv{u}", count=ln, leaves=2, leaf_bits=m.acc_bits, out_bits=m.acc_bits,
                    adder_bits=ln * m.acc_bits, mult_bits=ln * (m.acc_bits * m.pv_bits + db * m.pv_bits),
                    width=ln * m.acc_bits,
                    est=A.add(A.pieces(ctx["mul_av"], fam, ln), A.product(m.pv_bits, False, db, True, fam, ln),
                              A.adder(2.0 * m.acc_bits, ln),
                              A.registers(4 * m.pv_bits + ln * 2 * ctx["pvw"])))
        g.edge(fifo, sv, 2 * m.pv_bits, "data")
        g.edge(ports["v"], sv, ln * db, "stream")
        acc = g.node("accumulator", f"acc{u}", style=mem_style, depth=B, width=ln * m.acc_bits,
                     storage_bits=m.d * m.acc_bits,
                     est=A.memory(B, ln * m.acc_bits, mem_style, fam, sync_read=False))
        g.edge(sv, acc, ln * m.acc_bits, "data")
        g.edge(acc, sv, ln * m.acc_bits, "data")
        g.edge(ctrl, acc, bw, "address")
        rc = g.node("reciprocal", f"recip{u}", width=m.rw, leaves=1, leaf_bits=m.l_bits, out_bits=m.r_bits,
                    adder_bits=m.l_bits + 2,
                    est=A.add(A.adder(2.0 * (m.l_bits + 2)), A.registers(2 * m.l_bits + 1 + m.r_bits)))
        g.edge(sm, rc, m.l_bits, "data")
        g.edge(ctrl, rc, dw, "control")
        g.edge(acc, norm, ln * m.acc_bits, "data")
        g.edge(rc, norm, m.r_bits, "data")
    g.repeat(first, m.units)
    return g


# ----------------------------------------------------------------------------- hls4ml networks

@register_builder("hls4ml_network")
def build_hls4ml(spec: dict) -> HwGraph:
    """An imported hls4ml network (dict): {kind: hls4ml_network, target, layers: [{type: dense|conv|activation|
    other, n_in, n_out, weight_bits, act_bits, reuse_factor, latency_cycles?}], latency_cycles?, ii?}.
    One node per layer, a stream edge between consecutive layers (width n_out * act_bits)."""
    from hwgen.targets import get_target

    fam = get_target(spec.get("target", "kv260")).yosys_family
    g = HwGraph(family=fam, kinds=("hls4ml_network",))
    prev = g.node("stream_in", "x", width=spec["layers"][0].get("n_in", 1) * spec["layers"][0].get("act_bits", 8))
    g.ports["x"] = prev
    macs = 0.0
    for i, layer in enumerate(spec["layers"]):
        t = {"dense": "layer_dense", "conv": "layer_conv", "activation": "layer_activation"}.get(layer.get("type"), "layer_other")
        ni, no = int(layer.get("n_in", 1)), int(layer.get("n_out", 1))
        wb, ab, rf = int(layer.get("weight_bits", 8)), int(layer.get("act_bits", 8)), int(layer.get("reuse_factor", 1))
        mults = ni * no / max(1, rf) if t in ("layer_dense", "layer_conv") else 0
        est = A.multiplier(wb, ab, mults) if mults else A.adder(no * ab)
        n = g.node(t, f"layer{i}", count=mults, leaves=ni, leaf_bits=wb + ab, width=no * ab, out_bits=ab,
                   depth=rf, mult_bits=mults * wb * ab, storage_bits=ni * no * wb, est=est)
        g.edge(prev, n, ni * ab, "stream")
        prev = n
        macs += mults
    out = g.node("stream_out", "y", width=int(spec["layers"][-1].get("n_out", 1)) * 8)
    g.edge(prev, out, 0, "stream")
    g.ports["y"] = out
    g.cycles = float(spec.get("latency_cycles", sum(l.get("latency_cycles", l.get("reuse_factor", 1)) for l in spec["layers"])))
    g.ii = float(spec.get("ii", max(l.get("reuse_factor", 1) for l in spec["layers"])))
    g.macs = macs
    return g
