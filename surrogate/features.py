"""Hardware graphs (surrogate/ir.py) as tensors for the GNN: feature encoding and batching.

Node features (NODE_FEATURES): NUM_FEATURES as log2(1 + v); est_* = log1p of the block's analytical estimate of
lut, lutram, ff, dsp, bram36, uram; style_* memory style one-hot; type_* node type one-hot over the node types
every registered kernel declares (`node_types()`). Edge features: log2(1 + width), edge type one-hot, reverse
flag (every edge is also present reversed so messages flow both ways). Graph features (GRAPH_FEATURES): family
one-hot, log2(1 + latency cycles), log2(1 + II), log2(1 + MACs/cycle), log1p of the analytical totals,
log2(kernels), log2(1 + nodes). A model stores the feature names it was trained on and maps them by name
(surrogate/model.py), so a kernel added later does not invalidate it.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import math
import operator
import time
from typing import NamedTuple

import numpy as np

from .costs import MEM_STYLES, RES, TARGETS
from .ir import CORE_NODE_TYPES, EDGE_TYPES, NUM_FEATURES, HwGraph, kernel_group

FAMILIES = ("xcup", "xc7")
# 10: URAM banks as memory_libmap maps them (4096-deep slices in byte lanes: blocks and the slices:1 read mux), block
# RAM likewise (address slices side by side in the data bits, costs._bram_choice: blocks and the read mux; ROMs
# without byte padding, rope case tables at 2^abits rows), the
# matmul partial-sum LUTRAM's read mux into its adder (costs.read_mux_into_adder_luts) and write decode once per design
# (on the control node), a lone naive select's folded 2-input bank mux one LUT (C_FOLDED_SIGN) and the folded bank's
# write demux (C_BLOCK_DEMUX); a composition's stream adapter: its read-beat select at MUX_LUT_PER_INPUT LUTs per input
# and no LUT per buffer bit, less the producer's output-register bits below its shift (surrogate/compose.py
# adapter_features);
# the TLMM build: no select LUT at G = 2 (folds into the build adder), mirror sign XOR folded into a 2-3 bank table
# read mux (C_MIRROR_IN_MUX), a two-operand TLMM lane adder at C_MACC_PAIR_LOOKUP per bit, table / build / control
# rates refit with them;
# attention anchors: FFs from the RTL's registers (live bits of split-multiply pieces, no wire products' registers,
# control counters and SRLs, DSP48E1-packed input registers on xc7: costs.dsp_input_bits), control LUTs of the
# causal schedules and fixed control logic (C_CAUSAL_LEN, C_REVERSED_LEN, C_CTRL_BASE), C_SOFTMAX / C_DOT_TREE refit;
# xc7 attention LUTs: shift-17 piece sums folded into DSP48E1s only when their kept bits fit its 48-bit P
# (costs.DSP_P_BITS; the normaliser's two pieces: overlapping bits only), multi-tile products' partial sums in PCIN;
# 9: single-lane G = 1 TLMM table build: + C_BUILD_ONE_LANE per build entry bit (flattened merge with the control),
# BRAM/URAM weight-bank read mux x C_BLOCK_MUX or folded into the naive selects (C_FOLDED_SELECT);
# 8: LUTRAM bank geometry by Yosys' memory_libmap cost, deep-LUTRAM read mux / write decode rates (weight bank,
# accumulator); layer-kernel anchors: rope case-table ROMs as Yosys maps them (BRAM by memory_libmap's cost, LUTs per
# live bit), split x delay in SRLs, direct base-row LUTRAM; glu_act output register / unsaturated rounding;
# bitlinear_scale per-channel s register once; 7: TLMM depth anchors: accumulator read depth (nblocks), table-read $macc levels, mirror ripple table from today's
# RTL's labels; 6: matmul crit_ns anchors from the merged lane parts and side paths, compositions' adapter level on
# side paths (5: matmul lane trees as merged multi-operand adders, shared naive negations, accumulator and LUTRAM
# write terms; adder arity / instantiated-primitive bits (TLMM adder: ternary, naive adder: expert); 4: memory read
# muxes, refit TLMM table terms; 3: node types per kernel)
FEATURE_VERSION = 10


@functools.lru_cache(maxsize=1)
def node_types() -> tuple[str, ...]:
    """CORE_NODE_TYPES, then every registered kernel's own, in registry order (deterministic)."""
    from hwgen import kernels

    out = list(CORE_NODE_TYPES)
    for kernel in kernels.REGISTRY.values():
        out += [t for t in kernel.node_types if t not in out]
    return tuple(out)


def node_features() -> tuple[str, ...]:
    return (NUM_FEATURES + tuple(f"est_{r}" for r in RES) + tuple(f"style_{s}" for s in MEM_STYLES)
            + tuple(f"type_{t}" for t in node_types()))


EDGE_FEATURES = ("log2_width",) + tuple(f"type_{t}" for t in EDGE_TYPES) + ("reverse",)
GRAPH_FEATURES = (tuple(f"family_{f}" for f in FAMILIES) + ("log2_cycles", "log2_ii", "log2_macs")
                  + tuple(f"ana_{r}" for r in RES) + ("log2_kernels", "log2_nodes"))
_ETYPE_IX = {t: i for i, t in enumerate(EDGE_TYPES)}
_STYLE_IX = {s: i for i, s in enumerate(MEM_STYLES)}


@functools.lru_cache(maxsize=1)
def _node_layout() -> tuple[dict, int]:
    """(node type -> one-hot index, node feature count); like node_types, fixed once the registry is loaded."""
    return {t: i for i, t in enumerate(node_types())}, len(node_features())


def build_ir(spec) -> HwGraph:
    """A spec (pydantic kernel spec or spec dict) -> its hardware graph, built by the kernel itself."""
    from hwgen import kernels
    from hwgen.spec import KernelSpec

    if isinstance(spec, dict):
        spec = kernels.parse_spec(spec)
    if not isinstance(spec, KernelSpec):
        raise TypeError(f"expected a KernelSpec or a spec dict, got {type(spec).__name__}")
    return kernels.get(spec.kind).graph(spec)


def arrays(ir: HwGraph, expand: bool = False) -> "GraphArrays":
    """Feature arrays. By default the graph stays compressed: a repeated block (the Q lanes, the attention
    units) is one set of nodes with node_weight = copies, and a message from a block node to a shared
    node carries edge_weight = copies. With sum aggregation and weighted pooling this is exactly the
    expanded graph (expand=True materialises every copy, all weights 1), at a fraction of the cost."""
    n0 = len(ir.nodes)
    nn = len(NUM_FEATURES)
    types, width = _node_layout()
    so, to = nn + len(RES), nn + len(RES) + len(MEM_STYLES)
    x = np.zeros((n0, width), np.float32)
    # one numpy call per feature block, not per node (the surrogate builds thousands of graphs a second)
    numeric = np.array([[f.get(k) or 0.0 for k in NUM_FEATURES] + [est.get(r, 0.0) for r in RES]
                        for f, est in ((node["f"], node["est"]) for node in ir.nodes)], np.float32).reshape(n0, so)
    try:
        type_ix = [types[node["type"]] for node in ir.nodes]
    except KeyError as err:
        raise ValueError(f"node type {err.args[0]!r} is declared by no registered kernel (Kernel.node_types)") from None
    rows = np.arange(n0)
    x[rows, so + np.array([_STYLE_IX[node["style"]] for node in ir.nodes], np.int64)] = 1.0
    x[rows, to + np.array(type_ix, np.int64)] = 1.0
    x[:, :so] = np.log1p(np.maximum(numeric, 0.0))
    x[:, :nn] *= 1.0 / math.log(2.0)          # log2(1 + v) for the numeric features, log1p for estimates
    src = np.array([e[0] for e in ir.edges], np.int64)
    dst = np.array([e[1] for e in ir.edges], np.int64)
    ea1 = np.zeros((len(ir.edges), len(EDGE_FEATURES)), np.float32)
    if ir.edges:
        ea1[:, 0] = np.log2(1.0 + np.array([e[2] for e in ir.edges]))
        ea1[np.arange(len(ir.edges)), 1 + np.array([_ETYPE_IX[e[3]] for e in ir.edges])] = 1.0
    nw = np.ones(n0, np.float32)
    blk = np.full(n0, -1, np.int64)
    for bi, (first, size, copies) in enumerate(ir.repeats):
        nw[first: first + size] = copies
        blk[first: first + size] = bi
    n_full = n0 + sum(size * (c - 1) for _, size, c in ir.repeats)
    rev = ea1.copy()
    rev[:, -1] = 1.0
    if expand:
        xs, srcs, dsts, eas = [x], [src], [dst], [ea1]
        n = n0
        for first, size, copies in ir.repeats:
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
    ana = ir.analytical()
    u = np.zeros(len(GRAPH_FEATURES), np.float32)
    u[FAMILIES.index(ir.family) if ir.family in FAMILIES else 0] = 1.0
    u[2] = math.log2(1.0 + ir.cycles)
    u[3] = math.log2(1.0 + ir.ii)
    u[4] = math.log2(1.0 + ir.macs)
    for j, r in enumerate(RES):
        u[5 + j] = math.log1p(ana[r])
    u[5 + len(RES)] = math.log2(max(1, ir.kernels))
    u[6 + len(RES)] = math.log2(1.0 + n_full)
    return GraphArrays(x, ei, ea, u, np.array([ana[t] for t in TARGETS], np.float64), nw, ew,
                       kernel_group(ir.kinds))


class GraphArrays(NamedTuple):
    x: np.ndarray            # [nodes, node_features()]
    edge_index: np.ndarray   # [2, 2 * edges] (every edge in both directions)
    edge_attr: np.ndarray    # [2 * edges, EDGE_FEATURES]
    u: np.ndarray            # [GRAPH_FEATURES]
    ana: np.ndarray          # [8] analytical estimate of every target
    node_weight: np.ndarray  # [nodes] copies a node stands for
    edge_weight: np.ndarray  # [2 * edges] copies of the sender per receiver
    group: str = ""          # kernel kinds in the design (kernel_group): the unit of the formula fallback


def to_data(ir: HwGraph, y: dict | None = None, expand: bool = False):
    """HwGraph -> torch_geometric Data(x, edge_index, edge_attr, nw, ew, u [1, G], ana [1, 8], y [1, 8])."""
    return collate([arrays(ir, expand)], [y] if y is not None else None, single=True)


def spec_to_data(spec, y: dict | None = None, expand: bool = False):
    return to_data(build_ir(spec), y, expand)


def collate(irs, ys=None, single: bool = False):
    """Batch graphs (HwGraph or GraphArrays) into one Data with `batch` (numpy concatenation, no per-graph
    Data objects). Fields: x, edge_index, edge_attr, nw (node weights), ew (edge weights), u, ana, y."""
    import torch
    from torch_geometric.data import Data

    arrs = [arrays(ir) if isinstance(ir, HwGraph) else ir for ir in irs]
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


def collate_graphs(irs, ys=None):
    """collate([arrays(ir) for ir in irs]) in one pass over the whole batch: every node's features in one numpy call,
    the edges of all graphs in a few vectorised ones, the analytical resource totals as segment sums. Same Data, the
    same edge order, and values equal to the per-graph path up to float rounding of the resource totals (the
    surrogate's fast path: graph construction and features dominated its end-to-end time)."""
    import torch
    from torch_geometric.data import Data

    from .ir import timing_anchor

    irs = list(irs)
    types, width = _node_layout()
    nn = len(NUM_FEATURES)
    so, to = nn + len(RES), nn + len(RES) + len(MEM_STYLES)
    sizes = np.array([len(ir.nodes) for ir in irs], np.int64)
    offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    n = int(sizes.sum())
    nodes = [node for ir in irs for node in ir.nodes]
    numeric, type_ix, style_ix = _node_columns(nodes, types)
    x = np.zeros((n, width), np.float32)
    rows = np.arange(n)
    x[rows, so + style_ix] = 1.0
    x[rows, to + type_ix] = 1.0
    x[:, :so] = np.log1p(np.maximum(numeric.astype(np.float32), 0.0))
    x[:, :nn] *= 1.0 / math.log(2.0)
    # repeated blocks: node weights and a batch-wide block id per repeat
    nw = np.ones(n, np.float32)
    blk = np.full(n, -1, np.int64)
    n_full = sizes.astype(np.float64)
    b = 0
    for g, ir in enumerate(irs):
        for first, size, copies in ir.repeats:
            lo = offs[g] + first
            nw[lo: lo + size] = copies
            blk[lo: lo + size] = b
            b += 1
            n_full[g] += size * (copies - 1)
    # edges: per graph the forward edges, then the same reversed (arrays' order), graphs one after the other
    e_sizes = np.array([len(ir.edges) for ir in irs], np.int64)
    edges = [e for ir in irs for e in ir.edges]
    m = len(edges)
    e_offs = np.repeat(np.concatenate([[0], np.cumsum(e_sizes)[:-1]]).astype(np.int64), e_sizes)
    node_off = np.repeat(offs, e_sizes)
    e_src, e_dst, e_width, e_type = zip(*edges) if m else ((), (), (), ())
    src = np.array(e_src, np.int64).reshape(m) + node_off
    dst = np.array(e_dst, np.int64).reshape(m) + node_off
    ea1 = np.zeros((m, len(EDGE_FEATURES)), np.float32)
    if m:
        ea1[:, 0] = np.log2(1.0 + np.array(e_width))
        ea1[np.arange(m), 1 + np.array([_ETYPE_IX[t] for t in e_type])] = 1.0
    if np.any((blk[src] >= 0) & (blk[dst] >= 0) & (blk[src] != blk[dst])):
        raise ValueError("edges between two different repeated blocks are not supported")
    same = blk[src] == blk[dst]
    fwd = 2 * e_offs + (np.arange(m) - e_offs)
    rev_pos = fwd + np.repeat(e_sizes, e_sizes)
    ei = np.empty((2, 2 * m), np.int64)
    ei[0, fwd], ei[1, fwd], ei[0, rev_pos], ei[1, rev_pos] = src, dst, dst, src
    ea = np.empty((2 * m, len(EDGE_FEATURES)), np.float32)
    ea[fwd] = ea1
    ea1[:, -1] = 1.0
    ea[rev_pos] = ea1
    ew = np.empty(2 * m, np.float32)
    ew[fwd] = np.where(same, 1.0, nw[src])
    ew[rev_pos] = np.where(same, 1.0, nw[dst])
    # graph features and the analytical estimate of every target
    res = np.add.reduceat(numeric[:, nn:] * nw[:, None].astype(np.float64), offs, axis=0) if n else np.zeros((0, len(RES)))
    anchors = [timing_anchor(ir) for ir in irs]
    extra = {"latency_cycles": [float(ir.cycles) for ir in irs], "ii": [float(ir.ii) for ir in irs],
             **{k: [a[k] for a in anchors] for k in ("lut_depth", "crit_ns")}}
    ana = np.empty((len(irs), len(TARGETS)), np.float64)
    for j, t in enumerate(TARGETS):
        ana[:, j] = res[:, RES.index(t)] if t in RES else extra[t]
    u = np.zeros((len(irs), len(GRAPH_FEATURES)), np.float32)
    fam = np.array([FAMILIES.index(ir.family) if ir.family in FAMILIES else 0 for ir in irs], np.int64)
    u[np.arange(len(irs)), fam] = 1.0
    u[:, 2] = np.log2(1.0 + np.array(extra["latency_cycles"]))
    u[:, 3] = np.log2(1.0 + np.array(extra["ii"]))
    u[:, 4] = np.log2(1.0 + np.array([ir.macs for ir in irs], np.float64))
    u[:, 5: 5 + len(RES)] = np.log1p(res)
    u[:, 5 + len(RES)] = np.log2(np.maximum(1, np.array([ir.kernels for ir in irs], np.float64)))
    u[:, 6 + len(RES)] = np.log2(1.0 + n_full)
    data = Data(x=torch.from_numpy(x), edge_index=torch.from_numpy(ei), edge_attr=torch.from_numpy(ea))
    data.nw = torch.from_numpy(nw)
    data.ew = torch.from_numpy(ew)
    data.u = torch.from_numpy(u)
    data.ana = torch.from_numpy(ana)
    data.group = [kernel_group(ir.kinds) for ir in irs]
    data.batch = torch.from_numpy(np.repeat(np.arange(len(irs)), sizes))
    if ys is not None:
        data.y = torch.from_numpy(_y_matrix(ys, len(irs)))
    return data


_NUM_IX = {k: i for i, k in enumerate(NUM_FEATURES)}
_EST_VALUES = operator.itemgetter(*RES)
_FEATURE_SETS: dict = {}     # a node's feature names (tuple(node["f"])) -> (their columns, itemgetter of them)


def _feature_set(names: tuple) -> tuple:
    got = _FEATURE_SETS.get(names)
    if got is None:
        # a one-name itemgetter returns the value, not a 1-tuple: read those through a 1-tuple lambda
        getter = operator.itemgetter(*names) if len(names) > 1 else (lambda f, k=names[0]: (f[k],)) if names else (
            lambda f: ())
        got = _FEATURE_SETS[names] = (np.array([_NUM_IX[k] for k in names], np.int64), getter)
    return got


def _node_columns(nodes, types: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(numeric [n, NUM_FEATURES + RES] float64, node type index, memory style index) of the nodes: the numeric
    columns are _numeric_rows' values, read once per distinct (f, est) pair of dict objects (graph builders share a
    memoised block's dicts, HwGraph.copy_node: ~3/4 of a batch's nodes repeat one). The distinct ones are grouped by
    the names of the features they have (a builder's call site gives the same names every time), each group's values
    read by one itemgetter call per node and written into their columns by one numpy call per group, instead of a
    Python step per feature."""
    nn = len(NUM_FEATURES)
    try:
        type_ix = [types[node["type"]] for node in nodes]
    except KeyError as err:
        raise ValueError(f"node type {err.args[0]!r} is declared by no registered kernel (Kernel.node_types)") from None
    style_ix = [_STYLE_IX[node["style"]] for node in nodes]
    # identity is safe here: every node, so every dict, is alive (and unchanged) for the whole call
    seen: dict = {}
    row_of: list = []
    distinct: list = []
    for node in nodes:
        key = (id(node["f"]), id(node["est"]))
        j = seen.get(key)
        if j is None:
            j = seen[key] = len(distinct)
            distinct.append(node)
        row_of.append(j)
    m = len(distinct)
    groups: dict = {}        # feature names -> (distinct node indices, their values flat, itemgetter)
    est_values: list = []
    try:
        for i, node in enumerate(distinct):
            f = node["f"]
            names = tuple(f)
            grp = groups.get(names)
            if grp is None:
                grp = groups[names] = ([], [], _feature_set(names)[1])
            grp[0].append(i)
            grp[1].extend(grp[2](f))
            est_values.extend(_EST_VALUES(node["est"]))
        numeric = np.zeros((m, nn + len(RES)), np.float64)
        numeric[:, nn:] = np.array(est_values, np.float64).reshape(m, len(RES))
        for names, (ix, values, _) in groups.items():
            if names:
                numeric[np.array(ix, np.int64)[:, None], _feature_set(names)[0]] = (
                    np.array(values, np.float64).reshape(len(ix), len(names)))
        # `f.get(k) or 0.0`: a None feature is 0 (NaN after the float conversion above); an estimate missing a
        # resource is 0 (KeyError above): take the per-node path for those (rare) batches
        if np.isnan(numeric).any():
            raise TypeError
    except (KeyError, TypeError, ValueError):
        numeric = np.array(_numeric_rows(distinct), np.float64).reshape(m, nn + len(RES))
    return numeric[np.array(row_of, np.int64)], np.array(type_ix, np.int64), np.array(style_ix, np.int64)


def _numeric_rows(nodes) -> list[list]:
    """Per node [f.get(k) or 0.0 for k in NUM_FEATURES] + [est.get(r, 0.0) for r in RES], walking the features a
    node has (node() admits only NUM_FEATURES) and reading a full estimate in one call."""
    zeros = [0.0] * len(NUM_FEATURES)
    rows = []
    for node in nodes:
        row = zeros.copy()
        for k, v in node["f"].items():
            if v:
                row[_NUM_IX[k]] = v
        est = node["est"]
        try:
            row += _EST_VALUES(est)
        except KeyError:
            row += [est.get(r, 0.0) for r in RES]
        rows.append(row)
    return rows


def _y_matrix(ys, n: int) -> np.ndarray:
    yv = np.full((n, len(TARGETS)), np.nan)
    for g, y in enumerate(ys):
        for j, t in enumerate(TARGETS):
            v = None if y is None else y.get(t)
            if v is not None:
                yv[g, j] = float(v)
    return yv


def _ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """concatenate(arange(s, s + n) for s, n in zip(starts, lens)) without a Python loop."""
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    ends = np.cumsum(lens)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - lens), lens)


@contextlib.contextmanager
def gc_paused():
    """The cyclic garbage collector off for a block that allocates many small objects and no cycles (refcounting frees
    them all): its passes over the process' large, long-lived heap (torch, the model, the caches) cost about a third of
    the graph builds and ~90 % of predict.outputs_from_log's time for bench/surrogate_speed.py's 5,000 distinct
    designs (0.27 s vs 0.02 s)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class FeatureCache:
    """The batched features of designs already seen (collate_graphs' output, one row range per design), keyed by the
    spec's field values like kernels.base.spec_memo: a design asked for again (the search re-scores its frontier,
    `hwgen llm plan` its defaults, a batch with repeated designs) costs a gather instead of its graph builder and
    feature encoding. Values are whatever build_ir + collate_graphs produce, so a feature or graph-builder change
    flows through (the cache lives in memory only).
    """

    def __init__(self, max_designs: int = 1 << 14):   # ~4.5 kB a design: ~75 MB when full
        self.max_designs = max_designs
        self.clear()

    def clear(self) -> None:
        self._slot: dict = {}          # graph key (_graph_key) -> design index in the pool
        self._graph_keys: dict = {}    # spec key -> graph key
        self._pool: dict | None = None
        # where the time went (bench/surrogate_speed.py reports it): graph keys, graph builders, feature encoding,
        # gathers
        self.seconds = {"key": 0.0, "build": 0.0, "encode": 0.0, "gather": 0.0}
        self.built = 0
        self.by_kind: dict = {}        # kind -> (graphs built, seconds)

    def __len__(self) -> int:
        return len(self._slot)

    @staticmethod
    def key(spec):
        """The spec's field values; a spec with list / nested fields (compositions, decoder layers) by its JSON."""
        try:
            k = (type(spec), *spec.__dict__.values())
            hash(k)
            return k
        except TypeError:
            pass
        try:
            return (type(spec), spec.model_dump_json())
        except Exception:     # not a pydantic spec: built every time
            return None

    def batch(self, specs, ys=None):
        """collate_graphs([build_ir(s) for s in specs], ys), equal to it value for value (a test checks)."""
        with gc_paused():     # the graph builders allocate ~100 small dicts per design (gc_paused)
            return self._batch(specs, ys)

    def batch_distinct(self, specs):
        """(data, inverse): the batch of the distinct designs among specs (first appearance order) and, per spec, its
        row in it; a design repeated within the request, or one whose graph equals an earlier one's (the kernel's
        graph_key), is encoded (and predict_specs predicts it) once."""
        with gc_paused():
            return self._batch_distinct(specs)

    def _parsed(self, specs) -> tuple[list, list]:
        from hwgen import kernels

        specs = [kernels.parse_spec(s) if isinstance(s, dict) else s for s in specs]
        t0 = time.perf_counter()
        keys = [self._graph_key(s) for s in specs]
        self.seconds["key"] += time.perf_counter() - t0
        return specs, keys

    def _graph_key(self, spec):
        """The kernel's graph_key where it has one (designs with equal graphs share one entry), else key(spec)."""
        k = self.key(spec)
        if k is None:
            return None
        gk = self._graph_keys.get(k)
        if gk is None:
            from hwgen import kernels

            if len(self._graph_keys) >= 4 * self.max_designs:   # many specs of few graphs: bound this map too
                self._graph_keys.clear()

            kernel_key = (kernels.REGISTRY[kind].graph_key(spec)
                          if (kind := getattr(spec, "kind", None)) in kernels.REGISTRY else None)
            gk = self._graph_keys[k] = k if kernel_key is None else ("graph", kernel_key)
        return gk

    def _batch(self, specs, ys):
        return self._batch_keyed(*self._parsed(specs), ys)

    def _batch_keyed(self, specs, keys, ys):
        if any(k is None for k in keys):
            return self._encode([self._build(s) for s in specs], ys)
        new = self._new(specs, keys)
        if len(self._slot) + len(new) > self.max_designs:
            self.clear()
            new = self._new(specs, keys)
        if len(new) == len(specs):          # all new and distinct: this batch is the answer, kept for later
            data = self._encode([self._build(s) for s in specs], ys)
            self._store(data, keys)
            return data
        if new:
            self._store(self._encode([self._build(s) for s in new.values()]), list(new))
        t0 = time.perf_counter()
        data = self._gather(np.array([self._slot[k] for k in keys], np.int64), ys)
        self.seconds["gather"] += time.perf_counter() - t0
        return data

    def _batch_distinct(self, specs):
        specs, keys = self._parsed(specs)
        if any(k is None for k in keys):
            return self._batch_keyed(specs, keys, None), np.arange(len(specs))
        row: dict = {}
        distinct = []
        for s, k in zip(specs, keys):
            if k not in row:
                row[k] = len(distinct)
                distinct.append(s)
        inverse = np.array([row[k] for k in keys], np.int64)
        return self._batch_keyed(distinct, list(row), None), inverse

    def _build(self, spec):
        t0 = time.perf_counter()
        ir = build_ir(spec)
        dt = time.perf_counter() - t0
        self.seconds["build"] += dt
        self.built += 1
        kind = getattr(spec, "kind", "?")
        n, sec = self.by_kind.get(kind, (0, 0.0))
        self.by_kind[kind] = (n + 1, sec + dt)
        return ir

    def _encode(self, irs, ys=None):
        t0 = time.perf_counter()
        data = collate_graphs(irs, ys)
        self.seconds["encode"] += time.perf_counter() - t0
        return data

    def _new(self, specs, keys) -> dict:
        new: dict = {}
        for s, k in zip(specs, keys):
            if k not in self._slot and k not in new:
                new[k] = s
        return new

    def _store(self, data, keys) -> None:
        """Append a collate_graphs batch to the pool (edge_index kept per design, relative to its first node)."""
        batch = data.batch.numpy()
        sizes = np.bincount(batch, minlength=data.u.shape[0]).astype(np.int64)
        offs = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        ei = data.edge_index.numpy()
        graph_of_edge = batch[ei[0]]
        e_sizes = np.bincount(graph_of_edge, minlength=len(sizes)).astype(np.int64)
        part = {"x": data.x.numpy(), "nw": data.nw.numpy(), "ea": data.edge_attr.numpy(), "ew": data.ew.numpy(),
                "ei": ei - offs[graph_of_edge], "u": data.u.numpy(), "ana": data.ana.numpy(),
                "group": np.array(data.group + [None], dtype=object)[:-1], "n": sizes, "e": e_sizes}
        n_total = int(self._pool["n"].sum()) if self._pool else 0
        e_total = int(self._pool["e"].sum()) if self._pool else 0
        part["n_off"] = offs + n_total
        part["e_off"] = np.concatenate([[0], np.cumsum(e_sizes)[:-1]]).astype(np.int64) + e_total
        if self._pool is None:   # copies: the caller owns (and may modify) the batch it was handed
            self._pool = {k: v.copy() for k, v in part.items()}
        else:
            self._pool = {k: np.concatenate([self._pool[k], v], axis=1 if k == "ei" else 0) for k, v in part.items()}
        base = len(self._slot)
        for i, k in enumerate(keys):
            self._slot[k] = base + i

    def _gather(self, slots: np.ndarray, ys=None):
        import torch
        from torch_geometric.data import Data

        p = self._pool
        lens, elens = p["n"][slots], p["e"][slots]
        nodes, edges = _ranges(p["n_off"][slots], lens), _ranges(p["e_off"][slots], elens)
        new_off = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
        ei = p["ei"][:, edges] + np.repeat(new_off, elens)
        data = Data(x=torch.from_numpy(p["x"][nodes]), edge_index=torch.from_numpy(ei),
                    edge_attr=torch.from_numpy(p["ea"][edges]))
        data.nw = torch.from_numpy(p["nw"][nodes])
        data.ew = torch.from_numpy(p["ew"][edges])
        data.u = torch.from_numpy(p["u"][slots])
        data.ana = torch.from_numpy(p["ana"][slots])
        data.group = list(p["group"][slots])
        data.batch = torch.from_numpy(np.repeat(np.arange(len(slots)), lens))
        if ys is not None:
            data.y = torch.from_numpy(_y_matrix(ys, len(slots)))
        return data


def batch_slices(data, size: int):
    """slice_batch(data, s, s + size) for s = 0, size, 2 size, ...: the node and edge boundaries of every design
    found once (designs' nodes and edges are contiguous and in order in collate_graphs / FeatureCache batches)."""
    import torch

    nb = data.u.shape[0]
    node_ptr = torch.searchsorted(data.batch, torch.arange(nb + 1, dtype=data.batch.dtype))
    edge_graph = data.batch.index_select(0, data.edge_index[0])
    edge_ptr = torch.searchsorted(edge_graph, torch.arange(nb + 1, dtype=edge_graph.dtype))
    for s in range(0, nb, size):
        e = min(nb, s + size)
        yield _slice(data, s, e, int(node_ptr[s]), int(node_ptr[e]), int(edge_ptr[s]), int(edge_ptr[e]))


def slice_batch(data, start: int, stop: int):
    """Designs start..stop-1 of a batch made by collate_graphs / FeatureCache.batch, as a batch of their own (their
    nodes and edges are contiguous: one view per field)."""
    return _slice(data, start, stop, *_bounds(data, start, stop))


def _bounds(data, start: int, stop: int) -> tuple[int, int, int, int]:
    import torch

    ends = torch.tensor([start, stop], dtype=data.batch.dtype)
    n0, n1 = (int(v) for v in torch.searchsorted(data.batch, ends))
    edge_graph = data.batch.index_select(0, data.edge_index[0])
    e0, e1 = (int(v) for v in torch.searchsorted(edge_graph, ends))
    return n0, n1, e0, e1


def _slice(data, start: int, stop: int, n0: int, n1: int, e0: int, e1: int):
    from torch_geometric.data import Data

    out = Data(x=data.x[n0:n1], edge_index=data.edge_index[:, e0:e1] - n0, edge_attr=data.edge_attr[e0:e1])
    out.nw, out.ew = data.nw[n0:n1], data.ew[e0:e1]
    out.u, out.ana = data.u[start:stop], data.ana[start:stop]
    out.group = data.group[start:stop]
    out.batch = data.batch[n0:n1] - start
    if getattr(data, "y", None) is not None:
        out.y = data.y[start:stop]
    return out
