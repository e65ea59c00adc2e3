"""The kernel contract (hwgen/kernels/base.py): latency_cycles and ii mean one thing everywhere. The cycle model
(Kernel.performance) equals what cosim measures, `hwgen synth` reports it, and every measured dataset record
agrees with it. Compositions and the residual adder go through the same flows as any kernel."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.kernels import parse_spec
from hwgen.render import write_project

from .conftest import needs_gxx

ROOT = Path(__file__).resolve().parents[1]
needs_iverilog = pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed; run make setup")
needs_yosys = pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed; run make setup")

PAIR = {"kind": "composed", "name": "pair",
        "kernels": [{"kind": "tlmm", "name": "up", "K": 48, "N": 40, "G": 3, "T": 4, "Q": 4, "M_max": 8},
                    {"kind": "tlmm_naive", "name": "down", "K": 40, "N": 12, "P_k": 8, "P_n": 4, "M_max": 8}],
        "streams": [{"from": "up", "to": "down"}]}
# the consumer is the slower kernel here (ii 40 vs 12 per token), and a residual add closes the chain
CHAIN = {"kind": "composed", "name": "chain3",
         "kernels": [{"kind": "tlmm_naive", "name": "a", "K": 24, "N": 16, "P_k": 24, "P_n": 4, "M_max": 4,
                      "act_bits": 6},
                     {"kind": "tlmm", "name": "b", "K": 16, "N": 20, "G": 2, "T": 2, "Q": 1, "M_max": 4,
                      "table_style": "mirror"},
                     {"kind": "residual_add", "name": "res", "D": 20, "lanes": 8, "a_bits": 13, "b_bits": 8,
                      "out_bits": 10, "M_max": 4}],
         "streams": [{"from": "a.y", "to": "b.x", "shift": 3}, {"from": "b", "to": "res.a"}]}
RESIDUAL = {"kind": "residual_add", "name": "res_sat", "D": 37, "lanes": 8, "a_bits": 9, "b_bits": 7, "out_bits": 8,
            "M_max": 3}
ROPE = {"kind": "rope", "name": "rope_c", "heads": 2, "d": 12, "lanes": 2, "M_max": 3, "L_max": 10, "in_bits": 9,
        "in_frac": 5, "out_bits": 8, "c_bits": 10}
ROPE_SPLIT = {**ROPE, "name": "rope_split", "table": "split"}      # angle addition: 3 more pipeline stages
# two output ports (q, and the per-token scale s with the first q beat); a setup port (gamma)
RMSNORM = {"kind": "rmsnorm_quant", "name": "rms_q", "D": 20, "lanes": 4, "x_bits": 10, "x_frac": 5, "g_bits": 6,
           "g_frac": 4, "q_bits": 8, "s_frac": 16, "M_max": 3}
SMALL = [
    {"kind": "tlmm", "name": "c_tlmm", "K": 40, "N": 12, "G": 3, "T": 4, "Q": 4},
    {"kind": "tlmm_naive", "name": "c_naive", "K": 40, "N": 12, "P_k": 8, "P_n": 4},
    {"kind": "tlmm", "name": "c_tlmm_stream", "K": 40, "N": 12, "G": 3, "T": 4, "Q": 4, "M_max": 2,
     "weight_memory": "stream"},
    {"kind": "attention_decode", "name": "c_dec", "H": 2, "d": 8, "lanes": 4, "L_max": 12, "exp_index_bits": 5},
    {"kind": "attention_prefill", "name": "c_pre", "H": 2, "d": 8, "lanes": 8, "M_max": 6, "N_pe": 4,
     "exp_index_bits": 5},
    RESIDUAL, ROPE, ROPE_SPLIT, RMSNORM, PAIR,
    {"kind": "bitlinear_scale", "name": "c_bls", "N": 10, "lanes": 4, "per_channel": True, "M_max": 3},
    {"kind": "glu_act", "name": "c_glu", "act": "silu", "F": 9, "lanes": 4, "sig_index_bits": 6,
     "sig_range_log2": 3, "M_max": 3},
]


# ----------------------------------------------------------------------------- cosim = the contract = hwgen synth

@needs_iverilog
@needs_yosys
@pytest.mark.parametrize("cfg", SMALL, ids=lambda c: c["name"])
def test_synth_reports_what_cosim_measures(cfg, tmp_path, hwgen_cli):
    """`hwgen synth` (open flow) and `hwgen cosim` report the same latency_cycles (one unit) and ii (steady state)."""
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.report import Report

    path = tmp_path / "d.yaml"
    path.write_text(json.dumps(cfg))
    code, err = hwgen_cli(["synth", "--config", str(path), "--out", str(tmp_path / "syn"), "--flow", "open"])
    assert code == 0, err
    rep = Report.read(tmp_path / "syn" / "report.json")
    cos = run_cosim(tmp_path / "syn" / "project", vectors=2, seed=5, simulator="icarus")
    assert cos["pass"], cos
    assert (rep.latency_cycles, rep.ii) == (cos["latency_cycles"], cos["ii"])
    one = run_cosim(tmp_path / "syn" / "project", vectors=1, seed=5, simulator="icarus")
    assert one["pass"] and one["latency_cycles"] == rep.latency_cycles and one["ii"] is None
    perf = kernels.get(cfg["kind"]).performance(parse_spec(cfg))
    assert rep.extra["performance"]["unit"] == perf.unit and rep.extra["performance"]["macs"] == perf.macs


@needs_iverilog
@pytest.mark.parametrize("cfg", [PAIR, CHAIN], ids=["pair", "chain3"])
def test_composition_cosim_bit_exact_and_contract(cfg, tmp_path):
    """Chained golden models through the adapters' arithmetic are what the composed RTL computes; latency is the
    sum along the chain and ii the slowest member's, exactly, and back-pressure does not change the bits."""
    from hwgen.flows.cosim import run_cosim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "rtl")
    perf = kernels.get("composed").performance(spec)
    members = kernels.get("composed").members(spec)
    lats = [kernels.get(m.kind).performance(m).latency_cycles for m in members]
    iis = [kernels.get(m.kind).performance(m).ii for m in members]
    assert perf.latency_cycles == sum(lats) and perf.ii == max(iis)
    summary = run_cosim(tmp_path / "prj", vectors=3, seed=2, simulator="icarus")
    assert summary["pass"] and summary["tlast_errors"] == 0, summary
    assert (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
    stalled = run_cosim(tmp_path / "prj", vectors=5, seed=3, stall=40, simulator="icarus")
    assert stalled["pass"], stalled


@needs_gxx
@pytest.mark.parametrize("cfg", [PAIR, CHAIN, RESIDUAL, ROPE, ROPE_SPLIT, RMSNORM],
                         ids=["pair", "chain3", "residual", "rope", "rope_split", "rmsnorm"])
def test_composition_and_residual_csim(cfg, tmp_path):
    from hwgen.flows.csim import run_csim

    spec = parse_spec(cfg)
    write_project(spec, tmp_path / "prj", "hls")
    summary = run_csim(tmp_path / "prj", vectors=7, seed=4)     # more tokens than M_max: several HLS calls
    assert summary["pass"], summary


def test_composed_golden_chains_independent_arithmetic():
    """The composition's golden model against numpy written here: x @ w per matmul, the adapter's shift and wrap,
    the residual's saturating add."""
    spec = parse_spec(CHAIN)
    k = kernels.get("composed")
    inputs = k.random_inputs(spec, np.random.default_rng(0), 4)
    assert set(inputs) == {"a.x", "a.w", "b.w", "res.b"}          # fed ports take no inputs of their own
    out = k.golden(spec, inputs)

    def wrap(v, bits):
        v = v & ((1 << bits) - 1)
        return np.where(v >= 1 << (bits - 1), v - (1 << bits), v)

    ya = inputs["a.x"] @ inputs["a.w"]
    yb = wrap(ya >> 3, 8) @ inputs["b.w"]
    acc_b = kernels.get("tlmm").model(kernels.get("composed").members(spec)[1]).acc_bits
    want = np.clip(wrap(yb >> (acc_b - 13), 13) + inputs["res.b"], -512, 511)
    np.testing.assert_array_equal(out["res_y"], want)


def test_composition_errors_name_the_field():
    bad_dims = {**PAIR, "kernels": [PAIR["kernels"][0], {**PAIR["kernels"][1], "K": 24}]}
    with pytest.raises(UserError) as e:
        parse_spec(bad_dims)
    assert e.value.field == "streams[0]" and "must match" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({**PAIR, "streams": [{"from": "up.q", "to": "down"}]})
    assert e.value.field == "streams[0].from" and "allowed: up.y" in e.value.message
    with pytest.raises(UserError) as e:
        parse_spec({**PAIR, "kernels": [PAIR["kernels"][0], {**PAIR["kernels"][1], "P_k": 0}]})
    assert e.value.field == "kernels[1].P_k"
    with pytest.raises(UserError) as e:
        parse_spec({**PAIR, "streams": [{"from": "up", "to": "down"}, {"from": "down", "to": "up"}]})
    assert e.value.field.startswith("streams")
    with pytest.raises(UserError) as e:
        parse_spec({**PAIR, "kernels": [PAIR["kernels"][0], {**PAIR["kernels"][1], "M_max": 4}]})
    assert e.value.field == "kernels" and "M_max" in e.value.message


# ----------------------------------------------------------------------------- stored datasets agree with the contract

@pytest.mark.parametrize("name", ["tlmm", "attention", "composed", "holdout_tlmm", "holdout_attention", "layer_kernels",
                                  "search_kv260_tlmm", "search_pynq_mixed"])
def test_stored_measurements_equal_the_contract(name):
    """Every shipped record whose cosim measured latency / ii holds exactly the kernel's performance contract."""
    from hwgen.datasets.store import load_records

    recs = [r for r in load_records(ROOT / "datasets" / name, status="ok") if r.latency_cycles is not None]
    assert recs, name
    off = []
    for r in recs:
        spec = parse_spec(r.extra["spec"])
        perf = kernels.get(spec.kind).performance(spec)
        if (r.latency_cycles, r.ii) != (perf.latency_cycles, perf.ii):
            off.append((r.design, r.kernel, r.latency_cycles, r.ii, perf.latency_cycles, perf.ii))
    assert not off, off[:5]


def test_migrate_perf_contract_is_idempotent(tmp_path, hwgen_cli):
    src = (ROOT / "datasets" / "tlmm" / "records.jsonl").read_text().splitlines()[:5]
    rows = [json.loads(line) for line in src]
    for r in rows:
        r["extra"].pop("performance", None)
        r["extra"].pop("contract", None)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, err = hwgen_cli(["dataset", "migrate", "perf-contract", "--out", str(tmp_path / "ds")])
    assert code == 0 and "records 5" in err and "already" not in err, err
    done = [json.loads(line) for line in (tmp_path / "ds" / "records.jsonl").read_text().splitlines()]
    assert all(r["extra"]["performance"]["unit"] == "token" for r in done)
    assert all(r["extra"]["contract"]["latency_exact"] in (True, None) for r in done)
    code, err = hwgen_cli(["dataset", "migrate", "perf-contract", "--out", str(tmp_path / "ds")])
    assert code == 0 and "already 5" in err, err
