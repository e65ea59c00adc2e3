"""hwgen's TLMM inside hls4ml (hwgen/hls4ml): random ternary QKeras models converted with hls4ml
(io_stream) predict bit-exactly what Keras predicts, with the TLMM and with hls4ml's own Dense on the same
models; fallbacks warn, forced misuse fails with one line, the project holds the kernel.

Compiles go through hwgen.hls4ml.cache (content hash under $HWGEN_CACHE_DIR/hls4ml): a rerun links cached
libraries. HWGEN_HLS4ML_EXAMPLES sets how many random models the property test draws besides its fixed
edge case (default 1; the broad sweep: HWGEN_HLS4ML_EXAMPLES=12)."""
from __future__ import annotations

import json
import os
import shutil
import warnings

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
qkeras = pytest.importorskip("qkeras")
hls4ml = pytest.importorskip("hls4ml")

import hwgen.hls4ml  # noqa: E402,F401  (registers the extension)
from hwgen.errors import UserError  # noqa: E402
from hwgen.hls4ml import TLMMFallbackWarning  # noqa: E402
from hwgen.hls4ml.cache import compile_cached  # noqa: E402
from hwgen.hls4ml.plan import Grid, precision_grid, ternary_factor  # noqa: E402

from qkeras import QActivation, QDense, quantized_bits, quantized_relu, ternary  # noqa: E402

EXAMPLES = int(os.environ.get("HWGEN_HLS4ML_EXAMPLES", "1"))


# --- models -------------------------------------------------------------------------------------------
def act_quantizer(bits: int, signed: bool, int_bits: int):
    """Signed: quantized_bits(bits, int_bits) (grid 2^-(bits-1-int_bits)); unsigned: quantized_relu(bits, int_bits)."""
    if signed:
        return quantized_bits(bits, int_bits, alpha=1)
    return quantized_relu(bits, int_bits)


def ternary_mlp(rng, widths, act_bits, signed, bias, name="m"):
    """Input -> [quantized activation -> ternary QDense] per layer; activations of act_bits (signed) or
    act_bits - 1 (unsigned, so the TLMM gets act_bits signed bits)."""
    inp = tf.keras.Input((widths[0],), name=f"{name}_in")
    x = inp
    layers = []
    for i, n_out in enumerate(widths[1:]):
        bits = act_bits if signed[i] else max(2, act_bits - 1)
        int_bits = int(rng.integers(0, bits - 1)) if bits > 2 else 0
        x = QActivation(act_quantizer(bits, signed[i], int_bits), name=f"{name}_a{i}")(x)
        dense = QDense(n_out, kernel_quantizer=ternary(alpha=1), use_bias=bias,
                       bias_quantizer=quantized_bits(10, 5, alpha=1) if bias else None, name=f"{name}_d{i}")
        x = dense(x)
        layers.append(dense)
    model = tf.keras.Model(inp, x)
    for dense in layers:
        w = dense.get_weights()
        w[0] = rng.integers(-1, 2, size=w[0].shape).astype(np.float32)
        if bias:
            w[1] = (rng.integers(-512, 512, size=w[1].shape) / 32).astype(np.float32)
        dense.set_weights(w)
    return model


def hls_config(model, layer_overrides=None):
    cfg = hls4ml.utils.config_from_keras_model(model, granularity="name", backend="Vitis",
                                               default_precision="fixed<40,20>")
    for name, extra in (layer_overrides or {}).items():
        cfg["LayerName"][name].update(extra)
    return cfg


def convert(model, out, io_type="io_stream", overrides=None):
    return hls4ml.converters.convert_from_keras_model(model, hls_config=hls_config(model, overrides),
                                                      io_type=io_type, backend="Vitis", output_dir=str(out))


def extreme_inputs(rng, K, n=48, lo=-24.0, hi=24.0):
    """Random values plus the corners: all minimum, all maximum, alternating, one hot."""
    x = rng.uniform(lo, hi, size=(n, K))
    x[0], x[1] = lo, hi
    x[2, ::2], x[2, 1::2] = lo, hi
    x[3] = 0.0
    x[3, rng.integers(0, K)] = hi
    return x.astype(np.float32)


def dense_names(model):
    return [layer.name for layer in model.layers if isinstance(layer, QDense)]


def classes(hls_model):
    return {layer.name: layer.class_name for layer in hls_model.get_layers()}


def test_generator_and_flows_do_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, hwgen.cli, hwgen.surrogate.cli, hwgen.surrogate.predict, hwgen.flows.synth, hwgen.render; "
            "bad = [m for m in ('tensorflow', 'qkeras', 'hwgen.hls4ml') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr


def test_entry_point_loads_the_extension_with_hls4ml():
    """Installed hwgen declares an `hls4ml.backends` entry point: `import hls4ml` alone registers TLMMDense."""
    import subprocess
    import sys
    from importlib.metadata import entry_points

    if not [ep for ep in entry_points().select(group="hls4ml.backends") if ep.value == "hwgen.hls4ml:plugin"]:
        pytest.skip("hwgen's package metadata predates the entry point: reinstall (pip install -e .)")
    code = ("import sys, hls4ml; from hls4ml.model.layers import layer_map; "
            "sys.exit(0 if 'TLMMDense' in layer_map and 'hwgen.hls4ml' in sys.modules else 'not registered')")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]


# --- pure decisions (no compile) -------------------------------------------------------------------------
def test_ternary_factor_and_grids():
    w = np.array([[0.5, 0.0, -2.0], [-0.5, 0.0, 2.0], [0.5, 0.0, 0.0]])
    t, alpha = ternary_factor(w)
    assert t.tolist() == [[1, 0, -1], [-1, 0, 1], [1, 0, 0]] and alpha.tolist() == [0.5, 0.0, 2.0]
    assert ternary_factor(np.array([[0.5, 0.25]]).T) is None            # two magnitudes in one column
    from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

    assert precision_grid(FixedPrecisionType(6, 2, signed=True)) == Grid(6, 4, True)
    assert precision_grid(FixedPrecisionType(4, 2, signed=False)).act_bits == 5       # unsigned b -> b + 1
    assert precision_grid(IntegerPrecisionType(8, signed=True)).act_bits == 8


# --- bit-exactness: TLMM and hls4ml's Dense against Keras, same models --------------------------------------
def draw_case(seed):
    if seed == "edge":      # the widest layer, the widest activations, signed, three layers, bias
        return np.random.default_rng(999), [256, 48, 24, 16], 8, [True, False, False], True
    rng = np.random.default_rng(1000 + seed)
    n_layers = int(rng.integers(1, 4))
    widths = [int(rng.choice([16, 24, 48, 64, 100, 128, 256])) for _ in range(n_layers + 1)]
    if sum(a * b for a, b in zip(widths, widths[1:])) > 40000:     # keep hls4ml's unrolled Dense compile short
        widths = widths[:1] + [min(w, 64) for w in widths[1:]]
    act_bits = int(rng.integers(2, 9))
    # Signed (quantized_bits) or unsigned input quantizer; between Dense layers ReLU-quantized activations:
    # hls4ml 1.3 merges a quantized_bits QActivation that follows a Dense into it and loses the quantization,
    # so there its own Dense does not match Keras (and the TLMM sees a 40-bit input and falls back).
    signed = [bool(rng.integers(0, 2)) or act_bits == 2] + [False] * (n_layers - 1)
    return rng, widths, act_bits, signed, bool(rng.integers(0, 2))


@pytest.mark.parametrize("seed", ["edge", *range(EXAMPLES)])
def test_random_ternary_models_bit_exact(tmp_path, seed):
    rng, widths, act_bits, signed, bias = draw_case(seed)
    model = ternary_mlp(rng, widths, act_bits, signed, bias, name=f"p{seed}")
    x = extreme_inputs(rng, widths[0])
    y_keras = model.predict(x, verbose=0)
    names = dense_names(model)

    tlmm = convert(model, tmp_path / "tlmm")
    assert all(classes(tlmm)[n] == "TLMMDense" for n in names), classes(tlmm)
    dense = convert(model, tmp_path / "dense", overrides={n: {"TLMM": False} for n in names})
    assert all(classes(dense)[n] == "Dense" for n in names)
    for hls_model in (dense, tlmm):           # hls4ml's Dense first: the model is in its exact regime
        compile_cached(hls_model)
        y = hls_model.predict(x).reshape(y_keras.shape)
        np.testing.assert_array_equal(y, y_keras, err_msg=f"{classes(hls_model)} widths={widths} "
                                      f"act_bits={act_bits} signed={signed} bias={bias}")


def test_alpha_scaling_and_narrow_output_follow_hls4ml(tmp_path):
    """QKeras' own alpha (ternary() with alpha='auto', which hls4ml factors into an ApplyAlpha layer), then a
    Keras Dense with weights in {-1, 0, 1} x alpha per column (alpha on the weight grid) and a narrow, wrapping
    output type: the TLMM follows hls4ml's rules (alpha, bias, accum_t, result_t cast) bit for bit."""
    rng = np.random.default_rng(7)
    K, H, N = 48, 24, 20
    inp = tf.keras.Input((K,), name="pa_in")
    x = QActivation(quantized_bits(5, 4, alpha=1), name="pa_q")(inp)
    x = QDense(H, kernel_quantizer=ternary(), bias_quantizer=quantized_bits(8, 3, alpha=1), name="pa_t")(x)
    x = QActivation(quantized_relu(6, 4), name="pa_r")(x)
    y = tf.keras.layers.Dense(N, name="pa_d")(x)
    model = tf.keras.Model(inp, y)
    t = model.get_layer("pa_t").get_weights()
    t[0] = rng.normal(size=t[0].shape).astype(np.float32)
    model.get_layer("pa_t").set_weights(t)
    alpha = rng.choice([0.25, 0.5, 1.5, 3.0], size=N)
    w = rng.integers(-1, 2, size=(H, N)) * alpha[None, :]
    b = rng.integers(-64, 64, size=N) / 16
    model.get_layer("pa_d").set_weights([w.astype(np.float32), b.astype(np.float32)])
    xin = extreme_inputs(rng, K, lo=-16, hi=15)
    narrow = {"Precision": {"weight": "fixed<8,3>", "bias": "fixed<12,6>", "result": "fixed<10,6>"}}
    outs = {}
    for label, extra in (("tlmm", {}), ("dense", {"TLMM": False})):
        hls_model = convert(model, tmp_path / label, overrides={"pa_t": dict(extra), "pa_d": {**narrow, **extra}})
        kinds = classes(hls_model)
        assert kinds["pa_t_alpha"] == "ApplyAlpha"
        assert kinds["pa_t"] == kinds["pa_d"] == ("TLMMDense" if label == "tlmm" else "Dense")
        compile_cached(hls_model)
        outs[label] = hls_model.predict(xin)
    np.testing.assert_array_equal(outs["tlmm"], outs["dense"])
    y_keras = model.predict(xin, verbose=0)
    assert not np.array_equal(outs["tlmm"].reshape(y_keras.shape), y_keras)   # the 10-bit output really wraps


# --- the project ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_project(tmp_path_factory):
    rng = np.random.default_rng(3)
    model = ternary_mlp(rng, [16, 32, 8], 6, [True, False], True, name="sp")
    out = tmp_path_factory.mktemp("sp") / "prj"
    hls_model = convert(model, out, overrides={"sp_d0": {"TLMM": {"G": 3, "T": 2, "Q": 4}}})
    hls_model.compile()        # hls4ml's own compile() (the other tests use the cached build)
    return model, hls_model, out


def test_project_layout_holds_the_kernel(small_project):
    model, hls_model, out = small_project
    code = (out / "firmware" / "nnet_utils" / "nnet_code_gen.h").read_text()
    assert "hwgen TLMM for hls4ml layer \"sp_d0\"" in code and "void tlmm_sp_d0(" in code
    assert "nnet::hwgen_tlmm_dense_" in (out / "firmware" / "myproject.cpp").read_text()
    manifest = json.loads((out / "hwgen" / "layers.json").read_text())
    specs = {r["layer"]: r["spec"] for r in manifest["layers"] if r["tlmm"]}
    assert specs["sp_d0"]["T"] == 2 and specs["sp_d0"]["Q"] == 4 and specs["sp_d0"]["act_bits"] == 6
    assert specs["sp_d1"]["act_bits"] == 6          # unsigned 5-bit ReLU output -> 6 signed bits
    x = extreme_inputs(np.random.default_rng(4), 16, lo=-32, hi=31)
    np.testing.assert_array_equal(hls_model.predict(x).reshape(-1, 8), model.predict(x, verbose=0))


def test_tlmm_layer_synthesizes_with_the_open_flow(small_project, tmp_path):
    if shutil.which("yosys") is None:
        pytest.skip("yosys not on PATH")
    from click.testing import CliRunner

    from hwgen.cli import cli

    _, _, out = small_project
    res = CliRunner().invoke(cli, ["synth", "--config", str(out / "hwgen" / "tlmm_sp_d0.yaml"), "--out",
                                   str(tmp_path / "syn"), "--flow", "open"])
    assert res.exit_code == 0, res.output
    report = json.loads((tmp_path / "syn" / "report.json").read_text())
    assert report["status"] == "ok" and report["resources"]["lut"] > 0 and report["kernel"] == "tlmm"


def test_surrogate_predict_accepts_the_hls4ml_project(small_project):
    from click.testing import CliRunner

    from hwgen.surrogate.cli import surrogate

    _, _, out = small_project
    res = CliRunner().invoke(surrogate, ["predict", "--hls4ml", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert [r["layer"] for r in data["layers"]] == ["sp_d0", "sp_d1"]
    assert all(r["predictions"]["lut"]["mean"] > 0 for r in data["layers"])
    assert {r["layer"] for r in data["not_predicted"]} >= {"sp_a0", "sp_a1"}


def test_surrogate_predict_bad_hls4ml_input(tmp_path):
    import subprocess
    import sys

    for args in ([], ["--hls4ml", str(tmp_path)]):
        res = subprocess.run([sys.executable, "-m", "hwgen", "surrogate", "predict", *args], capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 2 and res.stderr.strip().count("\n") == 0, res.stderr
        assert res.stderr.startswith("error: config: give exactly one" if not args else "error: hls4ml: "), res.stderr


def test_vendor_build_or_skip(small_project):
    if shutil.which("vitis_hls") is None:
        pytest.skip("vitis_hls not on PATH: hls_model.build() needs the vendor flow")
    _, hls_model, _ = small_project
    report = hls_model.build(csim=False, synth=True)
    assert report is not None


# --- fallbacks and bad input ------------------------------------------------------------------------------------
def one_layer(bits=6, signed=True, kernel_quantizer=None):
    rng = np.random.default_rng(11)
    inp = tf.keras.Input((24,), name="b_in")
    x = QActivation(act_quantizer(bits, signed, 2), name="b_q")(inp)
    x = QDense(16, kernel_quantizer=kernel_quantizer or ternary(alpha=1), name="b_d")(x)
    model = tf.keras.Model(inp, x)
    w = model.get_layer("b_d").get_weights()
    w[0] = rng.integers(-1, 2, size=w[0].shape).astype(np.float32)
    model.get_layer("b_d").set_weights(w)
    return model


def assert_one_line(err: UserError, *words):
    text = str(err.value)
    assert "\n" not in text
    for word in words:
        assert word in text, text


def test_wide_activation_falls_back_with_a_warning_naming_the_layer(tmp_path):
    with pytest.warns(TLMMFallbackWarning, match="layer 'b_d' keeps hls4ml's Dense.*wider than"):
        hls_model = convert(one_layer(bits=12), tmp_path / "w")
    assert classes(hls_model)["b_d"] == "Dense"


def test_wide_activation_forced_is_an_error(tmp_path):
    with pytest.raises(UserError) as err:
        convert(one_layer(bits=12), tmp_path / "w", overrides={"b_d": {"TLMM": True}})
    assert_one_line(err, "LayerName.b_d.TLMM", "8-bit")


def test_non_ternary_kernel_forced_is_an_error(tmp_path):
    with pytest.raises(UserError) as err:
        convert(one_layer(kernel_quantizer=quantized_bits(4, 0, alpha=1)), tmp_path / "nt",
                overrides={"b_d": {"TLMM": {"G": 3}}})
    assert_one_line(err, "LayerName.b_d.TLMM", "not ternary")
    with warnings.catch_warnings():          # not forced: hls4ml's Dense, silently (nothing ternary to offer)
        warnings.simplefilter("error", TLMMFallbackWarning)
        hls_model = convert(one_layer(kernel_quantizer=quantized_bits(4, 0, alpha=1)), tmp_path / "nt2")
    assert classes(hls_model)["b_d"] == "Dense"


def test_io_parallel(tmp_path):
    with pytest.raises(UserError) as err:
        convert(one_layer(), tmp_path / "p", io_type="io_parallel", overrides={"b_d": {"TLMM": True}})
    assert_one_line(err, "io_parallel", "io_stream")
    with pytest.warns(TLMMFallbackWarning, match="io_stream"):
        hls_model = convert(one_layer(), tmp_path / "p2", io_type="io_parallel")
    assert classes(hls_model)["b_d"] == "Dense"


@pytest.mark.parametrize("strategy", ["Latency", "Resource"])
def test_explicit_strategy_keeps_hls4ml_dense(tmp_path, strategy):
    hls_model = convert(one_layer(), tmp_path / strategy, overrides={"b_d": {"Strategy": strategy}})
    assert classes(hls_model)["b_d"] == "Dense"


def test_bad_tlmm_parameters(tmp_path):
    with pytest.raises(UserError) as err:
        convert(one_layer(), tmp_path / "g", overrides={"b_d": {"TLMM": {"G": 9}}})
    assert_one_line(err, "LayerName.b_d.TLMM.G", "1..5")
    with pytest.raises(UserError) as err:
        convert(one_layer(), tmp_path / "k", overrides={"b_d": {"TLMM": {"P_k": 4}}})
    assert_one_line(err, "LayerName.b_d.TLMM.P_k", "unknown key")
