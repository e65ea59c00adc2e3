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


@llm.command()
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="Hugging Face BitNet folder (config.json is enough)")
@click.option("--target", required=True, help="target board")
@click.option("--context", default=1024, show_default=True, type=int, help="context length L for decode")
@click.option("--prompt", default=64, show_default=True, type=int, help="prompt tokens P for prefill / TTFT")
@click.option("--objective", default="decode", show_default=True, type=click.Choice(["decode", "prefill", "balanced"]))
@click.option("--budget", default=0, show_default=True, type=int,
              help="open-flow syntheses of the chosen engine's kernels (0 = surrogate only)")
@click.option("--kv-bits", default=16, show_default=True, type=click.Choice(["16", "8"]),
              help="K/V cache (and q/k/v) integer width")
@click.option("--lm-head-bits", default=16, show_default=True, type=int,
              help="host LM head: 16 (bf16) or 8 (int8 rows, one float32 scale per vocabulary row)")
@click.option("--pin", "pins", multiple=True, metavar="PARAM=VALUE",
              help="fix a free parameter of the search (T, Q, M_max, buffer_memory), e.g. --pin T=8")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="folder for plan.json, plan.md, plan.png")
def plan(model_dir: str, target: str, context: int, prompt: int, objective: str, budget: int, kv_bits: str,
         lm_head_bits: int, pins: tuple[str, ...], out: str) -> None:
    """Plan the accelerator for a model on a board: tokens/s, TTFT, resources, memory, before any synthesis."""
    from .config import load_config
    from .plan import make_plan, write_plan

    get_target_checked(target)
    cfg = load_config(model_dir)
    p = make_plan(cfg, target, context=context, prompt=prompt, objective=objective, budget=budget,
                  kv_bits=int(kv_bits), lm_head_bits=lm_head_bits, synth_dir=Path(out).with_name(Path(out).name + "_synth"),
                  model_name=Path(model_dir).resolve().name, pins=parse_pins(pins))
    write_plan(p, Path(out))
    click.echo(json.dumps({k: p[k] for k in ("target", "decode_tokens_per_s", "prefill_tokens_per_s", "ttft_s",
                                             "roofline_tokens_per_s", "weight_bytes_per_token", "clock_mhz")}
                          | {"fits": p["resources"]["fits"], "plan": str(Path(out) / "plan.json")}, indent=1))


@llm.command()
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False), help="Hugging Face BitNet folder")
@click.option("--plan", "plan_path", required=True, type=click.Path(dir_okay=False), help="plan.json of `hwgen llm plan`")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="project folder to write")
def generate(model_dir: str, plan_path: str, out: str) -> None:
    """Write the planned layer engine (HLS + RTL of every kernel, prefill and decode chains) and the weight images."""
    from .generate import generate_engine

    res = generate_engine(Path(model_dir), Path(plan_path), Path(out))
    click.echo(json.dumps(res, indent=1))


def parse_pins(pins) -> dict:
    import yaml
    out = {}
    for item in pins:
        key, eq, value = item.partition("=")
        if not (eq and key):
            raise UserError("pin", f"{item!r}: expected PARAM=VALUE, e.g. T=8")
        out[key] = yaml.safe_load(value)
    return out


def get_target_checked(name: str) -> None:
    from ..targets import get_target
    get_target(name)


@llm.command("run")
@click.argument("project", type=click.Path(file_okay=False, exists=True))
@click.option("--ids", required=True, help="prompt token ids, comma-separated (e.g. 5,17,42)")
@click.option("--flow", default="golden", show_default=True, type=click.Choice(["golden", "csim", "cosim"]))
def run_engine(project: str, ids: str, flow: str) -> None:
    """Prefill a prompt through every layer of a generated engine (each layer's kernels simulated on the previous
    layer's simulated output), then the host's final norm + LM head: the greedy next token."""
    from .generate import embed, greedy_next_token, load_engine, run_model

    try:
        tokens = [int(t) for t in ids.split(",") if t.strip()]
    except ValueError:
        raise UserError("ids", f"{ids!r}: expected comma-separated integers") from None
    meta, _ = load_engine(Path(project))
    vocab, M_max = meta["config"]["vocab_size"], meta["M_max"]
    if not tokens or not 1 <= len(tokens) <= M_max or min(tokens) < 0 or max(tokens) >= vocab:
        raise UserError("ids", f"{len(tokens)} ids in 0..{vocab - 1} needed, 1..{M_max} of them (the engine's M_max)")
    res = run_model(Path(project), embed(Path(project), tokens), flow)
    tok, _ = greedy_next_token(Path(project), res["y"][-1], meta["config"]["rms_norm_eps"])
    click.echo(json.dumps({"pass": res["pass"], "flow": flow, "tokens": len(tokens), "next_token": tok,
                           "mismatches_vs_golden_chain": res["mismatches_vs_golden_chain"],
                           "layers": [{k: l[k] for k in ("layer", "mismatches", "steps_pass", "cycles_match_model")}
                                      for l in res["layers"]]}, indent=1))
    if not res["pass"]:
        raise SystemExit(1)
