"""Typed kernel specifications, loaded from YAML and validated with pydantic."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import UserError, validation_error_to_user_error
from .targets import Target, get_target

COMMON_FIELDS = ("kind", "name", "target", "clock_mhz")


class KernelSpec(BaseModel):
    """Fields every kernel shares. Each kernel subclasses this with its own parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str
    name: Optional[str] = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
    target: str = "kv260"
    clock_mhz: Optional[float] = Field(default=None, gt=0, le=1000)

    @property
    def target_info(self) -> Target:
        return get_target(self.target)

    @property
    def clock(self) -> float:
        return self.clock_mhz or self.target_info.default_clock_mhz

    @property
    def design_name(self) -> str:
        return self.name or self.kind

    def params(self) -> dict:
        """Kernel parameters only (what the report's `params` field holds)."""
        return self.model_dump(exclude=set(COMMON_FIELDS))


def parse_spec(data: dict, *, target_override: str | None = None) -> KernelSpec:
    """Validate a dict against the spec model registered for its `kind`."""
    from .kernels import registry

    if not isinstance(data, dict):
        raise UserError("config", "must be a YAML mapping with at least `kind:`")
    data = dict(data)
    if target_override is not None:
        data["target"] = target_override
    kind = data.get("kind")
    if kind is None:
        raise UserError("kind", f"missing; allowed: {', '.join(registry.kinds())}")
    kernel = registry.get(kind)
    get_target(data.get("target", "kv260"))  # unknown target -> error listing the known ones
    try:
        spec = kernel.spec_model.model_validate(data)
    except ValidationError as err:
        raise validation_error_to_user_error(err, kernel.spec_model) from None
    kernel.check(spec)
    return spec


def read_yaml(path: str | Path, field: str = "config"):
    """Read a YAML file; unreadable or malformed files become one-line UserErrors naming `field`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise UserError(field, f"cannot read {path}: {err.strerror or err}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(field, f"malformed YAML in {path}{where}: {getattr(err, 'problem', err)}") from None


def load_spec(path: str | Path, *, target_override: str | None = None) -> KernelSpec:
    data = read_yaml(path, "config")
    return parse_spec(data, target_override=target_override)


def dump_spec(spec: KernelSpec) -> str:
    return yaml.safe_dump(spec.model_dump(exclude_none=True), sort_keys=False)
