"""Integer width arithmetic shared by every kernel, the renderers and the cost model (one definition each)."""
from __future__ import annotations


def clog2(n: int) -> int:
    """ceil(log2(n)): bits that address n states; 0 for n <= 1 (one state needs no address)."""
    return (int(n) - 1).bit_length() if n > 1 else 0


def index_bits(n: int) -> int:
    """Width of a counter or index register over n states: clog2(n), but at least 1 (Verilog has no 0-bit reg)."""
    return max(1, clog2(n))


def signed_bits_for_bound(bound: int) -> int:
    """Two's-complement width holding every value in [-bound, bound]."""
    return max(1, int(bound)).bit_length() + 1


def pad_to(n: int, multiple: int) -> int:
    """n rounded up to a multiple of `multiple`."""
    return -(-int(n) // int(multiple)) * int(multiple)


def ceil_div(a: float, b: float) -> int:
    return -(-int(a) // int(b)) if a > 0 else 0
