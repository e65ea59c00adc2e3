"""Batch prediction from Python:

    from hwgen.surrogate.predict import predict_specs
    rows = predict_specs([spec_or_dict, ...])          # default model: models/surrogate_v1
    rows[0]["lut"] -> {"mean": 5210.0, "std": 140.2, "lo": 4950.1, "hi": 5480.3, "log_sigma": 0.027,
                       "analytical": 5021.0, "raw": 5209.6}

Specs can be pydantic kernel specs, spec dicts (validated with hwgen.spec.parse_spec) or composition
dicts (surrogate/compose.py). `mean` is rounded for discrete targets (DSP, URAM, latency, II to
integers, BRAM36 to halves); [lo, hi] is the +/- 2 sigma band; std is the linear-scale std.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_MODEL_NAME = "surrogate_v1"


@functools.lru_cache(maxsize=4)
def _load(model_dir: str):
    from .model import Ensemble

    return Ensemble.load(Path(model_dir))


def default_model_dir() -> Path:
    """The shipped model, package data of hwgen.models (models/ in the repository)."""
    import importlib.resources

    return Path(str(importlib.resources.files("hwgen.models") / DEFAULT_MODEL_NAME))


def predict_specs(specs: Sequence, model_dir=None, batch_size: int = 2048, targets: Sequence[str] | None = None) -> list[dict]:
    """Predict all 8 targets (mean and uncertainty) for many designs at once."""
    from .features import arrays, build_ir

    return predict_graphs([arrays(build_ir(s)) for s in specs], model_dir, batch_size, targets)


def predict_graphs(arrays: Sequence, model_dir=None, batch_size: int = 2048, targets: Sequence[str] | None = None) -> list[dict]:
    from .features import collate
    from .model import outputs_from_log

    ens = _load(str(model_dir or default_model_dir()))
    rows: list[dict] = []
    for s in range(0, len(arrays), batch_size):
        data = collate(arrays[s: s + batch_size])
        mean, sigma, _ = ens.predict_log(data)
        rows.extend(outputs_from_log(mean, sigma, data.ana.numpy(), ens.cfg.targets))
    if targets:
        rows = [{t: r[t] for t in targets} for r in rows]
    return rows


def in_training_range(spec, model_dir=None) -> dict:
    """Which graph-level features of a design lie outside the model's training range (name -> (value, lo, hi))."""
    from .features import GRAPH_FEATURES, arrays, build_ir

    ens = _load(str(model_dir or default_model_dir()))
    u = arrays(build_ir(spec))[3]
    lo, hi = np.array(ens.cfg.u_min), np.array(ens.cfg.u_max)
    return {GRAPH_FEATURES[i]: (float(u[i]), float(lo[i]), float(hi[i]))
            for i in range(len(u)) if u[i] < lo[i] - 1e-6 or u[i] > hi[i] + 1e-6}


def hls4ml_layer_specs(path: Path) -> list[dict]:
    """The layers of an hls4ml model converted with hwgen.hls4ml: [{layer, tlmm, spec | reason}]. `path` is the
    written project (its hwgen/layers.json, no TensorFlow needed) or an hls4ml_config.yml, which is converted
    again (needs TensorFlow and hls4ml)."""
    import json

    from hwgen.errors import UserError

    path = Path(path)
    folder = path if path.is_dir() else path.parent
    manifest = folder / "hwgen" / "layers.json"
    if manifest.exists() and (path.is_dir() or path.name == "hls4ml_config.yml"):
        return json.loads(manifest.read_text())["layers"]
    config = path / "hls4ml_config.yml" if path.is_dir() else path
    if not config.exists():
        raise UserError("hls4ml", f"{path} is neither an hls4ml project written with hwgen.hls4ml loaded "
                                  "(hwgen/layers.json) nor an hls4ml_config.yml")
    try:
        import hls4ml

        import hwgen.hls4ml as ext
    except ImportError as err:
        raise UserError("hls4ml", f"reading {config} needs the frontend extra (TensorFlow, hls4ml): {err}") from None
    scope = _qkeras_scope()
    try:
        with scope:
            model = hls4ml.converters.convert_from_config(str(config))
    except UserError:
        raise
    except Exception as err:    # a Keras model that does not load, a config hls4ml rejects
        raise UserError("hls4ml", f"hls4ml cannot convert {config}: {type(err).__name__}: {err}".splitlines()[0]) from None
    return ext.layer_table(model)


def _qkeras_scope():
    """QKeras layers inside the saved Keras model need QKeras' custom objects to load."""
    import contextlib

    try:
        import tensorflow as tf
        from qkeras.utils import _add_supported_quantized_objects
    except ImportError:
        return contextlib.nullcontext()
    objects: dict = {}
    _add_supported_quantized_objects(objects)
    return tf.keras.utils.custom_object_scope(objects)
