"""Exact memos of the surrogate's graph builders, and the switch that turns them off.

The design search and `hwgen surrogate predict` build thousands of hardware graphs a second; most of a graph's cost
terms are pure functions of a few numbers that many designs share (a lane tree, a memory's LUTRAM banks). The memos
here and in hwgen/kernels/tlmm.py (the lane path) key on exactly those inputs. `memos_off()` builds without any
of them: tests/test_surrogate_fastpath.py compares both ways, feature for feature.
"""
from __future__ import annotations

import contextlib
import functools

_on = True
_clears: list = []      # every memo's clear(), for clear_memos


def registered(clear):
    """Register a memo's clear() with clear_memos; returns it."""
    _clears.append(clear)
    return clear


def clear_memos() -> None:
    """Empty every memo (tests: a memo filled by one design must not decide another's values)."""
    for clear in _clears:
        clear()


def memos_on() -> bool:
    return _on


@contextlib.contextmanager
def memos_off():
    """Within: every memo of this module's kind computes afresh (the reference path)."""
    global _on
    was, _on = _on, False
    try:
        yield
    finally:
        _on = was


def pure(fn):
    """Memoise a pure function of hashable arguments (typed: 3 and 3.0 are separate entries)."""
    cached = functools.lru_cache(maxsize=1 << 14, typed=True)(fn)
    registered(cached.cache_clear)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return cached(*args, **kwargs) if _on else fn(*args, **kwargs)

    return wrapper


def pure_dict(fn):
    """pure() for a function that returns a fresh dict (the cost primitives): each call gets its own copy, as
    callers adjust the estimate they are handed."""
    cached = functools.lru_cache(maxsize=1 << 14, typed=True)(fn)
    registered(cached.cache_clear)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return dict(cached(*args, **kwargs)) if _on else fn(*args, **kwargs)

    return wrapper


class Unread:
    """The value of a field that a memoised computation must not read: any use raises, so a memo keyed without the
    field cannot serve a value that depended on it."""

    def __init__(self, name: str, keyed_by: str):
        self.name, self.keyed_by = name, keyed_by

    def _fail(self, *args, **kwargs):
        raise AssertionError(f"{self.name} was read by a computation memoised on {self.keyed_by}, which leaves it out")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = __bool__ = __index__ = __int__ = _fail
    __float__ = __len__ = __iter__ = __str__ = __format__ = __add__ = __radd__ = __sub__ = __rsub__ = _fail
    __mul__ = __rmul__ = __floordiv__ = __rfloordiv__ = __truediv__ = __rtruediv__ = __neg__ = __getitem__ = _fail
