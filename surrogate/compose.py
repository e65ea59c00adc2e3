"""Composed designs: several kernels connected by streams, their graph, RTL wrapper and synthesis.

A composition spec (YAML or dict):

    kind: composed
    name: ffn_pair                 # optional; Verilog top name
    target: kv260                  # shared by every kernel (a kernel's own target is overridden)
    kernels:                       # ordinary kernel specs; `name` defaults to <name>_k<i>
      - {kind: tlmm, name: up, K: 256, N: 128, G: 3, T: 8, Q: 8}
      - {kind: tlmm_naive, name: down, K: 128, N: 64, P_k: 16, P_n: 4}
    streams:                       # producer output y -> consumer activations x
      - {from: up, to: down}       # kernel names or indices; optional shift (requantisation)

Each stream needs producer N == consumer K. Between the two kernels sits a stream adapter: it
requantises every acc_bits output to the consumer's act_bits (arithmetic shift right by `shift`,
default acc_bits - act_bits, keeping the low act_bits; no saturation), collects a whole token
(producer nblocks beats of Q values) in registers, then emits it as consumer chunk beats. Every
kernel keeps its own weight stream at the top level; unconnected x inputs and y outputs become top
level streams (`s_axis_x<i>`, `m_axis_y<i>`).

Cycle model of a composition (the adapter buffers a whole token, so kernels do not overlap within a
token): latency = sum of the kernels' cycles per token, II = the largest kernel II.
The graph is the union of the kernels' graphs (graph.compose) plus one adapter node per stream.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

from hwgen.errors import UserError

from . import analytical as A
from .graph import HwGraph, build_ir, compose, register_builder

COMPOSED_KIND = "composed"


@dataclass
class Stream:
    src: int
    dst: int
    shift: int
    in_n: int        # producer values per beat (lanes)
    in_w: int        # producer value width (acc_bits)
    in_beats: int    # producer beats per token (nblocks)
    out_n: int       # consumer values per beat (chunk)
    out_w: int       # consumer act_bits
    out_beats: int   # consumer beats per token (chunks)

    @property
    def buffer_values(self) -> int:
        return max(self.in_n * self.in_beats, self.out_n * self.out_beats)

    @property
    def buffer_bits(self) -> int:
        # only the written positions are registers; the zero tail is constant
        return min(self.in_n * self.in_beats, self.out_n * self.out_beats) * self.out_w


@dataclass
class ComposedSpec:
    name: str
    target: str
    kernels: list          # KernelSpec
    streams: list          # Stream
    raw: dict

    @property
    def kind(self) -> str:
        return COMPOSED_KIND


def is_composed(d) -> bool:
    return isinstance(d, (dict, ComposedSpec)) and (isinstance(d, ComposedSpec) or d.get("kind") == COMPOSED_KIND)


def parse_composed(d: dict) -> ComposedSpec:
    from hwgen.kernels import registry
    from hwgen.spec import parse_spec
    from hwgen.targets import get_target

    if not isinstance(d, dict) or d.get("kind") != COMPOSED_KIND:
        raise UserError("kind", f"a composition needs kind: {COMPOSED_KIND}")
    extra = set(d) - {"kind", "name", "target", "clock_mhz", "kernels", "streams"}
    if extra:
        raise UserError(sorted(extra)[0], "unknown field; allowed: kind, name, target, clock_mhz, kernels, streams")
    name = d.get("name") or "composed"
    target = d.get("target", "kv260")
    get_target(target)
    ks = d.get("kernels") or []
    if len(ks) < 1:
        raise UserError("kernels", "a composition needs at least one kernel spec")
    specs = []
    for i, k in enumerate(ks):
        k = dict(k)
        k.setdefault("name", f"{name}_k{i}")
        k["target"] = target
        if "clock_mhz" in d:
            k["clock_mhz"] = d["clock_mhz"]
        spec = parse_spec(k)
        if not hasattr(registry.get(spec.kind).model(spec), "x_beat_bits"):
            raise UserError(f"kernels[{i}].kind", f"{spec.kind} has no single x/y stream pair; compositions "
                                                  "support tlmm and tlmm_naive")
        specs.append(spec)
    names = [s.design_name for s in specs]
    if len(set(names)) != len(names):
        raise UserError("kernels", f"kernel names must be unique, got {names}")

    def ref(v, field):
        if isinstance(v, int) and 0 <= v < len(specs):
            return v
        if isinstance(v, str) and v in names:
            return names.index(v)
        raise UserError(field, f"unknown kernel {v!r}; allowed: {', '.join(names)} or 0..{len(specs) - 1}")

    streams, used_src, used_dst = [], set(), set()
    for j, s in enumerate(d.get("streams") or []):
        a, b = ref(s.get("from"), f"streams[{j}].from"), ref(s.get("to"), f"streams[{j}].to")
        if a == b or a in used_src or b in used_dst:
            raise UserError(f"streams[{j}]", "each kernel output feeds at most one input, each input has one "
                                             "producer, and a kernel cannot feed itself")
        ma = registry.get(specs[a].kind).model(specs[a])
        mb = registry.get(specs[b].kind).model(specs[b])
        if specs[a].N != specs[b].K:
            raise UserError(f"streams[{j}]", f"producer {names[a]} has N={specs[a].N} but consumer {names[b]} "
                                             f"has K={specs[b].K}; they must match")
        shift = int(s.get("shift", max(0, ma.acc_bits - mb.act_bits)))
        if shift < 0 or shift >= ma.acc_bits:
            raise UserError(f"streams[{j}].shift", f"must be in 0..{ma.acc_bits - 1}")
        used_src.add(a)
        used_dst.add(b)
        streams.append(Stream(a, b, shift, ma.lanes, ma.acc_bits, ma.nblocks, mb.chunk, mb.act_bits, mb.chunks))
    _check_acyclic(len(specs), streams)
    return ComposedSpec(name=name, target=target, kernels=specs, streams=streams, raw=d)


def _check_acyclic(n, streams) -> None:
    nxt = {s.src: s.dst for s in streams}
    for start in range(n):
        seen, k = set(), start
        while k in nxt:
            if k in seen:
                raise UserError("streams", "streams form a cycle")
            seen.add(k)
            k = nxt[k]


def adapter_features(s: Stream, family: str) -> dict:
    """Node features and analytical estimate of one stream adapter (registers + read mux + counters)."""
    out_bits = s.out_n * s.out_w
    mux = out_bits * math.ceil(max(0, s.out_beats - 1) / 3)
    ctr = math.ceil(math.log2(max(2, s.in_beats))) + math.ceil(math.log2(max(2, s.out_beats))) + 1
    est = {**A.zero(), "ff": float(s.buffer_bits + ctr), "lut": float(mux + 2 * ctr + s.in_beats)}
    return {"count": s.buffer_values, "depth": s.out_beats, "width": out_bits, "leaves": s.in_n,
            "leaf_bits": s.in_w, "out_bits": s.out_w, "storage_bits": s.buffer_bits, "style": "reg", "est": est}


@register_builder(COMPOSED_KIND)
def build_composed(d) -> HwGraph:
    cs = d if isinstance(d, ComposedSpec) else parse_composed(d)
    graphs = [build_ir(k) for k in cs.kernels]
    fam = graphs[0].family
    edges = [{"src": (s.src, "y"), "dst": (s.dst, "x"), "width": s.in_n * s.in_w, "out_width": s.out_n * s.out_w,
              "adapter": adapter_features(s, fam)} for s in cs.streams]
    return compose(graphs, edges)


# ----------------------------------------------------------------------------- RTL

ADAPTER_MODULE = "hwgen_stream_adapter"

_ADAPTER_V = """// Generated by hwgen (surrogate/compose.py): stream adapter between two kernels.
// Requantises IN_N x IN_W producer values to OUT_W bits (>>> SHIFT, low OUT_W bits), collects one
// token (IN_BEATS beats), then emits it as OUT_BEATS beats of OUT_N values. Back-pressure honoured.
`timescale 1ns/1ps
module {mod} #(
    parameter IN_N = 4, IN_W = 18, IN_BEATS = 16, OUT_N = 24, OUT_W = 8, OUT_BEATS = 3, SHIFT = 10,
    parameter IBW = 4, OBW = 2
) (
    input  wire clk,
    input  wire rst,
    input  wire [IN_N*IN_W-1:0] s_tdata,
    input  wire s_tvalid,
    output wire s_tready,
    input  wire s_tlast,
    output wire [OUT_N*OUT_W-1:0] m_tdata,
    output wire m_tvalid,
    input  wire m_tready,
    output wire m_tlast
);
    localparam WR = IN_N * IN_BEATS;              // values written per token
    localparam RD = OUT_N * OUT_BEATS;            // values read per token
    localparam NV = (WR > RD) ? WR : RD;
    reg [NV*OUT_W-1:0] buffer;
    reg full;
    reg [IBW-1:0] wi;
    reg [OBW-1:0] ri;
    assign s_tready = !full;
    assign m_tvalid = full;
    assign m_tlast = (ri == OUT_BEATS - 1);
    wire s_fire = s_tvalid && s_tready;
    wire m_fire = m_tvalid && m_tready;
    always @(posedge clk) begin
        if (rst) begin
            full <= 1'b0;
            wi <= 0;
            ri <= 0;
        end else begin
            if (s_fire) begin
                wi <= (wi == IN_BEATS - 1) ? 0 : wi + 1'b1;
                if (wi == IN_BEATS - 1) full <= 1'b1;
            end
            if (m_fire) begin
                ri <= (ri == OUT_BEATS - 1) ? 0 : ri + 1'b1;
                if (ri == OUT_BEATS - 1) full <= 1'b0;
            end
        end
    end
    genvar b, l;
    generate
        for (b = 0; b < IN_BEATS; b = b + 1) begin : g_wbeat
            for (l = 0; l < IN_N; l = l + 1) begin : g_wlane
                wire signed [IN_W-1:0] v = s_tdata[l*IN_W +: IN_W];
                wire signed [IN_W-1:0] sh = v >>> SHIFT;
                always @(posedge clk) if (s_fire && wi == b) buffer[(b*IN_N+l)*OUT_W +: OUT_W] <= sh[OUT_W-1:0];
            end
        end
        if (NV > WR) begin : g_tail
            always @(posedge clk) buffer[NV*OUT_W-1:WR*OUT_W] <= 0;
        end
        wire [OUT_N*OUT_W-1:0] beat [0:OUT_BEATS-1];
        for (b = 0; b < OUT_BEATS; b = b + 1) begin : g_rbeat
            assign beat[b] = buffer[b*OUT_N*OUT_W +: OUT_N*OUT_W];
        end
        assign m_tdata = beat[ri];
    endgenerate
endmodule
"""


def _bits(n: int) -> int:
    return max(1, math.ceil(math.log2(n))) if n > 1 else 1


def render_composed(cs: ComposedSpec) -> tuple[dict[str, str], str]:
    """-> ({file name: Verilog text}, top module name). Kernel RTL comes from hwgen.render."""
    from hwgen.kernels import registry
    from hwgen.render import render_files

    files: dict[str, str] = {}
    models = []
    for spec in cs.kernels:
        for path, text in render_files(spec, "rtl").items():
            if path.startswith("rtl/") and path.endswith(".v") and not Path(path).name.startswith("tb_"):
                files[Path(path).name] = text
        models.append(registry.get(spec.kind).model(spec))
    files[f"{ADAPTER_MODULE}.v"] = _ADAPTER_V.format(mod=ADAPTER_MODULE)
    top = cs.name
    fed = {s.dst: s for s in cs.streams}
    feeds = {s.src: s for s in cs.streams}
    ports = ["    input  wire clk,", "    input  wire rst,"]
    body = []
    for i, (spec, m) in enumerate(zip(cs.kernels, models)):
        ports += [f"    input  wire [{m.word_bits}-1:0] s_axis_w{i}_tdata,", f"    input  wire s_axis_w{i}_tvalid,",
                  f"    output wire s_axis_w{i}_tready,", f"    input  wire s_axis_w{i}_tlast,"]
        if i not in fed:
            ports += [f"    input  wire [{m.x_beat_bits}-1:0] s_axis_x{i}_tdata,", f"    input  wire s_axis_x{i}_tvalid,",
                      f"    output wire s_axis_x{i}_tready,", f"    input  wire s_axis_x{i}_tlast,"]
        else:
            body += [f"    wire [{m.x_beat_bits}-1:0] s_axis_x{i}_tdata;", f"    wire s_axis_x{i}_tvalid, s_axis_x{i}_tready, s_axis_x{i}_tlast;"]
        if i not in feeds:
            ports += [f"    output wire [{m.y_beat_bits}-1:0] m_axis_y{i}_tdata,", f"    output wire m_axis_y{i}_tvalid,",
                      f"    input  wire m_axis_y{i}_tready,", f"    output wire m_axis_y{i}_tlast,"]
        else:
            body += [f"    wire [{m.y_beat_bits}-1:0] m_axis_y{i}_tdata;", f"    wire m_axis_y{i}_tvalid, m_axis_y{i}_tready, m_axis_y{i}_tlast;"]
    ports[-1] = ports[-1].rstrip(",")
    for i, (spec, m) in enumerate(zip(cs.kernels, models)):
        mod = registry.get(spec.kind).rtl_top(spec)
        conns = [".clk(clk)", ".rst(rst)"]
        for p in ("w", "x"):
            conns += [f".s_axis_{p}_{s}(s_axis_{p}{i}_{s})" for s in ("tdata", "tvalid", "tready", "tlast")]
        conns += [f".m_axis_y_{s}(m_axis_y{i}_{s})" for s in ("tdata", "tvalid", "tready", "tlast")]
        body.append(f"    {mod} u_k{i} (" + ", ".join(conns) + ");")
    for j, s in enumerate(cs.streams):
        params = (f".IN_N({s.in_n}), .IN_W({s.in_w}), .IN_BEATS({s.in_beats}), .OUT_N({s.out_n}), .OUT_W({s.out_w}), "
                  f".OUT_BEATS({s.out_beats}), .SHIFT({s.shift}), .IBW({_bits(s.in_beats)}), .OBW({_bits(s.out_beats)})")
        conns = [".clk(clk)", ".rst(rst)"]
        conns += [f".s_{x}(m_axis_y{s.src}_{x})" for x in ("tdata", "tvalid", "tready", "tlast")]
        conns += [f".m_{x}(s_axis_x{s.dst}_{x})" for x in ("tdata", "tvalid", "tready", "tlast")]
        body.append(f"    {ADAPTER_MODULE} #({params}) u_s{j} (" + ", ".join(conns) + ");")
    files[f"{top}.v"] = ("// Generated by hwgen (surrogate/compose.py): composition of "
                         + ", ".join(s.design_name for s in cs.kernels) + "\n`timescale 1ns/1ps\n"
                         + f"module {top} (\n" + "\n".join(ports) + "\n);\n" + "\n".join(body) + "\nendmodule\n")
    return files, top


def cycle_model(cs: ComposedSpec) -> tuple[float, float]:
    g = build_composed(cs)
    return g.cycles, g.ii


def synth_composed(d: dict, out_dir: Path, timeout_s: float = 1800):
    """Render and synthesize a composition with Yosys -> Report (kernel 'composed', extra['spec'] = d)."""
    from hwgen.flows.report import RESOURCE_KEYS, Report, Resources, apply_capacity
    from hwgen.flows.synth_open import synth_verilog
    from hwgen.flows.tools import tool_version

    cs = parse_composed(d)
    out_dir = Path(out_dir)
    rtl = out_dir / "rtl"
    rtl.mkdir(parents=True, exist_ok=True)
    files, top = render_composed(cs)
    paths = []
    for name, text in files.items():
        (rtl / name).write_text(text)
        paths.append(rtl / name)
    target = cs.kernels[0].target_info
    t0 = time.monotonic()
    res, depth, cells, log_tail, ok = synth_verilog(paths, top, target.yosys_family, out_dir / "yosys", timeout_s)
    cycles, ii = cycle_model(cs)
    report = Report(design=top, kernel=COMPOSED_KIND, params={"kernels": [k.params() | {"kind": k.kind} for k in cs.kernels]},
                    target=cs.target, part=target.part, flow="open-yosys", tool_versions={"yosys": tool_version("yosys")},
                    clock_mhz=cs.kernels[0].clock, runtime_s=round(time.monotonic() - t0, 2),
                    latency_cycles=cycles, ii=ii)
    if not ok:
        report.status = "timeout" if "timed out" in log_tail else "failed"
        report.error = log_tail[-3000:]
    else:
        report.resources = Resources(**{k: res[k] for k in RESOURCE_KEYS})
        report.lut_depth = depth["depth"]
        report.extra = {"cells": cells}
        apply_capacity(report, target.capacity())
    report.extra["spec"] = normalized(cs)
    report.extra["latency_source"] = "cycle model: sum of kernel cycles per token; II = max"
    return report


def normalized(cs: ComposedSpec) -> dict:
    """The composition dict with every kernel spec fully expanded (what a dataset record stores)."""
    out = {"kind": COMPOSED_KIND, "name": cs.name, "target": cs.target,
           "kernels": [k.model_dump() for k in cs.kernels],
           "streams": [{"from": s.src, "to": s.dst, "shift": s.shift} for s in cs.streams]}
    if cs.raw.get("clock_mhz") is not None:
        out["clock_mhz"] = cs.raw["clock_mhz"]
    return out


def sample_composition(rng, name: str, target: str, n_kernels: int = 2, max_macs: int = 256) -> dict:
    """A random chain of TLMM / naive kernels with matching N -> K (for dataset building)."""
    dims = [rng.choice([64, 96, 128, 192, 256])]
    for _ in range(n_kernels):
        dims.append(rng.choice([32, 64, 96, 128, 192]))
    kernels = []
    for i in range(n_kernels):
        while True:
            if rng.random() < 0.65:
                k = {"kind": "tlmm", "G": rng.choice([2, 3, 3, 4]), "T": rng.choice([2, 4, 8, 12]),
                     "Q": rng.choice([2, 4, 8]), "table_style": rng.choice(["full", "full", "mirror"])}
                macs = k["G"] * k["T"] * k["Q"]
            else:
                k = {"kind": "tlmm_naive", "P_k": rng.choice([4, 8, 16, 24]), "P_n": rng.choice([2, 4, 8])}
                macs = k["P_k"] * k["P_n"]
            if macs <= max_macs:
                break
        k.update(name=f"{name}_k{i}", K=dims[i], N=dims[i + 1], M_max=64, act_bits=rng.choice([6, 8, 8]),
                 weight_memory=rng.choice(["auto", "bram", "lutram"]))
        kernels.append(k)
    return {"kind": COMPOSED_KIND, "name": name, "target": target, "kernels": kernels,
            "streams": [{"from": i, "to": i + 1} for i in range(n_kernels - 1)]}


def build_compositions(out_dir, n: int, seed: int = 0, targets=("kv260", "zcu104", "zcu102", "u280"),
                       max_macs: int = 256, timeout_s: float = 1800, log=print) -> int:
    """Sample `n` compositions (chains of 2-3 TLMM / naive kernels), synthesize each with Yosys (one at a time)
    and append the Reports to the dataset store `out_dir` (records.jsonl; resumable: keys already stored are
    skipped). Latency/II come from the composition's cycle model (no cosim). Returns records written."""
    import random
    import shutil
    import tempfile

    from hwgen.datasets.store import DatasetLock, append_record, done_keys, record_key, repair
    from hwgen.flows.tools import tool_version

    out_dir = Path(out_dir)
    rng = random.Random(seed)
    tools = {"yosys": tool_version("yosys"), "flow": "hwgen-compose/1"}
    written = 0
    with DatasetLock(out_dir):
        repair(out_dir)
        have = done_keys(out_dir)
        for i in range(n):
            d = sample_composition(rng, f"comp{seed}_{i}", rng.choice(list(targets)), rng.choice([2, 2, 2, 3]), max_macs)
            spec = normalized(parse_composed(d))
            key = record_key(spec, tools)
            if key in have:
                continue
            work = Path(tempfile.mkdtemp(prefix="hwgen-compose-"))
            try:
                report = synth_composed(d, work, timeout_s)
            finally:
                shutil.rmtree(work, ignore_errors=True)
            report.extra.update(key=key, spec=spec, key_tools=tools)
            append_record(out_dir, report)
            written += 1
            if log:
                log(f"{i + 1}/{n} {report.design}: {report.status} lut={report.resources.lut} ({report.runtime_s} s)")
    return written
