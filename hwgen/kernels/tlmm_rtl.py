"""Rendering decisions of the ternary matmul kernels (TLMM and naive): every number the templates
substitute, the adder-tree leaves, the table-build ROM and the files a project gets.

The Verilog tops (templates/tlmm/rtl/{tlmm,naive}.v.j2) are thin: they instantiate the static library
modules in templates/lib/rtl/ (copied verbatim, shared by name across designs) and hold only what
Python computes per design: the adder tree (`{top}_tree`) and, for TLMM, the build-walk ROM (`{top}_walk`).
"""
from __future__ import annotations

from ..bits import clog2, index_bits
from . import xilinx_prims
from .rtl_util import AdderTree, build_adder_tree

RAM_STYLE = {"uram": "ultra", "bram": "block", "lutram": "distributed"}

_COMMON_MODULES = ("hwgen_mm_ctrl", "hwgen_weight_banks", "hwgen_mm_pipe", "hwgen_lane_acc")
LIB_MODULES = {
    "tlmm": (*_COMMON_MODULES, "hwgen_tlmm_build", "hwgen_tlmm_lookup"),
    "tlmm_naive": (*_COMMON_MODULES, "hwgen_naive_select"),
    # weight_memory: stream (tlmm_stream.py): no weight banks; chunk buffer, activation buffer, sync accumulators
    "tlmm_stream": ("hwgen_ws_ctrl", "hwgen_ws_chunk_buf", "hwgen_sdp_ram", "hwgen_mm_pipe", "hwgen_lane_acc_sync",
                    "hwgen_tlmm_build", "hwgen_tlmm_lookup"),
}
# adder: ternary: the primitive adders (templates/lib/rtl/) and the behavioural table builders they replace
TERNARY_LIB_MODULES = ("hwgen_carry_chain", "hwgen_add3", "hwgen_tlmm_build_prim")
TERNARY_REPLACED = ("hwgen_tlmm_build",)
_TOP_TEMPLATE = {"tlmm": "tlmm/rtl/tlmm.v.j2", "tlmm_naive": "tlmm/rtl/naive.v.j2",
                 "tlmm_stream": "tlmm/rtl/tlmm_stream.v.j2"}
_HLS_TEMPLATE = {"tlmm": "tlmm/hls/tlmm.cpp.j2", "tlmm_naive": "tlmm/hls/tlmm_naive.cpp.j2",
                 "tlmm_stream": "tlmm/hls/tlmm_stream.cpp.j2"}


def sign_tree(m) -> bool:
    """Mirror tables with pipeline registers sum the lookups' sign bits inside the balanced lane tree (T 2-bit
    leaves, cut like every other value); unpipelined, the lookup module counts them in a ripple chain (the RTL the
    stored `pipeline: 0` records measured)."""
    return m.table_style == "mirror" and m.pipeline > 0


def lane_leaves(m, signs_in_tree=None) -> tuple[int, list[int], list[int]]:
    """(leaf bits, the widths of a lane's adder-tree leaves, their widths on the leaves bus): T lookups (TLMM) or
    chunk selects (naive), plus for mirror tables the count of signs (one leaf) or the T sign bits (zero-extended
    2-bit leaves, `sign_tree`)."""
    if m.table_depth:
        leaf_bits, n_leaves = m.entry_bits, m.T
    else:
        leaf_bits, n_leaves = m.act_bits + 1, m.chunk   # -a of the most negative activation needs the extra bit
    widths = [leaf_bits] * n_leaves
    bus = list(widths)
    if m.table_style == "mirror":
        # Negated lookups enter the tree as ~h; the +1s arrive as the count of signs.
        if sign_tree(m) if signs_in_tree is None else signs_in_tree:
            widths += [2] * m.T
            bus += [1] * m.T
        else:
            widths.append(clog2(m.T + 1) + 1)
            bus.append(widths[-1])
    return leaf_bits, widths, bus


def tree_arity(m) -> int:
    """adder: ternary -> three operands per adder (hwgen_add3), else the behavioural binary tree."""
    return 3 if getattr(m, "adder", "behavioral") == "ternary" else 2


def lane_tree(m) -> AdderTree:
    """The lane's adder tree with the model's pipeline registers (cut 0: the leaves, cut l: after level l)."""
    return build_adder_tree(lane_leaves(m)[1], m.lane_sum_bits, cut_levels=m.pipe_cuts, arity=tree_arity(m))


def unpiped_tree(m, signs_in_tree: bool) -> AdderTree:
    """The lane tree without registers, with the sign bits as leaves or not (the pipeline placement's input;
    tlmm._tree_level_widths builds the same tree from the same leaves)."""
    return build_adder_tree(lane_leaves(m, signs_in_tree)[1], m.lane_sum_bits, arity=tree_arity(m))


def index_widths(m) -> dict:
    """Counter and address widths of the matmul tops: the render context's and the graph builder's (which needs
    only these, not the whole context)."""
    w = {"aw": index_bits(m.wbuf_depth), "lw": index_bits(m.lanes), "cw": index_bits(m.chunks),
         "nw": index_bits(m.nblocks)}
    if m.table_depth:
        w.update(ew=index_bits(m.table_depth), sw=index_bits(m.build_cycles), selw=index_bits(m.G))
    if m.weight_memory == "stream":
        from .tlmm_stream import index_widths as stream_widths
        w.update(stream_widths(m))
    return w


def render_context(kernel, spec, walk=None) -> dict:
    """Context of the HLS and RTL templates. `walk`: the TLMM build walk (None for naive)."""
    m = kernel.model(spec)
    tlmm = bool(m.table_depth)
    sign_bits = clog2(m.T + 1) + 1          # count of negated lookups, 0..T (mirror tables)
    leaf_bits, widths, bus = lane_leaves(m)
    n_leaves = m.T if tlmm else m.chunk
    lane = lane_tree(m)
    assert lane.stages == m.pipeline, (lane.stages, m.pipeline)
    tree, root = lane.nodes, lane.root
    lsbs = [sum(bus[:i]) for i in range(len(bus))]
    leaves = [{"name": f"lf_{i}", "bits": b, "lsb": lsb, "bus_bits": bb, "zext": bb < b}
              for i, (b, bb, lsb) in enumerate(zip(widths, bus, lsbs))]

    stream = m.weight_memory == "stream"
    rtl = {
        "w_port_bits": m.w_beat_bits if stream else m.word_bits,
        "act_bits": m.act_bits, "acc_bits": m.acc_bits, "lane_bits": m.lane_sum_bits,
        "fields": m.fields, "field_bits": m.field_bits, "word_bits": m.word_bits,
        "x_bits": m.x_beat_bits, "y_bits": m.y_beat_bits, "chunk": m.chunk, "lanes": m.lanes,
        "chunks": m.chunks, "nblocks": m.nblocks, "wbuf_depth": m.wbuf_depth,
        **index_widths(m),
        "ram_style": RAM_STYLE[m.wbuf_style if stream else m.weight_memory],
        "leaf_bits": leaf_bits, "leaves_bits": sum(bus), "sign_tree": int(sign_tree(m)),
        "pipeline": m.pipeline,
        # adder: ternary: the lane tree's nodes instantiate hwgen_add3 (LUT6_2 + carry primitives)
        # and the table builders' add/subtract is hwgen_tlmm_build_prim
        "carry": getattr(m, "carry", ""), "add3_init": xilinx_prims.init_hex(xilinx_prims.TERNARY_INIT),
        "build_init": xilinx_prims.init_hex(xilinx_prims.BUILD_INIT) if tree_arity(m) == 3 else "",
    }
    if tlmm:
        rtl.update({
            "T": m.T, "G": m.G, "table_style": m.table_style, "entry_bits": m.entry_bits,
            "table_depth": m.table_depth, "build_steps": m.build_cycles,
            "mirror_bits": m.mirror_bits, "sign_bits": sign_bits,
        })

    if stream:
        rtl.update({"M_max": m.M_max, "beat_words": m.beat_words, "chunk_beats": m.chunk_beats,
                    "call_beats": m.call_beats, "xbuf_depth": m.xbuf_depth, "acc_depth": m.acc_depth,
                    "xbuf_ram_style": RAM_STYLE[m.xbuf_style], "acc_ram_style": RAM_STYLE[m.acc_style]})

    ctx = {
        "stream": stream, "stream_groups": m.lanes // m.beat_words if stream else 0,
        "m": m, "spec": spec, "top": m.top, "description": kernel.description, "rtl": rtl,
        "n_weight_words": m.wbuf_depth * m.lanes, "leaves": leaves,
        "tree": tree, "tree_root": root, "tree_depth": len({n.name.split("_")[0] for n in tree if not n.reg}),
        "tree_cuts": ", ".join("table reads" if c == 0 else f"level {c}" for c in m.pipe_cuts) or "none",
        # Keys of the former single template, kept for readers outside the templates.
        "addr_w": rtl["aw"], "lane_w": rtl["lw"], "chunk_w": rtl["cw"], "nb_w": rtl["nw"],
        "entry_w": rtl.get("ew", 0), "step_w": rtl.get("sw", 0), "wbuf_style": rtl["ram_style"],
        "after_x": "ST_BUILD" if tlmm else "ST_LOOK", "leaf_bits": leaf_bits, "n_leaves": n_leaves,
        "sign_count_bits": sign_bits,
        # cycles from a lookup's issue to its accumulation (bank read, the lane registers, accumulate)
        "lookup_latency": 2 + m.pipeline,
    }
    # ap_int caps widths at 1024 bits unless told otherwise (Vitis HLS accepts up to 4096)
    widest = max(rtl["w_port_bits"], m.word_bits, m.x_beat_bits, m.y_beat_bits)
    ctx["ap_max_w"] = 0 if widest <= 1024 else -(-widest // 1024) * 1024
    if tlmm:
        ctx["walk"] = walk
        ctx["sel_w"] = rtl["selw"]
        ctx["rom"] = [{"step": i, "index": st.index, "sel": st.digit, "op": st.op} for i, st in enumerate(walk)]
    return ctx


def outputs(kind: str, backend: str, adder: str = "behavioral") -> list[tuple[str, str]]:
    """(template relative to templates/, project path) pairs; the library modules are copied verbatim (with
    `adder: ternary` also the primitive adder modules)."""
    if backend == "hls":
        return [("tlmm/hls/defs.h.j2", "hls/{top}.h"), (_HLS_TEMPLATE[kind], "hls/{top}.cpp")]
    lib = LIB_MODULES[kind]
    if adder == "ternary":
        lib = tuple(n for n in lib if n not in TERNARY_REPLACED) + TERNARY_LIB_MODULES
    return [(_TOP_TEMPLATE[kind], "rtl/{top}.v"), *((f"lib/rtl/{name}.v", f"rtl/{name}.v") for name in lib)]
