"""The whole BitNet decoder layer as ONE generated kernel (`kind: bitnet_layer`): a Verilog top and its HLS twin
that instantiate the layer's member kernels (the steps of `hwgen.llm.layer.layer_program`) and run them as a
sequence of stages, one call (M tokens) at a time.

    stage 0           the call's hidden states x (top port `x`, tlast on the call's last beat) into buffer x
    stage 1..N        step i: its member kernel reads its inputs from tensor buffers (or, for the streamed
                      weights, from the top port `<step>_w`, opened only during the stage) and writes its outputs
                      into tensor buffers; the last step streams straight to the top port `y`

A stage starts once the previous stage's outputs are complete, so fan-out (the residual x, the per-token scale s
of three BitLinears, h_q of three TLMMs) is several reads of one buffer, the q|k concatenation into RoPE is one
buffer written by two stages (at two offsets), RoPE's q|k output is split by two writers, and per-call kernels
(streaming TLMM, attention) mix freely with per-token ones. Buffers hold M_max tokens in the layout their
readers need: `packed` (a wide TLMM activation beat = nb consecutive narrow beats, zero padded per token) or
`heads` (attention: the beats of nb heads side by side); tensors of disjoint lifetimes share a RAM. Kernels
without setup streams (the TLMMs, the residual adders) that have the same design share one instance.

Decode (one token at `pos`): the top also takes `pos` and the K/V cache (`k_cache`, `v_cache`: per head group,
rows 0..pos-1 of the group's K/V head), merged ahead of the token's own K/V row into the attention; both modes
send the new K/V rows out on `k_new` / `v_new`.

Golden model: the layer's own (`hwgen.llm.layer.run_program` over the members' golden models). Cycle model
(exact against cosim): M * beats_x (load) + sum over steps (member cycles for the call + STAGE_GLUE) - 1, the
member cycles from the member's own cycle model. Setup streams (norm weights, weight scales) load once after
reset, as in the member kernels. docs/layer_numerics.md section 7.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from ..bits import index_bits
from ..errors import UserError
from ..spec import KernelSpec, canonical_json
from .base import Kernel, Performance, Port, Scalar
from .bitnet_layer_graph import GLUE_NODE_TYPES

# Cycles a stage adds to its member's own cycles: start -> address (1), address -> RAM register (1), RAM
# register -> reader FIFO head (1) (hwgen_lt_rdpipe), and the stage's last output beat -> the writers' done
# register (1) -> the next stage's start (hwgen_lt_agen, the sequencer).
STAGE_GLUE = 4
# the tests' small checkpoint (hwgen.llm.testing.make_checkpoint): the spec's default config
SMALL_CONFIG = {"model_type": "bitnet", "hidden_size": 256, "intermediate_size": 512, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "relu2", "vocab_size": 256,
                "max_position_embeddings": 256, "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}}
GLUE_MODULES = ("hwgen_lt_agen", "hwgen_lt_rdpipe", "hwgen_lt_wrpipe", "hwgen_lt_buf", "hwgen_sdp_ram")


class BitNetLayerSpec(KernelSpec):
    kind: Literal["bitnet_layer"] = "bitnet_layer"
    mode: Literal["prefill", "decode"] = Field("prefill", description="prefill: M tokens at positions 0..M-1, "
                                               "causal; decode: one token at pos against a streamed K/V cache")
    M_max: int = Field(16, ge=1, le=4096, description="tokens per call")
    L_max: int = Field(2048, ge=1, description="largest position (RoPE table)")
    config: dict = Field(default_factory=dict, description="the checkpoint's BitNetConfig (model_dump)")
    numerics: dict = Field(default_factory=dict, description="LayerNumerics (model_dump, resolved)")
    steps: list[dict] = Field(default_factory=list, description="layer_program steps (Step.as_dict)")
    buffer_memory: Literal["block", "ultra", "distributed"] = Field("block", description="tensor buffer RAM style")
    kernel_params: dict = Field(default_factory=dict, description="without steps: member kernel fields by kind or step "
                                                            "name ({tlmm: {T: 4}}) over the target's defaults")


@dataclass(frozen=True)
class Buf:
    name: str
    kind: str            # ram | pos (read data = the address: the token's position) | par (attention parameters)
    nb: int              # banks
    w: int               # bank bits (lanes * elem_bits)
    tstride: int         # words per token
    depth: int
    aw: int
    bh: int = 1          # narrow beats per bank before the next bank (1: packed, B: attention heads)


@dataclass(frozen=True)
class Gen:
    """An hwgen_lt_agen instance (see its header)."""
    mode: int = 0
    C: int = 1
    BH: int = 1
    JN: int = 1
    TSTRIDE: int = 1
    OFF: int = 0
    G: int = 1
    B: int = 1
    GSTRIDE: int = 1
    REV: int = 0


@dataclass(frozen=True)
class Reader:
    name: str
    stage: int
    buf: str
    gen: Gen
    sel: int             # 1: one bank per beat; 0: the whole word
    ow: int              # beat bits
    tlast_token: bool    # tlast on every token's last beat (token kernels) or on the call's last beat only
    tokens: str          # m_tokens source: "m" (the call) or "1" (a single sequence: attention parameters)
    merge: str = ""      # decode K/V: per head group, first the cached keys from this top port, then the buffer's


@dataclass(frozen=True)
class Writer:
    name: str
    stage: int
    buf: str
    gen: Gen
    sel: int
    zfill: int
    iw: int
    P: int               # producer beats per token
    lo: int
    hi: int
    tee: str = ""        # also sent to this top port (the new K/V cache rows)


@dataclass
class LayerTopModel:
    top: str
    M_max: int
    x_beats: int                     # beats per token on the top port x
    buffers: list = field(default_factory=list)
    readers: list = field(default_factory=list)
    writers: list = field(default_factory=list)
    instances: list = field(default_factory=list)    # {module, name, step indices, spec}
    stages: list = field(default_factory=list)       # per step: {name, instance, conns}
    par_values: list = field(default_factory=list)   # attention parameter beats after the length beat
    tensors: dict = field(default_factory=dict)      # name -> {lanes, bits, E (elements per token), signed}
    rams: list = field(default_factory=list)         # physical buffers: Buf, shared by tensors of disjoint lives
    ram_of: dict = field(default_factory=dict)       # tensor buffer -> its physical buffer
    mode: str = "prefill"

    def as_dict(self) -> dict:
        d = {k: v for k, v in self.__dict__.items() if k not in ("instances", "stages")}
        d["buffers"] = [asdict(b) for b in self.buffers]
        d["readers"] = [asdict(r) for r in self.readers]
        d["writers"] = [asdict(w) for w in self.writers]
        d["instances"] = [{"module": i["module"], "steps": i["steps"]} for i in self.instances]
        return d


def _program(spec: BitNetLayerSpec, consts: dict | None = None):
    from ..llm.config import BitNetConfig
    from ..llm.layer import LayerNumerics, LayerProgram, Step
    steps = [Step(s["name"], s["kind"], s["spec"], s.get("inputs", {}), s.get("outputs", {}), s.get("glue", ""))
             for s in spec.steps]
    return LayerProgram(BitNetConfig.model_validate(spec.config), LayerNumerics.model_validate(spec.numerics),
                        spec.M_max, spec.L_max, consts or {}, steps, spec.mode)


class BitNetLayerKernel(Kernel):
    kind = "bitnet_layer"
    spec_model = BitNetLayerSpec
    unit = "call"
    description = "one BitNet decoder layer: the member kernels run as stages over tensor buffers (one top)"
    node_types = GLUE_NODE_TYPES
    has_parts = True
    layer_top = True

    def __init__(self, registry: dict):
        self.registry = registry
        self._models: dict = {}

    # --- spec ---------------------------------------------------------------------------------
    def normalize(self, data: dict) -> dict:
        """Without `steps` (a spec written by hand): the layer program of `config` (a checkpoint's config.json
        mapping; default SMALL_CONFIG, the tests' hidden-256 layer) with the planning formats (no weights) and the
        target's kernel defaults. `hwgen llm layer --top` writes the steps of a real checkpoint instead."""
        if data.get("steps"):
            return data
        from ..llm.config import parse_config
        from ..llm.layer import kernel_params, layer_program
        data = dict(data)
        target, name = data.get("target", "kv260"), data.get("name") or self.kind
        if data.get("mode", "prefill") != "prefill":
            raise UserError("mode", f"{data['mode']!r}: the single layer top is implemented for prefill only")
        cfg = parse_config(data.get("config") or SMALL_CONFIG)
        prog = layer_program(cfg, None, M_max=int(data.get("M_max", 16)), L_max=data.get("L_max"),
                             params=kernel_params(target, data.get("kernel_params")), mode="prefill")
        steps = [{**st.as_dict(), "spec": {**st.spec, "name": f"{name}_{st.name}", "target": target}}
                 for st in prog.steps]
        return {**data, "M_max": prog.M_max, "L_max": prog.L_max, "config": cfg.model_dump(mode="json"),
                "numerics": prog.num.model_dump(mode="json"), "steps": steps}

    def members(self, spec) -> list:
        from . import parse_spec
        return [parse_spec({**s["spec"], "target": spec.target}) for s in spec.steps]

    def part_specs(self, spec) -> list:
        members = self.members(spec)
        return [members[i["member"]] for i in self.model(spec).instances]

    def check(self, spec) -> None:
        if not spec.steps:
            raise UserError("steps", "a bitnet_layer needs the layer program's steps (hwgen llm layer --top)")
        self.model(spec)

    def model(self, spec) -> LayerTopModel:
        key = canonical_json(spec.model_dump(mode="json"))
        if key not in self._models:
            self._models[key] = self._plan(spec)
        return self._models[key]

    def _plan(self, spec) -> LayerTopModel:
        """Buffers, readers, writers, instances: every decision about the glue, from the members' ports."""
        from ..llm.layer import LayerNumerics
        members = self.members(spec)
        kernels = [self.registry[m.kind] for m in members]
        cfg = spec.config
        H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
        M = spec.M_max if spec.mode == "prefill" else 1        # tokens per call
        num = LayerNumerics.model_validate(spec.numerics)
        top = spec.design_name
        prods: dict[str, tuple] = {}        # tensor -> (lanes, elem_bits, elements per token)
        model = LayerTopModel(top, M, 0, mode=spec.mode)

        def port(i, name):
            return next(p for p in kernels[i].ports(members[i]) if p.name == name)

        def per_token(i, p):
            units = members[i].M_max if kernels[i].performance(members[i]).unit == "call" else 1
            return p.unit_elements // units

        # --- tensors: producer beat shape and elements per token
        first = port(0, "x")
        prods["x"] = (first.elements, first.elem_bits, per_token(0, first), True)
        model.x_beats = -(-prods["x"][2] // first.elements)
        att = None
        for i, s in enumerate(spec.steps):
            if s["glue"] == "qk_rope":
                y = port(i, "y")
                qd = H * cfg["head_dim"]
                prods["q_rot"] = (y.elements, y.elem_bits, qd, True)
                prods["k_rot"] = (y.elements, y.elem_bits, per_token(i, y) - qd, True)
            elif s["glue"].startswith("attention"):
                m = kernels[i].model(members[i])
                if m.npe != 1 or m.kv_par != 1:
                    raise UserError("steps", "the single layer top takes a prefill attention with N_pe 1 and one "
                                             f"K/V head per group (got N_pe {m.npe}, kv_par {m.kv_par})")
                att = (i, m)
                prods["a"] = (m.lanes, m.out_bits, H * m.d, True)
            else:
                for p in kernels[i].ports(members[i]):
                    if p.direction == "out":
                        prods[s["outputs"][p.name]] = (p.elements, p.elem_bits, per_token(i, p), p.signed)
        if att is None:
            raise UserError("steps", "the layer program has no attention step")
        ai, am = att
        # q and k on one RoPE stream: one buffer written by the q and k scales at two offsets
        ql, kl = prods.pop("q_lin"), prods.pop("k_lin")
        prods["qk_lin"] = (ql[0], ql[1], ql[2] + kl[2], True)

        # --- layouts: how many narrow beats a reader takes side by side
        nb = {t: 1 for t in prods}
        bh = {t: 1 for t in prods}
        nb["q_rot"], bh["q_rot"] = am.head_par, am.beats
        nb["a"], bh["a"] = am.head_par, am.beats
        for i, s in enumerate(spec.steps):
            if s["glue"]:
                continue
            for p in kernels[i].ports(members[i]):
                if p.direction == "in" and p.input_key and p.role == "data":
                    t = s["inputs"][p.input_key]
                    lanes = prods[t][0]
                    if p.elements % lanes:
                        raise UserError("steps", f"{s['name']}.{p.name} takes {p.elements} values per beat, not a "
                                                 f"multiple of the {lanes} its producer writes")
                    nb[t] = max(nb[t], p.elements // lanes)
        bufs = {}
        for t, (lanes, bits, E, _) in prods.items():
            beats = -(-E // lanes)
            ts = -(-beats // nb[t])
            depth = M * ts
            bufs[t] = Buf(t, "ram", nb[t], lanes * bits, ts, depth, index_bits(depth), bh[t])
        bufs["pos"] = Buf("pos", "pos", 1, 0, 1, M, index_bits(M))     # read data: pos + the address
        bufs["par"] = Buf("par", "par", 1, 0, 1, 1 + am.groups, index_bits(1 + am.groups))
        model.buffers = list(bufs.values())
        model.tensors = {t: {"lanes": v[0], "bits": v[1], "E": v[2], "signed": v[3]} for t, v in prods.items()}

        def seq_gen(buf: Buf, C: int, wide: bool, off: int = 0) -> Gen:
            if wide:
                return Gen(0, C, C, 1, buf.tstride, off)
            return Gen(0, C, buf.bh, buf.nb, buf.tstride, off)

        def reader(stage, name, t, p, tlast_token, elements_per_token=None):
            buf = bufs[t]
            lanes = prods[t][0] if t in prods else 1
            E = elements_per_token or (prods[t][2] if t in prods else 1)
            wide = p.elements != lanes
            if wide and p.elements != lanes * buf.nb:
                raise UserError("steps", f"{name} takes {p.elements} values per beat; buffer {t} has {buf.nb} x {lanes}")
            C = -(-E // p.elements)
            model.readers.append(Reader(name, stage, t, seq_gen(buf, C, wide), 0 if wide else 1, p.beat_bits,
                                        tlast_token, "m"))

        def writer(stage, name, t, p, P, lo=0, hi=None, off=0, tee=""):
            buf = bufs[t]
            hi = P if hi is None else hi
            wide = p.elements != prods[t][0]
            gen = seq_gen(buf, hi - lo, wide, off)
            model.writers.append(Writer(name, stage, t, gen, 0 if wide else 1,
                                        int(buf.nb > 1 and buf.bh == 1), p.beat_bits, P, lo, hi, tee))

        # --- stage 0: the call's x
        model.writers.append(Writer("w0_x", 0, "x", seq_gen(bufs["x"], model.x_beats, False), 1, 0,
                                    first.beat_bits, model.x_beats, 0, model.x_beats))
        # --- instances: members without setup streams and with equal designs share one
        shared: dict[str, int] = {}
        for i, (s, mem, k) in enumerate(zip(spec.steps, members, kernels)):
            has_setup = any(p.role == "setup" for p in k.ports(mem))
            key = canonical_json(mem.identity())
            if not has_setup and key in shared:
                model.instances[shared[key]]["steps"].append(i)
                inst = shared[key]
            else:
                model.instances.append({"module": k.rtl_top(mem), "name": f"u_{s['name']}", "steps": [i],
                                        "member": i})
                inst = len(model.instances) - 1
                if not has_setup:
                    shared[key] = inst
            stage = i + 1
            token = k.performance(mem).unit == "token"
            conns = {}           # port -> ("rd", reader) | ("ext", top port) | ("wr", [writers]) | ("top", "y")
            last = i == len(spec.steps) - 1
            for p in k.ports(mem):
                rname = f"r{stage}_{p.name}"
                if p.direction == "in" and p.role == "setup":
                    conns[p.name] = ("setup", f"{s['name']}_{p.name}")
                elif p.direction == "in" and s["glue"] == "qk_rope":
                    if p.name == "x":
                        reader(stage, rname, "qk_lin", p, token)
                    else:   # the token's position: prefill tokens sit at 0..M-1
                        model.readers.append(Reader(rname, stage, "pos", Gen(0, 1, 1, 1, 1, 0), 1, p.beat_bits,
                                                    token, "m"))
                    conns[p.name] = ("rd", rname)
                elif p.direction == "in" and s["glue"].startswith("attention"):
                    G, B, rev = am.groups, am.beats, int(am.reversed)
                    if p.name == "par":
                        gen = Gen(0, 1 + G, 1 + G, 1, 1 + G, 0)
                        model.readers.append(Reader(rname, stage, "par", gen, 1, p.beat_bits, False, "1"))
                    elif p.name == "q":
                        gen = Gen(1, 1, 1, 1, bufs["q_rot"].tstride, 0, G, B, B, rev)
                        model.readers.append(Reader(rname, stage, "q_rot", gen, 0, p.beat_bits, False, "m"))
                    elif spec.mode == "prefill":
                        t = "k_rot" if p.name == "k" else "v_lin"
                        gen = Gen(2, 1, 1, 1, bufs[t].tstride, 0, G, B, B * am.kv_par, rev)
                        model.readers.append(Reader(rname, stage, t, gen, 1, p.beat_bits, False, "m"))
                    else:       # decode: per group the cached keys (top port), then the token's own row
                        t = "k_rot" if p.name == "k" else "v_lin"
                        gen = Gen(1, 1, 1, 1, bufs[t].tstride, 0, G, B, B * am.kv_par, 0)
                        model.readers.append(Reader(rname, stage, t, gen, 1, p.beat_bits, False, "m",
                                                    f"{p.name}_cache"))
                    conns[p.name] = ("rd", rname)
                elif p.direction == "in" and p.input_key:
                    reader(stage, rname, s["inputs"][p.input_key], p, token)
                    conns[p.name] = ("rd", rname)
                elif p.direction == "in":
                    conns[p.name] = ("ext", f"{s['name']}_{p.name}")
                elif last:
                    conns[p.name] = ("top", "y")
                elif s["glue"] == "qk_rope":
                    P = -(-per_token(i, p) // p.elements)
                    qb = -(-prods["q_rot"][2] // p.elements)
                    writer(stage, f"w{stage}_q", "q_rot", p, P, 0, qb)
                    writer(stage, f"w{stage}_k", "k_rot", p, P, qb, P, tee="k_new")
                    conns[p.name] = ("wr", [f"w{stage}_q", f"w{stage}_k"])
                elif s["glue"].startswith("attention"):
                    G, B, rev = am.groups, am.beats, int(am.reversed)
                    gen = Gen(1, 1, 1, 1, bufs["a"].tstride, 0, G, B, B, rev)
                    model.writers.append(Writer(f"w{stage}_o", stage, "a", gen, 0, 0, p.beat_bits, 1, 0, 1))
                    conns[p.name] = ("wr", [f"w{stage}_o"])
                else:
                    t = s["outputs"][p.name]
                    P = -(-per_token(i, p) // p.elements)
                    if t in ("q_lin", "k_lin"):
                        off = 0 if t == "q_lin" else -(-ql[2] // ql[0])
                        writer(stage, f"w{stage}_{p.name}", "qk_lin", p, P, off=off)
                    else:
                        writer(stage, f"w{stage}_{p.name}", t, p, P, tee="v_new" if t == "v_lin" else "")
                    conns[p.name] = ("wr", [f"w{stage}_{p.name}"])
            model.stages.append({"name": s["name"], "instance": inst, "conns": conns})
        # attention parameters: the call length beat, then per head group the score multipliers (quant: fixed:
        # constants of the formats, the same for every call)
        amem = members[ai]
        probe = self.registry[amem.kind].validate_inputs(amem, {
            "q": np.zeros((1, H, am.d) if am.causal else (H, am.d)), "k": np.zeros((1, Hkv, am.d)), "v": np.zeros((1, Hkv, am.d))})
        beats = self.registry[amem.kind].stream_beats(amem, probe)["par"]
        model.par_values = [list(b) for _, b in beats[1:]]
        self._allocate(model)
        return model

    @staticmethod
    def _allocate(model: LayerTopModel) -> None:
        """Physical buffers: tensors of the same word shape (banks, bits) whose lives (first write .. last read
        stage) do not touch share one RAM, as deep as the deepest; a tensor nobody reads gets none."""
        life = {}
        for x in model.readers + model.writers:
            lo, hi = life.get(x.buf, (x.stage, x.stage))
            life[x.buf] = (min(lo, x.stage), max(hi, x.stage))
        groups: list[dict] = []
        for b in sorted((b for b in model.buffers if b.name in life), key=lambda b: life[b.name]):
            if b.kind != "ram":
                model.rams.append(b)
                model.ram_of[b.name] = b.name
                continue
            g = next((g for g in groups if (g["nb"], g["w"]) == (b.nb, b.w) and g["end"] < life[b.name][0]), None)
            if g is None:
                g = {"nb": b.nb, "w": b.w, "end": -1, "depth": 0, "name": f"ram{len(groups)}", "tensors": []}
                groups.append(g)
            g["end"], g["depth"] = life[b.name][1], max(g["depth"], b.depth)
            g["tensors"].append(b.name)
            model.ram_of[b.name] = g["name"]
        for g in groups:
            model.rams.append(Buf(g["name"], "ram", g["nb"], g["w"], 0, g["depth"], index_bits(g["depth"])))

    # --- interface ----------------------------------------------------------------------------
    def ports(self, spec) -> list[Port]:
        members = self.members(spec)
        kernels = [self.registry[m.kind] for m in members]
        m = self.model(spec)
        px = next(p for p in kernels[0].ports(members[0]) if p.name == "x")
        out = [Port("x", "in", px.elements, px.elem_bits, True, "s_axis_x", "data", "x", 0)]
        kv = next(p for i, s in enumerate(spec.steps) if s["glue"].startswith("attention")
                  for p in kernels[i].ports(members[i]) if p.name == "k")
        if spec.mode == "decode":       # the token's position and the K/V cache (positions 0..pos-1, per group)
            out += [Port("pos", "in", 1, 32, False, "s_axis_pos", "data", "pos", 0),
                    Port("k_cache", "in", kv.elements, kv.elem_bits, True, "s_axis_k_cache", "data", "k_cache", 0),
                    Port("v_cache", "in", kv.elements, kv.elem_bits, True, "s_axis_v_cache", "data", "v_cache", 0)]
        setup, ext = [], []
        for st in m.stages:
            i = spec.steps.index(next(s for s in spec.steps if s["name"] == st["name"]))
            for p in kernels[i].ports(members[i]):
                kind = st["conns"][p.name][0]
                top = st["conns"][p.name][1]
                if kind in ("setup", "ext"):
                    (setup if kind == "setup" else ext).append(
                        Port(top, "in", p.elements, p.elem_bits, p.signed, f"s_axis_{top}", p.role, None, 0))
        last = kernels[-1].ports(members[-1])
        py = next(p for p in last if p.direction == "out")
        rows = [Port(n, "out", w.iw // m.tensors[w.buf]["bits"], m.tensors[w.buf]["bits"], True, f"m_axis_{n}", "data",
                     None, 0) for n in ("k_new", "v_new") for w in m.writers if w.tee == n]
        return out + setup + ext + [Port("y", "out", py.elements, py.elem_bits, py.signed, "m_axis_y", "data", None,
                                         0)] + rows

    def hls_scalars(self, spec):
        return [Scalar("load_weights", "bool"), Scalar("m_tokens", "int")]

    def units_per_call(self, spec):
        return 1

    def call_plan(self, spec, inputs):
        return [[1, int(inputs["x"].shape[0])]]

    def _chain(self, spec, inputs) -> tuple[dict, list]:
        """The layer golden run; every step's validated member inputs."""
        from ..llm.layer import run_program
        prog = _program(spec, {k: v for k, v in inputs.items() if k not in self._runtime_names(spec)})
        seen = []

        def executor(step, kernel, mspec, minputs):
            seen.append(minputs)
            return kernel.golden(mspec, minputs)

        cache = {} if spec.mode == "prefill" else {
            "pos0": int(inputs["pos"]), "k_cache": inputs["k_cache"], "v_cache": inputs["v_cache"]}
        env = run_program(prog, inputs["x"], executor, **cache)
        return env, seen

    def member_cycles(self, spec, seen: list) -> list[int]:
        members = self.members(spec)
        return [self.registry[m.kind].expected_cycles(m, inp) for m, inp in zip(members, seen)]

    def performance(self, spec) -> Performance:
        """At M_max: each member's cycles for a call of M_max tokens (a per-call member's latency, a per-token
        member's latency + (M_max - 1) ii), plus the glue."""
        members = self.members(spec)
        m = self.model(spec)
        total, macs = m.M_max * m.x_beats - 1, 0
        for mem in members:
            p = self.registry[mem.kind].performance(mem)
            total += (p.latency_cycles if p.unit == "call" else p.latency_cycles + (m.M_max - 1) * p.ii) + STAGE_GLUE
            macs += p.macs * (1 if p.unit == "call" else m.M_max)
        return Performance(latency_cycles=total, ii=total, unit="call", macs=macs,
                           macs_per_cycle=max(self.registry[x.kind].performance(x).macs_per_cycle for x in members))

    def expected_cycles(self, spec, inputs) -> int:
        _, seen = self._chain(spec, inputs)
        return int(inputs["x"].shape[0]) * self.model(spec).x_beats - 1 + sum(
            c + STAGE_GLUE for c in self.member_cycles(spec, seen))

    # --- data ---------------------------------------------------------------------------------
    def _runtime_names(self, spec) -> tuple:
        return ("x",) if spec.mode == "prefill" else ("x", "pos", "k_cache", "v_cache")

    def input_names(self, spec):
        return self._runtime_names(spec) + tuple(self._const_names(spec))

    def _const_names(self, spec):
        """The layer constants (consts.npz): what the steps read that no step writes."""
        made = {v for s in spec.steps for v in s.get("outputs", {}).values()} | {"a", "q_rot", "k_rot"}
        names = []
        for s in spec.steps:
            for v in s.get("inputs", {}).values():
                if v != "x" and v not in made and v not in names:
                    names.append(v)
        return names

    def validate_inputs(self, spec, inputs):
        from ..llm.layer import to_fixed
        x = np.asarray(inputs["x"])
        D = spec.config["hidden_size"]
        if x.ndim != 2 or x.shape[1] != D:
            raise UserError("x", f"shape {list(x.shape)}; expected [M, {D}] (hidden_size)")
        M = spec.M_max if spec.mode == "prefill" else 1
        if not 1 <= x.shape[0] <= M:
            raise UserError("x", f"M={x.shape[0]} tokens; allowed: 1..{M} ({'M_max' if M > 1 else 'decode'})")
        to_fixed(x, 32, 0, "x")              # NaN / Inf
        out = {"x": x.astype(np.float64)}
        if spec.mode == "decode":            # checked in full by the layer's own run (shapes, range, grid)
            for n in ("pos", "k_cache", "v_cache"):
                if n not in inputs:
                    raise UserError("inputs", f"missing {n!r}; a decode layer takes x, pos, k_cache, v_cache")
            pos = np.asarray(inputs["pos"])
            if pos.size != 1 or pos.dtype.kind not in "iu" or not 0 <= int(pos.reshape(-1)[0]) < spec.L_max:
                raise UserError("pos", f"must be one integer in 0..{spec.L_max - 1} (L_max - 1)")
            out["pos"] = int(pos.reshape(-1)[0])
            Hkv, d = spec.config["num_key_value_heads"], spec.config["head_dim"]
            for n in ("k_cache", "v_cache"):
                c = np.asarray(inputs[n])
                if c.shape != (out["pos"], Hkv, d) or c.dtype.kind not in "iu":
                    raise UserError(n, f"shape {list(c.shape)} {c.dtype}; expected integers [{out['pos']}, {Hkv}, {d}]")
                out[n] = c.astype(np.int64)
        for n in self._const_names(spec):
            if n not in inputs:
                raise UserError("inputs", f"missing the layer constant {n!r} (consts.npz of the layer project)")
            out[n] = np.asarray(inputs[n]).astype(np.int64)
        return out

    def random_inputs(self, spec, rng, vectors):
        """`vectors` tokens of random hidden states and random ternary weights / norm weights / scales."""
        M = min(vectors, spec.M_max) if spec.mode == "prefill" else 1
        out = {"x": rng.standard_normal((M, spec.config["hidden_size"]))}
        if spec.mode == "decode":           # a random cache of `vectors` positions on the layer's grid
            p = min(vectors, spec.L_max - 1)
            Hkv, d = spec.config["num_key_value_heads"], spec.config["head_dim"]
            unit = 1 << spec.numerics["lin_frac"]
            out.update(pos=p, k_cache=np.rint(rng.standard_normal((p, Hkv, d)) * unit).astype(np.int64),
                       v_cache=np.rint(rng.standard_normal((p, Hkv, d)) * unit).astype(np.int64))
        consts = set(self._const_names(spec))
        for s in spec.steps:
            for key, v in s.get("inputs", {}).items():
                if v in out or v not in consts:
                    continue
                sp = s["spec"]
                if v.startswith("w_"):
                    out[v] = rng.integers(-1, 2, size=(sp["K"], sp["N"]))
                elif v.startswith("ws_"):
                    out[v] = rng.integers(1, 1 << (sp["ws_bits"] - 1), size=1)
                else:
                    out[v] = np.rint((1 + 0.2 * rng.standard_normal(sp["D"])) * 2.0 ** sp["g_frac"]).astype(np.int64)
        return out

    def vector_count(self, spec, inputs):
        return 1

    def golden(self, spec, inputs):
        env, _ = self._chain(spec, inputs)
        return {"y": env["y"], "k_new": env["k_rot"], "v_new": env["v_lin"]}

    def user_output(self, spec, inputs, outputs):
        return {"y": (outputs["y"] / 2.0 ** spec.numerics["x_frac"]).astype(np.float32),
                "k_new": outputs["k_new"], "v_new": outputs["v_new"]}

    def stream_beats(self, spec, inputs):
        from ..llm.layer import to_fixed
        env, seen = self._chain(spec, inputs)
        members = self.members(spec)
        m = self.model(spec)
        px = self.ports(spec)[0]
        xi = to_fixed(inputs["x"], spec.numerics["x_bits"], spec.numerics["x_frac"], "x")
        xp = np.zeros((xi.shape[0], m.x_beats * px.elements), np.int64)
        xp[:, : xi.shape[1]] = xi
        rows = xp.reshape(-1, px.elements).tolist()
        out = {"x": [(int(i == len(rows) - 1), r) for i, r in enumerate(rows)]}
        if spec.mode == "decode":
            out["pos"] = [(1, [int(inputs["pos"])])]
            att = next(i for i, s in enumerate(spec.steps) if s["glue"].startswith("attention"))
            am = self.registry[members[att].kind].model(members[att])
            beats = self.registry[members[att].kind].stream_beats(members[att], seen[att])
            per_group = (int(inputs["pos"]) + 1) * am.beats       # the cached keys, then the token's own
            for n in ("k", "v"):
                rows = [b for g in range(am.groups) for _, b in beats[n][g * per_group: (g + 1) * per_group - am.beats]]
                out[f"{n}_cache"] = [(int(i == len(rows) - 1), b) for i, b in enumerate(rows)]
        for st, mem, inp in zip(m.stages, members, seen):
            want = {p: c[1] for p, c in st["conns"].items() if c[0] in ("setup", "ext")}
            if want:
                beats = self.registry[mem.kind].stream_beats(mem, inp)
                for p, top in want.items():
                    out[top] = beats[p]
        return out

    def output_units(self, spec, inputs):
        M = int(inputs["x"].shape[0])
        ports = {p.name: p for p in self.ports(spec)}
        kv = spec.config["num_key_value_heads"] * spec.config["head_dim"]
        return {"y": [M * -(-spec.config["hidden_size"] // ports["y"].elements)],
                "k_new": [M * -(-kv // ports["k_new"].elements)], "v_new": [M * -(-kv // ports["v_new"].elements)]}

    def from_beats(self, spec, inputs, beats):
        M = int(inputs["x"].shape[0])
        kv = spec.config["num_key_value_heads"] * spec.config["head_dim"]
        out = {"y": np.asarray(beats["y"], np.int64).reshape(M, -1)[:, :spec.config["hidden_size"]]}
        for n in ("k_new", "v_new"):
            out[n] = np.asarray(beats[n], np.int64).reshape(M, -1)[:, :kv]
        return out

    # --- render -------------------------------------------------------------------------------
    def render_context(self, spec) -> dict:
        members = self.members(spec)
        kernels = [self.registry[x.kind] for x in members]
        m = self.model(spec)
        ports = self.ports(spec)
        rams = {b.name: b for b in m.rams}
        readers = []
        for r in m.readers:
            b = rams[m.ram_of[r.buf]]
            readers.append({**asdict(r), **asdict(r.gen), "tensor": r.buf, "buf": b.name, "nb": b.nb,
                            "w": b.w if b.kind == "ram" else r.ow, "aw": b.aw, "jw": index_bits(b.nb),
                            "cw": index_bits(max(r.gen.C, r.gen.B, r.gen.BH) + 1), "buf_kind": b.kind})
        writers = []
        for w in m.writers:
            b = rams[m.ram_of[w.buf]]
            writers.append({**asdict(w), **asdict(w.gen), "tensor": w.buf, "buf": b.name, "nb": b.nb, "w": b.w,
                            "aw": b.aw, "jw": index_bits(b.nb), "cw": index_bits(max(w.gen.C, w.gen.B, w.gen.BH) + 1),
                            "pw": index_bits(w.P + 1)})
        buffers = []
        for b in m.rams:
            vw = b.w if b.kind == "ram" else next(r["ow"] for r in readers if r["buf"] == b.name)
            buffers.append({**asdict(b), "w": vw, "tensors": [t for t, r in m.ram_of.items() if r == b.name],
                            "readers": [r for r in readers if r["buf"] == b.name],
                            "writers": [w for w in writers if w["buf"] == b.name]})
        par = [sum(int(v) << (32 * j) for j, v in enumerate(vals)) for vals in m.par_values]
        nst = len(m.stages)
        # instance port connections: per port, the stages that use it and their sources / sinks
        insts = []
        for ii, inst in enumerate(m.instances):
            i0 = inst["member"]
            conns = []
            for p in kernels[i0].ports(members[i0]):
                uses = []
                for i in inst["steps"]:
                    kind, what = m.stages[i]["conns"][p.name]
                    if kind == "rd" and any(r.name == what and r.merge for r in m.readers):
                        what = f"{what}_mg"         # the cached keys, then the buffer's (decode K/V)
                    tees = [w["name"] for w in writers if kind == "wr" and w["name"] in what and w["tee"]]
                    uses.append({"stage": i + 1, "kind": kind, "what": what,
                                 "tees": [(w, next(x["tee"] for x in writers if x["name"] == w)) for w in tees]})
                conns.append({"port": p.rtl, "name": p.name, "dir": p.direction, "msb": p.beat_bits - 1,
                              "sig": f"i{ii}_{p.name}", "uses": uses})
            insts.append({"module": inst["module"], "name": inst["name"], "conns": conns,
                          "stages": [i + 1 for i in inst["steps"]]})
        stages = []
        for i, st in enumerate(m.stages):
            writers_of = [w["name"] for w in writers if w["stage"] == i + 1]
            gated = [c[1] for c in st["conns"].values() if c[0] == "ext"] + [
                r.merge for r in m.readers if r.stage == i + 1 and r.merge]
            stages.append({"index": i + 1, "name": st["name"], "writers": writers_of, "ext": gated,
                           "last": i == nst - 1})
        top_ports = [{"name": p.name, "rtl": p.rtl, "is_in": p.direction == "in", "msb": p.beat_bits - 1,
                      "beat_bits": p.beat_bits} for p in ports]
        # HLS: each step's call (its stream arguments in port order, then its scalars)
        hls_steps = self._hls_steps(spec, members, kernels, m)
        hls_tees = self._hls_tees(spec, m)
        return {"top": spec.design_name, "m": m, "ports": top_ports, "buffers": buffers, "readers": readers,
                "writers": writers, "instances": insts, "stages": stages, "n_stages": nst,
                "sw": index_bits(nst + 2), "tw": index_bits(m.M_max + 1), "m_max": m.M_max,
                "xbw": index_bits(m.x_beats),
                "x_last_writer": "w0_x", "par_words": par, "par_w": ports and next(
                    r["ow"] for r in readers if r["buf"] == "par"),
                "y_beats_per_token": -(-spec.config["hidden_size"] // next(p for p in ports if p.name == "y").elements),
                "decode": spec.mode == "decode", "tees": [w for w in writers if w["tee"]],
                "merges": [r for r in readers if r["merge"]],
                "ram_style": spec.buffer_memory, "glue": STAGE_GLUE, "hls": hls_steps, "hls_tees": hls_tees,
                "member_headers": sorted({k.rtl_top(x) for k, x in zip(kernels, members)}),
                "ybw": index_bits(m.M_max * -(-spec.config["hidden_size"] // next(p for p in ports if p.name == "y").elements) + 1),
                "mgw": index_bits(spec.L_max * max([r["B"] for r in readers if r["merge"]] or [1]) + 1)}

    def _hls_steps(self, spec, members, kernels, m) -> list[dict]:
        """The HLS twin's view: every tensor as [M_max][elements] values; each step's input streams packed from them
        and its output streams unpacked into them in the member's beat layout, by element index (independent of the
        RTL's word and bank addressing)."""
        d = spec.config["head_dim"]
        tens = m.tensors
        out = []
        for i, (s, mem, k) in enumerate(zip(spec.steps, members, kernels)):
            st = m.stages[i]
            pre, post, args = [], [], []
            for p in k.ports(mem):
                kind, what = st["conns"][p.name]
                var = f"s{i + 1}_{p.name}"
                base = {"var": var, "bits": p.beat_bits, "lanes": p.elements, "eb": p.elem_bits}
                if kind in ("setup", "ext"):
                    args.append(what)
                    continue
                if kind == "top":
                    args.append("y")
                    continue
                args.append(var)
                if kind == "rd":
                    r = next(x for x in m.readers if x.name == what)
                    g = r.gen
                    if r.buf == "pos":
                        pre.append({**base, "kind": "pos"})
                    elif r.buf == "par":
                        pre.append({**base, "kind": "par", "words": m.par_values})
                    elif g.mode == 0:
                        pre.append({**base, "kind": "seq", "tensor": r.buf, "E": tens[r.buf]["E"], "C": g.C})
                    else:
                        lanes = tens[r.buf]["lanes"]
                        kind = "attn_kv_cache" if r.merge else "attn_q" if g.mode == 1 else "attn_kv"
                        pre.append({**base, "kind": kind, "tensor": r.buf, "G": g.G, "B": g.B, "merge": r.merge,
                                    "sub": p.elements // lanes, "sl": lanes, "d": d, "rev": int(g.REV)})
                else:
                    ws = [x for x in m.writers if x.name in what]
                    if ws[0].gen.mode == 1:
                        g = ws[0].gen
                        lanes = tens[ws[0].buf]["lanes"]
                        post.append({**base, "kind": "attn_o", "tensor": ws[0].buf, "G": g.G, "B": g.B,
                                     "sub": p.elements // lanes, "sl": lanes, "d": d, "rev": int(g.REV)})
                    else:
                        segs = []
                        for w in ws:
                            lanes = p.elements
                            segs.append({"tensor": w.buf, "lo": w.lo, "hi": w.hi, "offe": w.gen.OFF * lanes,
                                         "E": (w.hi - w.lo) * lanes if w.buf == "qk_lin" else tens[w.buf]["E"]})
                        post.append({**base, "kind": "seq", "P": ws[0].P, "segs": segs})
            scal = ["m_tokens" if sc.name == "m_tokens" else "load_weights" for sc in k.hls_scalars(mem)]
            out.append({"name": s["name"], "fn": k.rtl_top(mem), "pre": pre, "post": post, "args": args + scal})
        return out

    def _hls_tees(self, spec, m) -> list[dict]:
        """The new K/V cache rows onto their top ports, from the tensors (after the layer)."""
        ports = {p.name: p for p in self.ports(spec)}
        out = []
        for w in m.writers:
            if w.tee:
                p = ports[w.tee]
                t = m.tensors[w.buf]
                out.append({"var": w.tee, "bits": p.beat_bits, "lanes": p.elements, "eb": p.elem_bits, "kind": "seq",
                            "tensor": w.buf, "E": t["E"], "C": -(-t["E"] // p.elements)})
        return out

    # --- surrogate ------------------------------------------------------------------------------
    def graph(self, spec):
        """The union of the member instances' graphs plus the top's glue (tensor buffers, readers, writers and
        their address generators, stage muxes, the sequencer): hwgen/kernels/bitnet_layer_graph.py; latency from
        the layer's cycle model."""
        from .bitnet_layer_graph import build_layer_graph
        return build_layer_graph(self, spec)

    def outputs(self, backend):
        if backend == "hls":
            return [("bitnet_layer/hls/top.h.j2", "hls/{top}.h"), ("bitnet_layer/hls/top.cpp.j2", "hls/{top}.cpp")]
        return [("bitnet_layer/rtl/top.v.j2", "rtl/{top}.v")] + [
            (f"lib/rtl/{x}.v", f"rtl/{x}.v") for x in GLUE_MODULES]

    def files(self, spec, backend):
        members = self.members(spec)
        files: dict[str, str] = {}
        for mem in members:
            for path, text in self.registry[mem.kind].files(mem, backend).items():
                if path in files and files[path] != text:
                    raise UserError("steps", f"two members write different {path}; give them distinct names")
                files[path] = text
        files.update(super().files(spec, backend))
        return files
