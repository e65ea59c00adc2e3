"""The dataset builder and store: package `hwgen.datasets`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.datasets`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.datasets":
    raise ImportError(f"this package is 'hwgen.datasets'; import it (or run `python -m hwgen.datasets.<module>`) "
                      f"under that name, not as {__name__!r}")
