import os
import shutil

import pytest


def pytest_configure(config):
    # Compiled C-sim binaries and simulators are cached per content hash; keep them in the user's cache
    # so repeated test runs (and CI on the same machine) reuse them.
    os.environ.setdefault("HWGEN_CACHE_DIR", os.path.expanduser("~/.cache/hwgen"))


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed; run make setup")


def write_decode_inputs(folder):
    """Inputs of one decode step of the hidden-256, 2-K/V-head test layers (--l-max 32): in.npz, token at pos 5
    against a random 5-row int16 K/V cache, and bad.npz, the same cache at pos 40 (past L_max). Returns both."""
    import numpy as np

    rng = np.random.default_rng(9)
    kc = np.rint(rng.standard_normal((5, 2, 64)) * 256).astype(np.int16)
    vc = np.rint(rng.standard_normal((5, 2, 64)) * 256).astype(np.int16)
    good, bad = folder / "in.npz", folder / "bad.npz"
    np.savez(good, x=rng.standard_normal((1, 256)).astype(np.float32), pos=np.int64(5), k_cache=kc, v_cache=vc)
    np.savez(bad, x=np.zeros((1, 256), np.float32), pos=np.int64(40), k_cache=kc, v_cache=vc)
    return good, bad


@pytest.fixture
def hwgen_cli(capsys):
    """Run the `hwgen` command line in-process: hwgen_cli([...]) -> (exit code, stderr)."""
    import sys

    import hwgen.cli

    def run(args: list[str]) -> tuple[int, str]:
        old = sys.argv
        sys.argv = ["hwgen", *args]
        code = 0
        try:
            hwgen.cli.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.argv = old
        return code, capsys.readouterr().err

    return run


def check_token_kernel_csim_cosim(spec, prj):
    """csim over more tokens than M_max (several HLS calls), cosim at zero stalls against the performance contract
    (latency = beats + 5 register stages, ii = beats), and cosim under 40 % random stalls: all bit-exact."""
    from hwgen import kernels
    from hwgen.flows.cosim import run_cosim
    from hwgen.flows.csim import run_csim
    from hwgen.render import write_project

    kernel = kernels.get(spec.kind)
    write_project(spec, prj, "both")
    cs = run_csim(prj, vectors=7, seed=4)
    assert cs["pass"], cs
    perf = kernel.performance(spec)
    co = run_cosim(prj, vectors=5, seed=2, simulator="icarus")
    assert co["pass"] and co["tlast_errors"] == 0, co
    beats = kernel.model(spec).beats
    assert (co["latency_cycles"], co["ii"]) == (perf.latency_cycles, perf.ii) == (beats + 5, beats)
    st = run_cosim(prj, vectors=6, seed=3, stall=40, simulator="icarus")
    assert st["pass"], st


def check_rtl_cosim_against_contract(spec, prj, vectors, seed, stall):
    """Write the RTL project and cosimulate it bit-exactly in Icarus: without stalls at exactly the performance
    contract's latency and II, with `stall` % random stalls slower than both. Returns the cosim summary."""
    from hwgen import kernels
    from hwgen.flows.cosim import run_cosim
    from hwgen.render import write_project

    write_project(spec, prj, "rtl")
    summary = run_cosim(prj, vectors=vectors, seed=seed, stall=stall, simulator="icarus")
    assert summary["pass"], summary
    perf = kernels.get(spec.kind).performance(spec)
    if stall == 0:
        assert (summary["latency_cycles"], summary["ii"]) == (perf.latency_cycles, perf.ii)
    else:
        assert summary["latency_cycles"] > perf.latency_cycles and summary["ii"] > perf.ii
    return summary


def assert_fused_forward_matches(ens, plain_batch, fused_batch=None):
    """The ensemble's fused (packed) forward gives the member-by-member forward's predictions."""
    import numpy as np

    ens.fused = False
    slow = ens.predict_log(plain_batch)
    ens.fused = True
    fast = ens.predict_log(plain_batch if fused_batch is None else fused_batch)
    for a, b in zip(slow, fast):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)

