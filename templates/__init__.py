"""The Jinja templates and the library RTL modules: package `hwgen.templates`."""
# The folder sits at the repository root for readability and pyproject.toml maps it to `hwgen.templates`. Imported by
# its folder name it would load a second copy of every module, with registries and classes of its own.
if __name__ != "hwgen.templates":
    raise ImportError(f"this package is 'hwgen.templates'; import it (or run `python -m hwgen.templates.<module>`) "
                      f"under that name, not as {__name__!r}")
