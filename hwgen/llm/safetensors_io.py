"""A dependency-free reader of the safetensors format (header + raw little-endian tensors).

numpy has no bfloat16, which real BitNet checkpoints use, so BF16 is widened to float32 here; the generator
must not need torch."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import UserError

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
           "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


class SafetensorsFile:
    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            with open(self.path, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n <= 0 or n > 100 << 20:
                    raise ValueError("header size")
                self.header = json.loads(fh.read(n))
        except (OSError, ValueError, struct.error) as err:
            raise UserError("model", f"{self.path}: not a readable safetensors file ({err})") from None
        self.header.pop("__metadata__", None)
        self.data_start = 8 + n

    def keys(self) -> list[str]:
        return list(self.header)

    def get(self, name: str) -> np.ndarray:
        info = self.header[name]
        start, end = info["data_offsets"]
        with open(self.path, "rb") as fh:
            fh.seek(self.data_start + start)
            raw = fh.read(end - start)
        dtype, shape = info["dtype"], tuple(info["shape"])
        if dtype == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32)
            return (u16 << 16).view(np.float32).reshape(shape)
        if dtype not in _DTYPES:
            raise UserError("model", f"{self.path}: tensor {name} has unsupported dtype {dtype}")
        return np.frombuffer(raw, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<")).reshape(shape).copy()


class TensorStore:
    """All `*.safetensors` files of a model folder, looked up by tensor name."""

    def __init__(self, model_dir: str | Path):
        files = sorted(Path(model_dir).glob("*.safetensors"))
        if not files:
            raise UserError("model", f"{model_dir}: no *.safetensors weights (a config.json alone is enough to plan, "
                                     f"not to generate)")
        self.where: dict[str, SafetensorsFile] = {}
        for f in files:
            st = SafetensorsFile(f)
            for k in st.keys():
                self.where[k] = st

    def __contains__(self, name: str) -> bool:
        return name in self.where

    def get(self, name: str) -> np.ndarray:
        return self.where[name].get(name)

    def names(self) -> list[str]:
        return sorted(self.where)
