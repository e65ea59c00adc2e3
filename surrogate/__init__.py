"""The learned cost model and the design search: package `hwgen.surrogate`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.surrogate`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.surrogate":
    raise ImportError(f"this package is 'hwgen.surrogate'; import it (or run `python -m hwgen.surrogate.<module>`) "
                      f"under that name, not as {__name__!r}")
