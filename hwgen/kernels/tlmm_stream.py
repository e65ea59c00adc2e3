"""Weight-streaming TLMM (`kind: tlmm`, `weight_memory: stream`): the packed ternary index words arrive on the
AXI4-Stream `s_axis_w` during every call instead of living in on-chip weight banks (docs/tlmm_stream.md).

Micro-architecture (templates/tlmm/rtl/tlmm_stream.v.j2, library modules hwgen_ws_*.v):

    call of m <= M_max tokens (x's tlast marks the call's last beat; y's tlast the call's last output beat):
      X      the call's activations, m*chunks beats, go into the activation buffer (M_max*chunks chunk words)
      XR     one cycle: the activation buffer's registered read of the first chunk
      for each chunk c (weights: one chunk = nblocks*Q words = chunk_beats beats of s_axis_w, in lookup order):
        for each token t < m (prefill reuse: every weight word serves all m tokens, so the weight bytes of a
                              call do not grow with m):
          BUILD  the T tables of x[t, c] (build_cycles cycles, as the on-chip kernel)
          WAITW  (t = 0 only) until chunk c's words are all in the chunk buffer
          LOOK   nblocks cycles: Q lanes look up the chunk buffer's words, accumulate into acc[t*nblocks + nb]
        the last chunk emits the sums: token t's nblocks beats during its LOOK cycles
    Chunk buffer: per lane 2*nblocks words, two halves (double buffer). The writer fills chunk j+1 (and the
    next call's first chunks) into the free half while chunk j is looked up; a half is freed after the last
    lookup of its chunk. With the stream at one beat per cycle (chunk_beats <= m*(build+nblocks) + build - 1,
    always true for w_beat_words = Q) the lookups never wait after the first chunk.

Cycle model (`schedule`): edge-exact against the RTL and the generic test bench, both at full rate and at a
limited source rate (the test bench's duty pattern: s_axis_w may present a new beat only at cycles e with
(e*NUM mod DEN) < NUM, a presented beat is held until accepted). Edge 1 is the first data beat accepted.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from ..bits import index_bits, source_rate
from ..errors import UserError

# Memories deeper than this become block RAM (sync read either way), shallower ones distributed RAM.
LUTRAM_MAX_DEPTH = 64
XR_CYCLES = 1          # ST_XR: the activation buffer's read register takes the first chunk
LOOK_TO_Y = 3          # a LOOK cycle's sums leave on m_axis_y 3 edges later (s1 bank read, s2 acc, y register)
                       # plus the model's `pipeline` register stages


def mem_style(depth: int, deep: str = "auto") -> str:
    """LUTRAM when shallow; else block RAM, or UltraRAM when asked (`buffer_memory`)."""
    return "lutram" if depth <= LUTRAM_MAX_DEPTH else ("uram" if deep == "uram" else "bram")


def check(spec) -> None:
    if spec.weight_memory != "stream":
        if spec.w_beat_words:
            raise UserError("w_beat_words", "only used with weight_memory: stream; leave it 0")
        if spec.buffer_memory != "auto":
            raise UserError("buffer_memory", "only used with weight_memory: stream; leave it auto")
        return
    if spec.buffer_memory == "uram" and spec.target_info.uram == 0:
        raise UserError("buffer_memory", f"target {spec.target} has no URAM; allowed: auto, bram")
    wb = spec.w_beat_words or spec.Q
    if spec.Q % wb:
        divisors = [d for d in range(1, spec.Q + 1) if spec.Q % d == 0]
        raise UserError("w_beat_words", f"{spec.w_beat_words} does not divide Q={spec.Q}; allowed: 0 (=Q), "
                                        f"{', '.join(map(str, divisors))}")


def next_allowed(e: int, num: int, den: int) -> int:
    """The first edge >= e at which a source of NUM/DEN beats per cycle may present a beat."""
    r = (e * num) % den
    return e if r < num else e + -(-(den - r) // num)


def schedule(m, calls: Sequence[int], rate: Optional[tuple[int, int]] = None) -> dict:
    """Edge-exact timeline of back-to-back calls of `calls[i]` tokens, s_axis_w at `rate` = (NUM, DEN) beats
    per cycle (None: a beat every cycle), x at full rate, y always ready. Edge 1 = the first data beat accepted
    (x and w both start there). Returns the last-LOOK edge of every chunk, the edge of every call's last y beat,
    the edge the lookups waited for weights in total, and the last w beat's edge."""
    C, NB, B, Lc = m.chunks, m.nblocks, m.build_cycles, m.chunk_beats
    num, den = rate if rate is not None else (1, 1)
    full = num >= den
    E: list[int] = []
    y_last: list[int] = []
    f = 0                     # fire edge of the previous w beat (0: none yet)
    x_first = 1
    waited = 0
    for mt in calls:
        b = x_first + mt * C - 1 + 1 + XR_CYCLES          # the first BUILD edge of the call
        for _ in range(C):
            j = len(E)
            ready = E[j - 2] + 1 if j >= 2 else 1           # the chunk's half is free from this edge
            if full:
                f = max(f + 1, ready) + Lc - 1
            else:
                for _ in range(Lc):
                    f = max(next_allowed(f, num, den) + 1, ready)
            look = max(b + B, f + 2)                        # WAITW until the half is full (seen one edge late)
            waited += look - (b + B)
            e = look + NB - 1 + (mt - 1) * (B + NB)
            E.append(e)
            b = e + 1
        y_last.append(E[-1] + LOOK_TO_Y + m.pipeline)
        x_first = E[-1] + 1
    return {"chunk_end": E, "y_last": y_last, "weight_wait": waited, "w_last": f}


def call_cycles(m, calls: Sequence[int], rate=None) -> tuple[int, Optional[int]]:
    """(latency of the first call, interval to the second call's last beat or None)."""
    y = schedule(m, calls, rate)["y_last"]
    return y[0], (y[1] - y[0]) if len(y) > 1 else None


def compute_cycles(m, tokens: int) -> int:
    """Table builds and lookups of one call of `tokens` tokens (no weight waits, no activation load)."""
    return m.chunks * tokens * (m.build_cycles + m.nblocks)


def call_bytes(m) -> float:
    """Weight payload bytes of one call (any m): every packed index word once."""
    return m.call_beats * m.w_beat_bits / 8


def stream_cycles(kernel, spec, m_tokens: int, bytes_per_cycle: Optional[float] = None, calls: int = 3) -> dict:
    """The cycle model of `calls` back-to-back calls of `m_tokens` tokens with s_axis_w delivering
    `bytes_per_cycle` (None: one beat per cycle), exact against cosim with `--rate w=<bytes_per_cycle>`.

    latency_cycles: first data beat -> the first call's last y beat; ii: between the last y beats of calls 1 and
    2; steady_ii: calls 2 -> 3; memory_bound: the weight stream, not the lookups, sets the pace
    (memory_cycles = bytes / bandwidth > compute_cycles per call)."""
    m = kernel.model(spec)
    if not 1 <= m_tokens <= m.M_max:
        raise UserError("m_tokens", f"{m_tokens} is outside 1..{m.M_max} (M_max)")
    rate = None if bytes_per_cycle is None else source_rate(bytes_per_cycle, m.w_beat_bits)
    num, den = rate or (1, 1)
    sched = schedule(m, [m_tokens] * max(1, calls), rate)
    y = sched["y_last"]
    wbytes = call_bytes(m)
    beat_bytes = m.w_beat_bits / 8
    bpc = beat_bytes * num / den                       # the bandwidth the test bench realises
    compute = compute_cycles(m, m_tokens)
    memory = wbytes / bpc
    return {
        "m_tokens": m_tokens, "calls": len(y), "rate_beats_per_cycle": f"{num}/{den}",
        "bytes_per_cycle": bpc,
        "latency_cycles": y[0], "ii": y[1] - y[0] if len(y) > 1 else None,
        "steady_ii": y[2] - y[1] if len(y) > 2 else None, "total_cycles": y[-1],
        "compute_cycles": compute, "x_load_cycles": m_tokens * m.chunks + XR_CYCLES,
        "memory_cycles": memory, "memory_bound": memory > compute,
        "weight_bytes_per_call": wbytes, "weight_bytes_per_token": wbytes / m_tokens,
        # the bandwidth at which the weight stream keeps pace with the lookups
        "balance_bytes_per_cycle": wbytes / compute,
        "weight_wait_cycles": sched["weight_wait"],
    }


# ----------------------------------------------------------------------------- streams

def stream_beats(kernel, spec, inputs) -> dict:
    m = kernel.model(spec)
    words = kernel.weight_words(spec, inputs["w"])            # [chunks*nblocks*Q, T], lookup order
    beats = words.reshape(m.call_beats, m.beat_words * m.T).tolist()
    x = inputs["x"]
    xp = np.zeros((x.shape[0], m.K_pad), dtype=np.int64)
    xp[:, : spec.K] = x
    chunks = xp.reshape(-1, m.chunk).tolist()
    sizes = call_sizes(spec, x.shape[0])
    ends = set(np.cumsum([s * m.chunks for s in sizes]) - 1)
    w = []
    for _ in sizes:
        w += [(int(i == m.call_beats - 1), b) for i, b in enumerate(beats)]
    return {"w": w, "x": [(int(i in ends), c) for i, c in enumerate(chunks)]}


def call_sizes(spec, tokens: int) -> list[int]:
    return [min(spec.M_max, tokens - s) for s in range(0, tokens, spec.M_max)]


def index_widths(m) -> dict:
    """Counter and address widths of the stream top (render context and graph builder)."""
    return {"tw": index_bits(m.M_max), "xaw": index_bits(m.xbuf_depth), "aaw": index_bits(m.acc_depth),
            "caw": index_bits(m.wbuf_depth), "gw": index_bits(m.lanes // m.beat_words)}
