"""Typed kernel specifications: the fields every kernel shares, YAML reading and writing, and a design's
identity (the one design key used by datasets, search and caches). A leaf module: kernels subclass
`KernelSpec`; validating a dict against the right subclass is `hwgen.kernels.parse_spec`."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .errors import UserError
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

    def identity(self) -> dict:
        """What makes two specs the same hardware: kind, target and every field that differs from its default,
        the name excluded. A field added to a kernel later (with a default that keeps the old behaviour) therefore
        leaves every stored key valid."""
        data = self.model_dump(mode="json", exclude_defaults=True, exclude={"name"})
        data["kind"], data["target"] = self.kind, self.target
        return data

    def design_key(self) -> str:
        return hashlib.sha256(canonical_json(self.identity()).encode()).hexdigest()


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


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


def dump_spec(spec: KernelSpec) -> str:
    return yaml.safe_dump(spec.model_dump(mode="json", exclude_none=True), sort_keys=False)
