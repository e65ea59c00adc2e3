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


def source_rate(bytes_per_cycle: float, beat_bits: int) -> tuple[int, int]:
    """A stream source of `bytes_per_cycle` payload bytes per cycle, as beats per cycle NUM/DEN <= 1 (the test
    bench's duty pattern, templates/common/tb.v.j2): the rate is read as a decimal (limit_denominator(1000)),
    then divided by the beat's bytes (beat_bits / 8); rates of a beat per cycle or more are (1, 1)."""
    from fractions import Fraction

    if not bytes_per_cycle > 0:
        raise ValueError(f"bytes_per_cycle must be > 0, got {bytes_per_cycle}")
    beats = Fraction(bytes_per_cycle).limit_denominator(1000) * 8 / int(beat_bits)
    return (1, 1) if beats >= 1 else (beats.numerator, beats.denominator)
