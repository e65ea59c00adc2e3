"""Simulate a generated layer project: the kernels in order, each one fed the previous kernels' *simulated*
outputs (C-simulation or RTL cosimulation of its own project), checked against the layer's golden model step by
step, and the result against the float64 BitNet reference."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from .layer import golden_executor, reference_weights, run_program
from .project import load_layer_project
from .reference import layer_forward

FLOWS = ("golden", "csim", "cosim")


def load_layer_inputs(path: Path, hidden: int) -> np.ndarray:
    try:
        with np.load(path) as z:
            if "x" not in z.files:
                raise UserError("inputs", f"{path} has no array `x` (float32 [M, {hidden}] hidden states); "
                                          f"found: {', '.join(z.files) or 'nothing'}")
            x = z["x"]
    except (OSError, ValueError) as err:
        raise UserError("inputs", f"{path}: not a readable .npz ({err})") from None
    if x.dtype.kind not in "fiu":
        raise UserError("x", f"dtype {x.dtype} is not numeric; expected float32")
    return np.asarray(x, np.float64)


def relative_update_error(x: np.ndarray, y: np.ndarray, y_ref: np.ndarray) -> float:
    """||(y - x) - (y_ref - x)|| / ||y_ref - x||: the error of the layer's update to the residual stream."""
    return float(np.linalg.norm(y - y_ref) / max(np.linalg.norm(y_ref - x), 1e-300))


def simulate_layer(project: Path, flow: str = "csim", inputs_path: Path | None = None,
                   output_path: Path | None = None, vectors: int = 4, seed: int = 0,
                   simulator: str = "auto") -> dict:
    if flow not in FLOWS:
        raise UserError("flow", f"{flow!r}; allowed: {', '.join(FLOWS)}")
    project = Path(project).resolve()
    meta, prog = load_layer_project(project)
    D = prog.cfg.hidden_size
    if inputs_path is not None:
        x = load_layer_inputs(Path(inputs_path), D)
    else:
        if vectors < 1:
            raise UserError("vectors", f"{vectors} tokens; allowed: 1..{prog.M_max} (M_max)")
        x = np.random.default_rng(seed).standard_normal((min(vectors, prog.M_max), D)).astype(np.float32).astype(np.float64)
    golden = run_program(prog, x)                      # validates x (shape, M_max, finite) before any tool runs
    projects = {s["name"]: project / s["project"] for s in meta["steps"]}
    steps = []

    def executor(step, kernel, spec, inputs):
        if flow == "golden":
            return golden_executor(step, kernel, spec, inputs)
        t0 = time.monotonic()
        if flow == "csim":
            from ..flows.csim import run_csim
            summary = run_csim(projects[step.name], inputs=inputs)
        else:
            from ..flows.cosim import run_cosim
            summary = run_cosim(projects[step.name], inputs=inputs, simulator=simulator)
        out = summary.pop("outputs")
        steps.append({"step": step.name, "kind": step.kind, "pass": summary["pass"],
                      "mismatches": summary["mismatches"], "seconds": round(time.monotonic() - t0, 2),
                      **{k: summary[k] for k in ("latency_cycles", "ii", "model_latency_cycles", "model_ii")
                         if k in summary}})
        return out

    sim = run_program(prog, x, executor)
    mismatches = int(np.count_nonzero(sim["y"] != golden["y"]))
    ref, _, _ = layer_forward(prog.cfg, reference_weights(prog), x)
    y = sim["y_float"]
    summary = {
        "pass": mismatches == 0 and all(s["pass"] for s in steps),
        "flow": flow, "mode": meta["mode"], "layer": meta["layer"], "tokens": int(x.shape[0]),
        "mismatches": mismatches,
        "rel_update_error_vs_float64": relative_update_error(x, y, ref),
        "max_abs_error_vs_float64": float(np.abs(y - ref).max()),
        "steps": steps,
    }
    if output_path is not None:
        np.save(Path(output_path), y.astype(np.float32))
    return summary
