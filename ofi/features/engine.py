"""The feature engine: 75 documented microstructure features from book messages and trades.

Streaming (``update_orderbook`` / ``update_trade`` / ``extract_features``) and batch (``transform``
over a tape) run the same compiled kernel (``ofi._core.features``) in the same order, so a feature
matrix from a recording equals, bit for bit, what a live bot computed. Definitions, units and
warm-ups: ``ofi.features.registry`` and docs/features.md.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ofi._core.book import OrderBook
from ofi._core.features import N_FEATURE_SLOTS, FeatureKernel
from ofi._progress import Progress, Reporter
from ofi._core.events import TAPE_FLAG_END as FLAG_END, TAPE_KIND_BOOK as KIND_BOOK, TAPE_KIND_TRADE as KIND_TRADE
from ofi.validation import check_tape as _check_tape
from ofi.errors import InvalidInputError
from ofi.features.config import FeatureConfig
from ofi.features.registry import FeatureSpec, feature_specs
from ofi.orderflow.toxicity import DEFAULT_WEIGHTS

__all__ = ["FeatureEngine", "FeatureVector", "FeatureFrame", "transform"]

_CHUNK_ROWS = 1 << 17          # tape rows per kernel call: progress granularity
_AUTO_PROGRESS_ROWS = 2_000_000


class FeatureVector(Mapping):
    """One feature vector: a read-only mapping name -> value, plus the arrays behind it.

    Attributes
    ----------
    values : ndarray of float64, shape (n_features,)
        NaN where a feature is not (yet) defined.
    names : tuple of str
    ts_ns : int
        The engine clock (local time, ns) the vector refers to.
    """

    __slots__ = ("values", "names", "ts_ns", "_index")

    def __init__(self, values: np.ndarray, names: tuple[str, ...], index: dict[str, int], ts_ns: int):
        self.values = values
        self.names = names
        self.ts_ns = ts_ns
        self._index = index

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask: True where the feature is warm and defined (not NaN)."""
        return ~np.isnan(self.values)

    def __getitem__(self, name: str) -> float:
        return float(self.values[self._index[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return f"FeatureVector({int(self.valid.sum())}/{len(self.names)} valid, ts_ns={self.ts_ns})"


@dataclass(frozen=True)
class FeatureFrame:
    """Feature rows of a batch transform, one per event (book message or trade).

    Attributes
    ----------
    ts_ns : ndarray of int64, shape (n,)
        Engine clock after each event (local receive time, ns).
    values : ndarray of float64, shape (n, n_features)
        Row i equals ``extract_features`` called right after event i.
    kind : ndarray of int8, shape (n,)
        ``KIND_BOOK`` (1) or ``KIND_TRADE`` (2).
    names : tuple of str
    """

    ts_ns: np.ndarray
    values: np.ndarray
    kind: np.ndarray
    names: tuple

    @property
    def valid(self) -> np.ndarray:
        """Boolean mask of shape (n, n_features): True where the value is defined."""
        return ~np.isnan(self.values)

    def column(self, name: str) -> np.ndarray:
        try:
            return self.values[:, self.names.index(name)]
        except ValueError:
            raise InvalidInputError(f"no feature named {name!r}") from None

    def __len__(self) -> int:
        return len(self.ts_ns)


class FeatureEngine:
    """Streaming and batch feature extraction (see docs/features.md for every feature).

    Parameters
    ----------
    config : FeatureConfig, optional
        Window lengths; ``config.hash`` identifies the feature set for model files.

    Examples
    --------
    >>> from ofi import FeatureEngine, FeatureConfig
    >>> engine = FeatureEngine(FeatureConfig(orderbook_levels=10))
    >>> # live: after each applied book frame / decoded trade
    >>> # engine.update_orderbook(book); engine.update_trade(trade); fv = engine.extract_features(book)
    >>> len(engine.names) >= 60
    True

    Notes
    -----
    Call ``update_orderbook(book)`` after every book message, including one that raised
    ``SequenceGapError`` (the book is then stale and book features turn NaN until the resync), and
    ``update_trade(trade)`` for every trade, in arrival order. ``extract_features(book)`` may be
    called after any event; ``transform(tape)`` returns the rows such calls would give after each
    event of the tape. Both continue from the engine's current state; ``reset()`` starts over.
    """

    def __init__(self, config: FeatureConfig | None = None):
        if config is None:
            config = FeatureConfig()
        elif not isinstance(config, FeatureConfig):
            raise InvalidInputError(f"config must be a FeatureConfig, got {type(config).__name__}")
        self.config = config
        self.specs: tuple[FeatureSpec, ...] = tuple(feature_specs(config))
        self.names: tuple[str, ...] = tuple(s.name for s in self.specs)
        self._index = {n: i for i, n in enumerate(self.names)}
        c = config
        self._k = FeatureKernel(
            c.orderbook_levels, c.vpin_bucket_size, c.vpin_num_buckets, c.history_window, c.spread_window,
            c.horizons_ns, c.bar_ns, c.zscore_bars, c.impact_bars, c.vol_bars, c.roll_window,
            c.large_trade_quantile, c.large_trade_horizon, c.ema_fast, c.ema_slow, c.rsi_period,
            c.bollinger_period, c.momentum_short, c.momentum_long, c.pca_min_bars, list(DEFAULT_WEIGHTS))
        written = self._k.slots_written()
        if written != len(self.names) or written != N_FEATURE_SLOTS:
            raise RuntimeError(f"feature kernel writes {written} slots, registry has {len(self.names)}")
        self._batch_book: OrderBook | None = None

    @property
    def n_features(self) -> int:
        return len(self.names)

    @property
    def config_hash(self) -> str:
        return self.config.hash

    @property
    def now_ns(self) -> int:
        """The engine clock: the latest event time seen (ns), 0 before any event."""
        return self._k.now

    def reset(self) -> None:
        """Forget every event (the batch book too)."""
        self._k.reset()
        self._batch_book = None

    # ---- streaming
    def update_orderbook(self, book: OrderBook) -> None:
        """Take the book after one book message (applied, or rejected with the book left stale)."""
        try:
            self._k.update_book(book)
        except TypeError:
            raise InvalidInputError(f"book must be an OrderBook, got {type(book).__name__}") from None

    def update_trade(self, trade: Any) -> None:
        """Take one public trade (``ofi.Trade``), in arrival order."""
        try:
            self._k.update_trade(trade)
        except TypeError:
            raise InvalidInputError(f"trade must be an ofi.Trade, got {type(trade).__name__}") from None

    def extract_features(self, book: OrderBook) -> FeatureVector:
        """The feature vector now: book-shape features from ``book``, the rest from the engine's state."""
        values = np.empty(N_FEATURE_SLOTS)
        try:
            self._k.extract_into(book, values)
        except TypeError:
            raise InvalidInputError(f"book must be an OrderBook, got {type(book).__name__}") from None
        return FeatureVector(values, self.names, self._index, self._k.now)

    # ---- batch
    def transform(self, tape: np.ndarray, tick_size: Any = None, *, book: OrderBook | None = None,
                  symbol: str = "UNKNOWN", progress: Progress | str = "auto") -> FeatureFrame:
        """Features after every event of a tape, in one compiled pass.

        Parameters
        ----------
        tape : ndarray of ofi.data.tape.TAPE_DTYPE
            Book messages and trades of one instrument, in arrival order.
        tick_size : optional
            Tick size of the book the engine creates on its first transform (later transforms
            continue that book). Not needed with ``book``.
        book : OrderBook, optional
            Apply the book messages to this book instead (it is updated in place).
        progress : "auto", bool or callable
            ``progress(done_rows, total_rows)`` per chunk, True for a line on stderr, "auto" for a
            line on an interactive stderr when the tape has more than 2 million rows.

        Returns
        -------
        FeatureFrame
            One row per event; row i equals ``extract_features`` right after event i.

        Raises
        ------
        InvalidInputError
            Not a tape, a malformed book message, a trade with a bad side or size.
        BookIntegrityError, SequenceGapError
            Never for gaps (the book goes stale until the next snapshot, as live); only for a
            book error that leaves no way to continue.
        """
        tape = _check_tape(tape)
        if book is None:
            if self._batch_book is None:
                if tick_size is None:
                    raise InvalidInputError("transform needs tick_size=... (or book=...) on its first call")
                self._batch_book = OrderBook(symbol, tick_size)
            book = self._batch_book
        elif not isinstance(book, OrderBook):
            raise InvalidInputError(f"book must be an OrderBook, got {type(book).__name__}")
        kinds = tape["kind"]
        n_events = int(np.count_nonzero((kinds == KIND_BOOK) & ((tape["flags"] & FLAG_END) != 0))
                       + np.count_nonzero(kinds == KIND_TRADE))
        values = np.empty((n_events, N_FEATURE_SLOTS))
        ts = np.empty(n_events, dtype=np.int64)
        kind = np.empty(n_events, dtype=np.int8)
        n = len(tape)
        if progress == "auto":
            progress = n > _AUTO_PROGRESS_ROWS and sys.stderr.isatty()
        rep = Reporter(progress, "features", unit="M rows", scale=1e6)
        rep.start(n)
        i = r = 0
        try:
            while i < n:
                i, r = self._k.transform_into(book, tape, i, i + _CHUNK_ROWS, values, ts, kind, r)
                rep.update(i)
        finally:
            rep.close()
        if r != n_events:
            values, ts, kind = values[:r], ts[:r], kind[:r]
        return FeatureFrame(ts, values, kind, self.names)


def transform(tape: np.ndarray, tick_size: Any = None, config: FeatureConfig | None = None, *,
              book: OrderBook | None = None, symbol: str = "UNKNOWN",
              progress: Progress | str = "auto") -> FeatureFrame:
    """``FeatureEngine(config).transform(tape, tick_size, ...)`` with a fresh engine."""
    return FeatureEngine(config).transform(tape, tick_size, book=book, symbol=symbol, progress=progress)
