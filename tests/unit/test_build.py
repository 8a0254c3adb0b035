"""The build: every kernel is compiled, listed, stubbed and shipped."""
import ast
import pathlib
import re

import ofi

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = ROOT / "ofi" / "_core"


def _setup_modules():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "MODULES":
            return [elt.value for elt in node.value.elts]
    raise AssertionError("setup.py has no MODULES list")


def test_every_pyx_is_in_the_extension_list():
    pyx = sorted(p.stem for p in CORE.glob("*.pyx"))
    assert pyx, "no .pyx found"
    assert sorted(_setup_modules()) == pyx


def test_every_extension_has_a_stub():
    for name in _setup_modules():
        assert (CORE / f"{name}.pyi").is_file(), f"ofi/_core/{name}.pyi is missing"


def test_directives_are_set_once_in_setup_py():
    text = (ROOT / "setup.py").read_text()
    for directive in ("language_level", "boundscheck", "wraparound", "initializedcheck", "cdivision",
                      "embedsignature"):
        assert directive in text
    for pyx in CORE.glob("*.pyx"):
        head = pyx.read_text().splitlines()[:3]
        assert not any(re.match(r"#\s*cython:.*(boundscheck|wraparound)", line) for line in head), pyx


def test_compiled_modules_are_imported_not_python_fallbacks():
    from ofi._core import book, decode, replay

    for mod in (book, decode, replay):
        assert not mod.__file__.endswith(".py"), mod.__file__
    assert ofi.OrderBook.__module__ == "ofi._core.book"


def test_package_ships_py_typed():
    assert (ROOT / "ofi" / "py.typed").is_file()
