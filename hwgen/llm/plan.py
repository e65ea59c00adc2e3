"""`hwgen llm plan`: from a BitNet config.json and a board to a planned accelerator, before any synthesis.

What is planned (every number traceable to a model in this repository, docs/llm_plan.md):
- the layer engine: one instance of every kernel kind the layer uses (TLMM, RMSNorm+quantizer, BitLinear scale,
  RoPE, decode and prefill attention, GLU, residual add), reused by every step of every layer. The free
  parameters (TLMM T and Q, the prefill chunk M_max, where the M_max-deep buffers live) are enumerated; each
  candidate's resources come from the GNN surrogate (kinds it was trained on) or the kernels' analytical graph
  estimate (the others), each with its uncertainty; candidates that cannot fit FIT_LIMIT of every resource with
  a FIT_Z sigma margin are dropped; each is ranked at its achieved clock, min(target clock, the GNN's
  conservative Fmax prediction of its GNN-predicted kernels, or a kernel's structural delay-model estimate where
  the kernel lies outside the GNN's training range); the best by the objective is kept; `budget` kernels
  of it are synthesized with the open flow (0 = surrogate only), and their reports replace the predictions,
  Fmax estimate included;
- the schedule: sequential (one kernel at a time; weight and K/V streams overlap each kernel's own compute), as
  the generated layer runs; cycles from the kernels' cycle models (hwgen/llm/perf.py);
- off-chip memory: the packed TLMM index streams of every layer (the exact bytes `hwgen llm generate` writes),
  the K/V cache of `context` tokens (k after RoPE and v, `kv_bits` integers, [pos, kv_heads, head_dim] per
  layer) against the board's bandwidth x MEM_EFFICIENCY and its capacity;
- the LM head and the embedding on the host CPU (BitNet's lm_head is a float linear, not ternary: no TLMM can
  run it), at the stated HOSTS assumptions, included in every tokens/s figure; bf16, or (--lm-head-bits 8) int8
  rows with one float32 scale per vocabulary row, half the bytes the host streams.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import UserError
from ..spec import canonical_json
from ..targets import Target, get_target
from .config import BitNetConfig
from .layer import LayerNumerics, layer_program
from .perf import MEM_EFFICIENCY, bytes_per_cycle, program_cycles, step_cycles

FORMAT = "hwgen-llm-plan/1"
OBJECTIVES = ("decode", "prefill", "balanced")
FIT_LIMIT = 0.90        # the goal: the whole design within 90 % of every resource
FIT_Z = 1.0             # a candidate fits when mean + FIT_Z * std <= FIT_LIMIT * capacity
ANALYTICAL_REL_STD = 0.15   # the spread search.py gives analytical estimates (no learned spread)

def gnn_kinds(model_dir=None) -> tuple[str, frozenset]:
    """(model name, the single-kernel kinds it was trained on): the plan asks the GNN only about those."""
    from ..surrogate.predict import _load, default_model_dir
    path = Path(model_dir or default_model_dir())
    kinds = _load(str(path)).cfg.train_info.get("kinds") or ()
    return path.name, frozenset(k for k in kinds if "+" not in k)
RESOURCES = ("lut", "ff", "dsp", "bram36", "uram")     # lut = logic + LUTRAM (LUT sites)
# The free parameters of the layer engine (G = 3: 5-bit indices of 3 trits, TeLLMe's packing, 1.67 bit/weight)
# and the decode / prefill attention lanes: fewer halve that attention's DSPs and double its compute cycles
SPACE = {"T": (8, 16, 32), "Q": (8, 16, 32), "M_max": (16, 32, 64, 128), "dec_lanes": (64, 32, 16, 8),
         "pre_lanes": (32, 16, 8)}
TIE = 0.005             # objective values within 0.5 % of the best count as equal (then: secondary, fewer LUTs)
HEAD_BYTES = 2          # lm_head / embedding element: bf16, as the released BitNet checkpoints store them
# LM head on the host: bf16 as released, or weight-only int8 (one float32 absmax scale per vocabulary row, the
# per-channel int8 of llama.cpp-style Q8): half the bytes the host streams per token. Default 16: on random
# checkpoints (the only weights measured here) the int8 head changes 6 of 256 greedy tokens where a bf16 head
# changes none (bench/results/llm_plan.md); trained weights are not measured, so int8 is opt-in
LM_HEAD_BITS = (16, 8)
DEFAULT_LM_HEAD_BITS = 16
LM_HEAD_SCALE_BYTES = 4


@dataclass(frozen=True)
class Host:
    """The processor that runs the embedding lookup and the LM head (assumptions, not measured here)."""
    name: str
    read_gbps: float        # sustained read bandwidth one LM-head GEMV gets
    gflops: float           # sustained fp32 GFLOP/s of the GEMV
    link_us: float          # per-token hand-over between fabric and host (hidden state out, token id in)
    shares_board_memory: bool   # LM head / embedding live in the board memory (SoC) or in the host's own DRAM
    reserved_gb: float      # board memory the host OS keeps (SoC boards)
    why: str


_APU = Host("4x Cortex-A53 (Zynq UltraScale+ APU)", 5.0, 21.3, 0.0, True, 1.0,
            "4 cores x 1.333 GHz x 4 fp32 FLOP/cycle (64-bit NEON FMA) = 21.3 GFLOP/s peak; 5 GB/s sustained reads is "
            "an assumption (A53 clusters read DDR far below the fabric's rate: TI SPRADO9 measures 2.3 GB/s STREAM "
            "copy on two A53 at 1.25 GHz); 1 GB of the DDR kept by Linux")
_A9 = Host("2x Cortex-A9 (Zynq-7000 PS)", 1.0, 2.6, 0.0, True, 0.25,
           "2 cores x 650 MHz x 2 FLOP/cycle; 1 GB/s sustained reads assumed; 256 MB kept by Linux")
_X86 = Host("x86 server host over PCIe", 20.0, 500.0, 10.0, False, 0.0,
            "LM head and embedding in the host's DRAM: 20 GB/s sustained reads for one multi-threaded GEMV and "
            "500 GFLOP/s (AVX2) assumed; 10 us per token for the PCIe round trip of the hidden state and token id")
HOSTS = {"kv260": _APU, "zcu104": _APU, "zcu102": _APU, "pynq-z2": _A9, "u280": _X86, "u250": _X86}

LM_HEAD_FORMAT = {16: "bf16 [vocab, hidden], as the checkpoint stores it",
                  8: "int8 [vocab, hidden] + one float32 scale per vocabulary row (absmax / 127, round to nearest); "
                     "logit = scale * (int8 row . hidden state)"}

SCHEDULE_TEXT = ("sequential: one kernel of the engine runs at a time, in the layer's order, for every layer in "
                 "turn; each kernel overlaps its own weight / K/V stream with its compute (double-buffered TLMM "
                 "chunks, the decode attention's K/V sweep). This is how the generated layer runs (a chain of kernel "
                 "projects); the overlapped (dataflow) bound is reported for information only.")


# ----------------------------------------------------------------------------- memory and host

def head_bytes(cfg: BitNetConfig, lm_head_bits: int) -> dict:
    """lm_head weights read per decoded token (int8: the rows and their float32 scales) and the embedding (one bf16
    row read per token; the table stored unless a bf16 LM head is tied to it: an int8 head is its own copy, the
    lookup keeps the bf16 rows)."""
    V, H = cfg.vocab_size, cfg.hidden_size
    lm = V * H * HEAD_BYTES if lm_head_bits == 16 else V * H + V * LM_HEAD_SCALE_BYTES
    emb_table = 0 if cfg.tie_word_embeddings and lm_head_bits == 16 else V * H * HEAD_BYTES
    return {"lm_head": lm, "embedding_row": H * HEAD_BYTES, "embedding_table": emb_table}


def kv_bytes_per_token(cfg: BitNetConfig, kv_bits: int) -> int:
    """K/V cache bytes one token adds, all layers (k after RoPE and v, whole bytes per element)."""
    return cfg.num_hidden_layers * 2 * cfg.kv_dim * (-(-kv_bits // 8))


def host_seconds(cfg: BitNetConfig, host: Host, lm_head_bits: int, tokens_embedded: int = 1) -> dict:
    """Host time of one LM head row (the last token) plus `tokens_embedded` embedding lookups. The compute term
    counts 2 fp32 FLOPs per weight for either format (neither bf16 nor int8 has a native dot on an A53: both are
    widened to fp32; the int8 row scale is one multiply per vocabulary row)."""
    hb = head_bytes(cfg, lm_head_bits)
    flops = 2.0 * cfg.vocab_size * cfg.hidden_size
    lm = max(hb["lm_head"] / (host.read_gbps * 1e9), flops / (host.gflops * 1e9))
    emb = tokens_embedded * hb["embedding_row"] / (host.read_gbps * 1e9)
    return {"lm_head_s": lm, "embedding_s": emb, "link_s": host.link_us * 1e-6,
            "total_s": lm + emb + host.link_us * 1e-6}


def check_memory(cfg: BitNetConfig, t: Target, host: Host, context: int, kv_bits: int, layer_weight_bytes: float,
                 lm_head_bits: int) -> dict:
    """Weights + K/V cache of `context` tokens must fit the board memory; else a one-line error."""
    hb = head_bytes(cfg, lm_head_bits)
    weights = layer_weight_bytes * cfg.num_hidden_layers
    host_side = hb["lm_head"] + hb["embedding_table"] if host.shares_board_memory else 0
    kv = kv_bytes_per_token(cfg, kv_bits) * context
    cap = t.mem_capacity_gb * 1e9 - (host.reserved_gb * 1e9 if host.shares_board_memory else 0)
    need = weights + host_side + kv
    if weights + host_side > cap:
        raise UserError("target", f"{t.name} cannot hold the weights: {(weights + host_side) / 1e9:.2f} GB "
                                  f"(layers {weights / 1e9:.2f} + LM head/embedding {host_side / 1e9:.2f}) > "
                                  f"{cap / 1e9:.2f} GB usable of {t.mem_capacity_desc}")
    if need > cap:
        most = int((cap - weights - host_side) // kv_bytes_per_token(cfg, kv_bits))
        raise UserError("context", f"{context} tokens need a {kv / 1e9:.2f} GB K/V cache; with the weights "
                                   f"({(weights + host_side) / 1e9:.2f} GB) that exceeds the {cap / 1e9:.2f} GB usable of "
                                   f"{t.name} ({t.mem_capacity_desc}); allowed: 1..{most}")
    note = ("the streams are assumed striped over every HBM pseudo-channel (the aggregate bandwidth); one AXI port "
            "to one pseudo-channel reaches 1/32 of it" if "HBM" in t.mem_desc else
            "one DDR controller: every stream shares its bandwidth")
    return {"bandwidth_assumption": note, "layer_weights_bytes": weights, "host_weights_in_board_memory_bytes": host_side, "kv_cache_bytes": kv,
            "total_bytes": need, "usable_bytes": cap, "capacity_desc": t.mem_capacity_desc,
            "kv_where": f"off-chip ({t.mem_desc})", "fits": True}


# ----------------------------------------------------------------------------- candidates

@dataclass
class Candidate:
    T: int
    Q: int
    M_max: int
    buffer_memory: str
    dec_lanes: int = 16
    pre_lanes: int = 16
    engine: dict = None          # kind -> list of spec dicts (the kind's engine is the max over them)
    usage: dict = None           # resource -> (mean, std)
    kernels: dict = None         # kind -> {resource: (mean, std)}, source
    fits: bool = False
    perf: dict = None

    @property
    def params(self) -> dict:
        return {"tlmm": {"weight_memory": "stream", "buffer_memory": self.buffer_memory, "G": 3, "T": self.T,
                         "Q": self.Q, "M_max": self.M_max},
                "attention_decode": {"lanes": self.dec_lanes}, "attention_prefill": {"lanes": self.pre_lanes}}

    @property
    def label(self) -> str:
        return f"T={self.T} Q={self.Q} M_max={self.M_max} buffers={self.buffer_memory} attention lanes {self.dec_lanes}/{self.pre_lanes}"


def programs(cfg: BitNetConfig, num: LayerNumerics, params: dict, M_max: int, L_max: int) -> dict:
    return {mode: layer_program(cfg, None, num, M_max=M_max, L_max=L_max, params=params, mode=mode)
            for mode in ("decode", "prefill")}


def engine_specs(progs: dict, target: str) -> dict:
    """kind -> the spec dicts the kind's one engine instance must serve. The TLMM engine is one spec that holds
    the largest K and N of the layer (its activation and partial-sum buffers must take both); the other kinds:
    every distinct step spec (the engine is taken as the max of each resource over them)."""
    out: dict[str, dict] = {}
    for prog in progs.values():
        for s in prog.steps:
            spec = {**s.spec, "target": target, "name": f"eng_{s.kind}"}
            out.setdefault(s.kind, {})[canonical_json(spec)] = spec
    tl = list(out["tlmm"].values())
    big = {**tl[0], "K": max(s["K"] for s in tl), "N": max(s["N"] for s in tl)}
    out["tlmm"] = {canonical_json(big): big}
    return {k: list(v.values()) for k, v in out.items()}


def predict_all(specs: dict) -> dict:
    """key -> {resource: (mean, std)}, source. GNN for the kinds it was trained on, analytical for the rest."""
    from ..kernels import get as get_kernel, parse_spec
    from ..surrogate.analytical import estimate
    model_name, trained = gnn_kinds()
    gnn_keys = [k for k, s in specs.items() if s["kind"] in trained]
    out = {}
    if gnn_keys:
        from ..surrogate.predict import in_training_range, predict_specs
        parsed = {k: parse_spec(specs[k]) for k in gnn_keys}
        rows = predict_specs(list(parsed.values()))
        for k, r in zip(gnn_keys, rows):
            outside = in_training_range(parsed[k])
            out[k] = {"res": {t: (float(v["mean"]), float(v["std"])) for t, v in r.items() if t != "fmax_mhz_est"},
                      "source": f"{model_name} (GNN)" + (f", outside its training range: {', '.join(outside)}"
                                                         if outside else "")}
            structural = get_kernel(parsed[k].kind).fmax_estimate(parsed[k]) if outside else None
            if structural is not None:
                # outside the model's training range its ensemble disagrees widely (a 1-sigma margin can halve the
                # clock); the kernel's own delay-model estimate of its synthesized paths stands in (docs/timing.md
                # section 4: matmul 0.93-1.14x the synthesized Fmax, 5th-95th percentile over datasets/tlmm)
                out[k]["fmax"] = float(structural)
            elif not r["fmax_mhz_est"].get("anchor_only"):
                # the conservative predicted Fmax (surrogate/predict.py: FMAX_SIGMAS above the mean crit_ns)
                out[k]["fmax"] = float(r["fmax_mhz_est"]["conservative"])
    for k, s in specs.items():
        if k not in out:
            est = estimate(parse_spec(s))
            out[k] = {"res": {t: (float(v), ANALYTICAL_REL_STD * abs(float(v))) for t, v in est.items()},
                      "source": "analytical (Kernel.graph cost terms)"}
    return out


def engine_fmax(cand: "Candidate", preds: dict, observed: dict) -> tuple[list, list]:
    """The Fmax estimates of a candidate's engine kernels: (synthesized, predicted: the GNN's, or the kernel's
    structural estimate outside the GNN's training range). A synthesized report wins over a prediction of the same
    kernel; kernels with neither (analytical kinds) assume the clock."""
    synth, predicted = [], []
    for specs in cand.engine.values():
        for s in specs:
            key = canonical_json(s)
            rep = observed.get(key)
            if rep is not None and rep.status == "ok" and rep.fmax_mhz_est:
                synth.append(rep.fmax_mhz_est)
            elif preds.get(key, {}).get("fmax"):
                predicted.append(preds[key]["fmax"])
    return synth, predicted


def achieved_clock(clock: float, cand: "Candidate", preds: dict, observed: dict) -> float:
    """min(target clock, the lowest Fmax estimate of the candidate's engine kernels), to 0.1 MHz."""
    synth, predicted = engine_fmax(cand, preds, observed)
    return round(min([clock, *synth, *predicted]), 1)


def _lut_sites(res: dict) -> tuple[float, float]:
    (m1, s1), (m2, s2) = res["lut"], res.get("lutram", (0.0, 0.0))
    return m1 + m2, s1 + s2


def kernel_usage(res: dict) -> dict:
    return {r: (_lut_sites(res) if r == "lut" else res.get(r, (0.0, 0.0))) for r in RESOURCES}


def engine_usage(cand: Candidate, preds: dict) -> None:
    """Sum over kinds of the kind's engine (per resource, the max over the specs it serves); std summed too
    (the errors of one surrogate are correlated, so no quadrature)."""
    cand.kernels, total = {}, {r: [0.0, 0.0] for r in RESOURCES}
    for kind, specs in cand.engine.items():
        per = [kernel_usage(preds[canonical_json(s)]["res"]) for s in specs]
        use = {r: max((p[r] for p in per), key=lambda ms: ms[0]) for r in RESOURCES}
        srcs = [preds[canonical_json(s)]["source"] for s in specs]
        source = " + ".join(f"{src} ({srcs.count(src)} of {len(srcs)} shapes)" if len(set(srcs)) > 1 else src
                            for src in dict.fromkeys(srcs))
        cand.kernels[kind] = {"usage": use, "source": source,
                              "synthesized": all(preds[canonical_json(s)].get("synth") for s in specs),
                              "designs": len(specs)}
        for r in RESOURCES:
            total[r][0] += use[r][0]
            total[r][1] += use[r][1]
    cand.usage = {r: tuple(v) for r, v in total.items()}


def _over(r: str, m: float, s: float, cap: dict) -> bool:
    # a resource the part lacks (URAM on 7-series) must not be used at all; the margin applies to the others
    return m > 0.5 if not cap.get(r) else m + FIT_Z * s > FIT_LIMIT * cap[r]


def _worst(usage: dict, cap: dict) -> float:
    return max((m + FIT_Z * s) / cap[r] for r, (m, s) in usage.items() if cap.get(r))


def fits(usage: dict, cap: dict) -> bool:
    return not any(_over(r, m, s, cap) for r, (m, s) in usage.items())


def shortfall(usage: dict, cap: dict) -> list[str]:
    return [f"{r} needs {m:,.0f} +- {s:,.0f} > {FIT_LIMIT:.0%} of {cap[r]:,}" for r, (m, s) in usage.items()
            if _over(r, m, s, cap)]


# ----------------------------------------------------------------------------- performance

def decode_cycles_at(prog, bpc: float, keys: int, base: dict | None = None) -> dict:
    """One decode layer for a token attending `keys` keys (its position + 1). `base`: the same program's rows at
    any length, reused (only the attention step depends on the length)."""
    if base is None:
        return program_cycles(prog, 1, bpc, length=keys)
    att = next(s for s in prog.steps if s.kind == "attention_decode")
    row = step_cycles(att, 1, bpc, length=keys)
    old = next(r for r in base["steps"] if r["kind"] == "attention_decode")
    return {**base, "cycles_sequential": base["cycles_sequential"] - old["cycles"] + row["cycles"],
            "kv_bytes": row["kv_bytes"]}


def evaluate(cfg: BitNetConfig, t: Target, host: Host, progs: dict, context: int, prompt: int, M_max: int,
             clock: float, lm_head_bits: int) -> dict:
    """Decode at `context`, prefill + TTFT of `prompt` tokens, all at `clock` MHz."""
    layers = cfg.num_hidden_layers
    bpc = bytes_per_cycle(t.mem_bw_gbps, clock)
    dec = program_cycles(progs["decode"], 1, bpc, length=context)
    hs = host_seconds(cfg, host, lm_head_bits)
    layer_s = dec["cycles_sequential"] * layers / (clock * 1e6)
    decode_s = layer_s + hs["total_s"]
    # prefill: one call of up to M_max tokens from position 0 (the prefill attention starts every call at 0);
    # the prompt's tokens beyond M_max go through the engine as decode steps (what the hardware can do)
    first = min(prompt, M_max)
    pre = program_cycles(progs["prefill"], first, bpc, length=first, act_offchip=True)
    pre_cycles = pre["cycles_sequential"]
    extra = 0
    for p in range(first, prompt):
        extra += decode_cycles_at(progs["decode"], bpc, p + 1, dec)["cycles_sequential"]
    prefill_s = (pre_cycles + extra) * layers / (clock * 1e6)
    ttft = prefill_s + host_seconds(cfg, host, lm_head_bits, prompt)["total_s"]
    return {"clock_mhz": clock, "bytes_per_cycle": bpc, "decode": dec, "prefill": pre,
            "prefill_extra_decode_steps": prompt - first, "prefill_extra_cycles": extra,
            "decode_layer_s": layer_s, "decode_s": decode_s, "host": hs,
            "decode_tokens_per_s": 1.0 / decode_s, "decode_layers_only_tokens_per_s": 1.0 / layer_s,
            "prefill_s": prefill_s, "prefill_tokens_per_s": prompt / prefill_s, "ttft_s": ttft}


def objective_key(objective: str, perf: dict) -> tuple[float, float]:
    """(primary, secondary), larger is better."""
    if objective == "decode":
        return perf["decode_tokens_per_s"], -perf["ttft_s"]
    if objective == "prefill":
        return -perf["ttft_s"], perf["decode_tokens_per_s"]
    return math.sqrt(perf["decode_tokens_per_s"] * perf["prefill_tokens_per_s"]), -perf["ttft_s"]


def choose(cands: list[Candidate], objective: str) -> Candidate:
    ok = [c for c in cands if c.fits]
    best = max(objective_key(objective, c.perf)[0] for c in ok)
    near = [c for c in ok if objective_key(objective, c.perf)[0] >= best - TIE * abs(best)]
    return max(near, key=lambda c: (objective_key(objective, c.perf)[1], -c.usage["lut"][0]))


def rooflines(cfg: BitNetConfig, t: Target, layer_weight_bytes: float, kv_layer_bytes: float, host: Host,
              lm_head_bits: int) -> dict:
    """Tokens/s if every byte of a token moved at the board's peak bandwidth (and at peak x MEM_EFFICIENCY)."""
    layers = cfg.num_hidden_layers
    w = layer_weight_bytes * layers
    kv = kv_layer_bytes * layers
    hb = head_bytes(cfg, lm_head_bits)
    head = hb["lm_head"] + hb["embedding_row"]
    peak = t.mem_bw_gbps * 1e9
    out = {"weights_only": peak / w, "weights_kv": peak / (w + kv), "all_bytes": peak / (w + kv + head)}
    out.update({k + "_effective": v * MEM_EFFICIENCY for k, v in list(out.items())})
    return out


# ----------------------------------------------------------------------------- synthesis (budget)

def synthesize(spec_data: dict, out: Path, timeout_s: float):
    from ..flows.report import Report
    from ..flows.synth import run_synth
    from ..kernels import parse_spec
    spec = parse_spec(spec_data)
    folder = out / (spec.design_name + "_" + hashlib.sha256(canonical_json(spec_data).encode()).hexdigest()[:10])
    if (folder / "report.json").exists():
        rep = Report.read(folder / "report.json")
        if rep.status == "ok":
            return rep
    try:
        return run_synth(spec, folder, "open", timeout_s)
    except Exception as err:          # a tool crash is a recorded failure, not a traceback
        return Report(design=spec.design_name, kernel=spec.kind, status="failed", error=str(err)[-500:])


# ----------------------------------------------------------------------------- the plan

def make_plan(cfg: BitNetConfig, target: str, *, context: int = 1024, prompt: int = 64, objective: str = "decode",
              budget: int = 0, kv_bits: int = 16, synth_dir: Path | None = None, synth_timeout_s: float = 3600.0,
              model_name: str = "", pins: dict | None = None, lm_head_bits: int = DEFAULT_LM_HEAD_BITS) -> dict:
    """pins: free parameters fixed by the user ({"T": 8, "M_max": 16, "buffer_memory": "bram"}): the search
    enumerates only the rest."""
    from ..kernels import parse_spec
    t = get_target(target)
    if objective not in OBJECTIVES:
        raise UserError("objective", f"{objective!r}; allowed: {', '.join(OBJECTIVES)}")
    if not 1 <= context <= cfg.max_position_embeddings:
        raise UserError("context", f"{context}; allowed: 1..{cfg.max_position_embeddings} (max_position_embeddings)")
    if not 1 <= prompt <= context:
        raise UserError("prompt", f"{prompt}; allowed: 1..{context} (the context)")
    if not 0 <= budget <= 100:
        raise UserError("budget", f"{budget}; allowed: 0..100 kernel syntheses")
    if kv_bits not in (8, 16):
        raise UserError("kv-bits", f"{kv_bits}; allowed: 8, 16")
    if lm_head_bits not in LM_HEAD_BITS:
        raise UserError("lm-head-bits", f"{lm_head_bits}; allowed: 16, 8")
    host = HOSTS.get(target)
    if host is None:
        raise UserError("target", f"no host model for {target}; allowed: {', '.join(HOSTS)}")
    num = LayerNumerics(lin_bits=kv_bits)
    cap = t.capacity()
    space = {**SPACE, "buffer_memory": ("uram", "bram") if t.uram > 0 else ("bram",)}
    for key, value in (pins or {}).items():
        if key not in space:
            raise UserError("pin", f"{key!r} is not a free parameter; allowed: {', '.join(space)}")
        space[key] = (value,)

    # memory first: the weights (at least 5 bits per 3 trits) and the K/V cache must fit the board
    check_memory(cfg, t, host, context, kv_bits, sum(k * n for n, k in cfg.linear_shapes.values()) * 5 / 3 / 8,
                 lm_head_bits)
    cands: list[Candidate] = []
    progs_of: dict = {}
    all_specs: dict = {}
    rejected: list[str] = []
    for T, Q, M, dl, pl in itertools.product(*(space[k] for k in ("T", "Q", "M_max", "dec_lanes", "pre_lanes"))):
        for buf in space["buffer_memory"]:
            c = Candidate(T, Q, M, buf, dl, pl)
            try:
                progs = programs(cfg, num, c.params, M, context)
                c.engine = engine_specs(progs, target)
                for specs in c.engine.values():
                    for s in specs:
                        parse_spec(s)
            except UserError as err:
                rejected.append(str(err))
                continue                  # a parameter combination the kernels reject
            progs_of[(T, Q, M, buf, dl, pl)] = progs
            for specs in c.engine.values():
                for s in specs:
                    all_specs[canonical_json(s)] = s
            cands.append(c)
    if not cands:
        raise UserError("target", f"no layer design of this model is valid on {target}"
                                  + (f" with {pins}" if pins else "") + f" (the kernels say: {rejected[0]})")
    # weight bytes per layer: the packed streams (the same for every candidate with G = 3 ... up to padding)
    preds = predict_all(all_specs)
    for c in cands:
        engine_usage(c, preds)
        c.fits = fits(c.usage, cap)
    if not any(c.fits for c in cands):
        least = min(cands, key=lambda c: _worst(c.usage, cap))
        raise UserError("target", f"{target} is too small for any layer design of this model: the smallest "
                                  f"({least.label}) {'; '.join(shortfall(least.usage, cap))}")

    clock = t.default_clock_mhz
    perf_cache: dict = {}

    def perf_of(c: Candidate, clk: float) -> dict:
        key = (c.T, c.Q, c.M_max, c.dec_lanes, c.pre_lanes, clk)
        if key not in perf_cache:
            perf_cache[key] = evaluate(cfg, t, host, progs_of[(c.T, c.Q, c.M_max, c.buffer_memory, c.dec_lanes,
                                                               c.pre_lanes)], context,
                                       prompt, c.M_max, clk, lm_head_bits)
        return perf_cache[key]

    # every candidate is ranked at its own achieved clock (predicted Fmax of its GNN kernels, then synthesized)
    synth_log, observed = [], {}
    for c in cands:
        if c.fits:
            c.perf = perf_of(c, achieved_clock(clock, c, preds, observed))

    # synthesis budget: the chosen design's engine kernels, largest predicted LUT first; observed reports replace
    # the predictions (a design that stops fitting hands the rest of the budget to the next best)
    left = budget
    while left > 0:
        best = choose(cands, objective)
        todo = [s for kind in sorted(best.engine, key=lambda k: -best.kernels[k]["usage"]["lut"][0])
                for s in best.engine[kind] if canonical_json(s) not in observed]
        if not todo:
            break
        spec = todo[0]
        rep = synthesize(spec, Path(synth_dir or "build/plan_synth"), synth_timeout_s)
        left -= 1
        observed[canonical_json(spec)] = rep
        synth_log.append({"design": rep.design, "kind": spec["kind"], "status": rep.status,
                          "fmax_mhz_est": rep.fmax_mhz_est, "runtime_s": rep.runtime_s,
                          "resources": rep.resources.model_dump() if rep.status == "ok" else None,
                          "error": rep.error})
        if rep.status == "ok":
            r = rep.resources
            preds[canonical_json(spec)] = {"res": {"lut": (float(r.lut), 0.0), "lutram": (float(r.lutram), 0.0),
                                                   "ff": (float(r.ff), 0.0), "dsp": (float(r.dsp), 0.0),
                                                   "bram36": (float(r.bram36), 0.0), "uram": (float(r.uram), 0.0)},
                                           "source": "open-flow synthesis (Yosys)", "synth": True}
            for c in cands:
                engine_usage(c, preds)
                c.fits = fits(c.usage, cap)
                if c.fits:
                    c.perf = perf_of(c, achieved_clock(clock, c, preds, observed))
            if not any(c.fits for c in cands):
                least = min(cands, key=lambda c: _worst(c.usage, cap))
                raise UserError("target", f"{target} is too small for any layer design of this model after synthesis: "
                                          f"{'; '.join(shortfall(least.usage, cap))}")
    best = choose(cands, objective)
    synth_f, pred_f = engine_fmax(best, preds, observed)
    n_engine = sum(len(v) for v in best.engine.values())
    if synth_f or pred_f:
        clock = achieved_clock(t.default_clock_mhz, best, preds, observed)
        parts = ([f"{len(synth_f)} synthesized"] if synth_f else []) + (
            [f"{len(pred_f)} predicted (GNN, conservative: crit_ns 1 sigma above its mean; the kernel's structural "
             "delay-model estimate for kernels outside the GNN's training range)"] if pred_f else [])
        clock_source = (f"min(target clock {t.default_clock_mhz:g}, lowest Fmax estimate {min(synth_f + pred_f):.0f} "
                        f"of the engine kernels' estimates: {' + '.join(parts)} of {n_engine}; a synthesized "
                        f"kernel's report replaces its prediction) MHz")
    else:
        clock_source = (f"target clock {t.default_clock_mhz:g} MHz: no Fmax estimate for the chosen kernels (budget "
                        f"{budget}{', none of the chosen kernels synthesized' if budget else ''}; the surrogate "
                        "model has no timing heads or the kinds are not GNN-predicted)")
    perf = perf_of(best, clock)
    memory = check_memory(cfg, t, host, context, kv_bits, perf["decode"]["weight_bytes"], lm_head_bits)
    generated = generated_usage(progs_of[(best.T, best.Q, best.M_max, best.buffer_memory, best.dec_lanes,
                                          best.pre_lanes)], target, preds, cap)
    return assemble(cfg, t, host, best, perf, cands, objective, context, prompt, budget, kv_bits, num, memory,
                    clock_source, synth_log, cap, model_name, pins, generated, lm_head_bits)


def generated_usage(progs: dict, target: str, preds: dict, cap: dict) -> dict:
    """What `hwgen llm generate` writes today: one kernel project per distinct step design (the kernels' shapes
    are compile-time parameters), both chains. If all were instantiated side by side, this is their sum."""
    from ..kernels import parse_spec
    designs = {}
    for prog in progs.values():
        for s in prog.steps:
            spec = {**s.spec, "target": target, "name": f"eng_{s.kind}"}
            designs[canonical_json(parse_spec(spec).identity())] = spec
    new = {canonical_json(s): s for s in designs.values() if canonical_json(s) not in preds}
    preds.update(predict_all(new) if new else {})
    total = {r: [0.0, 0.0] for r in RESOURCES}
    for s in designs.values():
        for r, (m, sd) in kernel_usage(preds[canonical_json(s)]["res"]).items():
            total[r][0] += m
            total[r][1] += sd
    usage = {r: tuple(v) for r, v in total.items()}
    return {"designs": len(designs), "used": {r: round(m) for r, (m, _) in usage.items()}, "fits": fits(usage, cap),
            "note": "one instance per distinct design, as generated today (compile-time K/N); the plan's figure "
                    "assumes one engine per kind serving every shape (runtime shapes: not built yet)"}


def assemble(cfg, t, host, best, perf, cands, objective, context, prompt, budget, kv_bits, num, memory,
             clock_source, synth_log, cap, model_name, pins, generated, lm_head_bits) -> dict:
    layers = cfg.num_hidden_layers
    dec, pre = perf["decode"], perf["prefill"]
    wl, kvl = dec["weight_bytes"], dec["kv_bytes"]
    hb = head_bytes(cfg, lm_head_bits)
    roof = rooflines(cfg, t, wl, kvl, host, lm_head_bits)
    # a plan that beats the memory roofline is a bug, never a result
    assert perf["decode_tokens_per_s"] <= roof["all_bytes"] * (1 + 1e-9), (perf["decode_tokens_per_s"], roof)
    assert perf["decode_layers_only_tokens_per_s"] <= roof["weights_kv_effective"] * (1 + 1e-9), (perf, roof)
    # the host cannot read the LM head faster than its stated bandwidth
    assert perf["host"]["lm_head_s"] * host.read_gbps * 1e9 >= hb["lm_head"] * (1 - 1e-9), (perf["host"], hb)
    clk = perf["clock_mhz"]

    def kinds(rows, scale):
        out: dict[str, float] = {}
        for r in rows:
            out[r["kind"]] = out.get(r["kind"], 0.0) + r["cycles"] * scale / (clk * 1e6)
        return out

    usage = {r: {"mean": round(m, 1), "std": round(s, 1), "capacity": cap[r],
                 "utilization_pct": round(100 * m / cap[r], 1) if cap[r] else None,
                 "limit_pct": FIT_LIMIT * 100} for r, (m, s) in best.usage.items()}
    tl_engine = best.engine["tlmm"][0]
    from ..kernels import get, parse_spec
    tm = get("tlmm").model(parse_spec(tl_engine))
    plan = {
        "format": FORMAT,
        "model": {"name": model_name, **{k: getattr(cfg, k) for k in (
            "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "hidden_act", "vocab_size", "max_position_embeddings", "rope_theta", "rms_norm_eps",
            "tie_word_embeddings")}},
        "target": t.name, "board": t.board, "context": context, "prompt": prompt, "objective": objective,
        "budget": budget, "pins": pins or {},
        "budget_note": ("surrogate only: resources predicted (GNN for the kinds it was trained on, analytical for the rest), "
                        "no synthesis" if not synth_log else
                        f"{len(synth_log)} open-flow syntheses of the chosen engine's kernels (Yosys)"),
        "decode_tokens_per_s": perf["decode_tokens_per_s"],
        "decode_layers_only_tokens_per_s": perf["decode_layers_only_tokens_per_s"],
        "prefill_tokens_per_s": perf["prefill_tokens_per_s"],
        "ttft_s": perf["ttft_s"],
        "roofline_tokens_per_s": roof["all_bytes"],
        "rooflines": {k: v for k, v in roof.items()},
        "weight_bytes_per_token": wl * layers + hb["lm_head"],
        "bytes_per_token": {"layer_weights": wl * layers, "kv_cache": kvl * layers, "lm_head": hb["lm_head"],
                            "embedding_row": hb["embedding_row"]},
        "clock_mhz": clk, "clock_source": clock_source,
        "memory_efficiency": MEM_EFFICIENCY, "bytes_per_cycle": perf["bytes_per_cycle"],
        "schedule": {"kind": "sequential", "text": SCHEDULE_TEXT,
                     "decode_cycles_per_layer": dec["cycles_sequential"],
                     "decode_cycles_per_layer_overlapped_bound": dec["cycles_overlapped"],
                     "decode_memory_floor_cycles_per_layer": dec["memory_floor_cycles"]},
        "design": {"kernel_params": best.params, "numerics": num.model_dump(exclude_none=True),
                   "L_max": context, "M_max": best.M_max,
                   "engine": {kind: {"specs": specs, "source": best.kernels[kind]["source"],
                                     "synthesized": best.kernels[kind]["synthesized"],
                                     "usage": {r: [round(m, 1), round(s, 1)] for r, (m, s) in
                                               best.kernels[kind]["usage"].items()}}
                              for kind, specs in best.engine.items()}},
        "resources": {"used": usage, "fits": best.fits, "fit_rule": f"mean + {FIT_Z:g} sigma <= {FIT_LIMIT:.0%} of "
                      "every resource (LUT counts logic + LUTRAM); one engine instance per kernel kind, the max over "
                      "the shapes it serves (the TLMM sized for the layer's largest K and N)",
                      "synthesis": synth_log, "generated_designs": generated},
        "memory": {**memory,
                   "weight_layout": {"format": "TLMM index words, G=3 trits per 5-bit field (digit = w + 1, base 3), "
                                               f"T={tm.T} fields per {tm.word_bits}-bit word, Q={best.Q} words per "
                                               "s_axis_w beat, chunk major then column block then lane: the "
                                               "streaming TLMM's own order (docs/tlmm_stream.md)",
                                     "bytes_per_layer": wl, "bits_per_weight": tm.field_bits / tm.G},
                   "kv_cache": {"format": f"int{kv_bits} k after RoPE and v, [pos, kv_heads, head_dim] per layer",
                                "bytes_per_token_all_layers": kv_bytes_per_token(cfg, kv_bits),
                                "bytes_per_layer_at_context": kvl}},
        "host": {**asdict(host), "decode": perf["host"],
                 "note": "BitNet's lm_head is a float (bf16) linear, not ternary: no TLMM can run it; embedding "
                         "lookup and LM head run on the host, included in every tokens/s figure"},
        "lm_head": {"bits": lm_head_bits, "format": LM_HEAD_FORMAT[lm_head_bits],
                    "bytes_per_token": hb["lm_head"], "seconds_per_token": perf["host"]["lm_head_s"],
                    "embedding_table_bytes": hb["embedding_table"],
                    "accuracy": "docs/llm_plan.md (greedy tokens and logits, int8 against the float head and "
                                "transformers)"},
        "breakdown": {
            "decode_per_layer": [{k: r.get(k) for k in ("step", "kind", "cycles", "weight_bytes", "kv_bytes",
                                                         "memory_bound")} for r in dec["steps"]],
            "decode_seconds_per_token": {**{k: v for k, v in kinds(dec["steps"], layers).items()},
                                         "host_lm_head": perf["host"]["lm_head_s"],
                                         "host_embedding_link": perf["host"]["embedding_s"] + perf["host"]["link_s"]},
            "prefill_per_layer": [{k: r.get(k) for k in ("step", "kind", "cycles", "weight_bytes", "act_bytes",
                                                          "memory_bound")} for r in pre["steps"]],
            "prefill_seconds": {**kinds(pre["steps"], layers),
                                "decode_steps_beyond_M_max": perf["prefill_extra_cycles"] * layers / (clk * 1e6)},
            "prefill_tokens_in_first_call": min(prompt, best.M_max),
        },
        "candidates": {"evaluated": len(cands), "fit": sum(c.fits for c in cands),
                       "top": [{"design": c.label, "decode_tokens_per_s": round(c.perf["decode_tokens_per_s"], 2),
                                "ttft_s": round(c.perf["ttft_s"], 4), "lut": round(c.usage["lut"][0]),
                                "uram": round(c.usage["uram"][0]), "bram36": round(c.usage["bram36"][0], 1)}
                               for c in sorted([c for c in cands if c.fits],
                                               key=lambda c: objective_key(objective, c.perf), reverse=True)[:6]]},
    }
    return plan


# ----------------------------------------------------------------------------- outputs

def write_plan(plan: dict, out: Path) -> Path:
    from ..render import atomic_folder
    out = Path(out)
    with atomic_folder(out) as staging:
        (staging / "plan.json").write_text(json.dumps(plan, indent=1, default=float))
        (staging / "plan.md").write_text(plan_markdown(plan))
        plot_plan(plan, staging / "plan.png")
    return out


def plan_markdown(p: dict) -> str:
    m, r = p["model"], p["rooflines"]
    lines = [f"# Plan: {m['name'] or 'BitNet'} on {p['board']} ({p['target']})", "",
             f"Context {p['context']}, prompt {p['prompt']}, objective {p['objective']}, budget {p['budget']} "
             f"({p['budget_note']}). Clock {p['clock_mhz']:g} MHz: {p['clock_source']}.", "",
             "| figure | value |", "|---|---:|",
             f"| decode tok/s at context {p['context']} (LM head included) | {p['decode_tokens_per_s']:.1f} |",
             f"| decode tok/s, decoder layers only | {p['decode_layers_only_tokens_per_s']:.1f} |",
             f"| prefill tok/s ({p['prompt']} tokens) | {p['prefill_tokens_per_s']:.1f} |",
             f"| TTFT ({p['prompt']} tokens) s | {p['ttft_s']:.3f} |",
             f"| roofline tok/s, all bytes (layers + K/V + LM head) at peak | {r['all_bytes']:.1f} |",
             f"| roofline tok/s, layer weights + K/V at peak | {r['weights_kv']:.1f} |",
             f"| roofline tok/s, layer weights only at peak | {r['weights_only']:.1f} |",
             f"| weight bytes per token (layers + LM head) MB | {p['weight_bytes_per_token'] / 1e6:.1f} |",
             f"| LM head on the host ({p['lm_head']['bits']}-bit): MB per token / ms per token | "
             f"{p['lm_head']['bytes_per_token'] / 1e6:.1f} / {1e3 * p['lm_head']['seconds_per_token']:.2f} |",
             f"| K/V bytes per token at context MB | {p['bytes_per_token']['kv_cache'] / 1e6:.1f} |", "",
             f"Design: {json.dumps(p['design']['kernel_params']['tlmm'])}, K/V int{p['design']['numerics']['lin_bits']}. "
             f"Schedule: {p['schedule']['text']}", "",
             "| resource | used (mean +- std) | capacity | % | limit % |", "|---|---:|---:|---:|---:|"]
    for res, u in p["resources"]["used"].items():
        lines.append(f"| {res} | {u['mean']:,.0f} +- {u['std']:,.0f} | {u['capacity']:,} | {u['utilization_pct']} | "
                     f"{u['limit_pct']:.0f} |")
    g = p["resources"]["generated_designs"]
    lines += ["", f"Fits: {p['resources']['fits']} ({p['resources']['fit_rule']}). As generated today "
              f"({g['designs']} distinct kernel designs, one instance each): "
              + ", ".join(f"{k} {v:,}" for k, v in g["used"].items()) + f", fits: {g['fits']} ({g['note']}).", "",
              "| engine kernel | source | LUT | DSP | BRAM36 | URAM |", "|---|---|---:|---:|---:|---:|"]
    for kind, e in p["design"]["engine"].items():
        u = e["usage"]
        lines.append(f"| {kind} | {e['source']} | {u['lut'][0]:,.0f} | {u['dsp'][0]:,.0f} | {u['bram36'][0]:g} | "
                     f"{u['uram'][0]:g} |")
    lines += ["", "Decode time per token (s):", "", "| part | seconds | share |", "|---|---:|---:|"]
    dt = p["breakdown"]["decode_seconds_per_token"]
    tot = sum(dt.values())
    for k, v in sorted(dt.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {k} | {v:.5f} | {100 * v / tot:.1f} % |")
    h = p["host"]
    lines += ["", f"Host: {h['name']}: {h['why']}. LM head: {p['lm_head']['format']}.", "",
              f"Memory: {p['memory']['total_bytes'] / 1e9:.3f} GB of {p['memory']['usable_bytes'] / 1e9:.2f} GB usable "
              f"({p['memory']['capacity_desc']}); weights: {p['memory']['weight_layout']['format']}; K/V cache: "
              f"{p['memory']['kv_cache']['format']}, {p['memory']['kv_where']}."]
    return "\n".join(lines) + "\n"


def plot_plan(p: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"wspace": 0.75})
    dt = p["breakdown"]["decode_seconds_per_token"]
    pt = {**p["breakdown"]["prefill_seconds"], "host_lm_head": p["host"]["decode"]["lm_head_s"]}
    keys = sorted(set(dt) | set(pt), key=lambda k: -(dt.get(k, 0) + pt.get(k, 0)))
    left = [0.0, 0.0]
    for i, k in enumerate(keys):
        vals = [1e3 * dt.get(k, 0.0), 1e3 * pt.get(k, 0.0)]
        a1.barh([0, 1], vals, left=left, label=k, color=plt.cm.tab20(i % 20))
        left = [l + v for l, v in zip(left, vals)]
    a1.set_yticks([0, 1], [f"decode token\n(context {p['context']})", f"TTFT\n({p['prompt']} tokens)"])
    a1.set_xlabel("milliseconds")
    a1.set_title("where the time goes")
    a1.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    # roofline: tokens/s against bytes per token; the bandwidth line tok/s = BW / bytes
    bw = p["bytes_per_token"]
    tot = sum(bw.values())
    xs = [tot * f for f in (0.2, 0.5, 1, 2, 5)]
    peak = p["rooflines"]["all_bytes"] * tot
    a2.loglog([x / 1e6 for x in xs], [peak / x for x in xs], "k-", label="peak bandwidth")
    a2.loglog([x / 1e6 for x in xs], [p["memory_efficiency"] * peak / x for x in xs], "k--",
              label=f"x {p['memory_efficiency']} efficiency")
    a2.plot([tot / 1e6], [p["decode_tokens_per_s"]], "ro", label="this plan (decode)")
    a2.plot([(bw["layer_weights"] + bw["kv_cache"]) / 1e6], [p["decode_layers_only_tokens_per_s"]], "bs",
            label="decoder layers only")
    a2.plot([bw["layer_weights"] / 1e6], [p["rooflines"]["weights_only"]], "g^", label="weight-only roofline")
    a2.set_xlabel("off-chip bytes per token (MB)")
    a2.set_ylabel("tokens / s")
    a2.set_title(f"roofline, {p['target']}")
    a2.legend(fontsize=7)
    fig.suptitle(f"{p['model']['name']} on {p['target']}: {p['decode_tokens_per_s']:.1f} tok/s decode, "
                 f"TTFT {p['ttft_s']:.3f} s")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
