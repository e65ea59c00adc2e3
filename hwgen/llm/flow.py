"""Simulate a generated layer project: the kernels in order, each one fed the previous kernels' *simulated*
outputs (C-simulation or RTL cosimulation of its own project), checked against the layer's golden model step by
step, and the result against the float64 BitNet reference."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from .layer import reference_weights, run_program
from .project import load_layer_project
from .reference import layer_forward

FLOWS = ("golden", "csim", "cosim")


def load_layer_inputs(path: Path, hidden: int, mode: str) -> dict:
    """prefill: x [M, hidden]; decode: x [1, hidden], pos (scalar), k_cache and v_cache (the layer's cache)."""
    need = ("x",) if mode == "prefill" else ("x", "pos", "k_cache", "v_cache")
    try:
        with np.load(path) as z:
            missing = [n for n in need if n not in z.files]
            if missing:
                raise UserError("inputs", f"{path} lacks {', '.join(missing)} (a {mode} layer takes "
                                          f"{', '.join(need)}); found: {', '.join(z.files) or 'nothing'}")
            arrays = {n: z[n] for n in need}
    except (OSError, ValueError) as err:
        raise UserError("inputs", f"{path}: not a readable .npz ({err})") from None
    if arrays["x"].dtype.kind not in "fiu":
        raise UserError("x", f"dtype {arrays['x'].dtype} is not numeric; expected float32")
    arrays["x"] = np.asarray(arrays["x"], np.float64)
    if mode == "decode":
        pos = np.asarray(arrays["pos"])
        if pos.size != 1 or pos.dtype.kind not in "iu":
            raise UserError("pos", f"must be one integer (the token's position); got {pos.tolist()!r:.40}")
        arrays["pos"] = int(pos.reshape(-1)[0])
    return arrays


def relative_update_error(x: np.ndarray, y: np.ndarray, y_ref: np.ndarray) -> float:
    """||(y - x) - (y_ref - x)|| / ||y_ref - x||: the error of the layer's update to the residual stream."""
    return float(np.linalg.norm(y - y_ref) / max(np.linalg.norm(y_ref - x), 1e-300))


def project_executor(projects: dict, flow: str, simulator: str, records: list):
    """An executor for `run_program`: every step runs `flow` (csim or cosim) on its kernel project
    (`projects[step name]`) and appends one record to `records`: pass, mismatches, seconds and, from cosim, the
    measured cycles of the whole call (first data beat in to last beat out) with the kernel's model cycles."""

    def executor(step, kernel, spec, inputs):
        t0 = time.monotonic()
        if flow == "csim":
            from ..flows.csim import run_csim
            summary = run_csim(projects[step.name], inputs=inputs)
        else:
            from ..flows.cosim import run_cosim
            summary = run_cosim(projects[step.name], inputs=inputs, simulator=simulator)
        out = summary.pop("outputs")
        rec = {"step": step.name, "kind": step.kind, "pass": summary["pass"], "mismatches": summary["mismatches"],
               "seconds": round(time.monotonic() - t0, 2)}
        if "model_cycles" in summary:
            data_in = {p.name for p in kernel.ports(spec) if p.direction == "in" and p.role == "data"}
            firsts = [summary[f"first_{p}"] for p in data_in if f"first_{p}" in summary]
            rec["cycles"] = int(summary["cycles"] - min(firsts) + 1) if firsts else None
            rec["model_cycles"] = int(summary["model_cycles"])
        records.append(rec)
        return out

    return executor


def simulate_layer(project: Path, flow: str = "csim", inputs_path: Path | None = None,
                   output_path: Path | None = None, vectors: int = 4, seed: int = 0,
                   simulator: str = "auto") -> dict:
    if flow not in FLOWS:
        raise UserError("flow", f"{flow!r}; allowed: {', '.join(FLOWS)}")
    project = Path(project).resolve()
    meta, prog = load_layer_project(project)
    D = prog.cfg.hidden_size
    if inputs_path is not None:
        data = load_layer_inputs(Path(inputs_path), D, prog.mode)
    else:
        if vectors < 1:
            raise UserError("vectors", f"{vectors} tokens; allowed: 1..{prog.M_max} (M_max)")
        rng = np.random.default_rng(seed)
        data = {"x": rng.standard_normal((min(vectors, prog.M_max) if prog.mode == "prefill" else 1, D))}
        if prog.mode == "decode":          # a random cache of a few positions on the layer's grid
            Hkv, d, p = prog.cfg.num_key_value_heads, prog.cfg.head_dim, min(vectors, prog.L_max - 1)
            unit = 1 << prog.num.lin_frac
            data.update(pos=p, k_cache=np.rint(rng.standard_normal((p, Hkv, d)) * unit).astype(np.int64),
                        v_cache=np.rint(rng.standard_normal((p, Hkv, d)) * unit).astype(np.int64))
    x = np.asarray(data["x"], np.float32).astype(np.float64) if inputs_path is None else data["x"]
    cache = {"pos0": data.get("pos", 0), "k_cache": data.get("k_cache"), "v_cache": data.get("v_cache")}
    golden = run_program(prog, x, **cache)             # validates everything before any tool runs
    if meta.get("top"):
        return _simulate_top(project / meta["top"], flow, prog, meta, x, golden, output_path, simulator, cache)
    steps: list[dict] = []
    executor = project_executor({s["name"]: project / s["project"] for s in meta["steps"]}, flow, simulator, steps)
    sim = golden if flow == "golden" else run_program(prog, x, executor, **cache)
    mismatches = int(np.count_nonzero(sim["y"] != golden["y"]))
    unit = 2.0 ** prog.num.lin_frac
    fcache = {} if prog.mode == "prefill" else {
        "pos0": cache["pos0"], "k_cache": cache["k_cache"] / unit if cache["pos0"] else None,
        "v_cache": cache["v_cache"] / unit if cache["pos0"] else None}
    ref, _, _ = layer_forward(prog.cfg, reference_weights(prog), x, **fcache)
    y = sim["y_float"]
    cycles = [s["cycles"] for s in steps if s.get("cycles") is not None]
    summary = {
        "pass": mismatches == 0 and all(s["pass"] for s in steps),
        "flow": flow, "mode": meta["mode"], "layer": meta["layer"], "tokens": int(x.shape[0]),
        "mismatches": mismatches,
        "rel_update_error_vs_float64": relative_update_error(x, y, ref),
        "max_abs_error_vs_float64": float(np.abs(y - ref).max()),
        "steps": steps,
    }
    if cycles:   # the kernels one after another (each starts when the previous has finished)
        summary["cycles_sequential"] = int(sum(cycles))
        summary["model_cycles_sequential"] = int(sum(s["model_cycles"] for s in steps if s.get("cycles") is not None))
    if output_path is not None:
        output_path = Path(output_path)
        np.save(output_path, y.astype(np.float32))
        # the new K/V cache rows in the layer's cache format, for the decode steps that follow
        Hkv, d = prog.cfg.num_key_value_heads, prog.cfg.head_dim
        np.savez(output_path.with_name(output_path.stem + "_cache.npz"),
                 k_cache=sim["k_rot"].reshape(-1, Hkv, d), v_cache=sim["v_lin"].reshape(-1, Hkv, d))
        summary["cache_output"] = str(output_path.with_name(output_path.stem + "_cache.npz"))
    return summary


def _simulate_top(top: Path, flow: str, prog, meta: dict, x: np.ndarray, golden: dict, output_path: Path | None,
                  simulator: str, cache: dict) -> dict:
    """The single layer top (kind bitnet_layer) in one simulation, on the layer's constants; its output against
    the layer golden (every kernel's golden model, chained) and the float64 reference."""
    t0 = time.monotonic()
    inputs = {"x": x, **{k: v for k, v in prog.consts.items() if not k.startswith("ref_")}}
    if prog.mode == "decode":
        inputs.update(pos=np.int64(cache["pos0"]), k_cache=cache["k_cache"], v_cache=cache["v_cache"])
    if flow == "golden":
        y_int, sim = golden["y"], {"pass": True}
        rows = {"k_new": golden["k_rot"], "v_new": golden["v_lin"]}
    else:
        from ..kernels import get
        from ..render import load_project
        spec = load_project(top)
        inputs = get(spec.kind).validate_inputs(spec, inputs)
        if flow == "csim":
            from ..flows.csim import run_csim
            sim = run_csim(top, inputs=inputs)
        else:
            from ..flows.cosim import run_cosim
            sim = run_cosim(top, inputs=inputs, simulator=simulator)
        rows = sim.pop("outputs")
        y_int = rows["y"]
    mismatches = int(np.count_nonzero(y_int != golden["y"])) + int(np.count_nonzero(rows["k_new"] != golden["k_rot"])) \
        + int(np.count_nonzero(rows["v_new"] != golden["v_lin"]))
    y = y_int / 2.0 ** prog.num.x_frac
    unit = 2.0 ** prog.num.lin_frac
    fcache = {} if prog.mode == "prefill" else {
        "pos0": cache["pos0"], "k_cache": cache["k_cache"] / unit if cache["pos0"] else None,
        "v_cache": cache["v_cache"] / unit if cache["pos0"] else None}
    ref, _, _ = layer_forward(prog.cfg, reference_weights(prog), x, **fcache)
    summary = {
        "pass": mismatches == 0 and bool(sim["pass"]),
        "flow": flow, "mode": meta["mode"], "layer": meta["layer"], "tokens": int(x.shape[0]), "top": True,
        "mismatches": mismatches,
        "rel_update_error_vs_float64": relative_update_error(x, y, ref),
        "max_abs_error_vs_float64": float(np.abs(y - ref).max()),
        "seconds": round(time.monotonic() - t0, 2),
    }
    if "model_cycles" in sim:      # the call: first x beat to the last y beat, against the cycle model
        summary["cycles"] = sim.get("latency_cycles")
        summary["model_cycles"] = int(sim["model_cycles"])
    if output_path is not None:       # the output, and the new K/V cache rows (the top's k_new / v_new streams)
        output_path = Path(output_path)
        np.save(output_path, y.astype(np.float32))
        Hkv, d = prog.cfg.num_key_value_heads, prog.cfg.head_dim
        cpath = output_path.with_name(output_path.stem + "_cache.npz")
        np.savez(cpath, k_cache=rows["k_new"].reshape(-1, Hkv, d), v_cache=rows["v_new"].reshape(-1, Hkv, d))
        summary["cache_output"] = str(cpath)
    return summary
