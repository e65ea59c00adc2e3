"""A generated layer project: every kernel of the layer as an ordinary hwgen project (HLS + RTL), the program
that chains them (layer.json) and the layer's integer constants (consts.npz: norm weights, ternary weights,
weight scales), written atomically.

    PRJ/layer.json            format, model path, layer index, mode, target, M_max, L_max, numerics, config,
                              steps (name, kind, spec, project folder)
    PRJ/consts.npz            integer constants, named as the steps read them
    PRJ/kernels/<design>/     one project per distinct kernel design (steps with equal specs share one)
    PRJ/top/                  with --top: the whole layer as one generated kernel (kind bitnet_layer)
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..spec import canonical_json
from .checkpoint import load_layer
from .config import BitNetConfig, load_config
from .layer import LayerNumerics, LayerProgram, Step, kernel_params, layer_program

FORMAT = "hwgen-layer/1"
MODES = ("prefill", "decode")
TOP_FOLDER = "top"            # the single top (--top): one kernel project of kind bitnet_layer


def build_program(model_dir: Path, layer: int, target: str, mode: str = "prefill", M_max: int = 128,
                  L_max: int | None = None, numerics: LayerNumerics = LayerNumerics(),
                  overrides: dict | None = None) -> LayerProgram:
    if mode not in MODES:
        raise UserError("mode", f"{mode!r} is not implemented yet; allowed: {', '.join(MODES)}")
    cfg = load_config(model_dir)
    weights = load_layer(model_dir, cfg, layer)
    prog = layer_program(cfg, weights, numerics, M_max=M_max, L_max=L_max, mode=mode,
                         params=kernel_params(target, overrides))
    for step in prog.steps:
        step.spec = {**step.spec, "name": f"l{layer}_{step.name}", "target": target}
    return prog


def write_layer_project(prog: LayerProgram, out: Path, *, model_dir: Path, layer: int, mode: str,
                        top: bool = False) -> Path:
    """`top`: also the single generated top of the whole layer (kind bitnet_layer, PRJ/top/), which
    `hwgen csim|cosim PRJ` then simulates instead of the chain of kernel projects."""
    from ..kernels import parse_spec
    from ..render import atomic_folder, write_project
    from .layer import layer_top_spec

    top_spec = parse_spec(layer_top_spec(prog, f"l{layer}_layer", prog.steps[0].spec["target"])) if top else None

    out = Path(out)
    with atomic_folder(out) as staging:
        designs: dict[str, str] = {}
        steps = []
        for step in prog.steps:
            spec = parse_spec(step.spec)
            key = canonical_json(spec.identity())
            if key not in designs:
                designs[key] = f"kernels/{spec.design_name}"
                write_project(spec, staging / designs[key], "both")
            steps.append({**step.as_dict(), "project": designs[key]})
        meta = {"format": FORMAT, "model": str(Path(model_dir).resolve()), "layer": layer, "mode": mode,
                "target": steps[0]["spec"]["target"], "M_max": prog.M_max, "L_max": prog.L_max,
                "numerics": prog.num.model_dump(), "config": prog.cfg.model_dump(), "steps": steps}
        if top_spec is not None:
            write_project(top_spec, staging / TOP_FOLDER, "both")
            meta["top"] = TOP_FOLDER
        (staging / "layer.json").write_text(json.dumps(meta, indent=1))
        np.savez(staging / "consts.npz", **prog.consts)
    return out


def is_layer_project(path: Path) -> bool:
    return (Path(path) / "layer.json").is_file()


def load_layer_project(path: Path) -> tuple[dict, LayerProgram]:
    """The project's metadata and program, from layer.json and consts.npz alone (no checkpoint needed)."""
    path = Path(path)
    try:
        meta = json.loads((path / "layer.json").read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError("project", f"{path}: unreadable layer.json ({err})") from None
    if meta.get("format") != FORMAT:
        raise UserError("project", f"{path}: layer.json format {meta.get('format')!r}; expected {FORMAT}")
    with np.load(path / "consts.npz") as z:
        consts = {k: z[k] for k in z.files}
    steps = [Step(s["name"], s["kind"], s["spec"], s["inputs"], s["outputs"], s["glue"]) for s in meta["steps"]]
    prog = LayerProgram(BitNetConfig.model_validate(meta["config"]), LayerNumerics.model_validate(meta["numerics"]),
                        meta["M_max"], meta["L_max"], consts, steps, meta["mode"])
    return meta, prog
