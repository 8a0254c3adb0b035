"""A seeded simulated Bybit market that speaks genuine V5 websocket frames.

The simulator keeps a true L2 book of exactly ``depth`` levels a side as integer ticks and
integer multiples of the quantity step, moves a latent fair price by a random walk, lets the
book follow it (stale quotes are swept by takers or cancelled, the spread is re-quoted),
adds Poisson taker orders that consume the best levels, and perturbs sizes, mostly near the
top. At Bybit's push cadence it emits what a subscriber of ``orderbook.{depth}.{symbol}``
and ``publicTrade.{symbol}`` on the linear (USDT perpetual) stream would receive:

- one ``snapshot`` with ``depth`` levels a side, then ``delta`` frames with contiguous ``u``
  (``last + 1``) and increasing cross sequence ``seq``; every delta carries the net change
  of each level touched since the previous push (absolute sizes, ``"0"`` deletes);
- like Bybit, the book shown never holds more or fewer than ``depth`` levels: a level that
  enters the window pushes the worst one out with an explicit ``"0"``, and a deleted level
  is replaced by one entering from below; the book is never crossed or locked;
- depth 1 is snapshot-only (pushed when the top changes, repeated with the same ``u``
  after 3 s without change), with ``ts`` before ``type`` as Bybit writes it for level 1;
- ``publicTrade`` frames (one per taker order; a sweep lists one fill per price, sometimes
  split in two maker fills, all with the order's ``seq``) precede the book delta that
  reflects the consumed size.

Exchange times (``ts``, ``cts``, ``T``) are milliseconds like Bybit's; the local receive time
``ts_local`` of each frame is the send time plus a jittered network latency, in nanoseconds,
strictly increasing (one connection delivers in order).

The hot loop is pure Python on ints and pre-drawn blocks of random numbers, and formats
strings with ``%`` on integers (no ``Decimal``): about 25 us per frame at depth 200.
"""
from __future__ import annotations

import math
import re
from bisect import insort
from collections import deque
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from ofi.errors import InvalidInputError
from ofi.validation import is_symbol
from ofi.spec import InstrumentSpec, parse_step

__all__ = ["SimFrame", "SimulatedMarket", "PUSH_INTERVAL_MS"]

#: Push interval in ms of the linear ``orderbook.{depth}`` stream per depth (bybit-v5.md section 6.1).
PUSH_INTERVAL_MS: dict[int, int] = {1: 10, 50: 20, 200: 100, 1000: 200}

_MS_PER_YEAR = 365.0 * 24.0 * 3600.0 * 1000.0
_NS_PER_MS = 1_000_000
_LEVEL1_REPEAT_MS = 3000  # level 1 re-sends an unchanged snapshot after 3 s, same u
_RAND_BLOCK = 1 << 14

# Behaviour knobs (fractions of book actions; sizes in quantity steps). Chosen so that a
# depth-200 delta carries ~30 levels, ~10% "0" deletes and ~10% new levels, mostly in the top 20.
_P_DELETE = 0.01  # a noise action deletes a level (a new one enters at the back)
_P_INSERT = 0.01  # a noise action adds a level in a gap (the worst one leaves)
_P_TOP = 0.85  # a noise action picks a level among the top 20 ...
_TOP_SCALE = 5.0  # ... with an exponential rank of this mean
_P_SWEEP = 0.5  # stale quotes (beyond the fair price) are taken by a taker, else cancelled
_P_IMPROVE = 0.9  # per push and side, a quote is placed at the fair price when the spread is wide
_LADDER_TICKS = 6  # ... and ticks behind it, up to the old best, are quoted ...
_P_LADDER = 0.5  # ... each with this probability
_LEVEL_MEDIAN = 300.0  # median resting size of a level, in quantity steps
_TRADE_MEDIAN = 20.0  # median taker order size, in quantity steps
_MAX_SWEEP_LEVELS = 10


class SimFrame(NamedTuple):
    """One frame of the simulated feed.

    Attributes
    ----------
    ts_local : int
        Local receive time, ns since the epoch (exchange send time plus latency).
    raw : str
        The websocket text frame, byte for byte as Bybit formats it.
    kind : str
        ``"book"`` (``orderbook.{depth}.{symbol}``) or ``"trade"`` (``publicTrade.{symbol}``).
    """

    ts_local: int
    raw: str
    kind: str


class _Rand:
    """Blocks of uniforms and normals drawn from one numpy Generator, consumed in order.

    Scalar draws from numpy cost ~0.5-2 us each; list indexing costs ~50 ns. The draw order
    is a pure function of the call sequence, so the stream stays deterministic by seed.
    """

    __slots__ = ("_rng", "_u", "_ui", "_n", "_ni")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._u: list[float] = []
        self._ui = 0
        self._n: list[float] = []
        self._ni = 0

    def u(self) -> float:
        i = self._ui
        if i >= len(self._u):
            self._u = self._rng.random(_RAND_BLOCK).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def n(self) -> float:
        i = self._ni
        if i >= len(self._n):
            self._n = self._rng.standard_normal(_RAND_BLOCK).tolist()
            i = 0
        self._ni = i + 1
        return self._n[i]

    def randint(self, lo: int, hi: int) -> int:
        """Uniform integer in [lo, hi]."""
        return lo + int(self.u() * (hi - lo + 1))

    def expo(self, mean: float) -> float:
        return -mean * math.log(1.0 - self.u())

    def poisson(self, lam: float) -> int:
        if lam <= 0.0:
            return 0
        if lam > 30.0:
            return max(0, int(round(lam + math.sqrt(lam) * self.n())))
        # Knuth: count uniforms until their product drops below exp(-lam).
        limit = math.exp(-lam)
        k = 0
        p = self.u()
        while p > limit:
            k += 1
            p *= self.u()
        return k


def _decimals(text: str) -> int | None:
    """Digits after the point as written (``"0.10"`` -> 2), None if not a plain decimal."""
    m = re.fullmatch(r"\s*\d*(?:\.(\d*))?\s*", text)
    if m is None:
        return None
    return len(m.group(1) or "")


def _grid(step: Decimal) -> tuple[int, int]:
    """(k, d) with step == k * 10**-d, k and d integers, d >= 0."""
    exp = step.as_tuple().exponent
    assert isinstance(exp, int)
    d = max(0, -exp)
    return int(step.scaleb(d)), d


def _formatter(mult: int, scale: int):
    """Return ``f(n) -> str`` printing ``n * mult * 10**-scale`` with exactly ``scale`` decimals."""
    if scale == 0:
        def fmt(n: int) -> str:
            return str(n * mult)
    else:
        div = 10**scale
        pat = "%d.%0" + str(scale) + "d"

        def fmt(n: int) -> str:
            return pat % divmod(n * mult, div)
    return fmt


def _check_int(value: object, name: str, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidInputError(f"{name} must be an int >= {lo}, got {value!r}")
    if value < lo:
        raise InvalidInputError(f"{name} must be an int >= {lo}, got {value!r}")
    return int(value)


def _check_float(value: object, name: str, lo: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    f = float(value)
    if not math.isfinite(f) or f < lo or (strict and f == lo):
        op = ">" if strict else ">="
        raise InvalidInputError(f"{name} must be a finite number {op} {lo}, got {value!r}")
    return f


class SimulatedMarket:
    """A deterministic simulated Bybit linear market emitting raw V5 websocket frames.

    Parameters
    ----------
    symbol : str
        Contract symbol (letters, digits, ``-``, ``_``), e.g. ``"BTCUSDT"``.
    tick_size : str, float or Decimal
        Price grid (Bybit ``priceFilter.tickSize``).
    qty_step : str, float or Decimal
        Size grid (``lotSizeFilter.qtyStep``). Sizes are printed with its decimals.
    depth : int
        Book depth of the topic: 1, 50, 200 or 1000 (the linear depths). Sets the push
        interval: 10, 20, 100 or 200 ms.
    seed : int
        Seed of the ``numpy.random.Generator``; the whole stream is a function of the
        arguments.
    start_price : float
        Initial fair price; rounded to the nearest tick. Must be at least ``20 * depth``
        ticks so the bid side fits on the grid.
    trade_rate : float
        Mean number of random taker orders per second (Poisson), on top of the takers that
        sweep stale quotes when the fair price moves.
    start_ts_ms : int
        Exchange time (ms since the epoch) of the first snapshot.
    volatility : float, keyword-only
        Annualised volatility of the fair price random walk (0.07 = 7 %). Per push
        the fair price moves by ``N(0, volatility * price * sqrt(dt / year))``. Higher values
        make deltas carry more sweeps, deletes and new levels (about 11 % each at 0.07 and
        depth 200, 14 % at 0.1).
    levels_per_delta : int, keyword-only
        Mean number of levels a delta carries (about; deltas are net changes per push).
    latency_ms : float, keyword-only
        Base network latency; each frame adds an exponential jitter of mean ``latency_ms / 2``.
    price_scale : int, optional, keyword-only
        Decimals printed in prices (Bybit ``priceScale``). Default: the decimals of
        ``tick_size`` as written, at least 2 (derivatives print ``"60000.10"`` on a 0.1 tick).

    Raises
    ------
    InvalidInputError
        If an argument is out of range; the message names it.

    Notes
    -----
    ``frames()`` continues the same feed across calls: the first frame ever is the
    snapshot, later calls go on with deltas. :meth:`true_book` is the book as of the last
    book frame yielded so far, so a consumer that applied every yielded frame must hold
    exactly that book.

    Examples
    --------
    >>> m = SimulatedMarket(seed=1)
    >>> first = m.generate(n_messages=1)[0]
    >>> first.kind, first.raw[:45]
    ('book', '{"topic":"orderbook.200.BTCUSDT","type":"snap')
    """

    def __init__(
        self,
        symbol: str = "BTCUSDT",
        tick_size: str | float | Decimal = "0.1",
        qty_step: str | float | Decimal = "0.001",
        depth: int = 200,
        seed: int = 0,
        start_price: float = 60000.0,
        trade_rate: float = 10.0,
        start_ts_ms: int = 1_700_000_000_000,
        *,
        volatility: float = 0.07,
        levels_per_delta: int = 30,
        latency_ms: float = 3.0,
        price_scale: int | None = None,
    ) -> None:
        if not is_symbol(symbol):
            raise InvalidInputError(
                f"symbol must be a non-empty string of letters, digits, '-' or '_', got {symbol!r}"
            )
        tick = parse_step(tick_size, "tick_size")
        step = parse_step(qty_step, "qty_step")
        depth = _check_int(depth, "depth", 1)
        if depth not in PUSH_INTERVAL_MS:
            raise InvalidInputError(
                f"depth must be one of {sorted(PUSH_INTERVAL_MS)} (Bybit linear orderbook depths), got {depth!r}"
            )
        seed = _check_int(seed, "seed", 0)
        price = _check_float(start_price, "start_price", 0.0, strict=True)
        self._trade_rate = _check_float(trade_rate, "trade_rate", 0.0, strict=False)
        start_ts_ms = _check_int(start_ts_ms, "start_ts_ms", 0)
        vol = _check_float(volatility, "volatility", 0.0, strict=False)
        self._levels_per_delta = _check_int(levels_per_delta, "levels_per_delta", 1)
        lat = _check_float(latency_ms, "latency_ms", 0.0, strict=False)

        tk, td = _grid(tick)
        written = _decimals(tick_size) if isinstance(tick_size, str) else None
        default_scale = max(2, td, written or 0)
        if price_scale is None:
            scale = default_scale
        else:
            scale = _check_int(price_scale, "price_scale", td)
            if scale > 18:
                raise InvalidInputError(f"price_scale must be <= 18, got {price_scale!r}")
        start_ticks = int((Decimal(repr(price)) / tick).to_integral_value())
        if start_ticks < 20 * depth:
            raise InvalidInputError(
                f"start_price={start_price!r} is {start_ticks} ticks of {tick}; at depth {depth} "
                f"it must be at least {20 * depth} ticks"
            )

        self._symbol = symbol
        self._tick = tick
        self._step = step
        self._depth = depth
        self._seed = seed
        self._cadence = PUSH_INTERVAL_MS[depth]
        self._topic = f"orderbook.{depth}.{symbol}"
        self._trade_topic = f"publicTrade.{symbol}"
        self._spec = InstrumentSpec(symbol, tick, step)
        self._pfmt_raw = _formatter(tk * 10 ** (scale - td), scale)
        self._pcache: dict[int, str] = {}
        sk, sd = _grid(step)
        self._sfmt = _formatter(sk, sd)

        ss = np.random.SeedSequence(seed)
        market_ss, id_ss, time_ss, act_ss = ss.spawn(4)
        self._r = _Rand(np.random.default_rng(market_ss))
        self._rt = _Rand(np.random.default_rng(time_ss))  # timing draws, separate from the market path
        self._id_rng = np.random.default_rng(id_ss)
        self._act_rng = np.random.default_rng(act_ss)  # limit-order noise, drawn in blocks
        self._acts: list[tuple[bool, int, int, float, float]] = []
        self._ai = 0
        # size update pull towards the typical size of rank k: (median * (1 + k/100)) ** 0.2
        self._size_pull = [(_LEVEL_MEDIAN * (1.0 + k / 100.0)) ** 0.2 for k in range(depth)]
        self._id_buf = b""
        self._id_pos = 0

        # Fair price random walk, in ticks.
        self._fair = float(start_ticks)
        self._fair_floor = float(10 * depth)
        self._sigma = vol * start_ticks * math.sqrt(self._cadence / _MS_PER_YEAR)

        # Timing state.
        self._t0 = start_ts_ms
        self._k = 0  # push slot index; slot k is sent at about t0 + k * cadence
        self._last_push_ts = start_ts_ms
        self._lat_ns = lat * _NS_PER_MS
        self._jit_ns = max(lat, 0.2) * 0.5 * _NS_PER_MS
        self._last_local = 0
        self._ts_jitter = max(1, self._cadence // 25)
        self._cts_lag = max(1, min(15, self._cadence // 4))

        # Sequences: u per topic, seq shared (cross sequence) by book and trades.
        self._u = 10_000_000 + self._r.randint(0, 9_999_999)
        self._seq = 100_000_000_000 + self._r.randint(0, 9_999_999_999)
        self._last_trade_tick: int | None = None
        self._last_dir = "PlusTick"

        # The true book: ascending tick lists (best bid last, best ask first) + sizes in steps.
        self._bids: list[int] = []
        self._asks: list[int] = []
        self._bsz: dict[int, int] = {}
        self._asz: dict[int, int] = {}
        self._bb: dict[int, int] = {}  # tick -> size before this push (0 = absent), bids
        self._ab: dict[int, int] = {}
        self._level1_last: tuple[int, int, int, int] | None = None
        self._level1_ts = start_ts_ms

        # Frames generated but not yet yielded: (ts_exch_ms, SimFrame, undo or None).
        self._pending: deque[tuple[int, SimFrame, object]] = deque()
        self._clock_ms = start_ts_ms  # exchange time of the last frame yielded
        self._started = False

    # ----------------------------------------------------------------- properties
    @property
    def symbol(self) -> str:
        """Contract symbol."""
        return self._symbol

    @property
    def depth(self) -> int:
        """Levels per side of the book topic."""
        return self._depth

    @property
    def topic(self) -> str:
        """Orderbook topic, ``orderbook.{depth}.{symbol}``."""
        return self._topic

    @property
    def trade_topic(self) -> str:
        """Trade topic, ``publicTrade.{symbol}``."""
        return self._trade_topic

    @property
    def tick_size(self) -> Decimal:
        """Price grid."""
        return self._tick

    @property
    def qty_step(self) -> Decimal:
        """Size grid."""
        return self._step

    @property
    def spec(self) -> InstrumentSpec:
        """The instrument as an :class:`ofi.spec.InstrumentSpec` (linear category)."""
        return self._spec

    @property
    def push_interval_ms(self) -> int:
        """Push interval of the orderbook topic in ms (Bybit's cadence for ``depth``)."""
        return self._cadence

    @property
    def seed(self) -> int:
        """Seed the market was built with."""
        return self._seed

    # --------------------------------------------------------------- public API
    def frames(self, n_messages: int | None = None, duration_s: float | None = None) -> Iterator[SimFrame]:
        """Iterate over the next frames of the feed, in local receive order.

        Parameters
        ----------
        n_messages : int, optional
            Stop after this many frames (book and trade frames both count).
        duration_s : float, optional
            Stop before the first frame sent more than ``duration_s`` seconds (exchange
            time) after the last frame yielded by a previous call (or the start time).
            With neither limit the iterator is endless.

        Returns
        -------
        Iterator[SimFrame]
            The first frame of a market's life is the orderbook snapshot. A frame held
            back by a limit is the first one yielded by the next call.

        Raises
        ------
        InvalidInputError
            If a limit is negative or not a number.
        """
        n = None if n_messages is None else _check_int(n_messages, "n_messages", 0)
        end = None
        if duration_s is not None:
            d = _check_float(duration_s, "duration_s", 0.0, strict=False)
            end = self._clock_ms + int(round(d * 1000.0))
        return self._iter(n, end)

    def generate(self, n_messages: int | None = None, duration_s: float | None = None) -> list[SimFrame]:
        """Return the next frames as a list; see :meth:`frames`. One limit is required.

        Raises
        ------
        InvalidInputError
            If neither limit is given, or one is out of range.
        """
        if n_messages is None and duration_s is None:
            raise InvalidInputError("generate() needs n_messages or duration_s (the feed is endless)")
        return list(self.frames(n_messages, duration_s))

    def true_book(self) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        """The simulator's own book as of the last book frame yielded.

        Returns
        -------
        bids, asks : list of (int, float)
            ``(price_ticks, size)`` best first; ``size`` is the float of the size string the
            frames carry (so it equals what an exact decimal parser produces). Empty lists
            before the snapshot was yielded.
        """
        bsz = dict(self._bsz)
        asz = dict(self._asz)
        for _ts, _frame, undo in reversed(self._pending):
            if undo is None:
                continue
            if undo[0] == "snapshot":
                bsz = dict(undo[1])
                asz = dict(undo[2])
                continue
            for sizes, changes in ((bsz, undo[1]), (asz, undo[2])):
                for t, old in changes.items():
                    if old:
                        sizes[t] = old
                    else:
                        sizes.pop(t, None)
        sf = self._sfmt
        bids = [(t, float(sf(bsz[t]))) for t in sorted(bsz, reverse=True)]
        asks = [(t, float(sf(asz[t]))) for t in sorted(asz)]
        return bids, asks

    def format_price(self, ticks: int) -> str:
        """The price string Bybit would print for ``ticks`` (e.g. ``600001 -> "60000.10"``)."""
        return self._pfmt(int(ticks))

    def __repr__(self) -> str:
        return (
            f"SimulatedMarket(symbol={self._symbol!r}, tick_size='{self._tick}', qty_step='{self._step}', "
            f"depth={self._depth}, seed={self._seed})"
        )

    # ------------------------------------------------------------------ driving
    def _iter(self, n: int | None, end: int | None) -> Iterator[SimFrame]:
        pending = self._pending
        count = 0
        while n is None or count < n:
            while not pending:
                if self._started:
                    self._advance()
                else:
                    self._start()
            ts_ms, frame, _undo = pending[0]
            if end is not None and ts_ms > end:
                return
            pending.popleft()
            self._clock_ms = ts_ms
            count += 1
            yield frame

    def _pfmt(self, t: int) -> str:
        s = self._pcache.get(t)
        if s is None:
            if len(self._pcache) > 200_000:
                self._pcache.clear()
            s = self._pcache[t] = self._pfmt_raw(t)
        return s

    def _local(self, ts_ms: int) -> int:
        rt = self._rt
        lat = ts_ms * _NS_PER_MS + int(self._lat_ns + rt.expo(self._jit_ns))
        if lat <= self._last_local:
            lat = self._last_local + 1 + rt.randint(0, 20_000)
        self._last_local = lat
        return lat

    def _level_size(self, rank: int) -> int:
        # Lognormal resting size; deeper levels hold a bit more.
        return max(1, int(_LEVEL_MEDIAN * (1.0 + rank / 100.0) * math.exp(1.1 * self._r.n())))

    def _gap(self) -> int:
        # Tick distance between neighbouring levels: mostly 1, sometimes a few.
        return 1 + min(int(self._r.expo(0.6)), 6)

    def _start(self) -> None:
        r = self._r
        depth = self._depth
        best_bid = int(math.floor(self._fair))
        t = best_bid
        bids = []
        for _ in range(depth):
            bids.append(t)
            t -= self._gap()
        bids.reverse()
        t = best_bid + 1 + (1 if r.u() < 0.1 else 0)
        asks = []
        for _ in range(depth):
            asks.append(t)
            t += self._gap()
        self._bids = bids
        self._asks = asks
        self._bsz = {b: self._level_size(depth - 1 - i) for i, b in enumerate(bids)}
        self._asz = {a: self._level_size(i) for i, a in enumerate(asks)}
        ts = self._t0
        cts = ts - self._rt.randint(1, self._cts_lag)
        self._seq += r.randint(1, 500)
        raw = self._snapshot_raw(ts, cts)
        self._pending.append((ts, SimFrame(self._local(ts), raw, "book"), ("snapshot", {}, {})))
        self._last_push_ts = ts
        self._level1_ts = ts
        self._level1_last = self._top()
        self._started = True

    def _top(self) -> tuple[int, int, int, int]:
        b = self._bids[-1]
        a = self._asks[0]
        return (b, self._bsz[b], a, self._asz[a])

    # ----------------------------------------------------------- book mutations
    def _bid_remove(self, pos: int) -> None:
        bids = self._bids
        t = bids.pop(pos)
        if t not in self._bb:
            self._bb[t] = self._bsz[t]
        del self._bsz[t]
        back = bids[0] if bids else t
        nt = back - self._gap()
        if nt < 1:
            nt = self._bid_free_tick()
        if nt < back:
            bids.insert(0, nt)
        else:
            insort(bids, nt)
        if nt not in self._bb:
            self._bb[nt] = self._bsz.get(nt, 0)
        self._bsz[nt] = self._level_size(len(bids))

    def _bid_free_tick(self) -> int:
        # Only reached if the walk drove the bids to the bottom of the grid.
        prev = 0
        for t in self._bids:
            if t - prev > 1:
                return prev + 1
            prev = t
        raise RuntimeError("simulated bids reached the bottom of the price grid; raise start_price")

    def _ask_remove(self, pos: int) -> None:
        asks = self._asks
        t = asks.pop(pos)
        if t not in self._ab:
            self._ab[t] = self._asz[t]
        del self._asz[t]
        back = asks[-1] if asks else t
        nt = back + self._gap()
        asks.append(nt)
        if nt not in self._ab:
            self._ab[nt] = self._asz.get(nt, 0)
        self._asz[nt] = self._level_size(len(asks))

    def _bid_insert(self, t: int, size: int) -> None:
        """Add a bid inside the window; the worst bid leaves it."""
        insort(self._bids, t)
        bb = self._bb
        if t not in bb:
            bb[t] = self._bsz.get(t, 0)
        self._bsz[t] = size
        w = self._bids.pop(0)
        if w not in bb:
            bb[w] = self._bsz[w]
        del self._bsz[w]

    def _ask_insert(self, t: int, size: int) -> None:
        insort(self._asks, t)
        ab = self._ab
        if t not in ab:
            ab[t] = self._asz.get(t, 0)
        self._asz[t] = size
        w = self._asks.pop()
        if w not in ab:
            ab[w] = self._asz[w]
        del self._asz[w]

    def _set_bid(self, t: int, size: int) -> None:
        if t not in self._bb:
            self._bb[t] = self._bsz[t]
        self._bsz[t] = size

    def _set_ask(self, t: int, size: int) -> None:
        if t not in self._ab:
            self._ab[t] = self._asz[t]
        self._asz[t] = size

    def _take(self, buy: bool, units: int, fills: list[tuple[int, int]]) -> None:
        """A taker order of ``units`` steps consumes the best levels of the other side."""
        for _ in range(_MAX_SWEEP_LEVELS):
            if units <= 0:
                return
            if buy:
                t = self._asks[0]
                avail = self._asz[t]
                if units >= avail:
                    fills.append((t, avail))
                    units -= avail
                    self._ask_remove(0)
                else:
                    fills.append((t, units))
                    self._set_ask(t, avail - units)
                    units = 0
            else:
                t = self._bids[-1]
                avail = self._bsz[t]
                if units >= avail:
                    fills.append((t, avail))
                    units -= avail
                    self._bid_remove(len(self._bids) - 1)
                else:
                    fills.append((t, units))
                    self._set_bid(t, avail - units)
                    units = 0

    def _quote_size(self) -> int:
        return max(1, int(0.5 * _LEVEL_MEDIAN * math.exp(1.0 * self._r.n())))

    def _next_actions(self) -> list[tuple[bool, int, int, float, float]]:
        """A block of pre-drawn limit-order noise actions, vectorised with numpy.

        Each is ``(bid, kind, rank, growth, v)``: kind 0 = size update, 1 = delete,
        2 = insert in a gap; ``rank`` counts from the best level; ``growth`` is the update's
        lognormal factor ``exp(0.4 z)``; ``v`` is a spare uniform.
        """
        g = self._act_rng
        n = _RAND_BLOCK
        bid = g.random(n) < 0.5
        x = g.random(n)
        kind = np.where(x < _P_DELETE, 1, np.where(x < _P_DELETE + _P_INSERT, 2, 0))
        top = g.random(n) < _P_TOP
        rank_top = np.floor(g.exponential(_TOP_SCALE, n)).astype(np.int64) % min(20, self._depth)
        rank_any = np.floor(g.random(n) * self._depth).astype(np.int64)
        rank = np.where(top, rank_top, rank_any)
        growth = np.exp(0.4 * g.standard_normal(n))
        v = g.random(n)
        return list(zip(bid.tolist(), kind.tolist(), rank.tolist(), growth.tolist(), v.tolist()))

    def _noise(self, target: int) -> None:
        """Apply noise actions until about ``target`` levels changed in this push."""
        bb = self._bb
        ab = self._ab
        bsz = self._bsz
        asz = self._asz
        bids = self._bids
        asks = self._asks
        pull = self._size_pull
        acts = self._acts
        ai = self._ai
        touched = len(bb) + len(ab)
        for _ in range(3 * target):
            if touched >= target:
                break
            if ai >= len(acts):
                acts = self._acts = self._next_actions()
                ai = 0
            bid, kind, rank, growth, v = acts[ai]
            ai += 1
            if kind == 0:
                # size update: log-size AR(1) towards the level's typical size (stationary sizes)
                if bid:
                    t = bids[-1 - rank]
                    old = bsz[t]
                    if t not in bb:
                        bb[t] = old
                        touched += 1
                    new = int(old**0.8 * pull[rank] * growth + 0.5)
                    bsz[t] = new if (new != old and new > 0) else (old + 1 if old < 3 or v < 0.5 else old - 1)
                else:
                    t = asks[rank]
                    old = asz[t]
                    if t not in ab:
                        ab[t] = old
                        touched += 1
                    new = int(old**0.8 * pull[rank] * growth + 0.5)
                    asz[t] = new if (new != old and new > 0) else (old + 1 if old < 3 or v < 0.5 else old - 1)
                continue
            self._structural(bid, kind, rank, v)
            touched = len(bb) + len(ab)
        self._ai = ai

    def _structural(self, bid: bool, kind: int, rank: int, v: float) -> None:
        """Delete the level at ``rank`` (kind 1) or add one in a gap near it (kind 2)."""
        if bid:
            bids = self._bids
            pos = len(bids) - 1 - rank
            if kind == 1:
                self._bid_remove(pos)
                return
            # a gap between this level and the next worse one, else a little deeper
            for p in range(pos, max(0, pos - 6), -1):
                lo, hi = bids[p - 1], bids[p]
                if hi - lo > 1:
                    self._bid_insert(lo + 1 + int(v * (hi - lo - 1)), self._level_size(rank))
                    return
        else:
            asks = self._asks
            if kind == 1:
                self._ask_remove(rank)
                return
            for p in range(rank, min(len(asks) - 1, rank + 6)):
                lo, hi = asks[p], asks[p + 1]
                if hi - lo > 1:
                    self._ask_insert(lo + 1 + int(v * (hi - lo - 1)), self._level_size(rank))
                    return

    # --------------------------------------------------------------- one push
    def _advance(self) -> None:
        """Simulate one push interval and queue its trade frames and book frame."""
        r = self._r
        rt = self._rt
        self._k += 1
        ts = self._t0 + self._k * self._cadence + rt.randint(0, self._ts_jitter)
        cts = ts - rt.randint(1, self._cts_lag)
        if cts <= self._last_push_ts:
            cts = self._last_push_ts + 1
        self._bb = {}
        self._ab = {}
        orders: list[tuple[bool, list[tuple[int, int]]]] = []

        # 1. the fair price moves; quotes beyond it are swept by a taker or cancelled
        fair = self._fair + self._sigma * r.n()
        if fair < self._fair_floor:
            fair = 2.0 * self._fair_floor - fair
        self._fair = fair
        tb = int(math.floor(fair))
        ta = tb + 1
        if self._asks[0] <= tb:
            if r.u() < _P_SWEEP:
                fills: list[tuple[int, int]] = []
                units = _sum_through(self._asks, self._asz, tb, True)
                self._take(True, units, fills)
                orders.append((True, fills))
            while self._asks[0] <= tb:
                self._ask_remove(0)
        if self._bids[-1] >= ta:
            if r.u() < _P_SWEEP:
                fills = []
                units = _sum_through(self._bids, self._bsz, ta, False)
                self._take(False, units, fills)
                orders.append((False, fills))
            while self._bids[-1] >= ta:
                self._bid_remove(len(self._bids) - 1)

        # 2. market makers re-quote at the fair price when the spread is wide, and refill
        #    some of the ticks behind the new quote (the ladder follows the price)
        if self._bids[-1] < tb and r.u() < _P_IMPROVE:
            q = min(tb, self._asks[0] - 1)
            old_best = self._bids[-1]
            if q > old_best:
                self._bid_insert(q, self._quote_size())
                for t in range(q - 1, max(old_best, q - _LADDER_TICKS), -1):
                    if r.u() < _P_LADDER:
                        self._bid_insert(t, self._quote_size())
        if self._asks[0] > ta and r.u() < _P_IMPROVE:
            q = max(ta, self._bids[-1] + 1)
            old_best = self._asks[0]
            if q < old_best:
                self._ask_insert(q, self._quote_size())
                for t in range(q + 1, min(old_best, q + _LADDER_TICKS)):
                    if r.u() < _P_LADDER:
                        self._ask_insert(t, self._quote_size())

        # 3. random taker orders, leaning towards the fair price
        n_orders = r.poisson(self._trade_rate * self._cadence / 1000.0)
        for _ in range(n_orders):
            mid2 = self._bids[-1] + self._asks[0]
            p_buy = 1.0 / (1.0 + math.exp(-(2.0 * fair - mid2)))
            buy = r.u() < p_buy
            units = max(1, int(_TRADE_MEDIAN * math.exp(1.3 * r.n())))
            fills = []
            self._take(buy, units, fills)
            orders.append((buy, fills))

        # 4. limit order noise until the delta has about levels_per_delta levels
        if self._depth == 1:
            self._noise(len(self._bb) + len(self._ab) + r.poisson(0.6))
        else:
            lam = self._levels_per_delta
            self._noise(max(1, int(round(lam + math.sqrt(lam) * r.n()))))

        # 5. frames: trades in time order, then the book push
        if orders:
            lo = self._last_push_ts + 1
            times = sorted(rt.randint(lo, max(lo, cts)) for _ in orders)
            tts = lo
            for (buy, fills), T in zip(orders, times):
                if not fills:
                    continue
                self._seq += r.randint(1, 40)
                tts = max(tts, min(ts, T + rt.randint(0, 2)))
                raw = self._trade_raw(buy, fills, T, tts)
                self._pending.append((tts, SimFrame(self._local(tts), raw, "trade"), None))
        self._seq += r.randint(1, 400)
        if self._depth == 1:
            self._push_level1(ts, cts)
        else:
            self._push_delta(ts, cts)
        self._last_push_ts = ts

    def _push_delta(self, ts: int, cts: int) -> None:
        bsz = self._bsz
        asz = self._asz
        bch = {t: old for t, old in self._bb.items() if bsz.get(t, 0) != old}
        ach = {t: old for t, old in self._ab.items() if asz.get(t, 0) != old}
        if not bch and not ach:
            return  # Bybit pushes nothing when nothing changed
        self._u += 1
        pf = self._pfmt
        sf = self._sfmt
        b = ",".join(
            ['["%s","%s"]' % (pf(t), sf(bsz[t]) if t in bsz else "0") for t in sorted(bch, reverse=True)]
        )
        a = ",".join(['["%s","%s"]' % (pf(t), sf(asz[t]) if t in asz else "0") for t in sorted(ach)])
        raw = (
            '{"topic":"%s","type":"delta","ts":%d,"data":{"s":"%s","b":[%s],"a":[%s],"u":%d,"seq":%d},"cts":%d}'
            % (self._topic, ts, self._symbol, b, a, self._u, self._seq, cts)
        )
        self._pending.append((ts, SimFrame(self._local(ts), raw, "book"), ("delta", bch, ach)))

    def _push_level1(self, ts: int, cts: int) -> None:
        top = self._top()
        prev = self._level1_last
        if top == prev:
            if ts - self._level1_ts < _LEVEL1_REPEAT_MS:
                return
        else:
            self._u += 1
        undo = ("snapshot", {prev[0]: prev[1]}, {prev[2]: prev[3]}) if prev else ("snapshot", {}, {})
        self._level1_last = top
        self._level1_ts = ts
        raw = self._snapshot_raw(ts, cts)
        self._pending.append((ts, SimFrame(self._local(ts), raw, "book"), undo))

    def _snapshot_raw(self, ts: int, cts: int) -> str:
        pf = self._pfmt
        sf = self._sfmt
        bsz = self._bsz
        asz = self._asz
        b = ",".join(['["%s","%s"]' % (pf(t), sf(bsz[t])) for t in reversed(self._bids)])
        a = ",".join(['["%s","%s"]' % (pf(t), sf(asz[t])) for t in self._asks])
        if self._depth == 1:
            head = '{"topic":"%s","ts":%d,"type":"snapshot"' % (self._topic, ts)
        else:
            head = '{"topic":"%s","type":"snapshot","ts":%d' % (self._topic, ts)
        return head + ',"data":{"s":"%s","b":[%s],"a":[%s],"u":%d,"seq":%d},"cts":%d}' % (
            self._symbol, b, a, self._u, self._seq, cts,
        )

    def _trade_id(self) -> str:
        pos = self._id_pos
        if pos + 16 > len(self._id_buf):
            self._id_buf = self._id_rng.bytes(16 * 4096)
            pos = 0
        h = self._id_buf[pos:pos + 16].hex()
        self._id_pos = pos + 16
        # Bybit derivative trade ids look like version-5 UUIDs
        return "%s-%s-5%s-%s%s-%s" % (h[:8], h[8:12], h[13:16], "89ab"[int(h[16], 16) & 3], h[17:20], h[20:])

    def _trade_raw(self, buy: bool, fills: list[tuple[int, int]], T: int, ts: int) -> str:
        r = self._r
        pf = self._pfmt
        sf = self._sfmt
        side = "Buy" if buy else "Sell"
        parts = []
        for t, units in fills:
            # a level is several maker orders: sometimes the fill prints as two trades
            if units >= 2 and r.u() < 0.3:
                cut = 1 + int(r.u() * (units - 1))
                pieces = (cut, units - cut)
            else:
                pieces = (units,)
            for q in pieces:
                last = self._last_trade_tick
                if last is None or t > last:
                    direction = self._last_dir = "PlusTick"
                elif t < last:
                    direction = self._last_dir = "MinusTick"
                else:
                    direction = "ZeroPlusTick" if self._last_dir == "PlusTick" else "ZeroMinusTick"
                self._last_trade_tick = t
                parts.append(
                    '{"T":%d,"s":"%s","S":"%s","v":"%s","p":"%s","L":"%s","i":"%s","BT":false,"RPI":false,"seq":%d}'
                    % (T, self._symbol, side, sf(q), pf(t), direction, self._trade_id(), self._seq)
                )
        return '{"topic":"%s","type":"snapshot","ts":%d,"data":[%s]}' % (self._trade_topic, ts, ",".join(parts))


def _sum_through(levels: list[int], sizes: dict[int, int], limit: int, asks: bool) -> int:
    """Total size of the levels at or beyond ``limit`` from the best (asks <= limit, bids >= limit)."""
    total = 0
    if asks:
        for t in levels:
            if t > limit:
                break
            total += sizes[t]
    else:
        for t in reversed(levels):
            if t < limit:
                break
            total += sizes[t]
    return total
