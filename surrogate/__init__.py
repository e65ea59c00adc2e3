"""The learned cost model and the design search: package `hwgen.surrogate`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.surrogate`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.surrogate":
    raise ImportError(f"this package is 'hwgen.surrogate'; import it (or run `python -m hwgen.surrogate.<module>`) "
                      f"under that name, not as {__name__!r}")

import os as _os
import sys as _sys

# torch's OpenMP threads spin between ops by default. On a machine whose cores other processes share (this project's
# 2-core CI and dev machine), every op then waits for a descheduled spinner: the ensemble forward on 2 threads ran
# 4-5x slower than with passive waiting (6,000 designs, load ~5: 10.8 s vs 2.1 s at 512 designs per batch). Takes
# effect only where torch is not loaded yet, and never over a policy the user set.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
