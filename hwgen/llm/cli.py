"""`hwgen llm ...`: a Hugging Face BitNet checkpoint (a local folder, never fetched) into hardware."""
from __future__ import annotations

import json
from pathlib import Path

import click

from ..errors import UserError


def parse_settings(settings) -> dict:
    """["tlmm.T=16", ...] -> {"tlmm": {"T": 16}}; values are YAML scalars (16, true, stream)."""
    import yaml
    out: dict = {}
    for item in settings:
        key, eq, value = item.partition("=")
        kind, dot, field = key.partition(".")
        if not (eq and dot and kind and field):
            raise UserError("set", f"{item!r}: expected KIND.FIELD=VALUE, e.g. tlmm.T=16")
        out.setdefault(kind, {})[field] = yaml.safe_load(value)
    return out


@click.group(help="BitNet b1.58 checkpoints (a local Hugging Face folder: config.json + *.safetensors) to hardware")
def llm() -> None:
    pass


@llm.command()
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Hugging Face BitNet folder")
@click.option("--layer", required=True, type=int, help="decoder layer index")
@click.option("--target", default="kv260", show_default=True, help="target board")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="project folder to write")
@click.option("--mode", default="prefill", show_default=True, type=click.Choice(["prefill", "decode"]))
@click.option("--m-max", "M_max", default=16, show_default=True, type=int, help="max prompt tokens per call")
@click.option("--l-max", "L_max", default=None, type=int, help="max position (default: max_position_embeddings)")
@click.option("--set", "settings", multiple=True, metavar="KIND.FIELD=VALUE",
              help="kernel parameter, by kind or step name (e.g. tlmm.T=16, q_proj.Q=4, glu_act.sig_index_bits=12)")
@click.option("--top", "single_top", is_flag=True,
              help="also generate the whole layer as one top (PRJ/top, kind bitnet_layer; prefill), which "
                   "`hwgen csim|cosim PRJ` then simulates")
def layer(model_dir: str, layer: int, target: str, out: str, mode: str, M_max: int, L_max: int | None,
          settings: tuple[str, ...], single_top: bool) -> None:
    """Write the generated project of decoder layer N: every kernel (HLS + RTL), the chain and the constants."""
    from ..targets import get_target
    from .project import build_program, write_layer_project

    get_target(target)
    if not 1 <= M_max <= 4096:
        raise UserError("m-max", f"{M_max}; allowed: 1..4096")
    prog = build_program(Path(model_dir), layer, target, mode, M_max, L_max, overrides=parse_settings(settings))
    path = write_layer_project(prog, Path(out), model_dir=Path(model_dir), layer=layer, mode=mode, top=single_top)
    kinds = sorted({s.kind for s in prog.steps})
    click.echo(json.dumps({"project": str(path), "layer": layer, "mode": mode, "target": target,
                           "steps": len(prog.steps), "kernels": kinds, **({"top": str(path / "top")} if single_top else {})},
                          indent=1))
