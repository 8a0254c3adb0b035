"""The build: every kernel is compiled, listed, stubbed and shipped."""
import ast
import pathlib
import re

import ofi

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORE = ROOT / "ofi" / "_core"
PACKAGE = ROOT / "ofi"


def _module_path(name, suffix):
    """ofi._core.book -> <root>/ofi/_core/book<suffix>"""
    return ROOT.joinpath(*name.split(".")).with_suffix(suffix)


def _setup_modules():
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "MODULES":
            return [elt.value for elt in node.value.elts]
    raise AssertionError("setup.py has no MODULES list")


def test_every_pyx_is_in_the_extension_list():
    # the core's kernels and each venue's compiled decoder (ofi/venues/<venue>/_decode.pyx)
    pyx = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in PACKAGE.rglob("*.pyx"))
    assert pyx, "no .pyx found"
    assert "ofi.venues.bybit._decode" in pyx
    assert sorted(_setup_modules()) == pyx


def test_every_extension_has_a_stub():
    for name in _setup_modules():
        assert _module_path(name, ".pyi").is_file(), f"{name}: its .pyi stub is missing"


def test_directives_are_set_once_in_setup_py():
    text = (ROOT / "setup.py").read_text()
    for directive in ("language_level", "boundscheck", "wraparound", "initializedcheck", "cdivision",
                      "embedsignature"):
        assert directive in text
    for pyx in PACKAGE.rglob("*.pyx"):
        head = pyx.read_text().splitlines()[:3]
        assert not any(re.match(r"#\s*cython:.*(boundscheck|wraparound)", line) for line in head), pyx


def test_compiled_modules_are_imported_not_python_fallbacks():
    from ofi._core import book, decoder, events, replay
    from ofi.venues.bybit import _decode

    for mod in (book, decoder, events, replay, _decode):
        assert not mod.__file__.endswith(".py"), mod.__file__
    assert ofi.OrderBook.__module__ == "ofi._core.book"


def test_package_ships_py_typed():
    assert (ROOT / "ofi" / "py.typed").is_file()
