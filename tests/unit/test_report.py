"""Backtest reports (ofi.backtest.report) and the result schema (ofi.backtest.result).

A synthetic day (200k equity rows, 2000 fills, 1000 round trips, one-second chart series) built
by ``make_day_result``, which ``bench/test_bench_report.py`` reuses. Speed is measured there, not here.
"""
from __future__ import annotations

import base64
import io
import json
import math
import re
import shutil
import subprocess
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from ofi.backtest.report import (
    JSON_MAX_POINTS,
    markouts_by_vpin_decile,
    minmax_indices,
    print_summary,
    to_json,
    write_html,
    write_json,
)
from ofi.backtest.result import (
    EQUITY_DTYPE,
    FILL_DTYPE,
    TRADE_DTYPE,
    BacktestResult,
    build_equity,
    build_fills,
    build_trades,
)
from ofi.errors import InvalidInputError

T0_NS = 1_733_011_200_000_000_000  # 2024-12-01 00:00:00 UTC
DAY_NS = 86_400_000_000_000
DATA_SRC = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


# ============================================================================ builders
def make_day_result(n_equity: int = 200_000, n_fills: int = 2000, seed: int = 7,
                    initial: float = 10_000.0) -> BacktestResult:
    """A coherent synthetic day of BTCUSDT trading.

    Mid: a log random walk on a 0.1 grid, one row every ``86400 / n_equity`` s (jittered). Fills at
    equity rows, in pairs (entry, exit) of one round trip, at mid -/+ 0.05; entries guess the next
    move right 70% of the time; fees 0.2 bp maker / 1 bp taker. Cash, position and equity follow
    the fills. Series (one row a second): mid, a smoothed-noise OFI, VPIN (NaN for 10 min, then a
    slow wave). Markouts shrink as VPIN rises (adverse selection) and the 10 s one is unknown for
    the last 10 s of the day.
    """
    rng = np.random.default_rng(seed)
    step = DAY_NS // n_equity
    eq = build_equity(n_equity)
    eq["ts_ns"] = T0_NS + np.arange(n_equity, dtype=np.int64) * step + rng.integers(0, step // 2, n_equity)
    mid = np.round(60_000.0 * np.exp(np.cumsum(rng.normal(0.0, 4e-5, n_equity))), 1)
    eq["mid"] = mid
    rows = np.sort(rng.choice(np.arange(1, n_equity - 1), size=n_fills, replace=False))
    n_trades = n_fills // 2
    move = np.sign(mid[rows[1::2]] - mid[rows[0::2]])
    guess = rng.choice(np.array([-1, 1], dtype=np.int8), size=n_trades)
    entry_side = np.where((rng.random(n_trades) < 0.7) & (move != 0), move, guess).astype(np.int8)
    side = np.empty(n_fills, dtype=np.int8)
    side[0::2] = entry_side
    side[1::2] = -entry_side
    qty = np.repeat(rng.integers(1, 20, n_trades) * 0.001, 2)
    price = mid[rows] - side * 0.05
    maker = rng.integers(0, 2, n_fills).astype(np.uint8)
    fee = price * qty * np.where(maker == 1, 0.00002, 0.0001)
    pos = np.zeros(n_fills)
    pos[0::2] = entry_side * qty[0::2]
    fills = build_fills(n_fills)
    fills["ts_ns"] = eq["ts_ns"][rows]
    fills["order_id"] = np.arange(1, n_fills + 1)
    fills["side"] = side
    fills["price"] = price
    fills["qty"] = qty
    fills["fee"] = fee
    fills["maker"] = maker
    fills["position_after"] = pos
    # account state as of each equity row (a fill applies at its own row)
    k = np.searchsorted(rows, np.arange(n_equity), side="right")
    eq["cash"] = np.concatenate([[initial], initial + np.cumsum(-side * price * qty - fee)])[k]
    eq["position"] = np.concatenate([[0.0], pos])[k]
    eq["equity"] = eq["cash"] + eq["position"] * mid
    tr = build_trades(n_trades)
    tr["entry_ts"] = fills["ts_ns"][0::2]
    tr["exit_ts"] = fills["ts_ns"][1::2]
    tr["side"] = entry_side
    tr["qty"] = qty[0::2]
    tr["entry_price"] = price[0::2]
    tr["exit_price"] = price[1::2]
    tr["gross_pnl"] = entry_side * (price[1::2] - price[0::2]) * qty[0::2]
    tr["fees"] = fee[0::2] + fee[1::2]
    tr["net_pnl"] = tr["gross_pnl"] - tr["fees"]
    s_ts = T0_NS + np.arange(86_400, dtype=np.int64) * 1_000_000_000
    j = np.searchsorted(eq["ts_ns"], s_ts, side="right") - 1
    s_mid = np.where(j >= 0, mid[np.maximum(j, 0)], np.nan)
    ofi = np.convolve(rng.normal(0.0, 1.0, 86_400), np.ones(10) / 10.0, mode="same") * 5.0
    vpin = np.clip(0.3 + 0.15 * np.sin(np.arange(86_400) / 3000.0) + rng.normal(0, 0.03, 86_400), 0, 1)
    vpin[:600] = np.nan
    v_at = vpin[np.clip(np.searchsorted(s_ts, fills["ts_ns"], side="right") - 1, 0, None)]
    base = 1.0 - 6.0 * (np.nan_to_num(v_at, nan=0.3) - 0.3)
    mk = base[:, None] * np.array([0.3, 0.6, 1.0]) + rng.normal(0, 1.0, (n_fills, 3))
    mk[fills["ts_ns"] > s_ts[-1] - 10_000_000_000, 2] = np.nan
    net = float(eq["equity"][-1] - initial)
    wins = tr["net_pnl"][tr["net_pnl"] > 0]
    losses = tr["net_pnl"][tr["net_pnl"] < 0]
    peak = np.maximum.accumulate(eq["equity"])
    # the names ofi.metrics.trading.TradingMetrics.summary writes
    metrics = {
        "initial_capital": initial,
        "net_pnl": float(tr["net_pnl"].sum()),
        "equity_pnl": net,
        "return_pct": net / initial,
        "sharpe_daily": 1.2345,
        "sortino_daily": 2.5,
        "max_drawdown": float(np.max(peak - eq["equity"])),
        "max_drawdown_pct": float(np.max((peak - eq["equity"]) / peak)),
        "n_trades": n_trades,
        "win_rate": len(wins) / n_trades,
        "profit_factor": float(wins.sum() / -losses.sum()),
        "fees": float(fee.sum()),
        "exposure": float(np.mean(eq["position"] != 0)),
        "turnover": float((price * qty).sum()),
        "avg_holding_s": float(np.mean(tr["exit_ts"] - tr["entry_ts"]) / 1e9),
    }
    config = {"initial_capital": initial, "position_size": 0.1, "commission_rate": 0.0001,
              "maker_rate": 0.00002, "slippage_bps": 1.0, "max_holding_time": 300,
              "max_daily_loss": 500.0, "signal": {"prob_threshold_long": 0.55, "ofi_window_s": 10}}
    return BacktestResult(symbol="BTCUSDT", config=config, equity=eq, fills=fills, trades=tr,
                          metrics=metrics, series={"ts_ns": s_ts, "mid": s_mid, "ofi": ofi, "vpin": vpin},
                          markouts=mk)


def small_result(n: int = 10) -> BacktestResult:
    """``n`` equity rows 1 s apart, two fills (a long round trip), no series."""
    eq = build_equity(n)
    eq["ts_ns"] = T0_NS + np.arange(n, dtype=np.int64) * 1_000_000_000
    eq["mid"] = 100.0
    eq["equity"] = eq["cash"] = 1000.0
    fills = build_fills(2)
    fills["ts_ns"] = eq["ts_ns"][[1, 3]]
    fills["side"] = [1, -1]
    fills["price"] = [100.0, 101.0]
    fills["qty"] = 1.0
    fills["position_after"] = [1.0, 0.0]
    tr = build_trades(1)
    tr[0] = (fills["ts_ns"][0], fills["ts_ns"][1], 1, 1.0, 100.0, 101.0, 1.0, 0.0, 1.0)
    return BacktestResult("TEST", {"a": 1}, eq, fills, tr, {"net_pnl": 1.0})


@pytest.fixture(scope="module")
def day() -> BacktestResult:
    return make_day_result()


@pytest.fixture(scope="module")
def day_html(day, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("html")
    return write_html(day, out / "report.html")


# ============================================================================ schema
def test_builders_make_the_declared_dtypes():
    assert build_equity(3).dtype == EQUITY_DTYPE and len(build_equity(3)) == 3
    assert build_fills().dtype == FILL_DTYPE and len(build_fills()) == 0
    assert build_trades(2).dtype == TRADE_DTYPE
    assert EQUITY_DTYPE.names == ("ts_ns", "equity", "cash", "position", "mid")
    assert FILL_DTYPE["side"] == np.int8 and FILL_DTYPE["maker"] == np.uint8
    with pytest.raises(InvalidInputError, match="n must be an int >= 0"):
        build_fills(-1)


def test_day_fixture_is_valid(day):
    assert day.validate() is day
    assert len(day.equity) == 200_000 and len(day.fills) == 2000 and len(day.trades) == 1000
    assert "200000 rows" in repr(day)


def _set(path, value):
    def mutate(r):
        obj, attr = r, path.split(".")
        for a in attr[:-1]:
            obj = getattr(obj, a) if not isinstance(obj, dict) else obj[a]
        if isinstance(obj, dict):
            obj[attr[-1]] = value
        else:
            setattr(obj, attr[-1], value)
    return mutate


def _swap_ts(field):
    def mutate(r):
        arr = getattr(r, field)
        arr["ts_ns"][[2, 3]] = arr["ts_ns"][[3, 2]]
    return mutate


def _unsorted_series(r):
    r.series = {"ts_ns": np.array([3, 2, 1], dtype=np.int64), "vpin": np.zeros(3)}


def _late_exit(r):
    r.trades["entry_ts"][0] = r.trades["exit_ts"][0] + 1


def _unsorted_trades(r):
    t = build_trades(2)
    t["entry_ts"] = [0, 0]
    t["exit_ts"] = [5, 4]
    t["side"] = 1
    r.trades = t


def _side(field, value):
    def mutate(r):
        getattr(r, field)["side"][0] = value
    return mutate


BAD = [
    ("symbol", _set("symbol", ""), "symbol must be a non-empty str"),
    ("config not dict", _set("config", [1]), "config must be a dict"),
    ("config set", _set("config", {"x": {1, 2}}), r"config\['x'\] is not JSON-serialisable"),
    ("metrics int key", _set("metrics", {1: 2.0}), "metrics keys must be str"),
    ("equity float32", _set("equity", np.zeros(10, dtype=[("ts_ns", "i8"), ("equity", "f4"),
                                                        ("cash", "f8"), ("position", "f8"),
                                                        ("mid", "f8")])), "equity must have dtype"),
    ("equity plain", _set("equity", np.zeros(10)), "equity must have dtype"),
    ("equity list", _set("equity", [1, 2]), "equity must be a numpy structured array"),
    ("fills 2-D", _set("fills", build_fills(4).reshape(2, 2)), "fills must be 1-D"),
    ("trades dtype", _set("trades", build_fills(1)), "trades must have dtype"),
    ("equity unsorted", _swap_ts("equity"), r"equity\['ts_ns'\] must never decrease, got .* at index 3"),
    ("fill side 0", _side("fills", 0), r"fills\['side'\] must be \+1 or -1, got 0 at index 0"),
    ("trade side 2", _side("trades", 2), r"trades\['side'\] must be \+1 or -1, got 2"),
    ("trade exits first", _late_exit, r"trades\[0\] exits before it enters"),
    ("trades unsorted", _unsorted_trades, r"trades\['exit_ts'\] must never decrease"),
    ("series no ts", _set("series", {"vpin": np.zeros(3)}), "no 'ts_ns'"),
    ("series lengths", _set("series", {"ts_ns": np.arange(3), "vpin": np.zeros(4)}),
     "equal lengths"),
    ("series ts dtype", _set("series", {"ts_ns": np.arange(3.0), "vpin": np.zeros(3)}),
     r"series\['ts_ns'\] must have dtype int64"),
    ("series list", _set("series", {"ts_ns": np.arange(3), "vpin": [0, 0, 0]}),
     r"series\['vpin'\] must be a numpy array"),
    ("series strings", _set("series", {"ts_ns": np.arange(3), "vpin": np.array(["a"] * 3)}),
     r"series\['vpin'\] must be numeric"),
    ("series unsorted", _unsorted_series, r"series\['ts_ns'\] must never decrease"),
    ("markouts shape", _set("markouts", np.zeros((3, 3))), r"markouts must have shape \(len\(fills\), 3\)"),
    ("markouts ints", _set("markouts", np.zeros((2, 3), dtype=np.int64)), "markouts must have a float dtype"),
]


@pytest.mark.parametrize("mutate, match", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_validate_rejects(mutate, match):
    r = small_result()
    r.validate()
    mutate(r)
    with pytest.raises(InvalidInputError, match=match):
        r.validate()
    with pytest.raises(InvalidInputError, match=match):  # the writers validate first
        to_json(r)


def test_validate_accepts_equal_times_and_empty_arrays():
    r = small_result()
    r.equity["ts_ns"][4] = r.equity["ts_ns"][3]
    r.validate()
    empty = BacktestResult("X", {}, build_equity(), build_fills(), build_trades(), {},
                           markouts=np.zeros((0, 3)))
    empty.validate()


def test_writers_reject_other_objects():
    with pytest.raises(InvalidInputError, match="result must be a BacktestResult, got dict"):
        to_json({"symbol": "X"})


# ============================================================================ downsampling
def test_minmax_indices_hand_example():
    v = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3], dtype=float)
    # max_points 6 -> 2 buckets of 5 rows: [3 1 4 1 5] min at 1 (first), max at 4; [9 2 6 5 3]
    # min at 6, max at 5; plus rows 0 and 9
    np.testing.assert_array_equal(minmax_indices(v, 6), [0, 1, 4, 5, 6, 9])
    # 7 rows, 2 buckets of 4 (the last padded): [5 0 5 5] -> 1, 0; [7 7 7] -> 4, 4; plus 0 and 6
    np.testing.assert_array_equal(minmax_indices(np.array([5, 0, 5, 5, 7, 7, 7.0]), 6), [0, 1, 4, 6])
    # NaN is not an extreme: [1 nan 0 2] -> 2, 3; [nan 3 4] -> 5, 6
    np.testing.assert_array_equal(minmax_indices(np.array([1, np.nan, 0, 2, np.nan, 3, 4.0]), 6),
                                  [0, 2, 3, 5, 6])
    np.testing.assert_array_equal(minmax_indices(v, 10), np.arange(10))
    with pytest.raises(InvalidInputError, match="max_points must be an int >= 4"):
        minmax_indices(v, 3)


def test_minmax_indices_keeps_spikes_and_bounds():
    rng = np.random.default_rng(0)
    v = rng.normal(size=100_003)
    v[77_777] = -50.0
    v[12_345] = 40.0
    i = minmax_indices(v, 500)
    assert len(i) <= 500 and i[0] == 0 and i[-1] == len(v) - 1
    assert np.all(np.diff(i) > 0)
    assert 77_777 in i and 12_345 in i


# ============================================================================ VPIN deciles
def test_markouts_by_vpin_decile_hand_example():
    # Fill 0 at ts 5 comes before the first VPIN value (ts 10): left out. Fills k = 1..20 at
    # ts 9 + k see VPIN (k - 1) / 100 exactly (as-of, same stamp). Quantile edges are 0.019 d, so
    # fill k - 1 = j falls in decile floor(j / 1.9): two fills per decile.
    n = 21
    r = small_result(40)
    f = build_fills(n)
    f["ts_ns"] = np.r_[5, np.arange(10, 30)]
    f["side"] = 1
    r.fills = f
    r.trades = build_trades()
    j = np.arange(20, dtype=float)
    mk = np.c_[np.r_[100.0, j], np.r_[100.0, 2 * j], np.r_[100.0, 3 * j]]
    mk[20, 2] = np.nan  # fill j = 19: 10 s markout unknown
    r.markouts = mk
    r.series = {"ts_ns": np.arange(10, 30, dtype=np.int64), "vpin": j / 100.0}
    r.validate()
    dec = markouts_by_vpin_decile(r)
    np.testing.assert_allclose(dec.edges, 0.019 * np.arange(11), atol=1e-15)
    np.testing.assert_array_equal(dec.count, [2] * 10)
    pair_mean = 2 * np.arange(10) + 0.5
    np.testing.assert_allclose(dec.mean_bps[:, 0], pair_mean)
    np.testing.assert_allclose(dec.mean_bps[:, 1], 2 * pair_mean)
    np.testing.assert_allclose(dec.mean_bps[:9, 2], 3 * pair_mean[:9])
    assert dec.mean_bps[9, 2] == 54.0  # only j = 18 has a 10 s markout
    np.testing.assert_array_equal(dec.n[:, 2], [2] * 9 + [1])
    assert markouts_by_vpin_decile(r, min_fills=21) is None


def test_markouts_by_vpin_decile_needs_vpin_and_markouts():
    assert markouts_by_vpin_decile(small_result()) is None
    r = make_day_result(n_equity=1000, n_fills=100)
    assert markouts_by_vpin_decile(r) is not None
    r.markouts = None
    assert markouts_by_vpin_decile(r) is None


def test_day_deciles_show_adverse_selection(day):
    dec = markouts_by_vpin_decile(day)
    assert dec.count.sum() == int(np.count_nonzero(day.fills["ts_ns"] >= T0_NS + 600 * 10**9))
    assert dec.mean_bps[0, 2] > dec.mean_bps[9, 2]


# ============================================================================ JSON
def test_json_is_byte_identical(day, tmp_path):
    a = to_json(day)
    assert to_json(day) == a
    other = make_day_result()  # built again, independently
    other.config = dict(reversed(list(other.config.items())))  # insertion order does not matter
    other.metrics = dict(reversed(list(other.metrics.items())))
    assert to_json(other) == a
    p1 = write_json(day, tmp_path / "a.json")
    p2 = write_json(other, tmp_path / "b.json")
    assert p1.read_bytes() == p2.read_bytes() == a.encode("ascii")
    assert to_json(make_day_result(seed=8)) != a


def test_json_round_trips_key_numbers(day):
    doc = json.loads(to_json(day))
    assert doc["format"] == "ofi.backtest.report" and doc["version"] == 1
    assert doc["symbol"] == "BTCUSDT"
    assert doc["metrics"] == day.metrics  # floats written with repr read back exactly
    assert doc["config"] == day.config
    assert doc["counts"] == {"equity_rows": 200_000, "fills": 2000, "trades": 1000}
    assert doc["period"] == {"start_ts_ns": int(day.equity["ts_ns"][0]),
                             "end_ts_ns": int(day.equity["ts_ns"][-1])}
    for col in ("ts_ns", "order_id", "side", "price", "qty", "fee", "maker", "position_after"):
        assert doc["fills"][col] == day.fills[col].tolist(), col
    for col in TRADE_DTYPE.names:
        assert doc["trades"][col] == day.trades[col].tolist(), col
    assert sum(doc["trades"]["net_pnl"]) == sum(day.trades["net_pnl"].tolist())
    assert doc["fills"]["markout_1s_bps"] == day.markouts[:, 1].tolist()
    assert doc["markout_horizons_ns"] == [100_000_000, 1_000_000_000, 10_000_000_000]
    eq = doc["equity"]
    assert eq["downsample"] == {"method": "minmax", "column": "equity", "max_points": JSON_MAX_POINTS,
                                "rows_in": 200_000, "rows_out": len(eq["ts_ns"])}
    assert 1000 < len(eq["ts_ns"]) <= JSON_MAX_POINTS
    assert eq["ts_ns"][0] == int(day.equity["ts_ns"][0]) and eq["ts_ns"][-1] == int(day.equity["ts_ns"][-1])
    assert min(eq["equity"]) == float(day.equity["equity"].min())
    assert max(eq["equity"]) == float(day.equity["equity"].max())
    src = np.searchsorted(day.equity["ts_ns"], eq["ts_ns"])  # fixture times are unique
    for col in EQUITY_DTYPE.names:
        assert eq[col] == day.equity[col][src].tolist(), col
    dec = doc["markouts_by_vpin_decile"]
    assert sum(dec["count"]) == int(markouts_by_vpin_decile(day).count.sum())
    assert len(dec["vpin_edges"]) == 11 and set(dec["mean_bps"]) == {"100ms", "1s", "10s"}


def test_json_nan_and_inf_are_null():
    r = small_result()
    r.metrics = {"sharpe": math.nan, "sortino": np.float64(np.inf), "pf": -math.inf,
                 "n": np.int64(3), "ok": np.bool_(True), "arr": np.array([1.0, np.nan])}
    r.config = {"tick": Decimal("0.1"), "levels": (1, 2), "nested": {"x": np.float32(0.5)}}
    r.equity["mid"][2] = np.nan
    r.markouts = np.array([[np.nan, 1.5, np.inf], [0.0, -np.inf, 2.0]])
    text = to_json(r)
    assert "NaN" not in text and "Infinity" not in text
    doc = json.loads(text)
    assert doc["metrics"] == {"sharpe": None, "sortino": None, "pf": None, "n": 3, "ok": True,
                              "arr": [1.0, None]}
    assert doc["config"] == {"tick": "0.1", "levels": [1, 2], "nested": {"x": 0.5}}
    assert doc["equity"]["mid"][2] is None
    assert doc["fills"]["markout_100ms_bps"] == [None, 0.0]
    assert doc["fills"]["markout_1s_bps"] == [1.5, None]
    assert doc["fills"]["markout_10s_bps"] == [None, 2.0]


def test_json_small_and_empty_results():
    r = small_result()
    doc = json.loads(to_json(r))
    assert doc["equity"]["ts_ns"] == r.equity["ts_ns"].tolist()  # under max_points: every row
    assert doc["fills"]["markout_10s_bps"] == [None, None]  # no markouts
    assert doc["markouts_by_vpin_decile"] is None
    empty = BacktestResult("X", {}, build_equity(), build_fills(), build_trades(), {})
    doc = json.loads(to_json(empty))
    assert doc["period"] == {"start_ts_ns": None, "end_ts_ns": None}
    assert doc["equity"]["ts_ns"] == [] and doc["fills"]["price"] == []


def test_json_keeps_a_spike_through_downsampling():
    r = small_result(10_000)
    r.equity["equity"][4321] = 900.0  # a 10% dip for one row
    doc = json.loads(to_json(r, max_points=100))
    eq = doc["equity"]
    assert len(eq["ts_ns"]) <= 100
    k = eq["equity"].index(900.0)
    assert eq["ts_ns"][k] == int(r.equity["ts_ns"][4321])


# ============================================================================ HTML
def _images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in DATA_SRC.findall(text)]


def test_html_is_one_file_with_five_embedded_charts(day_html):
    assert [p.name for p in day_html.parent.iterdir()] == ["report.html"]
    text = day_html.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert text.count('src="data:image/png;base64,') == 5
    assert "http://" not in text and "https://" not in text
    assert "<script" not in text.lower() and "<link" not in text.lower()
    for attr in re.findall(r'(?:src|href)="([^"]*)"', text):
        assert attr.startswith("data:image/png;base64,")
    import matplotlib.image as mpimg

    for png in _images(text):
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        img = mpimg.imread(io.BytesIO(png), format="png")
        assert img.shape[1] == 1200 and img.shape[0] >= 300
    for heading in ("Equity and drawdown", "Price with entries and exits", "OFI against price",
                    "Markouts by VPIN decile", "Trade PnL distribution", "Metrics", "Config"):
        assert f">{heading}</h2>" in text
    assert "not enough data" not in text


def test_html_metrics_table(day, day_html):
    text = day_html.read_text(encoding="utf-8")
    assert f"{day.metrics['net_pnl']:,.2f}" in text
    assert f"{100 * day.metrics['win_rate']:,.2f}%" in text
    assert "avg_holding_s" in text  # other metrics listed too
    assert "BTCUSDT backtest report" in text


def test_html_says_not_enough_data(tmp_path):
    r = make_day_result(n_equity=2000, n_fills=200)
    del r.series["vpin"]
    r.metrics["max_drawdown_trough_ts"] = T0_NS + 3_723_004_000_000
    text = write_html(r, tmp_path / "a.html", title="no <vpin>").read_text()
    assert text.count('src="data:image/png;base64,') == 4
    assert "not enough data: needs markouts, series &#x27;vpin&#x27;" in text
    assert "<title>no &lt;vpin&gt;</title>" in text
    assert "max_drawdown_trough_ts</td><td class=\"v\">2024-12-01 01:02:03.004 UTC" in text
    empty = BacktestResult("X", {}, build_equity(), build_fills(), build_trades(), {})
    text = write_html(empty, tmp_path / "b.html").read_text()
    assert 'src="data:' not in text and text.count("not enough data") == 5


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_html_renders_in_headless_chromium(day_html, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium, chromium-browser or google-chrome on PATH: cannot check rendering")
    shot = tmp_path / "shot.png"
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,3000", day_html.resolve().as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
    if not shot.exists():
        pytest.skip(f"{browser} did not take a screenshot (rc {proc.returncode}): {proc.stderr[-400:]}")
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)
    assert img.shape[:2] == (3000, 1200)
    rgb = np.round(img[..., :3] * 255).astype(np.uint32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert len(colours) > 500  # anti-aliased charts, not a blank or broken-image page
    non_white = np.mean(rgb.sum(axis=2) < 3 * 250)
    assert non_white > 0.05
    # the chart area (below the metrics table) is drawn, not just text
    band = rgb[700:2900]
    assert len(np.unique(band[..., 0] << 16 | band[..., 1] << 8 | band[..., 2])) > 300


# ============================================================================ terminal
def test_print_summary_shows_the_numbers(tmp_path):
    from rich.console import Console

    r = make_day_result(n_equity=1000, n_fills=100)
    r.metrics = {"net_pnl": 1234.5, "return_pct": 0.012345, "sharpe_daily": 1.987, "sortino_daily": math.nan,
                 "max_drawdown_pct": 0.0321, "max_drawdown": 321.0, "n_trades": 50, "win_rate": 0.56,
                 "profit_factor": None, "fees": 12.3456, "exposure": 0.25, "turnover": 35_000.0,
                 "initial_capital": 10_000.0}
    console = Console(record=True, width=100)
    print_summary(r, console, written=[tmp_path / "r.json", tmp_path / "r.html"])
    text = console.export_text()
    for label, value in (("Net PnL", "1,234.50"), ("Return", "1.23%"), ("Sharpe", "1.99"),
                         ("Sortino", "n/a"), ("Max drawdown", "3.21% (321.00)"), ("Trades", "50"),
                         ("Win rate", "56.00%"), ("Profit factor", "n/a"), ("Fees", "12.35"),
                         ("Exposure", "25.00%"), ("Turnover", "35,000.00 (3.50x capital)")):
        line = next(ln for ln in text.splitlines() if label in ln)
        assert value in line, (label, line)
    assert "Reports written to:" in text and "r.json" in text and "r.html" in text
    first, last = (datetime.fromtimestamp(int(t) // 10**9, tz=timezone.utc) for t in r.equity["ts_ns"][[0, -1]])
    assert f"Period: {first:%Y-%m-%d %H:%M:%S} UTC to {last:%Y-%m-%d %H:%M:%S} UTC" in text


def test_print_summary_aliases_and_fallbacks():
    from rich.console import Console

    r = small_result()
    r.fills["fee"] = [0.25, 0.5]
    r.metrics = {"sharpe_ratio": 0.5, "total_return": 0.1, "max_drawdown": 7.0, "turnover": 202.0}
    console = Console(record=True, width=100)
    print_summary(r, console)
    lines = console.export_text().splitlines()
    assert "0.50" in next(ln for ln in lines if "Sharpe" in ln)
    assert "1" in next(ln for ln in lines if "Trades" in ln)  # len(trades)
    assert "0.75" in next(ln for ln in lines if "Fees" in ln)  # sum of fill fees
    assert "n/a" in next(ln for ln in lines if "Net PnL" in ln)
    assert "10.00%" in next(ln for ln in lines if "Return" in ln)
    assert "7.00" in next(ln for ln in lines if "Max drawdown" in ln)
    assert "202.00" in next(ln for ln in lines if "Turnover" in ln)  # no initial_capital: no multiple
    assert not any("Reports written" in ln for ln in lines)
