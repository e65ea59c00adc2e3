import os
import shutil

import pytest


def pytest_configure(config):
    # Compiled C-sim binaries and simulators are cached per content hash; keep them in the user's cache
    # so repeated test runs (and CI on the same machine) reuse them.
    os.environ.setdefault("HWGEN_CACHE_DIR", os.path.expanduser("~/.cache/hwgen"))


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed; run make setup")


@pytest.fixture
def hwgen_cli(capsys):
    """Run the `hwgen` command line in-process: hwgen_cli([...]) -> (exit code, stderr)."""
    import sys

    import hwgen.cli

    def run(args: list[str]) -> tuple[int, str]:
        old = sys.argv
        sys.argv = ["hwgen", *args]
        code = 0
        try:
            hwgen.cli.main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        finally:
            sys.argv = old
        return code, capsys.readouterr().err

    return run
