"""The core's neutral market events: trades and the tape.

A venue's frame decoder (``ofi/venues/<venue>/``) turns the venue's bytes into these; the book, the
replay loop and the kernels read nothing else. Prices are int64 ticks of the instrument's tick size,
sizes float64 in base units, times int64 ns since the epoch.
"""
from libc.stdint cimport int64_t
from libc.math cimport INFINITY

import numpy as np

from ofi.errors import InvalidInputError

# Set by ofi._core.decoder when it is imported; see events.pxd.
cdef DecoderLookup _trade_decoder = NULL


cdef void bind_trade_decoder(DecoderLookup lookup) noexcept:
    global _trade_decoder
    _trade_decoder = lookup


cdef class Trade:
    """One public trade.

    Attributes
    ----------
    symbol : str
    price : float
        Equal to ``float(p)`` of the exchange's decimal string.
    size : float
        Base units (contracts in USD for inverse contracts).
    side : int
        Taker side: +1 buy, -1 sell.
    ts_exch : int
        Match time in ns since the epoch.
    trade_id : str
        The venue's trade id.
    price_ticks : int
        Price in integer ticks of the instrument's tick size.
    seq : int
        The venue's cross sequence (shared by the fills of one taker order); -1 when absent.
    block_trade, rpi : bool
        A block trade; a fill against a retail-price-improvement order.
    ts_local : int
        Local receive time in ns (0 if unknown).
    """

    def __init__(self, str symbol, double price, double size, int side, int64_t ts_exch, str trade_id,
                 int64_t price_ticks, int64_t seq=-1, bint block_trade=False, bint rpi=False,
                 int64_t ts_local=0):
        if side != 1 and side != -1:
            raise InvalidInputError(f"side must be +1 (taker buy) or -1 (taker sell), got {side}")
        if not (size >= 0.0 and size < INFINITY):
            raise InvalidInputError(f"size must be finite and >= 0, got {size}")
        self.symbol = symbol
        self.price = price
        self.size = size
        self.side = side
        self.ts_exch = ts_exch
        self.trade_id = trade_id
        self.price_ticks = price_ticks
        self.seq = seq
        self.block_trade = block_trade
        self.rpi = rpi
        self.ts_local = ts_local

    @property
    def is_buy(self):
        """True when the taker bought (lifted the ask)."""
        return self.side > 0

    @property
    def signed_size(self):
        """size with the taker's sign (+ buy, - sell)."""
        return self.size * self.side

    @staticmethod
    def from_frame(raw, tick_size, int64_t ts_local=0):
        """Decode the trades of one raw trade frame with the default frame decoder
        (``ofi._core.decoder.default_decoder``: Bybit's ``publicTrade.*`` frames once ``ofi`` is imported).

        Raises
        ------
        InvalidInputError
            Malformed frame, price off the tick grid, or not a trade frame.
        """
        if _trade_decoder == NULL:  # pragma: no cover - ofi._core imports the decoder module
            raise InvalidInputError("Trade.from_frame needs ofi._core.decoder (import ofi)")
        return _trade_decoder(tick_size).decode_trades(raw, ts_local)

    def _key(self):
        return (self.symbol, self.price, self.size, self.side, self.ts_exch, self.trade_id, self.price_ticks,
                self.seq, self.block_trade, self.rpi, self.ts_local)

    def __eq__(self, other):
        if not isinstance(other, Trade):
            return NotImplemented
        return self._key() == (<Trade>other)._key()

    def __hash__(self):
        return hash(self._key())

    def __reduce__(self):
        return (Trade, self._key())

    def __repr__(self):
        return (f"Trade({self.symbol!r}, price={self.price!r}, size={self.size!r}, "
                f"side={'buy' if self.side > 0 else 'sell'}, ts_exch={self.ts_exch}, trade_id={self.trade_id!r}, "
                f"seq={self.seq})")


TAPE_DTYPE = np.dtype(
    [
        ("ts_exch", np.int64),
        ("ts_local", np.int64),
        ("price_ticks", np.int64),
        ("size", np.float64),
        ("update_id", np.int64),
        ("seq", np.int64),
        ("kind", np.uint8),
        ("side", np.int8),
        ("flags", np.uint16),
        ("_pad", np.uint32),
    ],
    align=True,
)
assert TAPE_DTYPE.itemsize == sizeof(TapeRow), "TAPE_DTYPE does not match the C TapeRow layout"

# Constants for Python users of the tape.
TAPE_KIND_BOOK = KIND_BOOK
TAPE_KIND_TRADE = KIND_TRADE
TAPE_FLAG_SNAPSHOT = FLAG_SNAPSHOT
TAPE_FLAG_BEGIN = FLAG_BEGIN
TAPE_FLAG_END = FLAG_END
TAPE_FLAG_BLOCK = FLAG_BLOCK
TAPE_FLAG_RPI = FLAG_RPI
