"""Offline ternary weight encoding shared by the TLMM and naive kernels, plus integer helpers.

Full-table TLMM index of a group of G weights: base-3 number with digit_i = w_i + 1, digit 0
in the least significant place (it multiplies activation a_0). Mirror-table index: the table
keeps entries 0..h (h = (3^G - 1) / 2); an index above h is stored as sign bit + (3^G - 1 - idx),
because flipping every digit (d -> 2 - d) negates the partial sum.
"""
from __future__ import annotations

import numpy as np

from ..errors import UserError


def check_ternary(w: np.ndarray, field: str = "w") -> np.ndarray:
    w = np.asarray(w)
    if w.ndim != 2:
        raise UserError(field, f"must be a 2-D matrix [K, N]; got shape {list(w.shape)}")
    if w.dtype.kind == "f":
        if not np.all(np.isfinite(w)):
            raise UserError(field, "contains NaN or Inf; allowed values: -1, 0, 1")
    bad = ~np.isin(w, (-1, 0, 1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise UserError(field, f"non-ternary value {w[i, j].item()!r} at [{i}, {j}]; allowed values: -1, 0, 1")
    return w.astype(np.int8)


def digit_table(G: int) -> np.ndarray:
    """[3^G, G] matrix of weight values (-1, 0, +1) for every full-table index."""
    idx = np.arange(3**G)
    return np.stack([(idx // 3**i) % 3 - 1 for i in range(G)], axis=1).astype(np.int64)


def group_indices(w: np.ndarray, G: int, K_pad: int, N_pad: int) -> np.ndarray:
    """Ternary [K, N] -> full-table indices [K_pad/G, N_pad] (padding weights are 0)."""
    w = check_ternary(w)
    K, N = w.shape
    wp = np.zeros((K_pad, N_pad), dtype=np.int64)
    wp[:K, :N] = w
    digits = (wp + 1).reshape(K_pad // G, G, N_pad)
    powers = (3 ** np.arange(G)).reshape(1, G, 1)
    return (digits * powers).sum(axis=1)


def mirror_fold(idx: np.ndarray, G: int) -> tuple[np.ndarray, np.ndarray]:
    """Full index -> (sign, mirrored index <= h)."""
    top = 3**G - 1
    h = top // 2
    sign = idx > h
    return sign.astype(np.int64), np.where(sign, top - idx, idx)


def pack_fields(fields: np.ndarray, bits: int) -> list[int]:
    """Pack the last axis of `fields` (non-negative ints < 2^bits) into one int per row, field 0 at the LSBs."""
    flat = fields.reshape(-1, fields.shape[-1])
    words = []
    for row in flat:
        word = 0
        for pos, value in enumerate(row.tolist()):
            word |= int(value) << (pos * bits)
        words.append(word)
    return words


def unpack_fields(words: list[int], count: int, bits: int) -> np.ndarray:
    mask = (1 << bits) - 1
    return np.array([[(w >> (p * bits)) & mask for p in range(count)] for w in words], dtype=np.int64)


def to_unsigned(values: np.ndarray, bits: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)


def to_signed(values: np.ndarray, bits: int) -> np.ndarray:
    v = np.asarray(values, dtype=np.int64) & ((1 << bits) - 1)
    return np.where(v >= (1 << (bits - 1)), v - (1 << bits), v)
