"""Cycles and off-chip bytes of one BitNet decoder layer, from the kernels' own cycle models (each exact against
RTL cosim; tests/test_llm.py checks every kernel of a layer): the accounting `bench/layer_perf.py` and the plan
(`hwgen/llm/plan.py`) share.

Schedule: **sequential**, each kernel starts when the previous one has finished, which is how the generated
layer runs (a chain of kernel projects). Within a kernel, weight and K/V streams overlap its compute: a streaming
TLMM's cycles come from its own stream schedule at the given bandwidth; the decode attention cannot beat the
K/V bytes it reads divided by the bandwidth. `overlapped` is only the bound a dataflow top would reach (the
slowest kernel plus the others' latencies, never below the memory floor); nothing generated today reaches it.

Memory: bandwidth in bytes per cycle = the board's peak bandwidth x MEM_EFFICIENCY / clock.
"""
from __future__ import annotations

import math
from functools import lru_cache

from ..kernels import get, parse_spec
from ..spec import canonical_json

# Sustained fraction of the peak off-chip bandwidth a streaming reader gets. Manchester et al. (FPT'19,
# "Unexpected Diversity: Quantitative Memory Analysis for Zynq UltraScale+ Systems") measured 75 % of the
# theoretical PL-to-DDR4 throughput on a ZCU102 (the KV260's PS DDR controller) and 92.5 % on an Ultra96; 0.8
# sits between them and is what bench/layer_perf.py has always used. Applied to HBM too (not measured here).
MEM_EFFICIENCY = 0.8


def bytes_per_cycle(mem_bw_gbps: float, clock_mhz: float, efficiency: float = MEM_EFFICIENCY) -> float:
    return mem_bw_gbps * 1e9 * efficiency / (clock_mhz * 1e6)


def _act_bytes(kernel, spec, perf, tokens: int) -> float:
    """Activation bytes a step reads and writes for `tokens` tokens (its data ports, weights and K/V excluded)."""
    skip = {"w", "w_per_token", "par", "k", "v"}
    per_unit = sum(v for k, v in perf.bytes.items() if k not in skip)
    if perf.unit == "token":
        return per_unit * tokens
    m = kernel.model(spec)
    full = getattr(m, "M_max", None) or getattr(m, "len_max", None) or 1
    return per_unit * tokens / full


@lru_cache(maxsize=4096)
def _stream_cycles(identity: str, tokens: int, bpc: float) -> dict:
    """The streaming TLMM's cycle model, memoized: a plan asks the same shapes many times."""
    import json
    spec = parse_spec(json.loads(identity))
    return get(spec.kind).stream_cycles(spec, tokens, bpc, calls=1)


def step_cycles(step, tokens: int, bpc: float, length: int | None = None, act_offchip: bool = False) -> dict:
    """Cycles of one layer step for `tokens` tokens at `bpc` bytes per cycle.

    length: the attention's runtime length (decode: keys attended, the token's position + 1; prefill: the call's
    tokens); default its spec's maximum. act_offchip: the step's input/output activations go through off-chip
    memory (prefill calls, whose tensors do not fit on chip), so it cannot be faster than those bytes."""
    kernel, spec = get(step.kind), parse_spec(step.spec)
    perf = kernel.performance(spec)
    row = {"step": step.name, "kind": step.kind, "weight_bytes": 0.0, "kv_bytes": 0.0, "act_bytes": 0.0,
           "latency": perf.latency_cycles}
    if getattr(kernel, "streaming", None) and kernel.streaming(spec):
        sc = _stream_cycles(canonical_json(spec.identity()), tokens, bpc)
        row.update(cycles=sc["total_cycles"], compute_cycles=sc["compute_cycles"], memory_cycles=sc["memory_cycles"],
                   memory_bound=sc["memory_bound"], weight_bytes=sc["weight_bytes_per_call"])
    elif perf.unit == "token":
        row["cycles"] = perf.latency_cycles + (tokens - 1) * perf.ii
    else:                                   # attention: one call at its runtime length
        m = kernel.model(spec)
        L = length or m.len_max
        row["cycles"] = kernel.call_cycles(m, L)
        if step.kind == "attention_decode":
            # the K/V cache streams from off-chip memory: the sweep cannot beat the bandwidth
            kv = kernel.memory_bytes(m, L)
            row["kv_bytes"] = float(kv)
            row["memory_cycles"] = round(kv / bpc)
            row["memory_bound"] = row["memory_cycles"] > row["cycles"]
            row["cycles"] = max(row["cycles"], row["memory_cycles"])
    if act_offchip:
        row["act_bytes"] = _act_bytes(kernel, spec, perf, tokens)
        act_cycles = math.ceil((row["act_bytes"] + row["weight_bytes"] + row["kv_bytes"]) / bpc)
        if act_cycles > row["cycles"]:
            row.update(cycles=act_cycles, memory_bound=True)
    return row


def program_cycles(prog, tokens: int, bpc: float, length: int | None = None, act_offchip: bool = False) -> dict:
    """One layer program (hwgen.llm.layer.layer_program) for `tokens` tokens: every step, the sequential sum, the
    overlapped bound and the memory floor (all off-chip bytes / bandwidth)."""
    rows = [step_cycles(s, tokens, bpc, length, act_offchip) for s in prog.steps]
    # a step's contract latency is at its largest unit (a TLMM call of M_max tokens): never more than this call
    lat = [min(r["latency"], r["cycles"]) for r in rows]
    seq = sum(r["cycles"] for r in rows)
    wbytes = sum(r["weight_bytes"] for r in rows)
    kv_bytes = sum(r["kv_bytes"] for r in rows)
    act_bytes = sum(r["act_bytes"] for r in rows)
    floor = (wbytes + kv_bytes + act_bytes) / bpc
    overlapped = max(max(r["cycles"] for r in rows) + sum(lat) - max(lat), round(floor))
    return {"tokens": tokens, "bytes_per_cycle": bpc, "cycles_sequential": int(seq),
            "cycles_overlapped": int(overlapped), "memory_floor_cycles": round(floor),
            "weight_bytes": wbytes, "kv_bytes": kv_bytes, "act_bytes": act_bytes, "steps": rows}


def layer_cycles(cfg, target: str, mode: str, tokens: int, L: int, eff: float, clock: float,
                 params: dict | None = None, numerics=None) -> dict:
    """bench/layer_perf.py's row: a layer built for this shape (decode: one token at context L, the TLMMs sized
    for one token; prefill: one call of `tokens` tokens) with the target's default kernel parameters."""
    from ..targets import get_target
    from .layer import LayerNumerics, kernel_params, layer_program
    t = get_target(target)
    bpc = bytes_per_cycle(t.mem_bw_gbps, clock, eff)
    prog = layer_program(cfg, None, numerics or LayerNumerics(), M_max=tokens if mode == "prefill" else 1,
                         L_max=L if mode == "decode" else max(L, tokens),
                         params=params if params is not None else kernel_params(target), mode=mode)
    res = program_cycles(prog, tokens, bpc)
    return {"mode": mode, "L": L, "clock_mhz": clock, **res, "bytes_per_cycle": round(bpc, 2),
            "us_per_layer_sequential": res["cycles_sequential"] / clock}
