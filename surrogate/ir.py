"""A design's hardware graph (plain Python, no torch): nodes are sub-blocks with features and an analytical
cost estimate, edges are data paths and streams. Each kernel builds its own (Kernel.graph, next to the kernel in
hwgen/kernels/); surrogate/features.py turns graphs into tensors.

Identical replicated blocks (the Q lanes of a matmul, the N_pe x head_par attention units) are kept once with a
multiplicity (`repeat`), which is exact for sum aggregation and weighted pooling.

Numeric node features (NUM_FEATURES; the encoder takes log2(1 + v)):
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
    arity        operands per adder of the node's adders (2: binary, 3: ternary carry-save adders); 0: no adders
    prim_bits    result bits of instantiated LUT6_2 + carry-chain adders (one LUT site per bit, Yosys maps them as
                 written); 0 for behavioural adders, which Yosys maps and merges itself
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import costs as A
from .costs import MEM_STYLES

# Node types every kernel may use; kernels declare their own in Kernel.node_types.
CORE_NODE_TYPES = ("stream_in", "stream_out", "control", "act_buffer", "stream_adapter")
EDGE_TYPES = ("stream", "data", "table_write", "address", "control", "weight_load", "kernel_stream")
NUM_FEATURES = ("count", "depth", "width", "leaves", "leaf_bits", "out_bits", "adder_bits", "storage_bits",
                "ports", "neg_bits", "mult_bits", "arity", "prim_bits")
_NUM_FEATURE_SET = frozenset(NUM_FEATURES)


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
    timing: dict | None = None                         # Kernel.timing_estimate: {lut_depth, crit_ns} (anchors)

    def node(self, ntype: str, name: str = "", style: str = "none", est: dict | None = None, **f) -> int:
        """Add a block; `ntype` must be declared by some kernel (Kernel.node_types) or be a CORE_NODE_TYPE."""
        if style not in MEM_STYLES:
            raise ValueError(f"unknown memory style {style!r}")
        if not f.keys() <= _NUM_FEATURE_SET:
            raise ValueError(f"unknown node features {sorted(set(f) - _NUM_FEATURE_SET)}")
        self.nodes.append({"type": ntype, "name": name, "style": style, "f": f, "est": est or A.zero()})
        return len(self.nodes) - 1

    def copy_node(self, node: dict) -> int:
        """Add a copy of a node another graph made with `node` (a graph builder's memoised block). The copy shares the
        block's feature and estimate dicts (copying them was a quarter of a matmul graph's build): a builder replaces
        a node's `est` / `f` with a new dict, never edits one in place (tests/test_surrogate_fastpath.py would see a
        memoised block changed by one design in another's features)."""
        self.nodes.append({**node})
        return len(self.nodes) - 1

    def edge(self, src: int, dst: int, width: float, etype: str = "data") -> None:
        if etype not in EDGE_TYPES:
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

    def analytical_terms(self, target: str = "lut") -> dict[str, float]:
        """`target`'s analytical estimate split by node type (lane copies included); the values sum to
        analytical()[target]. For fits that scale the formula's terms separately (bench/surrogate_transfer.py)."""
        copies = [1] * len(self.nodes)
        for first, size, c in self.repeats:       # as analytical() counts them
            for i in range(first, first + size):
                copies[i] += c - 1
        out: dict[str, float] = {}
        for n, c in zip(self.nodes, copies):
            out[n["type"]] = out.get(n["type"], 0.0) + c * float(n["est"].get(target, 0.0))
        return out

    def analytical(self) -> dict[str, float]:
        out = A.add(*(n["est"] for n in self.nodes))
        for first, size, copies in self.repeats:
            for n in self.nodes[first: first + size]:
                for k, v in n["est"].items():
                    out[k] += (copies - 1) * v
        out["latency_cycles"] = float(self.cycles)
        out["ii"] = float(self.ii)
        out.update(timing_anchor(self))
        return out


# Timing anchor of a graph whose kernel models no path (Kernel.timing_estimate None): a 7-level LUT path, the
# most common depth of the shipped datasets' attention designs; the GNN's correction learns the rest.
GENERIC_DEPTH = 7


def timing_anchor(g: "HwGraph") -> dict:
    """{lut_depth, crit_ns}: the kernel's structural estimate, or the generic anchor."""
    if g.timing:
        return {"lut_depth": float(g.timing["lut_depth"]), "crit_ns": float(g.timing["crit_ns"])}
    from hwgen import timing

    return {"lut_depth": float(GENERIC_DEPTH),
            "crit_ns": timing.comb_ns(g.family, timing.Segment(depth=GENERIC_DEPTH))}


def kernel_group(kinds) -> str:
    """'attention_decode', 'naive+tlmm', ...: designs whose analytical formulas are equally trustworthy."""
    return "+".join(sorted(set(kinds)))


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
    out.timing = composed_timing(graphs, {i for se in stream_edges for i in (se["src"][0], se["dst"][0])})
    return out


# LUT levels a stream adapter adds in front of the paths beside a member's lane (hwgen_stream_adapter.v drives
# m_tdata / m_tvalid / s_tready through a LUT): datasets/composed's lut_depth is one above its deepest member's on
# 15 of 40 designs (3 one below, 22 equal); one adapter level on the members' side paths (Kernel.timing_estimate
# side_depth) explains 9 of the 15 and moves none of the 22.
ADAPTER_LEVELS = 1


def composed_timing(graphs: list[HwGraph], streamed: set) -> dict:
    """The composition's {lut_depth, crit_ns} anchor: its deepest / slowest member path, where the members with a
    stream (indices in `streamed`) see their side paths (timing anchor side_depth / side_ns) lengthened by the
    adapter's levels."""
    from hwgen import timing

    depth, crit = 0.0, 0.0
    for i, g in enumerate(graphs):
        a = timing_anchor(g)
        depth, crit = max(depth, a["lut_depth"]), max(crit, a["crit_ns"])
        if i in streamed and g.timing and "side_depth" in g.timing:
            glue = timing.Segment(depth=ADAPTER_LEVELS)
            depth = max(depth, g.timing["side_depth"] + glue.depth)
            crit = max(crit, g.timing["side_ns"] + timing.comb_ns(g.family, glue))
    return {"lut_depth": depth, "crit_ns": crit}
