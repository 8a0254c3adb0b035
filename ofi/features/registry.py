"""The feature registry: every feature's slot, name, family, unit, definition and warm-up, in the order
of the engine's vector. ``docs/features.md`` is generated from it (``python -m ofi.features > docs/features.md``),
and so is the kernel's slot header ``ofi/_core/feature_slots.pxd`` (``python -m ofi.features --slots``):
the compiled kernel writes each feature to the slot named here, and tests check both generated files.

Conventions used in the definitions
-----------------------------------
* Event time t: an event's local receive time (``ts_local``), or its exchange time when the local
  time is 0; the engine's clock ``now`` is the largest event time seen (a stamp earlier than
  ``now`` counts as ``now``; an event with neither time does not start the clock). A time window
  of length h is right-closed: (now - h, now].
* Book levels: i = 1 is the best level; p^b_i, q^b_i (bids) and p^a_i, q^a_i (asks) in ticks and
  base units; mid m = (p^b_1 + p^a_1) / 2; L = ``orderbook_levels``; D^b_k = sum_{i<=k} q^b_i.
* A *state* is the book after a book message that leaves it valid (snapshot received, not stale,
  both sides non-empty). e^i is the level-i OFI between consecutive states (Cont, Kukanov & Stoikov
  2014, with Xu, Gould & Howison's rank-indexed levels; an absent level counts as price -inf/+inf and
  size 0); e = e^1. r = 1e4 ln(m / m_prev) is the mid log return in bps between consecutive states.
* Book history restarts whenever the book's ``epoch`` changes (first snapshot, resync after a gap):
  every "book history" feature is NaN until its window has been filled again, and all book features
  are NaN while the book is not valid.
* Bars: the local-time grid of width b = ``bar_seconds``; bar k covers (k b - b, k b] and closes
  when the first event after k b arrives. A bar's close is the mid of the last state at or before
  its end. Bar features change only when a bar closes.
* Trade windows and activity features are warm once the engine has run for their window (from its
  first event); book-history windows once the current history has lasted that long.
* No look-ahead: the value after an event uses only events whose time is <= now.

Processing (the same compiled code runs ``update_orderbook`` / ``update_trade`` and ``transform``)
------------------------------------------------------------------------------------------------
1. Every event first moves the clock to its time t and closes every bar that ended before t (at
   most max(1000, 2 x the longest bar window) per event; the rest of a long silence is skipped),
   then drops from each time window the entries stamped <= now - h.
2. A book message whose book is not valid changes no book history (the previous state stays the
   previous state). A valid one whose book ``epoch`` differs from the last one seen first restarts
   the book history: the state windows, the cumulative OFI, the spread window, the open bar's book
   part and every bar statistic that reads the mid (OFI z-score, Kyle, Amihud, Parkinson,
   indicators). Trade features, VPIN, the integrated-OFI weights and activity are kept.
   The state's e^i and r are 0 for the first state of a history (it has no predecessor).
3. A trade adds its signed size to the open bar, is compared with the size quantile (before its
   size joins the history), feeds VPIN (buy fraction 1 for a taker buy, 0 for a sell) and the Roll
   pairs (dp = price change in ticks from the previous trade).
4. A closing bar (book part only once the history has a state): bar OFI -> OFI z-score window;
   bar vector (OFI^i / Q_bar, Q_bar the mean of the bar's states' Q) -> the expanding covariance
   behind the integrated-OFI weights (bars with states and Q_bar > 0); with a previous close,
   bar return R = 1e4 ln(close / previous close) -> Kyle pair (bar signed volume, R), Amihud
   (|R| / bar volume when the bar had volume), RSI change (close - previous close, ticks) and
   Parkinson (ln(H / L))^2; then the close joins the EMAs, the Bollinger window and the momentum
   history. The bar's trade volume and signed volume are then reset, whether or not the book part ran.
5. The integrated-OFI weights are recomputed at every bar close once pca_min_bars bar vectors
   exist: 20 power iterations w <- C w / max|C w| on the sample covariance C (ddof 1), starting
   from the previous weights (all ones at first), then sign and scale as documented; NaN while C w
   is 0.
"""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass

from ofi.features.config import FeatureConfig

__all__ = ["FeatureSpec", "feature_specs", "feature_names", "FAMILIES", "markdown_table", "slot_header"]

FAMILIES = ("book shape", "order flow", "trade flow", "toxicity and impact", "volatility",
            "spread dynamics", "indicators", "activity")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature of the vector.

    ``name`` depends on the configuration (``ofi_1s``, ``depth_imbalance_5``); ``slot`` does not
    (``OFI_H0``, ``DEPTH_IMBALANCE_K2``): it names the feature's position for the compiled kernel. A
    slot is the name in upper case with each configured value replaced by its symbol, horizon
    ``H0``..``H3`` or depth ``K1``..``K3`` (always last), or dropped (L, indicator periods).
    """
    name: str
    family: str
    unit: str
    definition: str
    warmup: str
    slot: str


def horizon_label(seconds: float) -> str:
    """1.0 -> '1s', 60.0 -> '1m', 0.5 -> '500ms', 3600 -> '1h'."""
    ns = int(round(seconds * 1e9))
    for unit, size in (("h", 3600 * 10**9), ("m", 60 * 10**9), ("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if ns % size == 0:
            return f"{ns // size}{unit}"
    return f"{ns}ns"


def feature_specs(config: FeatureConfig | None = None) -> list[FeatureSpec]:
    """The features of an engine with this configuration, in vector order."""
    c = config or FeatureConfig()
    L = c.orderbook_levels
    k1, k2, k3 = c.depth_levels
    h0, h1, h2, h3 = (horizon_label(x) for x in c.horizons)
    hs = (h0, h1, h2, h3)
    b = horizon_label(c.bar_seconds)
    out: list[FeatureSpec] = []

    def add(slot, name, family, unit, definition, warmup):
        out.append(FeatureSpec(name=name, family=family, unit=unit, definition=definition, warmup=warmup, slot=slot))

    now = "the current book"
    # ---- book shape: the book passed to extract_features, NaN unless it is valid
    add("MID_PRICE", "mid_price", "book shape", "price", "the book's mid_price() (price units)", now)
    add("SPREAD_TICKS", "spread_ticks", "book shape", "ticks", "p^a_1 - p^b_1", now)
    add("SPREAD_BPS", "spread_bps", "book shape", "bps", "1e4 (p^a_1 - p^b_1) / m", now)
    add("MICROPRICE_OFFSET_BPS", "microprice_offset_bps", "book shape", "bps",
        "1e4 (mp - m) / m, mp = (p^b_1 q^a_1 + p^a_1 q^b_1) / (q^b_1 + q^a_1)", now)
    for i, k in enumerate((k1, k2, k3), 1):
        add(f"DEPTH_BID_K{i}", f"depth_bid_{k}", "book shape", "size",
            f"D^b_{k} = sum of the top {k} bid sizes (NaN with fewer levels)", now)
        add(f"DEPTH_ASK_K{i}", f"depth_ask_{k}", "book shape", "size",
            f"D^a_{k} = sum of the top {k} ask sizes (NaN with fewer levels)", now)
    for i, k in enumerate((k1, k2, k3), 1):
        add(f"DEPTH_IMBALANCE_K{i}", f"depth_imbalance_{k}", "book shape", "ratio in [-1, 1]",
            f"(D^b_{k} - D^a_{k}) / (D^b_{k} + D^a_{k})", now)
    add("BOOK_SLOPE_BID", f"book_slope_bid_{L}", "book shape", "size per bps",
        f"D^b_{L} / (1e4 (m - p^b_{L}) / m)", now)
    add("BOOK_SLOPE_ASK", f"book_slope_ask_{L}", "book shape", "size per bps",
        f"D^a_{L} / (1e4 (p^a_{L} - m) / m)", now)
    add("BOOK_SLOPE_LOG_RATIO", f"book_slope_log_ratio_{L}", "book shape", "log ratio",
        f"ln(book_slope_bid_{L} / book_slope_ask_{L})", now)
    add("VAMP_OFFSET_BPS", f"vamp_offset_bps_{L}", "book shape", "bps",
        f"1e4 (V - m) / m, V = (sum_i p^b_i q^a_i + sum_i p^a_i q^b_i) / (D^a_{L} + D^b_{L}) over i <= {L} "
        "(volume-adjusted mid price: each side's prices weighted by the other side's sizes)", now)
    add("WEIGHTED_MID_OFFSET_BPS", f"weighted_mid_offset_bps_{L}", "book shape", "bps",
        f"1e4 (W - m) / m, W = (VWAP^b_{L} + VWAP^a_{L}) / 2, VWAP^s_{L} = sum_i p^s_i q^s_i / D^s_{L}", now)
    add("LEVEL_GAP_BID_TICKS", f"level_gap_bid_ticks_{L}", "book shape", "ticks",
        f"(p^b_1 - p^b_{L}) / ({L} - 1): mean gap between bid levels", now)
    add("LEVEL_GAP_ASK_TICKS", f"level_gap_ask_ticks_{L}", "book shape", "ticks",
        f"(p^a_{L} - p^a_1) / ({L} - 1): mean gap between ask levels", now)

    # ---- order flow (book history)
    for i, h in enumerate(hs):
        add(f"OFI_H{i}", f"ofi_{h}", "order flow", "size", f"sum of e over the states in (now - {h}, now]",
            f"{h} of book history")
    add("OFI_LAST", "ofi_last", "order flow", "size", "e of the latest state", "2 states")
    add("OFI_CUMULATIVE", "ofi_cumulative", "order flow", "size", "sum of e since the book history began", "1 state")
    for i, h in enumerate((h0, h1)):
        add(f"OFI_ZSCORE_H{i}", f"ofi_zscore_{h}", "order flow", "z",
            f"(ofi_{h} - n mu) / (sigma sqrt(n)), n = {h} / {b}; mu, sigma (ddof 1) of the bar OFIs "
            f"(sum of e per {b} bar) over the last {c.zscore_bars} bars",
            f"{c.zscore_bars} bars and {h} of book history")
    add("OFI_NORMALIZED_H1", f"ofi_normalized_{h1}", "order flow", "ratio",
        f"ofi_{h1} / mean over the window's states of (q^b_1 + q^a_1) / 2 (CKS depth normalisation)",
        f"{h1} of book history")
    add("MLOFI_H1", f"mlofi_{h1}", "order flow", "size",
        f"sum over i <= {L} of the level-i OFI sums over (now - {h1}, now]",
        f"{h1} of book history")
    add("MLOFI_NORMALIZED_H1", f"mlofi_normalized_{h1}", "order flow", "ratio",
        f"mlofi_{h1} / ({L} Q), Q = mean over the window's states of sum_i (q^b_i + q^a_i) / (2 {L}) (CCZ's Q^M)",
        f"{h1} of book history")
    add("INTEGRATED_OFI_H1", f"integrated_ofi_{h1}", "order flow", "ratio",
        f"sum_i w_i OFI^i_{h1} / Q (Q as above), w = first principal component of the bar vectors "
        f"(OFI^i_bar / Q_bar), sign with sum w > 0, scaled to sum |w| = 1 (Cont, Cucuringu & Zhang 2023)",
        f"{h1} of book history and {c.pca_min_bars} bars")

    # ---- trade flow (trades; engine time)
    for i, h in enumerate((h0, h1, h2)):
        add(f"SIGNED_VOLUME_H{i}", f"signed_volume_{h}", "trade flow", "size",
            f"taker buy volume - taker sell volume in (now - {h}, now]", h)
    for i, h in enumerate((h1, h2), 1):
        add(f"TRADE_IMBALANCE_H{i}", f"trade_imbalance_{h}", "trade flow", "ratio in [-1, 1]",
            f"signed_volume_{h} / volume_{h}", h)
    for i, h in enumerate((h1, h2), 1):
        add(f"TRADE_COUNT_H{i}", f"trade_count_{h}", "trade flow", "trades", f"number of trades in (now - {h}, now]", h)
    add("TRADE_INTENSITY_H1", f"trade_intensity_{h1}", "trade flow", "trades per s", f"trade_count_{h1} / {h1}", h1)
    add("MEAN_TRADE_SIZE_H2", f"mean_trade_size_{h2}", "trade flow", "size", f"volume_{h2} / trade_count_{h2}", h2)
    add("LARGE_TRADE_FLAG", "large_trade_flag", "trade flow", "0 or 1",
        f"1 if one of the last {c.large_trade_horizon} trades had size > the {c.large_trade_quantile} quantile "
        f"(linear interpolation) of the up to {c.history_window} trade sizes before it, else 0",
        "a trade with 20 earlier sizes")
    add("VWAP_DEVIATION_BPS_H2", f"vwap_deviation_bps_{h2}", "trade flow", "bps",
        f"1e4 (m - VWAP) / VWAP, VWAP = sum p q / sum q over the trades in (now - {h2}, now]",
        f"{h2}; the current book")
    add("LAST_TRADE_OFFSET_BPS", "last_trade_offset_bps", "trade flow", "bps", "1e4 (p_last trade - m) / m",
        "a trade; the current book")
    add("TIME_SINCE_TRADE_S", "time_since_trade_s", "trade flow", "s", "now - time of the last trade", "a trade")

    # ---- toxicity and impact
    add("VPIN", "vpin", "toxicity and impact", "ratio in [0, 1]",
        f"VPIN over the last {c.vpin_num_buckets} buckets of V = {c.vpin_bucket_size} (Easley, Lopez de Prado & "
        "O'Hara 2012), trades classified by the taker side", f"{c.vpin_num_buckets} buckets")
    add("VPIN_CDF", "vpin_cdf", "toxicity and impact", "probability",
        f"share of the last up to {c.history_window} VPIN values (one per trade that completed a bucket) "
        "that are <= the current VPIN", "20 VPIN values")
    add("KYLE_LAMBDA", "kyle_lambda", "toxicity and impact", "bps per size",
        f"slope of the OLS (with intercept) of the bar mid return (bps) on the bar signed volume over the last "
        f"{c.impact_bars} bars (Kyle 1985)", f"{c.impact_bars} bar returns of book history")
    add("KYLE_LAMBDA_T", "kyle_lambda_t", "toxicity and impact", "t", "the slope's t statistic",
        f"{c.impact_bars} bar returns")
    add("AMIHUD", "amihud", "toxicity and impact", "bps per size",
        f"mean of |bar return| / bar volume over the last {c.impact_bars} bars with volume (Amihud 2002)",
        f"{c.impact_bars} bars with trades")
    add("ROLL_SPREAD_TICKS", "roll_spread_ticks", "toxicity and impact", "ticks",
        f"2 sqrt(max(0, -cov(dp_t, dp_t-1))) over the last {c.roll_window} pairs of trade price changes in ticks "
        "(Roll 1984); the covariance (ddof 1) in exact integer sums, NaN while a change of 2^18 ticks or more is "
        "in the window",
        f"{c.roll_window} pairs")
    add("TOXICITY_INDEX", "toxicity_index", "toxicity and impact", "ratio in [0, 1]",
        f"ToxicityIndex's weighted mean of vpin, min(|ofi_zscore_{h1}| / 3, 1), min(max(spread_zscore, 0) / 3, 1), "
        f"|depth_imbalance_{k2}|, |trade_imbalance_{h2}|, large_trade_flag (weights 0.30/0.20/0.15/0.10/0.15/0.10)",
        "all components")

    # ---- volatility (book history)
    for i, h in enumerate((h1, h2, h3), 1):
        add(f"REALIZED_VOL_H{i}", f"realized_vol_{h}", "volatility", "bps",
            f"sqrt(sum of r^2 over the states in (now - {h}, now])",
            f"{h} of book history")
    add("PARKINSON_VOL", "parkinson_vol", "volatility", "bps per bar",
        f"sqrt(mean(ln(H / L)^2) / (4 ln 2)) * 1e4 over the last {c.vol_bars} bars, H / L the highest / lowest "
        "mid of the bar's states and the previous close (Parkinson 1980)", f"{c.vol_bars} bars")
    for i, h in enumerate(hs):
        add(f"MID_RETURN_H{i}", f"mid_return_{h}", "volatility", "bps",
            f"1e4 ln(m / m at now - {h}), m at now - {h} the mid of the last "
            f"state at or before it", f"{h} of book history")

    # ---- spread dynamics (book history)
    add("SPREAD_ZSCORE", "spread_zscore", "spread dynamics", "z",
        f"z-score (ddof 1) of the spread (ticks) among the last {c.spread_window} states", f"{c.spread_window} states")
    add("SPREAD_CHANGE", "spread_change", "spread dynamics", "ticks", "spread - spread of the previous state",
        "2 states")
    add("SPREAD_CHANGE_H1", f"spread_change_{h1}", "spread dynamics", "ticks", f"spread - spread at now - {h1}",
        f"{h1} of book history")
    add("SPREAD_MEAN_RATIO", "spread_mean_ratio", "spread dynamics", "ratio",
        f"spread / mean spread of the last {c.spread_window} states", f"{c.spread_window} states")

    # ---- indicators on bar closes (ofi.features.indicators)
    add("EMA_CROSSOVER_BPS", "ema_crossover_bps", "indicators", "bps",
        f"1e4 (EMA_{c.ema_fast} - EMA_{c.ema_slow}) / EMA_{c.ema_slow} of the bar closes "
        "(alpha = 2 / (span + 1), seeded with the first close)", f"{c.ema_slow} bars")
    add("RSI", f"rsi_{c.rsi_period}", "indicators", "0 to 100",
        f"Wilder's RSI: 100 G / (G + L), G, L the smoothed gains and losses of the close changes "
        f"(first a mean of {c.rsi_period}, then (x + ({c.rsi_period} - 1) avg) / {c.rsi_period}); NaN when both are 0",
        f"{c.rsi_period + 1} bars")
    add("BOLLINGER_POSITION", f"bollinger_position_{c.bollinger_period}", "indicators", "band widths",
        f"(close - mean) / (2 sd) over the last {c.bollinger_period} closes (ddof 1)", f"{c.bollinger_period} bars")
    for length, n in (("SHORT", c.momentum_short), ("LONG", c.momentum_long)):
        add(f"MOMENTUM_{length}_BPS", f"momentum_{n}_bps", "indicators", "bps",
            f"1e4 ln(close / close {n} bars earlier)", f"{n + 1} bars")

    # ---- activity (all events; engine time)
    add("MESSAGE_RATE_H1", f"message_rate_{h1}", "activity", "events per s",
        f"events (book messages and trades) in (now - {h1}, now] / {h1}", h1)
    add("BOOK_UPDATE_RATE_H1", f"book_update_rate_{h1}", "activity", "messages per s",
        f"book messages in the window / {h1}", h1)
    add("LEVEL_UPDATE_RATE_H1", f"level_update_rate_{h1}", "activity", "levels per s",
        f"book levels carried by those messages / {h1}", h1)
    add("FEED_LATENCY_MS", "feed_latency_ms", "activity", "ms", "ts_local - ts_exch of the latest event",
        "an event with both times")
    add("FEED_LATENCY_MEAN_MS_H2", f"feed_latency_mean_{h2}_ms", "activity", "ms",
        f"mean of ts_local - ts_exch over the events in (now - {h2}, now]"
        " that carry both times", h2)
    add("TIME_SINCE_BOOK_S", "time_since_book_s", "activity", "s", "now - time of the last book message",
        "a book message")
    return out


def feature_names(config: FeatureConfig | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in feature_specs(config))


def markdown_table(config: FeatureConfig | None = None) -> str:
    """The registry as the Markdown document ``docs/features.md``."""
    c = config or FeatureConfig()
    specs = feature_specs(c)
    lines = [
        "# Features",
        "",
        "Generated from `ofi/features/registry.py` by `python -m ofi.features > docs/features.md`;",
        "a test regenerates it and fails when the two disagree. "
        f"{len(specs)} features for the default `FeatureConfig` (hash `{c.hash}`).",
        "",
        "## Conventions",
        "",
    ]
    doc = sys.modules[__name__].__doc__ or ""
    conv = doc.split("-----------------------------------\n", 1)[1]
    conv, proc = conv.split("\nProcessing", 1)
    proc = "Processing" + proc
    head, body = proc.split("\n", 1)
    body = body.split("\n", 1)[1]       # drop the underline
    lines += [conv.strip(), "", "## " + head.strip(), "", body.strip(), "", "## Features", ""]
    lines.append("| # | name | family | unit | definition | warm-up |")
    lines.append("|---:|---|---|---|---|---|")
    for i, s in enumerate(specs):
        defin = s.definition.replace("|", "\\|")
        lines.append(f"| {i} | `{s.name}` | {s.family} | {s.unit} | {defin} | {s.warmup} |")
    return "\n".join(lines) + "\n"


# A slot id; a trailing _H<i> / _K<i> makes it member i of a group (one feature over several
# horizons or depths), which the kernel writes in a loop.
_SLOT_RE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
_MEMBER_RE = re.compile(r"(?P<stem>.+_[HK])(?P<i>[0-9])")


def slot_header() -> str:
    """The registry's slots as the Cython header ``ofi/_core/feature_slots.pxd``.

    Returns
    -------
    str
        A ``cdef enum`` with ``F_<SLOT>`` = the slot's index and ``N_FEATURES`` = the slot count;
        then, for each group with several members, ``N_<STEM>`` (its size) and, when its members
        are not adjacent, ``<STEM>_STRIDE``: member i of group ``<STEM>`` (first member ``<STEM><j>``)
        sits at ``F_<STEM><j> + i * <STEM>_STRIDE``.

    Raises
    ------
    RuntimeError
        When a slot id is malformed or repeated, or a group's members are not numbered
        consecutively or not evenly spaced (the registry is wrong; the header would mislead).
    """
    specs = feature_specs()
    slots = [s.slot for s in specs]
    groups: dict[str, list[tuple[int, int]]] = {}      # stem -> [(member number, index)]
    for index, slot in enumerate(slots):
        if not _SLOT_RE.fullmatch(slot):
            raise RuntimeError(f"slot {slot!r} of {specs[index].name!r}: expected upper-case words joined by '_'")
        if slots.count(slot) > 1:
            raise RuntimeError(f"slot {slot!r} is used by more than one feature")
        m = _MEMBER_RE.fullmatch(slot)
        if m:
            groups.setdefault(m["stem"], []).append((int(m["i"]), index))
    lines = [
        "# Generated from ofi/features/registry.py by",
        "#     python -m ofi.features --slots > ofi/_core/feature_slots.pxd",
        "# Do not edit: tests/unit/test_features.py fails when this file and the registry disagree.",
        "# out[F_<SLOT>] is the feature whose FeatureSpec.slot is <SLOT>; the ids do not depend on the",
        "# configuration (feature names do). Member i of a group <STEM> (first member <STEM><j>) is at",
        "# F_<STEM><j> + i, or F_<STEM><j> + i * <STEM>_STRIDE where two groups alternate.",
        "",
        "cdef enum:",
    ]
    lines += [f"    F_{slot} = {index}" for index, slot in enumerate(slots)]
    lines += [f"    N_FEATURES = {len(slots)}", "", "# group sizes (and strides)", "cdef enum:"]
    for stem, members in groups.items():
        if len(members) < 2:
            continue
        numbers = [n for n, _ in members]
        strides = {b - a for (_, a), (_, b) in zip(members, members[1:])}
        if numbers != list(range(numbers[0], numbers[0] + len(numbers))) or len(strides) != 1:
            raise RuntimeError(f"group {stem}: members {numbers} at slots {[i for _, i in members]}; "
                             "expected consecutive members, evenly spaced")
        lines.append(f"    N_{stem} = {len(members)}")
        stride = strides.pop()
        if stride != 1:
            lines.append(f"    {stem}_STRIDE = {stride}")
    return "\n".join(lines) + "\n"
