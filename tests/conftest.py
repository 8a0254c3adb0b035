"""Shared fixtures: where the real captures live, and loaders for them.

Real data sits beside the repository, in ``../shared/data/bybit`` (see its SOURCES.md). Tests that
need it carry ``@pytest.mark.realdata`` or use one of the fixtures below; both skip cleanly when the
folder is absent (e.g. in a wheel test run).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
BYBIT_DIR = SHARED_DIR / "data" / "bybit"
V5_DIR = BYBIT_DIR / "v5"
LEGACY_DIR = BYBIT_DIR / "legacy_v2"
XRP_OB500 = V5_DIR / "2024-12-01_XRPUSDT_ob500.data"

_HAVE_DATA = (SHARED_DIR / "data").is_dir()
_SKIP_REASON = f"real data not found at {SHARED_DIR / 'data'}"
# A received legacy frame: "<epoch seconds>: <json>" (sent frames and the opening line differ).
_LEGACY_RECEIVED = re.compile(r"^(\d+(?:\.\d+)?): (.*)$")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("realdata") is not None and not _HAVE_DATA:
        pytest.skip(_SKIP_REASON)


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data file not found: {path}")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` relative to the repository root."""
    return SHARED_DIR


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The ``../shared/data/bybit`` folder; skips the test when it is absent."""
    if not _HAVE_DATA:
        pytest.skip(_SKIP_REASON)
    return _need(BYBIT_DIR)


@pytest.fixture(scope="session")
def xrp_frames() -> list[str]:
    """The 50 raw frames of the XRPUSDT linear ob500 capture (1 snapshot + 49 deltas)."""
    return _need(XRP_OB500).read_text().splitlines()


@pytest.fixture(scope="session")
def v5_jsonl() -> dict[str, list[str]]:
    """Every other V5 capture: file name -> its non-empty lines (one raw frame each)."""
    _need(V5_DIR)
    files = sorted(p for p in V5_DIR.iterdir() if p.suffix in (".jsonl", ".json"))
    return {p.name: [ln for ln in p.read_text().splitlines() if ln.strip()] for p in files}


@pytest.fixture(scope="session")
def legacy_frames() -> list[tuple[str, str]]:
    """Received pre-V5 frames as (file name, raw json), from ``legacy_v2/BYBIT.ws.*``."""
    _need(LEGACY_DIR)
    out = []
    for path in sorted(LEGACY_DIR.glob("BYBIT.ws.*")):
        for line in path.read_text().splitlines():
            m = _LEGACY_RECEIVED.match(line)
            if m:
                out.append((path.name, m.group(2)))
    return out
