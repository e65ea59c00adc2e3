"""`hwgen surrogate ...`: train, evaluate, report and predict with the GNN surrogate.

    hwgen surrogate train   --data datasets/tlmm --out models/tlmm_v1 [--members 5 --epochs 300 --seed 0]
    hwgen surrogate eval    --model models/tlmm_v1 --data datasets/tlmm_test
    hwgen surrogate report  --data datasets/tlmm --out docs/surrogate_eval.md        # splits a/b/c + baselines
    hwgen surrogate predict --config designs/kv260_tlmm.yaml [--target kv260] [--model models/tlmm_v1]
    hwgen surrogate predict --hls4ml path/to/hls4ml_prj          # its TLMM layers (hwgen.hls4ml), and which it cannot

Heavy imports (torch, torch_geometric, sklearn) happen inside the commands.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click



@click.group(name="surrogate")
def surrogate() -> None:
    """GNN surrogate of synthesis results (LUT, LUTRAM, FF, DSP, BRAM36, URAM, latency cycles, II, LUT depth and the
    critical path, hence Fmax)."""


def _threads(n: int | None) -> None:
    import torch

    if n:
        torch.set_num_threads(n)


@surrogate.command()
@click.option("--data", "data", required=True, multiple=True, type=click.Path(exists=True),
              help="dataset folder or records.jsonl (repeatable)")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="model folder, e.g. models/NAME")
@click.option("--members", default=5, show_default=True, type=int, help="ensemble members")
@click.option("--epochs", default=300, show_default=True, type=int)
@click.option("--hidden", default=32, show_default=True, type=int)
@click.option("--layers", default=3, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=int, help="torch CPU threads (1 = bit-reproducible)")
def train(data, out, members, epochs, hidden, layers, seed, threads) -> None:
    """Train a seeded deep ensemble on dataset records (status ok) and save it (safetensors + config.json)."""
    from .model import ModelConfig
    from .train import load_examples, train_ensemble

    _threads(threads)
    examples = load_examples(list(data))
    click.echo(f"training on {len(examples)} designs", err=True)
    cfg = ModelConfig(members=members, epochs=epochs, hidden=hidden, layers=layers, seed=seed)
    ens = train_ensemble(examples, cfg, log=lambda m: click.echo(m, err=True))
    ens.cfg.train_info["data"] = [str(d) for d in data]
    ens.save(Path(out))
    size = sum(p.stat().st_size for p in Path(out).iterdir())
    click.echo(json.dumps({"model": str(out), "examples": len(examples), "members": members,
                           "bytes": size, "seconds": ens.cfg.train_info.get("seconds")}))


@surrogate.command()
@click.option("--model", "model", default=None, type=click.Path(exists=True, file_okay=False),
              help="source model folder (default: the shipped model)")
@click.option("--data", "data", required=True, multiple=True, type=click.Path(exists=True),
              help="your records: a dataset built with your tool (hwgen dataset build --yosys ...) or imported "
                   "vendor reports (hwgen dataset import --vendor ...); repeatable")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="adapted model folder")
@click.option("--method", default="mixed", show_default=True,
              type=click.Choice(["calibrate", "residual", "finetune", "mixed"]),
              help="calibrate: global log-space shift/slope per kernel group and family; residual: plus a "
                   "design-dependent Gaussian-process residual; finetune: the GNN readouts trained further; "
                   "mixed: finetune with the source members kept next to the tuned ones (their mean: half the move) "
                   "(docs/surrogate_transfer.md compares them)")
@click.option("--n", "n", default=None, type=int,
              help="use only n records (drawn with --seed, covering every kernel group and device family in turn); "
                   "default all")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--threads", default=1, show_default=True, type=int, help="torch CPU threads")
def adapt(model, data, out, method, n, seed, threads) -> None:
    """Adapt a trained surrogate to another synthesis tool or device from a few of your own records."""
    from .adapt import adapt_command
    from .predict import default_model_dir

    _threads(threads)
    info = adapt_command(model or default_model_dir(), data, out, method, n, seed,
                         log=lambda m: click.echo(m, err=True))
    click.echo(json.dumps({"model": str(out), **{k: info[k] for k in ("method", "records", "seconds")}}))


@surrogate.command(name="eval")
@click.option("--model", "model", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data", required=True, multiple=True, type=click.Path(exists=True))
@click.option("--exclude", "exclude", multiple=True, type=click.Path(exists=True),
              help="drop designs whose key is in these datasets (e.g. the training data)")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False),
              help="also write a Markdown table here (the JSON goes next to it)")
def eval_cmd(model, data, exclude, out) -> None:
    """Metrics (R2, SMAPE, MAPE p50/p90, exact, 2-sigma coverage) of a trained model on a dataset, vs
    analytical, overall and per kernel kind, with the split-(a) goals."""
    from hwgen.errors import UserError

    from .evaluate import eval_markdown, evaluate_model

    _threads(2)
    try:
        result = evaluate_model(model, list(data), list(exclude))
    except ValueError as err:
        raise UserError("data", str(err)) from None
    text = json.dumps(result, indent=1, default=float)
    if out:
        cmd = (f"hwgen surrogate eval --model {model} " + " ".join(f"--data {d}" for d in data)
               + "".join(f" --exclude {d}" for d in exclude) + f" --out {out}")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).with_suffix(".json").write_text(text + "\n")
        md = eval_markdown(result, cmd)
        Path(out).write_text(md)
        click.echo(md)
    else:
        click.echo(text)


@surrogate.command()
@click.option("--data", "data", required=True, multiple=True, type=click.Path(exists=True))
@click.option("--out", default="docs/surrogate_eval.md", show_default=True, type=click.Path(dir_okay=False),
              help="Markdown report; the JSON goes next to it")
@click.option("--members", default=5, show_default=True, type=int)
@click.option("--epochs", default=300, show_default=True, type=int)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--note", default="", help="free text for the report's data notes (provenance of the data)")
@click.option("--splits", "only", default="abcd", show_default=True,
              help="the splits to run: a subset of abcd ((a) random, (b) extrapolation, (c) compositions, (d) decoder "
                   "layers); a split the data do not allow is skipped")
def report(data, out, members, epochs, seed, note, only) -> None:
    """Retrain per split ((a) random, (b) largest designs held out, (c) compositions, (d) decoder layers) and write
    the report."""
    from hwgen.errors import UserError

    from .evaluate import run_report
    from .model import ModelConfig

    cmd = "hwgen surrogate report " + " ".join(f"--data {d}" for d in data) + f" --out {out}"
    if members != 5 or epochs != 300 or seed != 0:
        cmd += f" --members {members} --epochs {epochs} --seed {seed}"
    if not only or set(only) - set("abcd"):
        raise UserError("splits", f"must be a non-empty subset of abcd, e.g. a or bc (got {only!r})")
    if only != "abcd":
        cmd += f" --splits {only}"
    run_report(list(data), Path(out), ModelConfig(members=members, epochs=epochs, seed=seed), seed=seed,
               log=lambda m: click.echo(m, err=True), command=cmd, note=note, only=only)
    click.echo(f"wrote {out} and {Path(out).with_suffix('.json')}", err=True)


@surrogate.command()
@click.option("--config", "config", default=None, type=click.Path(exists=True, dir_okay=False),
              help="kernel spec YAML (any kind, a composition included)")
@click.option("--hls4ml", "hls4ml_model", default=None, type=click.Path(exists=True),
              help="an hls4ml project folder or its hls4ml_config.yml: predicts its TLMM layers (hwgen.hls4ml)")
@click.option("--target", default=None, help="override the config's target board")
@click.option("--model", "model", default=None, type=click.Path(file_okay=False), help="model folder (default: shipped model)")
def predict(config, hls4ml_model, target, model) -> None:
    """Print JSON: each target's mean and uncertainty (std, +/-2 sigma band) and the analytical estimate, and a
    `timing` summary (Fmax and LUT depth with their sigma, the conservative Fmax against the clock)."""
    from hwgen.errors import UserError
    from hwgen.spec import read_yaml

    from .predict import default_model_dir, hls4ml_layer_specs, in_training_range, predict_specs

    if (config is None) == (hls4ml_model is None):
        raise UserError("config", "give exactly one of --config (a kernel spec) or --hls4ml (an hls4ml project)")
    model_dir = Path(model) if model else default_model_dir()
    if not (model_dir / "weights.safetensors").exists():
        raise UserError("model", f"no trained model in {model_dir}; train one with `hwgen surrogate train`")
    _threads(1)
    from hwgen.kernels import parse_spec

    def row_of(spec, row, name):
        f, d = row["fmax_mhz_est"], row["lut_depth"]
        timing = {"clock_mhz": spec.clock, "fmax_mhz_est": f["mean"], "fmax_sigma_mhz": round(f["std"], 1),
                  "fmax_conservative_mhz": f["conservative"], "meets_clock_conservative": f["conservative"] >= spec.clock,
                  "lut_depth": d["mean"], "lut_depth_sigma": round(d["std"], 2)}
        if f.get("anchor_only"):
            timing["note"] = "this model has no timing heads: the kernel's structural estimate, sigma assumed"
        keys = ("mean", "std", "lo", "hi", "analytical", "conservative", "anchor_only")
        return {"design": name, "kind": spec.kind, "target": spec.target, "model": str(model_dir),
                "predictions": {t: {k: v[k] for k in keys if k in v} for t, v in row.items()}, "timing": timing,
                "outside_training_range": sorted(in_training_range(spec, model_dir))}

    if hls4ml_model is not None:
        layers = hls4ml_layer_specs(Path(hls4ml_model))
        specs = [parse_spec({**r["spec"], **({"target": target} if target else {})}) for r in layers if r["tlmm"]]
        rows = predict_specs(specs, model_dir) if specs else []
        done = [r for r in layers if r["tlmm"]]
        out = {"hls4ml": str(hls4ml_model),
               "layers": [{"layer": r["layer"], **row_of(s, p, s.design_name)} for r, s, p in zip(done, specs, rows)],
               "not_predicted": [{"layer": r["layer"], "reason": r["reason"]} for r in layers if not r["tlmm"]]}
        click.echo(json.dumps(out, indent=2))
        return

    data = read_yaml(config, "config")
    if not isinstance(data, dict):
        raise UserError("config", "must be a YAML mapping with at least `kind:`")
    if target:
        data = {**data, "target": target}
    spec = parse_spec(data)
    row = predict_specs([spec], model_dir)[0]
    out = row_of(spec, row, data.get("name") or data.get("kind"))
    out["target"] = data.get("target", "kv260")
    from .parts import has_parts
    if has_parts(spec):     # its resources came by parts (parts.py): say from how many members, and the factor
        from .parts import part_specs
        from .predict import _load
        fit = _load(str(model_dir)).cfg.parts.get(spec.kind)
        out["by_parts"] = {"members": len(part_specs(spec)),
                           "factor": dict(zip(("lut", "lutram", "ff"), fit["factor"])) if fit else None,
                           "factor_fitted_on_tops": fit["tops"] if fit else 0}
    click.echo(json.dumps(out, indent=2))


def main() -> None:   # python -m hwgen.surrogate.cli
    surrogate(prog_name="hwgen surrogate")


if __name__ == "__main__":
    sys.exit(main())
