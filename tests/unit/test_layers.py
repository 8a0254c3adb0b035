"""The layer contracts of docs/design.md hold, and a violating import would be caught.

import-linter (contracts in pyproject.toml) checks the Python modules; grimp does not read Cython, so the
imports of the compiled core (``ofi/_core/*.pyx``, ``*.pxd``) are checked here directly.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c())"]


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(pythonpath), NO_COLOR="1")
    return subprocess.run(LINT + ["--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_contracts_are_kept():
    r = _lint(ROOT, ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    # The same sources with one upward import: validation (below the domain) importing the CLI (the top).
    shutil.copytree(ROOT / "ofi", tmp_path / "ofi", ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "ofi" / "validation.py", "a") as f:
        f.write("\nimport ofi.cli  # noqa: E402,F401\n")
    r = _lint(tmp_path, tmp_path)
    assert r.returncode != 0
    assert "ofi.validation is not allowed to import ofi.cli" in r.stdout, r.stdout


# The core sits below everything but the foundation: it may import itself, ofi.errors and ofi.spec.
_CORE_ALLOWED = ("ofi._core", "ofi.errors", "ofi.spec")
_IMPORT = re.compile(r"^\s*(?:from\s+(ofi[\w.]*)\s+c?import|c?import\s+(ofi[\w.]*))", re.M)


def test_the_compiled_core_imports_nothing_above_it():
    bad = []
    for path in sorted((ROOT / "ofi" / "_core").glob("*.p[yx][xd]")) + sorted((ROOT / "ofi" / "_core").glob("*.py")):
        for m in _IMPORT.finditer(path.read_text()):
            mod = m.group(1) or m.group(2)
            if not any(mod == a or mod.startswith(a + ".") for a in _CORE_ALLOWED):
                bad.append(f"{path.name}: {mod}")
    assert not bad, bad
