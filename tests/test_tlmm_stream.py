"""Weight-streaming TLMM (kind tlmm, weight_memory: stream; docs/tlmm_stream.md): the same integer result as the
on-chip kernel with the weight words arriving on s_axis_w during every call; the cycle model is exact against
cosim at full weight bandwidth and at limited source rates (the test bench's per-port duty pattern)."""
import json
import shutil

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.render import write_project

from .conftest import needs_gxx

TLMM = kernels.get("tlmm")
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")

BASE = {"kind": "tlmm", "weight_memory": "stream"}
CORNERS = [   # full / mirror tables, a beat of Q words or fewer, one chunk, one column block, M_max = 1
    {**BASE, "name": "ws_a", "K": 40, "N": 12, "G": 3, "T": 4, "Q": 4, "M_max": 3},
    {**BASE, "name": "ws_b", "K": 37, "N": 10, "G": 3, "T": 3, "Q": 2, "M_max": 2, "table_style": "mirror",
     "w_beat_words": 1, "act_bits": 5},
    {**BASE, "name": "ws_c", "K": 6, "N": 3, "G": 2, "T": 3, "Q": 4, "M_max": 1, "w_beat_words": 2},
    {**BASE, "name": "ws_d", "K": 20, "N": 9, "G": 1, "T": 2, "Q": 3, "M_max": 4, "table_style": "mirror",
     "act_bits": 2},
]


def _inputs(spec, tokens, seed, pattern="random"):
    rng = np.random.default_rng(seed)
    inputs = TLMM.random_inputs(spec, rng, 1)
    lo, hi = -(1 << (spec.act_bits - 1)), (1 << (spec.act_bits - 1)) - 1
    x = rng.integers(lo, hi + 1, size=(tokens, spec.K))
    w = inputs["w"]
    if pattern == "extremes":   # |result| = K * 2^(a-1): the accumulator's bound, and zero vectors
        x[0], w = lo, -np.ones_like(w)
        if tokens > 1:
            x[1] = 0
        if tokens > 2:
            x[2] = hi
    elif pattern == "zero_w":
        w = np.zeros_like(w)
    return {"x": x, "w": w}


def _onchip(cfg):
    return parse_spec({**{k: v for k, v in cfg.items() if k != "w_beat_words"}, "weight_memory": "auto"})


def _npz(tmp_path, inputs):
    path = tmp_path / "in.npz"
    np.savez(path, x=inputs["x"], w=inputs["w"])
    return path


# ----------------------------------------------------------------------------- model, streams, golden

@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_golden_equals_float_reference_and_onchip(cfg):
    """The integer result is unchanged: golden == float64 x @ w (exact: |error| = 0) == the on-chip kernel's."""
    spec = parse_spec(cfg)
    onchip = _onchip(cfg)
    for pattern in ("random", "extremes", "zero_w"):
        inputs = TLMM.validate_inputs(spec, _inputs(spec, 2 * spec.M_max + 1, 7, pattern))
        y = TLMM.golden(spec, inputs)["y"]
        ref = inputs["x"].astype(np.float64) @ inputs["w"].astype(np.float64)
        assert np.max(np.abs(y - ref), initial=0.0) == 0.0
        np.testing.assert_array_equal(y, TLMM.golden(onchip, inputs)["y"])


@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_weight_stream_is_the_onchip_encoding_once_per_call(cfg):
    spec = parse_spec(cfg)
    onchip = _onchip(cfg)
    m = TLMM.model(spec)
    inputs = TLMM.validate_inputs(spec, _inputs(spec, 2 * spec.M_max + 1, 3))
    beats = TLMM.stream_beats(spec, inputs)
    calls = TLMM.call_plan(spec, inputs)
    assert [c[0] for c in calls] == [spec.M_max, spec.M_max, 1]
    assert len(beats["w"]) == len(calls) * m.call_beats
    words = [wd for _, wd in TLMM.stream_beats(onchip, inputs)["w"]]       # bank address major, lane minor
    fields = np.array([e for _, b in beats["w"][: m.call_beats] for e in b]).reshape(-1, m.T)
    np.testing.assert_array_equal(fields, np.array(words))
    assert [tl for tl, _ in beats["w"]].count(1) == len(calls)
    assert [i for i, (tl, _) in enumerate(beats["x"]) if tl] == [spec.M_max * m.chunks - 1,
                                                                 2 * spec.M_max * m.chunks - 1,
                                                                 (2 * spec.M_max + 1) * m.chunks - 1]
    port = {p.name: p for p in TLMM.ports(spec)}["w"]
    assert port.role == "data" and port.beat_bits == m.w_beat_bits == m.beat_words * m.word_bits


def test_bytes_state_weights_per_call_and_token():
    spec = parse_spec({**BASE, "K": 1536, "N": 1536, "M_max": 64})
    m = TLMM.model(spec)
    perf = TLMM.performance(spec)
    assert perf.unit == "call" and perf.macs == 64 * 1536 * 1536
    assert perf.bytes["w"] == m.chunks * m.nblocks * m.lanes * m.word_bits / 8 == 1536 * 1536 // 3 * 5 / 8
    assert perf.bytes["w_per_token"] == perf.bytes["w"] / 64
    for tokens in (1, 8, 64):   # the weight bytes of a call do not grow with m
        assert TLMM.stream_cycles(spec, tokens, 32.0, calls=2)["weight_bytes_per_call"] == perf.bytes["w"]
    decode, prefill = (TLMM.stream_cycles(spec, t, 16.0, calls=2) for t in (1, 64))
    assert decode["memory_bound"] and not prefill["memory_bound"]
    assert decode["balance_bytes_per_cycle"] == perf.bytes["w"] / decode["compute_cycles"]


def test_spec_errors_name_the_field():
    with pytest.raises(UserError) as e:
        parse_spec({**BASE, "Q": 6, "w_beat_words": 4})
    assert e.value.field == "w_beat_words" and "1, 2, 3, 6" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "tlmm", "w_beat_words": 2})
    assert e.value.field == "w_beat_words"
    with pytest.raises(UserError) as e:
        parse_spec({"kind": "tlmm_naive", "weight_memory": "stream"})
    assert e.value.field == "weight_memory"
    with pytest.raises(UserError) as e:
        TLMM.stream_cycles(parse_spec({**BASE, "M_max": 4}), 5)
    assert e.value.field == "m_tokens"
    pair = {"kind": "composed", "name": "p", "streams": [{"from": "a", "to": "b"}],
            "kernels": [{**BASE, "name": "a", "K": 24, "N": 12, "T": 4, "Q": 4, "M_max": 4},
                        {"kind": "tlmm", "name": "b", "K": 12, "N": 4, "T": 2, "Q": 2, "M_max": 4}]}
    with pytest.raises(UserError) as e:
        parse_spec(pair)
    assert e.value.field == "kernels" and "units" in e.value.message


def test_graph_has_stream_buffers_no_weight_banks():
    from hwgen.surrogate.features import arrays, build_ir

    spec = parse_spec(CORNERS[0])
    ir = build_ir(spec)
    types = [n["type"] for n in ir.nodes]
    assert "stream_buffer" in types and "weight_bank" not in types
    arrays(ir)                                  # the surrogate's encoding takes the new node type
    ana = ir.analytical()
    assert ana["bram36"] == 0 and ana["uram"] == 0
    assert (ana["latency_cycles"], ana["ii"]) == (TLMM.performance(spec).latency_cycles, TLMM.performance(spec).ii)


# ----------------------------------------------------------------------------- csim / cosim

@needs_gxx
@pytest.mark.parametrize("cfg", CORNERS[:3], ids=lambda c: c["name"])
def test_csim_bit_exact(cfg, tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "hls")
    inputs = _inputs(spec, 2 * spec.M_max + 1, 11, "extremes")
    summary = run_csim(tmp_path / "prj", inputs_path=_npz(tmp_path, inputs))
    assert summary["pass"] and summary["vectors"] == 3, summary
    assert run_csim(tmp_path / "prj", vectors=2, seed=1)["pass"]
    assert "warning" not in summary["compile_warnings"]


@needs_iverilog
@pytest.mark.parametrize("cfg", CORNERS, ids=lambda c: c["name"])
def test_cosim_bit_exact_and_cycle_exact(cfg, tmp_path):
    """Full rate: latency / ii == performance() (calls of M_max), the whole run (partial last call included)
    == expected_cycles; random stalls change the timing, never the bits."""
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    perf = TLMM.performance(spec)
    for pattern in ("random", "extremes"):
        inputs = _inputs(spec, 2 * spec.M_max + 1, 5, pattern)
        s = run_cosim(tmp_path / "prj", inputs_path=_npz(tmp_path, inputs), simulator="icarus")
        assert s["pass"] and s["tlast_errors"] == 0, s
        assert (s["latency_cycles"], s["ii"]) == (perf.latency_cycles, perf.ii)
        assert s["last_y"] - min(s["first_x"], s["first_w"]) + 1 == s["model_cycles"]
    stalled = run_cosim(tmp_path / "prj", vectors=3, seed=2, stall=35, simulator="icarus")
    assert stalled["pass"], stalled


RATE_CASES = [(CORNERS[0], (7.0, 1.0, 0.37, 0.1)), (CORNERS[1], (1.0, 0.3, 0.11)),
              ({**BASE, "name": "ws_e", "K": 24, "N": 16, "G": 2, "T": 4, "Q": 8, "M_max": 2, "w_beat_words": 4},
               (2.0, 1.3, 0.7))]


@needs_iverilog
@pytest.mark.parametrize("cfg,rates", RATE_CASES, ids=lambda c: c["name"] if isinstance(c, dict) else "")
def test_limited_weight_bandwidth_cycles_exact(cfg, rates, tmp_path):
    """s_axis_w limited to `rate` bytes per cycle (test-bench duty pattern): stream_cycles() is exact; the memory-
    bound verdict flips where the bandwidth falls below bytes per call / compute cycles per call."""
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    verdicts = []
    for rate in rates:
        s = run_cosim(tmp_path / "prj", vectors=3, seed=1, simulator="icarus", rates={"w": rate})
        model = TLMM.stream_cycles(spec, spec.M_max, rate, calls=3)
        assert s["pass"], s
        assert s["source_rates"]["w"] == model["rate_beats_per_cycle"]
        measured = (s["latency_cycles"], s["ii"], s["last_y"] - min(s["first_x"], s["first_w"]) + 1)
        assert measured == (model["latency_cycles"], model["ii"], model["total_cycles"]), (rate, measured, model)
        verdicts.append(model["memory_bound"])
        if model["memory_bound"]:   # memory-bound: a call takes its weight bytes / bandwidth (less one beat)
            beat_cycles = TLMM.model(spec).w_beat_bits / 8 / model["bytes_per_cycle"]
            assert model["memory_cycles"] - beat_cycles <= model["steady_ii"] <= model["memory_cycles"] + 64
        else:
            full = TLMM.stream_cycles(spec, spec.M_max, None, calls=3)
            assert model["steady_ii"] <= full["steady_ii"] + 1
    assert verdicts == sorted(verdicts) and verdicts[-1]    # compute-bound at high rates, memory-bound at the low end


@needs_iverilog
def test_cli_cosim_rate_option(tmp_path, hwgen_cli, capsys):
    cfg = tmp_path / "s.yaml"
    cfg.write_text(json.dumps(CORNERS[2]))
    code, err = hwgen_cli(["generate", "--config", str(cfg), "--out", str(tmp_path / "prj"), "--backend", "rtl"])
    assert code == 0, err
    code, err = hwgen_cli(["cosim", str(tmp_path / "prj"), "--vectors", "2", "--rate", "w=0.5"])
    assert code == 0, err
    code, err = hwgen_cli(["cosim", str(tmp_path / "prj"), "--rate", "q=1"])
    assert code == 2 and "rate" in err and "allowed: w, x" in err


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed; run make setup")
def test_cosim_verilator(tmp_path):
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(CORNERS[1])
    write_project(spec, tmp_path / "prj", "rtl")
    s = run_cosim(tmp_path / "prj", vectors=2, seed=4, simulator="verilator", rates={"w": 0.4})
    model = TLMM.stream_cycles(spec, spec.M_max, 0.4, calls=2)
    assert s["pass"] and (s["latency_cycles"], s["ii"]) == (model["latency_cycles"], model["ii"]), s


# ----------------------------------------------------------------------------- synthesis

@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")
def test_synth_no_weight_banks(tmp_path, hwgen_cli):
    """Same small matmul: the on-chip kernel keeps its weights in BRAM, the streaming one has only LUTRAM chunk /
    activation / accumulator buffers; the analytical estimate is close."""
    from hwgen.flows.report import Report
    from hwgen.surrogate.features import build_ir

    base = {"kind": "tlmm", "K": 48, "N": 32, "G": 3, "T": 4, "Q": 4, "M_max": 4}
    reps = {}
    for mem in ("bram", "stream"):
        path = tmp_path / f"{mem}.yaml"
        path.write_text(json.dumps({**base, "name": f"syn_{mem}", "weight_memory": mem}))
        code, err = hwgen_cli(["synth", "--config", str(path), "--out", str(tmp_path / mem), "--flow", "open"])
        assert code == 0, err
        reps[mem] = Report.read(tmp_path / mem / "report.json")
    onchip, stream = reps["bram"].resources, reps["stream"].resources
    assert onchip.bram36 > 0 and stream.bram36 == 0 and stream.uram == 0
    ana = build_ir(parse_spec({**base, "weight_memory": "stream"})).analytical()
    assert abs(ana["lut"] - stream.lut) <= 0.25 * stream.lut and abs(ana["ff"] - stream.ff) <= 0.25 * stream.ff
    assert ana["lutram"] == stream.lutram


def test_buffers_in_uram(tmp_path, hwgen_cli):
    """buffer_memory: uram puts the deep activation / partial-sum buffers in UltraRAM (Yosys maps them; the
    analytical estimate counts them exactly); the bits are unchanged; wrong uses name the field."""
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.report import Report
    from hwgen.surrogate.features import build_ir

    cfg = {"kind": "tlmm", "name": "syn_uram", "target": "kv260", "K": 48, "N": 32, "G": 3, "T": 4, "Q": 4,
           "M_max": 32, "weight_memory": "stream", "buffer_memory": "uram"}
    path = tmp_path / "u.yaml"
    path.write_text(json.dumps(cfg))
    code, err = hwgen_cli(["synth", "--config", str(path), "--out", str(tmp_path / "u"), "--flow", "open"])
    assert code == 0, err
    res = Report.read(tmp_path / "u" / "report.json").resources
    ana = build_ir(parse_spec(cfg)).analytical()
    assert res.uram > 0 and res.uram == ana["uram"] and res.bram36 == ana["bram36"]
    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    assert run_cosim(tmp_path / "prj", vectors=1, seed=3, simulator="icarus")["pass"]
    for bad in ({**cfg, "weight_memory": "bram"}, {**cfg, "target": "zcu102"}):
        with pytest.raises(UserError) as e:
            parse_spec(bad)
        assert e.value.field == "buffer_memory"
