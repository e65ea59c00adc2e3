"""hwgen's TLMM inside hls4ml, through hls4ml's extension API (hls4ml 1.3, Vivado and Vitis backends):

- `TLMMDense` (register_layer): a Dense that the TLMM implements; it keeps Dense's weights, bias and types.
- `hwgen_tlmm_dense` (register_pass into `vivado:optimize`, after hls4ml's precision inference, which Vitis
  shares): each Dense that `plan.plan_dense` accepts becomes a TLMMDense carrying the generated kernel as a
  `Source` (hls4ml writes those into firmware/nnet_utils/nnet_code_gen.h) and an `alpha` weight.
- config and function-call templates (register_template) call the generated wrapper.
- `hwgen_write_tlmm` (register_pass into `vivado:write` and `vitis:write`): writes hwgen/<layer>.yaml, the
  kernel specs of the TLMM layers, and hwgen/layers.json (every Dense: TLMM spec or why not) into the project,
  for `hwgen synth --config` and `hwgen surrogate predict --hls4ml` without TensorFlow.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import jinja2
import numpy as np

from hwgen.errors import UserError

from . import plan as planning

MANIFEST_DIR = "hwgen"
MANIFEST = "layers.json"
_registered = False


class TLMMFallbackWarning(UserWarning):
    """A ternary Dense layer that hwgen's TLMM cannot implement keeps hls4ml's Dense."""


def _template_env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("hwgen.hls4ml", "templates"), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def kernel_source(layer: str, index: int, spec, t: np.ndarray, grid: planning.Grid, in_type: str) -> tuple[str, str]:
    """(wrapper function name, C++ text) of one layer: the kernel's own HLS files plus the hls4ml wrapper."""
    from hwgen.kernels import get

    kernel = get("tlmm")
    m = kernel.model(spec)
    top = spec.design_name
    files = kernel.files(spec, "hls")
    header, body = files[f"hls/{top}.h"], files[f"hls/{top}.cpp"]
    # The .cpp includes its header; both land in one namespace here, so the include is the header's text.
    include = f'#include "{top}.h"\n'
    if include not in body:
        raise RuntimeError(f"hwgen: generated {top}.cpp no longer includes {top}.h as expected")
    words = kernel.weight_words(spec, t)                   # [words, T] fields, stream order
    func = f"hwgen_tlmm_dense_{index}"
    ctx = {
        "layer": layer, "summary": planning.describe(spec.model_dump()), "ns": f"hwgen_{top}", "top": top,
        "func": func, "kernel_h": header, "kernel_cpp": body.replace(include, ""),
        "n_words": int(words.shape[0]), "n_fields": int(words.shape[1]),
        "weight_rows": [", ".join(str(int(v)) for v in row) for row in words],
        "act_bits": m.act_bits,
        "in_width": grid.width, "in_frac": grid.frac, "in_type": in_type,
        "raw_t": f"ap_int<{grid.width}>" if grid.signed else f"ap_uint<{grid.width}>",
        # S has acc_bits integer bits; frac more bits hold S * 2^-frac exactly.
        "sum_t": f"ap_fixed<{m.acc_bits + grid.frac}, {m.acc_bits}>",
    }
    return func, _template_env().get_template("tlmm_dense.h.j2").render(**ctx)


def register() -> None:
    """Register the layer, the passes and the templates with hls4ml (idempotent)."""
    global _registered
    if _registered:
        return
    from hls4ml.backends import get_backend
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
    from hls4ml.model.layers import Dense, register_layer
    from hls4ml.model.optimizer import OptimizerPass
    from hls4ml.model.optimizer.optimizer import ModelOptimizerPass
    from hls4ml.model.types import Source

    if _registered:   # importing hls4ml above may have run the entry point, which registers first
        return

    class TLMMDense(Dense):
        """A Dense layer implemented by hwgen's TLMM (weights, bias and types as hls4ml's Dense)."""

    register_layer("TLMMDense", TLMMDense)

    class TLMMDenseConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(TLMMDense)
            self.template = (
                "struct config{index} {{\n"
                "    static const unsigned n_in = {n_in};\n"
                "    static const unsigned n_out = {n_out};\n"
                "    typedef {accum_t.name} accum_t;\n"
                "    typedef {bias_t.name} bias_t;\n"
                "    typedef {alpha_t.name} alpha_t;\n"
                "}};\n")

        def format(self, node):
            return self.template.format(**self._default_config_params(node))

    class TLMMDenseFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(TLMMDense, include_header=[])
            self.template = "nnet::{func}<{input_t}, {output_t}, {config}>({input}, {output}, {b}, {a});"

        def format(self, node):
            params = self._default_function_params(node)
            params["func"] = node.get_attr("hwgen_func")
            params["b"] = node.get_weights("bias").name
            params["a"] = node.get_weights("alpha").name
            return self.template.format(**params)

    class ReplaceTernaryDense(OptimizerPass):
        """Dense -> TLMMDense where plan.plan_dense says so; other Dense layers are tagged with the reason."""

        def match(self, node):
            return node.class_name == "Dense" and not node.get_attr("hwgen_plan_done", False)

        def transform(self, model, node):
            cfg = model.config
            layer_config = dict(cfg.get_layer_config(node) or {})
            wvar = node.get_weights("weight")
            p = planning.plan_dense(
                node.name, weights=wvar.data, weight_precision=wvar.type.precision,
                input_precision=node.get_input_variable().type.precision,
                accum_precision=node.get_attr("accum_t").precision,
                io_type=cfg.get_config_value("IOType"), layer_config=layer_config,
                default_target=planning.default_target_for_part(cfg.get_config_value("Part")))
            node.set_attr("hwgen_plan_done", True)
            if not p.use_tlmm:
                node.set_attr("hwgen_reason", p.reason)
                if p.warn:
                    warnings.warn(f"hwgen: layer '{node.name}' keeps hls4ml's Dense: {p.reason}",
                                  TLMMFallbackWarning, stacklevel=2)
                return False
            from hwgen.kernels import parse_spec

            spec = parse_spec(p.spec)
            attrs = {k: v for k, v in node.attributes.items()}
            new = model.make_node(TLMMDense, node.name, attrs, node.inputs.copy(), node.outputs.copy(),
                                  initialize=False)
            new.add_weights_variable(name="alpha", var_name="a{index}", precision=wvar.type.precision,
                                     data=p.alpha.astype(np.float64))
            func, code = kernel_source(node.name, new.index, spec, p.ternary, p.grid,
                                       str(node.get_input_variable().type.precision))
            new.set_attr("hwgen_func", func)
            new.set_attr("hwgen_spec", spec.model_dump(mode="json", exclude_none=True))
            new.set_attr("hwgen_tlmm_code", Source(code))
            # The ternary matrix stays in the `weight` variable (hls4ml writes it; the kernel reads its own fields).
            model.replace_node(node, new)
            return True

    def write_manifest(model):
        if any(layer.class_name == "TLMMDense" for layer in model.get_layers()):   # other projects stay untouched
            write_tlmm_specs(model)
        return False

    vivado = get_backend("Vivado")
    vivado.register_pass("hwgen_tlmm_dense", ReplaceTernaryDense, flow="vivado:optimize")
    vivado.register_template(TLMMDenseConfigTemplate)
    vivado.register_template(TLMMDenseFunctionTemplate)
    for backend in ("Vivado", "Vitis"):
        get_backend(backend).register_pass("hwgen_write_tlmm", ModelOptimizerPass("hwgen_write_tlmm", write_manifest),
                                           flow=f"{backend.lower()}:write")
    _registered = True


def layer_table(model) -> list[dict]:
    """Every layer of a converted hls4ml model: a TLMM layer's spec, or why hwgen cannot take the layer."""
    rows = []
    for layer in model.get_layers():
        if layer.class_name == "TLMMDense":
            rows.append({"layer": layer.name, "tlmm": True, "spec": layer.get_attr("hwgen_spec")})
        elif layer.class_name == "Dense":
            rows.append({"layer": layer.name, "tlmm": False, "class": "Dense",
                         "reason": layer.get_attr("hwgen_reason", "not checked")})
        else:
            rows.append({"layer": layer.name, "tlmm": False, "class": layer.class_name,
                         "reason": "not a Dense layer"})
    return rows


def write_tlmm_specs(model, out: Path | None = None) -> Path:
    """hwgen/<layer spec name>.yaml per TLMM layer and hwgen/layers.json into the project (or `out`)."""
    import yaml

    folder = Path(out) if out is not None else Path(model.config.get_output_dir()) / MANIFEST_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rows = layer_table(model)
    for row in rows:
        if row["tlmm"]:
            path = folder / f"{row['spec']['name']}.yaml"
            path.write_text(yaml.safe_dump(row["spec"], sort_keys=False))
            row["config"] = path.name
    (folder / MANIFEST).write_text(json.dumps({"hls4ml_project": str(model.config.get_output_dir()),
                                               "layers": rows}, indent=2) + "\n")
    return folder


__all__ = ["register", "layer_table", "write_tlmm_specs", "TLMMFallbackWarning", "UserError", "kernel_source"]
