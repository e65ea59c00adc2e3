"""The hardware graph of the single layer top (kind bitnet_layer): the union of its member instances' own graphs
(each built by its kernel, exactly as for a single-kernel design, so that a surrogate trained on single kernels
sees the same blocks) plus the glue the top adds around them, read from the top's render plan
(BitNetLayerKernel.render_context, the same decisions the Verilog is rendered from):

    tensor_buffer   one physical RAM (hwgen_lt_buf: nb banks of w bits x depth) with its write-port and
                    read-address muxes over the writers / readers that share it
    buffer_reader   hwgen_lt_rdpipe: the 4-entry output FIFO, the bank select, its hwgen_lt_agen counters
    buffer_writer   hwgen_lt_wrpipe: the beat counter, the per-bank write enables / data, its hwgen_lt_agen
    stage_mux       an instance port used by several stages (a shared TLMM / residual adder): the stream mux
    sequencer       the stage register, start pulses, x / y beat counters

Edges: reader -> member input port, member output port -> writer (streams), buffer -> reader, writer -> buffer.
Estimates are first-order (Yosys 0.23 synth_xilinx): counters one FF per bit and ~1.5 LUT per bit, muxes
ceil((inputs - 1) / 3) LUT6 per bit (an AND-OR of `inputs` select terms), a FIFO of 4 entries in LUTRAM.
"""
from __future__ import annotations

from ..bits import ceil_div, index_bits

GLUE_NODE_TYPES = ("tensor_buffer", "buffer_reader", "buffer_writer", "stage_mux", "sequencer")
RAM_STYLE = {"block": "bram", "ultra": "uram", "distributed": "lutram"}


def _mux_lut(width: int, inputs: int) -> float:
    """LUT6s of an AND-OR select of `inputs` terms of `width` bits (one select term per input)."""
    return float(width * ceil_div(max(inputs - 1, 0), 3)) if inputs > 1 else 0.0


def _agen(r: dict, tw: int) -> dict:
    """Registers and logic of one hwgen_lt_agen: MODE 0 keeps c, b, j, hoff, tbase, t; the attention modes b,
    key, kbase, g, gbase, blk, t, tbase. Counters ~1.5 LUT per bit (increment + wrap compare); the address
    adder one LUT per bit."""
    cw, jw, aw = r["cw"], r["jw"], r["aw"]
    if r["mode"] == 0:
        ff = 2 * cw + (jw if r["JN"] > 1 else 0) + 2 * aw + tw + 2
    else:
        ff = cw + 4 * aw + 3 * tw + index_bits(max(r["G"], 1)) + 2
    return {"ff": float(ff), "lut": 1.5 * ff + aw}


def build_layer_graph(kernel, spec):
    from ..surrogate import costs as A
    from ..surrogate.ir import HwGraph, compose

    members = kernel.members(spec)
    m = kernel.model(spec)
    ctx = kernel.render_context(spec)
    fam = spec.target_info.yosys_family
    graphs = [kernel.registry[members[i["member"]].kind].graph(members[i["member"]]) for i in m.instances]
    g = compose(graphs, [])
    glue = HwGraph(family=fam)      # built apart, then appended (compose renames the members' nodes)
    tw = ctx["tw"]
    style = RAM_STYLE[ctx["ram_style"]]
    buf_node, rd_node, wr_node = {}, {}, {}
    for b in ctx["buffers"]:
        nr, nw = len(b["readers"]), len(b["writers"])
        if b["kind"] == "ram":
            est = A.memory(b["depth"], b["w"], style, fam, replicas=b["nb"])
            mux = _mux_lut(b["nb"] * b["w"] + b["aw"], nw) + _mux_lut(b["aw"], nr)
            est = A.add(est, {**A.zero(), "lut": mux})
            buf_node[b["name"]] = glue.node("tensor_buffer", b["name"], style=style, est=est, count=b["nb"],
                                            depth=b["depth"], width=b["w"], storage_bits=b["nb"] * b["w"] * b["depth"],
                                            ports=nr, leaves=nw)
        else:       # pos: position + address; par: a case ROM of the attention parameters
            w = b["w"]
            lut = float(w) if b["kind"] == "pos" else float(w * ceil_div(b["depth"], 64) + w)
            buf_node[b["name"]] = glue.node("tensor_buffer", b["name"], style="rom" if b["kind"] == "par" else "reg",
                                            est={**A.zero(), "ff": float(w), "lut": lut}, depth=b["depth"], width=w,
                                            ports=nr)
    for r in ctx["readers"]:
        ag = _agen(r, tw)
        fifo = A.memory(4, r["ow"] + 1, "lutram", fam, sync_read=False)
        sel = _mux_lut(r["w"], r["nb"]) if r["sel"] else 0.0
        est = A.add(fifo, {**A.zero(), "ff": ag["ff"] + 8 + r["jw"], "lut": ag["lut"] + sel + 8})
        rd_node[r["name"]] = n = glue.node("buffer_reader", r["name"], est=est, width=r["ow"], count=r["nb"],
                                           leaves=r["C"] * r["B"], out_bits=r["ow"])
        glue.edge(buf_node[r["buf"]], n, r["w"] * (1 if r["sel"] else r["nb"]), "data")
    for w in ctx["writers"]:
        ag = _agen(w, tw)
        data_lut = float(w["nb"] * w["w"]) if w["sel"] and w["nb"] > 1 else 0.0     # per bank: mine ? data : 0
        est = {**A.zero(), "ff": ag["ff"] + w["pw"], "lut": ag["lut"] + 1.5 * w["pw"] + data_lut + w["nb"]}
        wr_node[w["name"]] = n = glue.node("buffer_writer", w["name"], est=est, width=w["iw"], count=w["nb"],
                                           leaves=w["P"], out_bits=w["w"])
        glue.edge(n, buf_node[w["buf"]], w["nb"] * w["w"], "data")
    seq_ff = ctx["sw"] + ctx["n_stages"] + 1 + 2 * tw + ctx["xbw"] + ctx["ybw"] + 2
    seq = glue.node("sequencer", "sequencer", est={**A.zero(), "ff": float(seq_ff), "lut": 2.0 * seq_ff},
                    count=ctx["n_stages"], width=seq_ff)
    # the stream between each member port and its readers / writers; a port several stages share gets a mux
    member_port = {}          # (instance index, port name) -> node index in the union
    offs, o = [], 0
    for gm in graphs:
        offs.append(o)
        o += len(gm.nodes)
    for ii, inst in enumerate(ctx["instances"]):
        for c in inst["conns"]:
            ix = graphs[ii].ports.get(c["name"])
            if ix is not None:
                member_port[(ii, c["name"])] = ix + offs[ii]
    base = len(g.nodes)
    edges = []               # (glue-local or union index, ...): resolved after appending
    for ii, inst in enumerate(ctx["instances"]):
        for c in inst["conns"]:
            port = member_port.get((ii, c["name"]))
            bits = c["msb"] + 1
            mux = None
            if len(c["uses"]) > 1:
                mux = glue.node("stage_mux", f"{inst['name']}.{c['name']}", width=bits, leaves=len(c["uses"]),
                                est={**A.zero(), "lut": _mux_lut(bits + 2, len(c["uses"]))})
            for u in c["uses"]:
                names = u["what"] if isinstance(u["what"], list) else [u["what"]]
                for nm in names:
                    nm = nm[:-3] if nm.endswith("_mg") else nm
                    if c["dir"] == "in" and nm in rd_node:
                        edges.append(("g", rd_node[nm], "g", mux, bits) if mux is not None
                                     else ("g", rd_node[nm], "u", port, bits))
                    elif c["dir"] == "out" and nm in wr_node:
                        edges.append(("g", mux, "g", wr_node[nm], bits) if mux is not None
                                     else ("u", port, "g", wr_node[nm], bits))
            if mux is not None:
                glue.edge(seq, mux, 1, "control")
                if port is not None:
                    edges.append(("g", mux, "u", port, bits) if c["dir"] == "in" else ("u", port, "g", mux, bits))
    for n in glue.nodes:
        g.nodes.append({**n, "name": f"glue.{n['name']}"})
    for s, d, w, t in glue.edges:
        g.edges.append((s + base, d + base, w, t))
    for sa, s, da, d, bits in edges:
        if s is not None and d is not None:
            g.edges.append((s + base if sa == "g" else s, d + base if da == "g" else d, float(bits), "kernel_stream"))
    perf = kernel.performance(spec)
    g.cycles, g.ii, g.macs = float(perf.latency_cycles), float(perf.ii), float(perf.macs_per_cycle)
    g.kinds = (kernel.kind,)        # one design kind (the unit of the formula fallback and of the reports)
    return g
