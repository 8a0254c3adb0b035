"""Reference L2 order book: the executable specification of ``ofi.OrderBook``.

Each side is a ``dict[int ticks -> float size]``; reads sort on demand. The semantics are those
of docs/core-api.md, "OrderBook":

* a snapshot (``type == "snapshot"`` or ``u == 1``) replaces the whole book, drops zero sizes,
  clears ``stale``; ``update_id`` becomes the message's ``u``;
* a delta sets absolute sizes in frame order (bids, then asks; a duplicate price: last wins),
  size 0 deletes, deleting an absent level is a no-op;
* a delta before any snapshot or while stale raises SequenceGapError (expected=None), book
  unchanged;
* ``u <= update_id`` is ignored (returns False, ``ignored += 1``);
* strict mode: ``u != update_id + 1`` raises SequenceGapError(expected=update_id + 1,
  received=u), book unchanged but ``stale``; non-strict mode accepts any increasing ``u``;
* ``apply_levels(update_id=-1)`` skips the sequence checks;
* a result with best bid >= best ask is rolled back, the book becomes ``stale`` and
  BookIntegrityError is raised;
* malformed frames, off-grid prices, a wrong symbol, a topic other than the bound one (the first
  orderbook topic the book *applies*), non-orderbook frames: InvalidInputError, book untouched.

Every message is all-or-nothing: the new sides are built in copies and committed at the end.
Counters (the contract names them without defining them; these are the core's readings):
``messages`` counts applied messages, ``rejected`` every raised error (bad input included),
``gaps`` every real gap (``u != update_id + 1``; not deltas refused while stale or before a
snapshot), ``ignored`` every duplicate/old message.
"""
from __future__ import annotations

import math
import operator
from fractions import Fraction
from decimal import Context, Decimal
from typing import Any

import numpy as np

from ofi.errors import BookIntegrityError, InvalidInputError, SequenceGapError
from reference.decode import INT64_MAX, decode_frame, to_tick_decimal

__all__ = ["RefBook"]

NAN = float("nan")
_EXACT = Context(prec=100)


def _check_k(k: Any, name: str = "k") -> int:
    if isinstance(k, bool):
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}")
    try:
        k = operator.index(k)
    except TypeError:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}") from None
    if k < 1:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}")
    return k


def _check_n(n: Any) -> int | None:
    # The contract does not say whether n=0 is allowed; like k, n must be >= 1.
    return None if n is None else _check_k(n, "n")


def _check_levels_array(arr: Any, name: str, dtype: np.dtype) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise InvalidInputError(f"{name} must be a numpy array of {dtype}, got {type(arr).__name__}")
    if arr.dtype != dtype:
        raise InvalidInputError(f"{name} must have dtype {dtype}, got {arr.dtype}")
    if arr.ndim != 1:
        raise InvalidInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if not arr.flags.c_contiguous:
        raise InvalidInputError(f"{name} must be C-contiguous")
    return arr


class RefBook:
    """Plain-Python twin of ``ofi.OrderBook``; same constructor core, same reads."""

    def __init__(self, symbol: str, tick_size: Any, strict_sequence: bool = True):
        if not isinstance(symbol, str) or not symbol:
            raise InvalidInputError(f"symbol must be a non-empty string, got {symbol!r}")
        self._symbol = symbol
        self._tick = to_tick_decimal(tick_size)
        self._strict = bool(strict_sequence)
        self._bids: dict[int, float] = {}
        self._asks: dict[int, float] = {}
        self._topic: str | None = None
        self._update_id = -1
        self._seq = -1
        self._ts_exch = 0
        self._cts = 0
        self._ts_local = 0
        self._have_snapshot = False
        self._stale = False
        self.messages = 0
        self.rejected = 0
        self.gaps = 0
        self.ignored = 0

    # ------------------------------------------------------------------ properties
    symbol = property(lambda self: self._symbol)
    topic = property(lambda self: self._topic)
    tick_size = property(lambda self: float(self._tick))
    tick_decimal = property(lambda self: self._tick)
    update_id = property(lambda self: self._update_id)
    seq = property(lambda self: self._seq)
    ts_exch = property(lambda self: self._ts_exch)
    cts = property(lambda self: self._cts)
    ts_local = property(lambda self: self._ts_local)
    stale = property(lambda self: self._stale)
    ready = property(lambda self: self._have_snapshot and not self._stale)
    n_bids = property(lambda self: len(self._bids))
    n_asks = property(lambda self: len(self._asks))

    def __len__(self) -> int:
        return len(self._bids) + len(self._asks)

    def price(self, ticks: int) -> float:
        """``ticks * tick_size`` correctly rounded, i.e. ``float(str(price))``."""
        return float(_EXACT.multiply(Decimal(ticks), self._tick))

    # ------------------------------------------------------------------ messages
    def apply_frame(self, raw: Any, ts_local: int = 0) -> bool:
        """Apply one raw V5 orderbook frame; see the module docstring for the rules."""
        try:
            frame = decode_frame(raw, self._tick)
            if frame["kind"] != "book":
                what = frame.get("topic") or f"control frame op={frame.get('op')!r}"
                raise InvalidInputError(f"not an orderbook frame: {what}")
            if frame["symbol"] != self._symbol:
                raise InvalidInputError(
                    f"frame symbol {frame['symbol']!r} does not match book symbol {self._symbol!r}"
                )
            if self._topic is not None and frame["topic"] != self._topic:
                raise InvalidInputError(
                    f"frame topic {frame['topic']!r} does not match the book's topic {self._topic!r}"
                )
            meta = {
                "seq": frame["seq"],
                "ts_exch": frame["ts_exch"],
                "cts": frame["cts"],
                "ts_local": ts_local,
                "topic": frame["topic"],
            }
            return self._apply(frame["snapshot"], frame["update_id"], frame["bids"], frame["asks"], meta)
        except (InvalidInputError, SequenceGapError, BookIntegrityError):
            self.rejected += 1
            raise

    def apply_levels(
        self,
        bid_ticks: np.ndarray,
        bid_sizes: np.ndarray,
        ask_ticks: np.ndarray,
        ask_sizes: np.ndarray,
        *,
        snapshot: bool = False,
        update_id: int = -1,
        ts_exch: int = 0,
        ts_local: int = 0,
    ) -> bool:
        """Apply one message given as arrays (int64 ticks, float64 sizes), same rules."""
        try:
            bt = _check_levels_array(bid_ticks, "bid_ticks", np.dtype(np.int64))
            bs = _check_levels_array(bid_sizes, "bid_sizes", np.dtype(np.float64))
            at = _check_levels_array(ask_ticks, "ask_ticks", np.dtype(np.int64))
            az = _check_levels_array(ask_sizes, "ask_sizes", np.dtype(np.float64))
            if len(bt) != len(bs):
                raise InvalidInputError(f"bid_ticks and bid_sizes differ in length: {len(bt)} != {len(bs)}")
            if len(at) != len(az):
                raise InvalidInputError(f"ask_ticks and ask_sizes differ in length: {len(at)} != {len(az)}")
            for name, sizes in (("bid_sizes", bs), ("ask_sizes", az)):
                for s in sizes.tolist():
                    if not math.isfinite(s) or s < 0:
                        raise InvalidInputError(f"{name} must be finite and >= 0, got {s!r}")
            for name, ticks in (("bid_ticks", bt), ("ask_ticks", at)):
                for t in ticks.tolist():
                    if t <= 0:
                        raise InvalidInputError(f"{name} must be positive, got {t}")
            if isinstance(update_id, bool) or not isinstance(update_id, (int, np.integer)):
                raise InvalidInputError(f"update_id must be an integer, got {update_id!r}")
            update_id = int(update_id)
            if update_id < -1 or update_id > INT64_MAX:
                raise InvalidInputError(f"update_id must be -1 or in [0, 2**63-1], got {update_id}")
            meta = {"ts_exch": int(ts_exch), "ts_local": int(ts_local)}
            bids = list(zip(bt.tolist(), bs.tolist()))
            asks = list(zip(at.tolist(), az.tolist()))
            return self._apply(bool(snapshot), update_id, bids, asks, meta)
        except (InvalidInputError, SequenceGapError, BookIntegrityError):
            self.rejected += 1
            raise

    def _apply(self, snapshot: bool, u: int, bids: list, asks: list, meta: dict) -> bool:
        if snapshot or u == 1:
            new_bids: dict[int, float] = {}
            new_asks: dict[int, float] = {}
        else:
            if not self._have_snapshot or self._stale:
                why = "before any snapshot" if not self._have_snapshot else "while the book is stale"
                raise SequenceGapError(f"delta u={u} {why}; waiting for a snapshot", None, u)
            if u >= 0:
                if u <= self._update_id:
                    self.ignored += 1
                    return False
                if self._strict and u != self._update_id + 1:
                    self._stale = True
                    self.gaps += 1
                    raise SequenceGapError(
                        f"sequence gap: expected u={self._update_id + 1}, received u={u}",
                        self._update_id + 1,
                        u,
                    )
            new_bids = dict(self._bids)
            new_asks = dict(self._asks)
        for side, levels in ((new_bids, bids), (new_asks, asks)):
            for ticks, size in levels:
                if size == 0.0:
                    side.pop(ticks, None)
                else:
                    side[ticks] = size
        if new_bids and new_asks and max(new_bids) >= min(new_asks):
            self._stale = True
            raise BookIntegrityError(
                f"message u={u} would leave the book crossed or locked: best bid "
                f"{max(new_bids)} >= best ask {min(new_asks)} (ticks); rolled back"
            )
        # commit
        self._bids, self._asks = new_bids, new_asks
        if snapshot or u == 1:
            self._have_snapshot = True
            self._stale = False
            self._update_id = u
        elif u >= 0:
            self._update_id = u
        self._ts_exch = meta["ts_exch"]
        self._ts_local = meta["ts_local"]
        if "seq" in meta:
            self._seq = meta["seq"]
            self._cts = meta["cts"]
        if "topic" in meta and self._topic is None:
            self._topic = meta["topic"]
        self.messages += 1
        return True

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_rest(cls, payload: Any, tick_size: Any, symbol: str | None = None) -> "RefBook":
        """Book from a ``/v5/market/orderbook`` response (envelope or result; dict or JSON text)."""
        import json

        if isinstance(payload, (str, bytes, bytearray)):
            payload = json.loads(payload)
        if not isinstance(payload, dict):
            raise InvalidInputError(f"payload must be a dict or JSON text, got {type(payload).__name__}")
        result = payload.get("result", payload)
        sym = result["s"] if symbol is None else symbol
        frame = {
            "topic": f"orderbook.1000.{sym}",
            "type": "snapshot",
            "ts": result["ts"],
            "data": {"s": result["s"], "b": result["b"], "a": result["a"], "u": result["u"]},
        }
        if "seq" in result:
            frame["data"]["seq"] = result["seq"]
        if "cts" in result:
            frame["cts"] = result["cts"]
        book = cls(sym, tick_size)
        book.apply_frame(json.dumps(frame))
        book._topic = None
        return book

    def copy(self) -> "RefBook":
        other = RefBook.__new__(RefBook)
        other.__dict__.update(self.__dict__)
        other._bids = dict(self._bids)
        other._asks = dict(self._asks)
        return other

    def clear(self) -> None:
        """Empty both sides and wait for a new snapshot (counters and topic are kept)."""
        self._bids = {}
        self._asks = {}
        self._update_id = -1
        self._seq = -1
        self._have_snapshot = False
        self._stale = False

    # ------------------------------------------------------------------ reads
    def _sorted_bids(self) -> list[tuple[int, float]]:
        return sorted(self._bids.items(), key=lambda kv: -kv[0])

    def _sorted_asks(self) -> list[tuple[int, float]]:
        return sorted(self._asks.items())

    def best_bid_ticks(self) -> int | None:
        return max(self._bids) if self._bids else None

    def best_ask_ticks(self) -> int | None:
        return min(self._asks) if self._asks else None

    def best_bid(self) -> float:
        return self.price(max(self._bids)) if self._bids else NAN

    def best_ask(self) -> float:
        return self.price(min(self._asks)) if self._asks else NAN

    def best_bid_size(self) -> float:
        return self._bids[max(self._bids)] if self._bids else NAN

    def best_ask_size(self) -> float:
        return self._asks[min(self._asks)] if self._asks else NAN

    def bbo(self) -> tuple[float, float, float, float]:
        return (self.best_bid(), self.best_bid_size(), self.best_ask(), self.best_ask_size())

    def mid_price(self) -> float:
        """(bid + ask) / 2 computed exactly from the ticks, then rounded once to a float."""
        if not (self._bids and self._asks):
            return NAN
        bid_t = max(self._bids)
        ask_t = min(self._asks)
        return float(Fraction(bid_t + ask_t) * Fraction(self._tick) / 2)

    def microprice(self) -> float:
        if not (self._bids and self._asks):
            return NAN
        bid, bid_sz, ask, ask_sz = self.bbo()
        return (bid * ask_sz + ask * bid_sz) / (bid_sz + ask_sz)

    def spread(self) -> float:
        """best ask - best bid, exact in ticks then scaled like a price (``float(str(spread))``).

        The contract gives no formula for ``spread()``; the exact tick difference is the natural
        reading of "prices are ticks * tick_size". ``spread_bps`` follows its written formula
        ``(ask - bid) / mid * 1e4`` on the exactly rounded spread and mid.
        """
        if not (self._bids and self._asks):
            return NAN
        return self.price(min(self._asks) - max(self._bids))

    def spread_bps(self) -> float:
        if not (self._bids and self._asks):
            return NAN
        return self.spread() / self.mid_price() * 1e4

    def bid_depth(self, k: int) -> float:
        k = _check_k(k)
        total = 0.0
        for _, size in self._sorted_bids()[:k]:
            total += size
        return total

    def ask_depth(self, k: int) -> float:
        k = _check_k(k)
        total = 0.0
        for _, size in self._sorted_asks()[:k]:
            total += size
        return total

    def depth(self, k: int) -> tuple[float, float]:
        return (self.bid_depth(k), self.ask_depth(k))

    def depth_imbalance(self, k: int) -> float:
        b, a = self.depth(k)
        if b + a == 0.0:
            return NAN
        return (b - a) / (b + a)

    def _side_array(self, levels: list, n: int | None) -> np.ndarray:
        if n is not None:
            levels = levels[:n]
        out = np.empty((len(levels), 2), dtype=np.float64)
        for i, (ticks, size) in enumerate(levels):
            out[i, 0] = self.price(ticks)
            out[i, 1] = size
        return out

    def bids(self, n: int | None = None) -> np.ndarray:
        return self._side_array(self._sorted_bids(), _check_n(n))

    def asks(self, n: int | None = None) -> np.ndarray:
        return self._side_array(self._sorted_asks(), _check_n(n))

    def top_levels(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = _check_k(n, "n")
        bids = self._sorted_bids()[:n]
        asks = self._sorted_asks()[:n]
        return (
            np.array([t for t, _ in bids], dtype=np.int64),
            np.array([s for _, s in bids], dtype=np.float64),
            np.array([t for t, _ in asks], dtype=np.int64),
            np.array([s for _, s in asks], dtype=np.float64),
        )

    def check_integrity(self) -> None:
        if any(s <= 0 or not math.isfinite(s) for s in list(self._bids.values()) + list(self._asks.values())):
            raise BookIntegrityError("a level has a non-positive or non-finite size")
        if self._bids and self._asks and max(self._bids) >= min(self._asks):
            raise BookIntegrityError("book is crossed or locked")
