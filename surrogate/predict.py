"""Batch prediction from Python:

    from hwgen.surrogate.predict import predict_specs
    rows = predict_specs([spec_or_dict, ...])          # default model: models/surrogate_v1
    rows[0]["lut"] -> {"mean": 5210.0, "std": 140.2, "lo": 4950.1, "hi": 5480.3, "log_sigma": 0.027,
                       "analytical": 5021.0, "raw": 5209.6}

Specs can be pydantic kernel specs, spec dicts (validated with hwgen.spec.parse_spec) or composition
dicts (surrogate/compose.py). Tops over member kernels (compositions, decoder layers) get their resources by parts
(surrogate/parts.py: the members' predictions plus the glue, scaled by the factor fitted on the training tops). `mean` is rounded for discrete targets (DSP, URAM, latency, II to
integers, BRAM36 to halves); [lo, hi] is the +/- 2 sigma band; std is the linear-scale std.

Timing: `lut_depth` (integer) and `crit_ns` (the slowest path's arrival) are predicted like the other targets;
`fmax_mhz_est` is derived from crit_ns through hwgen.timing.fmax_from_arrival with the design's family and the
BRAM/URAM caps of the predicted memories (the formula synthesis reports use), its band from crit_ns' band:
    rows[0]["fmax_mhz_est"] -> {"mean": 287.4, "lo": 262.0, "hi": 305.1, "std": 10.8, "analytical": 301.2}
`conservative` is the Fmax at crit_ns FMAX_SIGMAS sigma above its mean (about 84 % one-sided): the estimate the design
search and the LLM plan use before synthesis, so a design predicted to just make its clock is not credited with it.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import numpy as np

DEFAULT_MODEL_NAME = "surrogate_v1"
FMAX_SIGMAS = 1.0   # the conservative Fmax: crit_ns this many sigma above its predicted mean


@functools.lru_cache(maxsize=4)
def _load(model_dir: str):
    from .model import Ensemble

    return Ensemble.load(Path(model_dir))


def default_model_dir() -> Path:
    """The shipped model, package data of hwgen.models (models/ in the repository)."""
    import importlib.resources

    return Path(str(importlib.resources.files("hwgen.models") / DEFAULT_MODEL_NAME))


# Designs per ensemble forward (bench/surrogate_speed.py --batch, on this repository's shared 2-core machine): ~256 keep
# the edge tensors ([edges, members * hidden], ~4 MB) near the 2 MB per-core L2: the bench's 5,000 distinct designs on
# one torch thread 0.37 s at 256 vs 0.51 s at 512 and 0.82 s at 2048 (best of 6; 128 and 192 no better), on two
# (passive OpenMP waiting, hwgen.surrogate's default) 0.40 s vs 0.55 s. (6,000 designs, earlier: 512 beat 4096.)
FORWARD_BATCH = 256


_FEATURES = None


def feature_cache():
    """The process's FeatureCache: designs predicted before skip their graph builder and feature encoding."""
    global _FEATURES
    if _FEATURES is None:
        from .features import FeatureCache

        _FEATURES = FeatureCache()
    return _FEATURES


def predict_specs(specs: Sequence, model_dir=None, batch_size: int | None = None,
                  targets: Sequence[str] | None = None) -> list[dict]:
    """Predict every target (mean and uncertainty) and the derived Fmax for many designs at once: the features of the
    distinct ones in one batch (features.FeatureCache.batch_distinct: collate_graphs, designs seen before reused), the
    ensemble over slices of batch_size designs (default: FORWARD_BATCH); a design repeated in `specs` is predicted
    once."""
    from .features import batch_slices, gc_paused

    if not specs:
        return []
    specs = list(specs)
    data, inverse = feature_cache().batch_distinct(specs)
    distinct = {}
    for s, i in zip(specs, inverse.tolist()):
        distinct.setdefault(i, s)
    with gc_paused():     # the result rows: ~11 dicts a design
        rows = _predict_batches(batch_slices(data, batch_size or FORWARD_BATCH), model_dir, targets,
                                [distinct[i] for i in range(len(distinct))])
        out, seen = [], set()
        for i in inverse.tolist():       # a repeated design gets its own copy of the one prediction
            out.append(rows[i] if i not in seen else {t: dict(v) for t, v in rows[i].items()})
            seen.add(i)
    return out


def predict_graphs(arrays: Sequence, model_dir=None, batch_size: int = 4096, targets: Sequence[str] | None = None) -> list[dict]:
    """predict_specs for feature arrays already built (features.arrays)."""
    from .features import collate, gc_paused

    arrays = list(arrays)
    with gc_paused():
        return _predict_batches((collate(arrays[s: s + batch_size]) for s in range(0, len(arrays), batch_size)),
                                model_dir, targets)


def _predict_batches(batches, model_dir, targets, specs: Sequence | None = None) -> list[dict]:
    """Rows of every batch; `specs` (one per design, in batch order): tops among them by parts (parts.py)."""
    from .costs import TARGETS
    from .model import outputs_from_log
    from .parts import apply_parts

    ens = _load(str(model_dir or default_model_dir()))
    rows: list[dict] = []
    batches = list(batches)
    for data, (mean, sigma, _) in zip(batches, ens.predict_log_batches(batches)):
        ana = data.ana.numpy()
        if specs is not None:
            apply_parts(ens, specs[len(rows): len(rows) + mean.shape[0]], mean, sigma, ana)
        part = outputs_from_log(mean, sigma, ana, TARGETS)
        for t in ens.anchor_only():
            for r in part:
                r[t]["anchor_only"] = True
        add_fmax(part, families(data.u.numpy()))
        rows.extend(part)
    if targets:
        rows = [{t: r[t] for t in targets} for r in rows]
    return rows


def families(u: np.ndarray) -> list[str]:
    """Each design's Yosys family from its graph features (the family one-hot)."""
    from .features import FAMILIES

    return [FAMILIES[int(i)] for i in np.argmax(u[:, :len(FAMILIES)], axis=1)]


def fmax_from_row(row: dict, family: str, key: str = "mean", crit_key: str | None = None) -> float:
    """fmax_mhz_est of a predicted design: hwgen.timing.fmax_from_arrival of its crit_ns (`crit_key` of the crit_ns
    entry; default: the one matching `key`, lo <-> hi), capped by the RAMs it is predicted to use."""
    from hwgen import timing

    crit_key = crit_key or {"mean": "raw", "lo": "hi", "hi": "lo", "analytical": "analytical"}[key]
    mem = "analytical" if key == "analytical" else "mean"
    return timing.fmax_from_arrival(row["crit_ns"][crit_key], family, row["bram36"][mem] > 0, row["uram"][mem] > 0)


def add_fmax(rows: list[dict], fams: Sequence[str]) -> None:
    """In place: rows[i]["fmax_mhz_est"] = {mean, lo, hi, std, conservative, analytical} derived from crit_ns
    (module doc)."""
    import math

    for row, fam in zip(rows, fams):
        f = {k: fmax_from_row(row, fam, k) for k in ("mean", "lo", "hi", "analytical")}
        c = row["crit_ns"]
        row["crit_ns"]["conservative"] = math.expm1(math.log1p(c["raw"]) + FMAX_SIGMAS * c["log_sigma"])
        f["conservative"] = fmax_from_row(row, fam, "mean", crit_key="conservative")
        f["std"] = (f["hi"] - f["lo"]) / 4.0
        if row["crit_ns"].get("anchor_only"):
            f["anchor_only"] = True
        row["fmax_mhz_est"] = f


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
