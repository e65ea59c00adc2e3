"""The model dimensions hwgen needs from a Hugging Face BitNet `config.json` (nothing is fetched: a path only)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import UserError, validation_error_to_user_error

ACTIVATIONS = ("relu2", "silu")


class BitNetConfig(BaseModel):
    """Validated subset of transformers' BitNetConfig. Field names are the checkpoint's own."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    model_type: Literal["bitnet"]
    hidden_size: int = Field(ge=2, le=65536)
    intermediate_size: int = Field(ge=1, le=262144)
    num_hidden_layers: int = Field(ge=1, le=1024)
    num_attention_heads: int = Field(ge=1, le=1024)
    num_key_value_heads: int = Field(ge=1, le=1024)
    head_dim: int = Field(ge=2, le=1024)
    hidden_act: Literal["relu2", "silu"]
    rope_theta: float = Field(gt=1.0)
    rms_norm_eps: float = Field(ge=0.0, le=1e-2)
    max_position_embeddings: int = Field(ge=1, le=1 << 20)
    vocab_size: int = Field(ge=1, le=1 << 22)
    attention_bias: bool = False
    tie_word_embeddings: bool = False

    @model_validator(mode="after")
    def _shapes(self):
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_key_value_heads: {self.num_key_value_heads} must divide num_attention_heads "
                             f"({self.num_attention_heads})")
        if self.head_dim % 2:
            raise ValueError(f"head_dim: {self.head_dim} must be even (RoPE rotates pairs)")
        if self.attention_bias:
            raise ValueError("attention_bias: true is not supported (BitNet has no biases); allowed: false")
        return self

    @property
    def q_dim(self) -> int:
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_key_value_heads * self.head_dim

    @property
    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """[out_features, in_features] of every BitLinear of a layer, as transformers names them."""
        D, F = self.hidden_size, self.intermediate_size
        return {"self_attn.q_proj": (self.q_dim, D), "self_attn.k_proj": (self.kv_dim, D),
                "self_attn.v_proj": (self.kv_dim, D), "self_attn.o_proj": (D, self.q_dim),
                "mlp.gate_proj": (F, D), "mlp.up_proj": (F, D), "mlp.down_proj": (D, F)}

    @property
    def norm_shapes(self) -> dict[str, int]:
        return {"input_layernorm": self.hidden_size, "post_attention_layernorm": self.hidden_size,
                "self_attn.attn_sub_norm": self.hidden_size, "mlp.ffn_sub_norm": self.intermediate_size}


def parse_config(raw: dict) -> BitNetConfig:
    if not isinstance(raw, dict):
        raise UserError("config.json", "must be a JSON object")
    data = dict(raw)
    if data.get("model_type") != "bitnet":
        raise UserError("model_type", f"{data.get('model_type')!r} is not supported; allowed: 'bitnet'")
    act = data.get("hidden_act")
    if act not in ACTIVATIONS:
        raise UserError("hidden_act", f"{act!r} is not supported; allowed: {', '.join(ACTIVATIONS)}")
    if data.get("num_key_value_heads") is None:     # absent or null: no GQA
        data["num_key_value_heads"] = data.get("num_attention_heads")
    heads = data.get("num_attention_heads")
    if data.get("head_dim") is None and isinstance(heads, int) and heads > 0 and isinstance(data.get("hidden_size"), int):
        data["head_dim"] = data["hidden_size"] // heads
    rope = data.get("rope_parameters") or {}
    if "rope_theta" not in data:
        if rope.get("rope_type", "default") != "default":
            raise UserError("rope_parameters.rope_type", f"{rope.get('rope_type')!r} is not supported; allowed: default")
        data["rope_theta"] = rope.get("rope_theta", 500000.0)   # transformers' BitNet default
    data.setdefault("rms_norm_eps", 1e-5)
    data.setdefault("max_position_embeddings", 2048)
    try:
        return BitNetConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error_to_user_error(err, BitNetConfig) from None


def load_config(model_dir: str | Path) -> BitNetConfig:
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise UserError("model", f"{model_dir}: no config.json (expected a Hugging Face BitNet model folder)")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError("config.json", f"not valid JSON: {err.msg} at line {err.lineno}") from None
    return parse_config(raw)
