"""Bit-exact C-simulation of generated HLS C++ against the golden model (g++ + hls4ml's ap_types)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from hwgen.flows.csim import run_csim
from hwgen.render import write_project
from hwgen.kernels import parse_spec

from .conftest import needs_gxx

pytestmark = needs_gxx


def random_configs(n, seed=2024):
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(n):
        if i % 4 == 3:
            configs.append({"kind": "tlmm_naive", "K": int(rng.integers(1, 70)), "N": int(rng.integers(1, 20)),
                            "P_k": int(rng.integers(1, 9)), "P_n": int(rng.integers(1, 5)),
                            "act_bits": int(rng.integers(2, 9)), "M_max": int(rng.integers(1, 5))})
        else:
            configs.append({"kind": "tlmm", "K": int(rng.integers(1, 90)), "N": int(rng.integers(1, 20)),
                            "G": int(rng.integers(1, 6)), "T": int(rng.integers(1, 5)), "Q": int(rng.integers(1, 5)),
                            "table_style": ["full", "mirror"][i % 2], "act_bits": int(rng.integers(2, 9)),
                            "M_max": int(rng.integers(1, 5)), "name": f"rand{i}"})
    return configs


@pytest.mark.parametrize("config", random_configs(24), ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items() if k != "kind"))
def test_csim_bit_exact_random_configs(config, tmp_path):
    spec = parse_spec(config)
    write_project(spec, tmp_path / "prj", "hls")
    # More tokens than M_max: the bench calls the kernel repeatedly with resident weights.
    summary = run_csim(tmp_path / "prj", vectors=7, seed=len(str(config)))
    assert summary["pass"], summary
    assert summary["mismatches"] == 0 and summary["vectors"] == 7
    assert summary["compile_warnings"] == "", "generated C++ must compile -Wall clean"


@pytest.mark.parametrize("style", ["full", "mirror"])
def test_csim_extremes(style, tmp_path):
    spec = parse_spec({"kind": "tlmm", "K": 97, "N": 9, "G": 3, "T": 4, "Q": 3, "table_style": style, "M_max": 8})
    write_project(spec, tmp_path / "prj", "hls")
    K, N = 97, 9
    x = np.concatenate([np.full((1, K), -128), np.full((1, K), 127), np.zeros((1, K)),
                        np.tile([-128, 127], K)[None, :K]]).astype(np.int8)
    for w in (np.zeros((K, N)), np.ones((K, N)), -np.ones((K, N))):
        np.savez(tmp_path / "in.npz", x=x, w=w.astype(np.int8))
        summary = run_csim(tmp_path / "prj", tmp_path / "in.npz", tmp_path / "out.npy")
        assert summary["pass"], summary
        np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), x.astype(np.int64) @ w.astype(np.int64))


def hwgen(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "hwgen", *args], capture_output=True, text=True, cwd=cwd)


def test_cli_generate_and_csim_with_user_data(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kind: tlmm\nK: 50\nN: 13\nG: 3\nT: 2\nQ: 4\nM_max: 4\ntable_style: mirror\n")
    r = hwgen("generate", "--config", str(cfg), "--out", str(tmp_path / "prj"), "--backend", "hls")
    assert r.returncode == 0, r.stderr
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(6, 50)).astype(np.int8)
    w = rng.integers(-1, 2, size=(50, 13)).astype(np.int8)
    np.savez(tmp_path / "in.npz", x=x, w=w)
    r = hwgen("csim", str(tmp_path / "prj"), "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "y.npy"))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["pass"] and summary["mismatches"] == 0 and summary["vectors"] == 6
    y = np.load(tmp_path / "y.npy")
    assert y.dtype.kind == "i" and y.shape == (6, 13)
    np.testing.assert_array_equal(y, x.astype(np.int64) @ w.astype(np.int64))


@pytest.mark.parametrize("yaml_text, field", [
    ("kind: tlmm\nG: 0\n", "G"),
    ("kind: tlmm\nK: -4\n", "K"),
    ("kind: conv2d\n", "kind"),
    ("kind: tlmm\ntarget: vu9p\n", "target"),
    ("kind: tlmm\nG: [3\n", "config"),
    ("- just\n- a list\n", "config"),
])
def test_cli_bad_config_exit_2_no_output(yaml_text, field, tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    out = tmp_path / "prj"
    r = hwgen("generate", "--config", str(cfg), "--out", str(out))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {field}"), r.stderr
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prj")]


def test_cli_bad_user_data_exit_2(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("kind: tlmm\nK: 12\nN: 4\nG: 2\nT: 2\nQ: 2\n")
    assert hwgen("generate", "--config", str(cfg), "--out", str(tmp_path / "prj"), "--backend", "hls").returncode == 0
    cases = {
        "x": dict(x=np.zeros((2, 11), np.int8), w=np.zeros((12, 4), np.int8)),     # K mismatch
        "w": dict(x=np.zeros((2, 12), np.int8), w=np.full((12, 4), 3, np.int8)),   # non-ternary
    }
    for field, arrays in cases.items():
        np.savez(tmp_path / "in.npz", **arrays)
        r = hwgen("csim", str(tmp_path / "prj"), "--inputs", str(tmp_path / "in.npz"), "--output", str(tmp_path / "y.npy"))
        assert r.returncode == 2 and r.stderr.startswith(f"error: {field}"), r.stderr
        assert not (tmp_path / "y.npy").exists()
    r = hwgen("csim", str(tmp_path / "nothing"))
    assert r.returncode == 2 and "project" in r.stderr
