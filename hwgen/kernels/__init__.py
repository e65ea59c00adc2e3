"""The one place kernels are registered: kind -> kernel. Adding a kernel is one line here.

Also the entry points that need the registry: `parse_spec` validates a dict against the spec model of its
`kind`, `load_spec` reads one from YAML."""
from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from ..errors import UserError, validation_error_to_user_error
from ..spec import KernelSpec, read_yaml
from ..targets import get_target
from .attention import AttentionDecodeKernel, AttentionPrefillKernel
from .base import Kernel, Performance, Port, Scalar
from .bitlinear_scale import BitLinearScaleKernel
from .bitnet_layer import BitNetLayerKernel
from .composed import ComposedKernel
from .glu_act import GluActKernel
from .rmsnorm import RmsNormQuantKernel
from .residual import ResidualAddKernel
from .rope import RopeKernel
from .tlmm import NaiveKernel, TLMMKernel

REGISTRY: dict[str, Kernel] = {k.kind: k for k in (
    TLMMKernel(),
    NaiveKernel(),
    AttentionDecodeKernel(),
    AttentionPrefillKernel(),
    ResidualAddKernel(),
    RopeKernel(),
    BitLinearScaleKernel(),
    GluActKernel(),
    RmsNormQuantKernel(),
)}
REGISTRY["composed"] = ComposedKernel(REGISTRY)   # compositions of any kernel registered above
REGISTRY["bitnet_layer"] = BitNetLayerKernel(REGISTRY)   # one decoder layer over the kernels above

__all__ = ["REGISTRY", "Kernel", "Performance", "Port", "Scalar", "get", "kinds", "parse_spec", "load_spec"]


def kinds() -> list[str]:
    return sorted(REGISTRY)


def get(kind: str) -> Kernel:
    try:
        return REGISTRY[kind]
    except (KeyError, TypeError):
        raise UserError("kind", f"unknown kind {kind!r}; allowed: {', '.join(kinds())}") from None


def parse_spec(data: dict, *, target_override: str | None = None) -> KernelSpec:
    """Validate a dict against the spec model registered for its `kind`."""
    if not isinstance(data, dict):
        raise UserError("config", "must be a YAML mapping with at least `kind:`")
    data = dict(data)
    if target_override is not None:
        data["target"] = target_override
    kind = data.get("kind")
    if kind is None:
        raise UserError("kind", f"missing; allowed: {', '.join(kinds())}")
    kernel = get(kind)
    get_target(data.get("target", "kv260"))  # unknown target -> error listing the known ones
    data = kernel.normalize(data)
    try:
        spec = kernel.spec_model.model_validate(data)
    except ValidationError as err:
        raise validation_error_to_user_error(err, kernel.spec_model) from None
    kernel.check(spec)
    return spec


def load_spec(path: str | Path, *, target_override: str | None = None) -> KernelSpec:
    return parse_spec(read_yaml(path, "config"), target_override=target_override)
