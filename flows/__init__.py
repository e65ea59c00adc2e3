"""The synthesis and simulation flows: package `hwgen.flows`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.flows`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.flows":
    raise ImportError(f"this package is 'hwgen.flows'; import it (or run `python -m hwgen.flows.<module>`) "
                      f"under that name, not as {__name__!r}")
