"""The whole decoder layer as ONE generated top (`hwgen llm layer --top`, kind bitnet_layer): its Verilog top
cosimulated and its HLS twin C-simulated on the layer's real inputs, bit-exact against the layer golden (every
member kernel's golden model, chained), with the call's measured cycles equal to the cycle model."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from .conftest import write_decode_inputs

from hwgen.llm.testing import make_checkpoint

pytest.importorskip("torch", reason="the reference extra (torch + transformers) is not installed")
pytest.importorskip("transformers", reason="the reference extra (transformers) is not installed")


def _hwgen(*args):
    return subprocess.run([sys.executable, "-m", "hwgen", *map(str, args)], capture_output=True, text=True)


@pytest.fixture(scope="module")
def top_project(tmp_path_factory):
    """hidden 256, 4 heads / 2 K/V heads, FFN 512, relu2 (the layer tests' checkpoint), M_max 4."""
    root = tmp_path_factory.mktemp("top")
    ckpt = make_checkpoint(root / "ck", act="relu2", kv_heads=2, seed=1)
    prj = root / "prj"
    r = _hwgen("llm", "layer", "--model", ckpt, "--layer", 0, "--target", "kv260", "--out", prj, "--m-max", 4, "--top")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["top"].endswith("top")
    x = np.random.default_rng(6).standard_normal((3, 256)).astype(np.float32)
    np.savez(root / "x.npz", x=x)
    return prj, root


@pytest.mark.parametrize("flow", ["cosim", "csim"])
def test_layer_top_bit_exact_with_the_layer_golden(top_project, flow):
    prj, root = top_project
    out = root / f"y_{flow}.npy"
    r = _hwgen(flow, prj, "--inputs", root / "x.npz", "--output", out)
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["pass"] and summary["top"], (r.stdout[-2000:], r.stderr[-2000:])
    assert summary["mismatches"] == 0 and summary["rel_update_error_vs_float64"] < 0.02
    if flow == "cosim":     # the whole call, first x beat to the last y beat, is the cycle model
        assert summary["cycles"] == summary["model_cycles"] > 0, summary
    # the same output as the chain of kernel projects' golden (bit for bit)
    from hwgen.llm.layer import layer_golden
    from hwgen.llm.project import load_layer_project
    _, prog = load_layer_project(prj)
    x = np.load(root / "x.npz")["x"].astype(np.float64)
    np.testing.assert_array_equal(np.load(out), layer_golden(prog, x)["y_float"].astype(np.float32))


def test_layer_top_plan_and_errors(top_project, tmp_path):
    """Fan-out is several reads of one buffer, q|k one buffer at two offsets, RoPE's output split by two writers,
    TLMMs of one design share an instance; the cycle model is the members' own plus the glue; too many tokens is
    a one-line error."""
    from hwgen.kernels import get
    from hwgen.kernels.bitnet_layer import STAGE_GLUE
    from hwgen.render import load_project
    prj, root = top_project
    spec = load_project(prj / "top")
    k = get("bitnet_layer")
    m = k.model(spec)
    reads = {}
    for r in m.readers:
        reads.setdefault(r.buf, []).append(r.stage)
    assert len(reads["h_q"]) == 3 and len(reads["h_s"]) == 3 and len(reads["x"]) == 2 and len(reads["x1"]) == 2
    assert {w.buf for w in m.writers if w.buf == "qk_lin"} and sum(w.buf == "qk_lin" for w in m.writers) == 2
    assert {w.name for w in m.writers if w.stage == 8} == {"w8_q", "w8_k"}
    shared = {i["module"]: i["steps"] for i in m.instances if len(i["steps"]) > 1}
    assert shared["l0_q_proj"] == [1, 10] and shared["l0_gate_proj"] == [14, 16]
    perf = k.performance(spec)
    members = k.members(spec)
    total = sum((p.latency_cycles if p.unit == "call" else p.latency_cycles + 3 * p.ii) + STAGE_GLUE
                for p in (get(x.kind).performance(x) for x in members))
    assert perf.latency_cycles == total + 4 * m.x_beats - 1
    np.savez(tmp_path / "bad.npz", x=np.zeros((5, 256), np.float32))
    r = _hwgen("cosim", prj, "--inputs", tmp_path / "bad.npz")
    assert r.returncode == 2 and "M_max" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_layer_top_decode_cosim(top_project, tmp_path):
    """Decode: one token at pos 5 against a K/V cache streamed in per head group (k_cache / v_cache ports), the
    new K/V rows out on k_new / v_new; bit-exact with the layer golden, cycles = the cycle model."""
    _, root = top_project
    prj = tmp_path / "dec"
    r = _hwgen("llm", "layer", "--model", root / "ck", "--layer", 1, "--out", prj, "--mode", "decode", "--l-max", 32,
               "--top")
    assert r.returncode == 0, r.stderr
    inputs, bad = write_decode_inputs(tmp_path)
    r = _hwgen("cosim", prj, "--inputs", inputs, "--output", tmp_path / "y.npy")
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["pass"] and summary["mode"] == "decode", (r.stdout[-2000:], r.stderr[-2000:])
    assert summary["cycles"] == summary["model_cycles"] > 0 and summary["rel_update_error_vs_float64"] < 0.02
    cache = np.load(tmp_path / "y_cache.npz")
    assert cache["k_cache"].shape == (1, 2, 64)
    r = _hwgen("cosim", prj, "--inputs", bad)
    assert r.returncode == 2 and "pos" in r.stderr


@pytest.mark.slow
def test_layer_top_silu_without_gqa_cosim(tmp_path):
    """SiLU-gated FFN and 4 K/V heads for 4 heads (head_par 1: the attention's q and output use one bank), M_max
    tokens in the call: bit-exact, cycles = the cycle model."""
    ckpt = make_checkpoint(tmp_path / "silu", act="silu", kv_heads=4, seed=2)
    prj = tmp_path / "prj"
    r = _hwgen("llm", "layer", "--model", ckpt, "--layer", 0, "--out", prj, "--m-max", 4, "--top")
    assert r.returncode == 0, r.stderr
    np.savez(tmp_path / "x.npz", x=np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32))
    r = _hwgen("cosim", prj, "--inputs", tmp_path / "x.npz")
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["pass"], (r.stdout[-2000:], r.stderr[-2000:])
    assert summary["cycles"] == summary["model_cycles"] > 0 and summary["rel_update_error_vs_float64"] < 0.02


@pytest.mark.slow
def test_layer_top_under_back_pressure(tmp_path):
    """The example spec (planned from a config, random ternary weights): bit-exact with 30 % of cycles stalled on
    every input source and output sink (the stages wait; the buffers' writers count only beats taken)."""
    from pathlib import Path
    example = Path(__file__).resolve().parents[1] / "designs" / "examples" / "bitnet_layer.yaml"
    r = _hwgen("generate", "--config", example, "--out", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    r = _hwgen("cosim", tmp_path / "p", "--vectors", 3, "--stall", 30)
    summary = json.loads(r.stdout)
    assert r.returncode == 0 and summary["pass"] and summary["mismatches"] == 0, (r.stdout[-2000:], r.stderr[-2000:])
