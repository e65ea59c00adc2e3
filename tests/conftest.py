import os
import shutil

import pytest


def pytest_configure(config):
    # Compiled C-sim binaries and simulators are cached per content hash; keep them in the user's cache
    # so repeated test runs (and CI on the same machine) reuse them.
    os.environ.setdefault("HWGEN_CACHE_DIR", os.path.expanduser("~/.cache/hwgen"))


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed; run make setup")
