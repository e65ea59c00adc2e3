"""The one simulate-and-compare flow behind C-simulation, RTL cosimulation and the vendor cosimulation:
prepare the stimulus (a user's .npz or random vectors), run the golden model, write the vector files, let the
flow run its simulator on them, read the outputs back and compare them bit-exactly."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from hwgen import kernels
from hwgen.errors import UserError
from hwgen.render import load_project

from .vectors import FlowFailed, read_outputs, write_vectors

__all__ = ["FlowFailed", "prepare_inputs", "simulate", "simulate_inputs", "save_outputs"]

# run(spec, kernel, inputs, folder) -> flow-specific summary fields; raises FlowFailed
Runner = Callable[[object, object, dict, Path], dict]


def prepare_inputs(project: Path, inputs_path: Path | None, vectors: int, seed: int):
    """The project's spec and kernel, and the stimulus: the user's .npz (validated) or random vectors."""
    spec = load_project(project)
    kernel = kernels.get(spec.kind)
    if inputs_path is not None:
        return spec, kernel, kernel.load_inputs(spec, Path(inputs_path))
    if vectors < 1:
        raise UserError("vectors", f"must be >= 1 (got {vectors})")
    return spec, kernel, kernel.random_inputs(spec, np.random.default_rng(seed), vectors)


def simulate(project: Path, flow: str, run: Runner, inputs_path: Path | None = None,
             output_path: Path | None = None, vectors: int = 8, seed: int = 0, inputs: dict | None = None) -> dict:
    """`inputs` (already validated, e.g. the previous kernel's outputs in a layer) replaces the file/random
    stimulus; the simulated outputs are then returned under summary["outputs"]."""
    if inputs is None:
        spec, kernel, inputs = prepare_inputs(Path(project), inputs_path, vectors, seed)
        keep = False
    else:
        spec = load_project(Path(project))
        kernel, keep = kernels.get(spec.kind), True
    summary, got = simulate_inputs(spec, kernel, inputs, flow, run)
    if output_path is not None:
        save_outputs(Path(output_path), kernel.user_output(spec, inputs, got))
    if keep:
        summary["outputs"] = got
    return summary


def simulate_inputs(spec, kernel, inputs: dict, flow: str, run: Runner) -> tuple[dict, dict]:
    """Golden model, vector files, the flow's simulator, outputs read back and compared bit-exactly."""
    expected = kernel.golden(spec, inputs)
    with tempfile.TemporaryDirectory(prefix=f"hwgen-{flow}-") as tmp:
        folder = Path(tmp)
        units = write_vectors(kernel, spec, inputs, folder)
        info = run(spec, kernel, inputs, folder)
        got, tlast_errors = read_outputs(kernel, spec, inputs, folder, units)
    mismatches = sum(int(np.count_nonzero(got[name] != expected[name])) for name in expected)
    summary = {
        "pass": mismatches == 0 and tlast_errors == 0,
        "mismatches": mismatches,
        "tlast_errors": tlast_errors,
        "vectors": kernel.vector_count(spec, inputs),
        "kernel": spec.kind,
        "design": spec.design_name,
        "flow": flow,
        **info,
    }
    summary.update(kernel.extra_metrics(spec, inputs, got))
    return summary, got


def save_outputs(path: Path, outputs: dict[str, np.ndarray]) -> None:
    """Atomically write the outputs: one array as .npy, several as .npz (one array per output port)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if len(outputs) == 1:
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, next(iter(outputs.values())))
    else:
        tmp = path.with_name(f".{path.name}.tmp.npz")
        np.savez(tmp, **outputs)
    shutil.move(tmp, path)
