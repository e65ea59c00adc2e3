"""The da4ml fixed-weight floor (hwgen/baselines/da4ml.py, extra `baselines`): da4ml's Verilog for a ternary
matrix is bit-exact against numpy's x @ W in Icarus, combinational and pipelined. Slow: numba compiles da4ml's
solver on first use (minutes, then cached)."""
import shutil

import numpy as np
import pytest

from hwgen.baselines import da4ml

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not da4ml.available(), reason="da4ml not installed (pip install -e '.[baselines]')"),
              pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")]


@pytest.mark.parametrize("cutoff", [-1, 2])
def test_da4ml_cmvm_matches_numpy(cutoff, tmp_path):
    rng = np.random.default_rng(4)
    w = rng.integers(-1, 2, size=(12, 4))
    w[:, 0] = -1                                          # an all -1 column
    design = da4ml.generate(w, 8, tmp_path / "prj", latency_cutoff=cutoff)
    assert (design.latency > 0) == (cutoff > 0)
    x = rng.integers(-128, 128, size=(20, 12))
    x[0], x[1] = -128, 127
    np.testing.assert_array_equal(da4ml.simulate(design, x), x @ w)
