"""The shipped surrogate models (package data): package `hwgen.models`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.models`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.models":
    raise ImportError(f"this package is 'hwgen.models'; import it (or run `python -m hwgen.models.<module>`) "
                      f"under that name, not as {__name__!r}")
