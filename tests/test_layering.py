"""The pipeline's layering: one import name per module, leaf modules that stay leaves, and no stage after the
kernel models that branches on a kernel kind (they ask the kernel interface instead)."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("flows", "datasets", "surrogate", "bench")


def _python(code: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("folder", ["flows", "surrogate", "datasets", "templates", "models"])
def test_top_level_folders_have_one_import_name(folder):
    r = _python(f"import {folder}")
    assert r.returncode != 0 and f"this package is 'hwgen.{folder}'" in r.stderr


def test_search_runs_as_module_and_command():
    r = subprocess.run([sys.executable, "-m", "hwgen.surrogate.search", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0 and "--budget" in r.stdout
    r = subprocess.run([sys.executable, "-m", "surrogate.search", "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode != 0 and "hwgen.surrogate" in r.stderr


@pytest.mark.parametrize("leaf, forbidden", [
    ("hwgen.spec", ("hwgen.kernels", "hwgen.surrogate", "hwgen.flows")),
    ("hwgen.surrogate.costs", ("hwgen.surrogate.features", "hwgen.surrogate.ir", "torch", "hwgen.kernels.tlmm")),
    ("hwgen.surrogate.ir", ("hwgen.surrogate.features", "torch", "hwgen.kernels.tlmm")),
    ("hwgen.kernels", ("hwgen.surrogate", "hwgen.flows", "hwgen.datasets", "torch")),
    ("hwgen.cli", ("torch", "hwgen.surrogate.model")),
])
def test_leaf_modules_stay_light(leaf, forbidden):
    r = _python(f"import sys, {leaf}; print(sorted(m for m in sys.modules))")
    assert r.returncode == 0, r.stderr
    loaded = set(eval(r.stdout))
    assert not [m for m in forbidden if m in loaded], (leaf, [m for m in forbidden if m in loaded])


def test_nothing_imports_the_cli_back():
    """The command line sits on top: no module of the package imports hwgen.cli (it loads the stage CLIs)."""
    offenders = []
    for path in ROOT.glob("*/**/*.py"):
        if path.parts[len(ROOT.parts)] not in ("hwgen", *STAGES) or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("cli") and node.module in (
                    "hwgen.cli", "cli") and path.name != "cli.py":
                offenders.append(str(path))
    assert not offenders


def test_later_stages_do_not_branch_on_kernel_kinds():
    """flows/, datasets/, surrogate/ ask the kernel interface: no comparison with a kind name in their code."""
    from hwgen import kernels

    kinds = "|".join(re.escape(k) for k in kernels.kinds())
    pattern = re.compile(rf"""(==|!=|\bin\b|startswith\()\s*\(?\s*["'](?:{kinds}|attention|tlmm)""")
    offenders = []
    for folder in ("flows", "datasets", "surrogate"):
        for path in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#")[0]
                if pattern.search(code):
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not offenders, offenders


def test_templates_compute_no_widths():
    """Hardware text only: Jinja expressions in the templates substitute numbers, they do not compute them."""
    arithmetic = re.compile(r"\{\{[^}]*?(?<![\w.])(?:\w+\.)*\w+\s*[-+*/%]\s*[\w(]")
    offenders = []
    for path in (ROOT / "templates").rglob("*.j2"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            for expr in re.findall(r"\{\{.*?\}\}", line):
                expr = re.sub(r"\"[^\"]*\"|'[^']*'", "''", expr)        # string literals are text
                if arithmetic.search(expr) and "loop.index" not in expr and "~" not in expr:
                    offenders.append(f"{path.relative_to(ROOT)}:{i}: {expr}")
    assert not offenders, offenders[:10]


def test_a_kernel_is_one_module_its_templates_and_one_registry_line():
    """The residual adder, added by the contract refactor: its module, its templates and one line in
    hwgen/kernels/__init__.py are all it took; every stage handles it."""
    registry = (ROOT / "hwgen" / "kernels" / "__init__.py").read_text()
    assert registry.count("ResidualAddKernel") == 2        # the import and the registry line
    for folder in ("flows", "datasets", "surrogate", "hwgen/cli.py", "hwgen/render.py"):
        for path in ([ROOT / folder] if folder.endswith(".py") else (ROOT / folder).rglob("*.py")):
            assert not re.search(r"residual_add|ResidualAdd|ResidualSpec", path.read_text()), path
    assert sorted(p.name for p in (ROOT / "templates" / "residual").rglob("*.j2")) == [
        "residual.cpp.j2", "residual.h.j2", "residual.v.j2"]
